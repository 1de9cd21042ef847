/**
 * A circuit breaker: after `threshold` failures in a row, calls are refused for `cooldownMs`; then one
 * trial call is let through, and its outcome closes the circuit or opens it again.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trialInFlight = false;

  constructor(
    private readonly opts: { threshold: number; cooldownMs: number; onChange: (open: boolean) => void },
  ) {}

  /** True when a call may go out now. */
  allow(): boolean {
    if (this.failures < this.opts.threshold) return true;
    if (Date.now() < this.openUntil || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  succeeded(): void {
    const wasOpen = this.failures >= this.opts.threshold;
    this.failures = 0;
    this.trialInFlight = false;
    if (wasOpen) this.opts.onChange(false);
  }

  failed(): void {
    this.trialInFlight = false;
    this.failures++;
    if (this.failures >= this.opts.threshold) {
      if (this.failures === this.opts.threshold) this.opts.onChange(true);
      this.openUntil = Date.now() + this.opts.cooldownMs;
    }
  }
}
