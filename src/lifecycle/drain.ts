import { ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';

/** One step of the shutdown sequence; steps run strictly in list order. */
export interface Closer {
  name: string;
  close(): Promise<void> | void;
}

export interface Drainer {
  /** The steps, in order; given once, when the modules they close exist. */
  setSteps(steps: readonly Closer[]): void;
  /** Starts the drain once; later calls return the same promise. Resolves with the exit code. */
  drain(reason: string): Promise<number>;
  /** The one source of truth for "draining": true from the moment a drain starts. */
  isDraining(): boolean;
  /** Resolves with the exit code once a drain, however started, has finished. */
  readonly drained: Promise<number>;
}

/**
 * Runs the closers in order within `timeoutMs`. A failing step is logged and the next one still runs:
 * a half-closed instance must not linger. Exit code 0 when every step finished in time, 1 otherwise.
 */
export function createDrainer(opts: { timeoutMs: number; log: Logger }): Drainer {
  let steps: readonly Closer[] | undefined;
  let running: Promise<number> | undefined;
  let resolveDrained: (code: number) => void = () => {};
  const drained = new Promise<number>((resolve) => {
    resolveDrained = resolve;
  });

  const runSteps = async (reason: string): Promise<number> => {
    const started = Date.now();
    opts.log.info('drain started', { reason, timeoutMs: opts.timeoutMs });
    let failed = false;
    for (const step of steps ?? []) {
      try {
        await step.close();
        opts.log.info('drain step done', { step: step.name });
      } catch (err) {
        failed = true;
        opts.log.error('drain step failed', {
          step: step.name,
          code: ErrorCodes.INTERNAL,
          error: err,
        });
      }
    }
    opts.log.info('drain finished', { ms: Date.now() - started, failed });
    return failed ? 1 : 0;
  };

  return {
    setSteps(list) {
      if (steps) throw new Error('the drain steps are already set');
      steps = list;
    },
    drain(reason) {
      if (!steps) throw new Error('drain() before the drain steps are set');
      if (!running) {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<number>((resolve) => {
          timer = setTimeout(() => {
            opts.log.error('drain timed out', { code: ErrorCodes.DRAIN_TIMEOUT, timeoutMs: opts.timeoutMs });
            resolve(1);
          }, opts.timeoutMs);
        });
        running = Promise.race([runSteps(reason), deadline]).finally(() => clearTimeout(timer));
        running.then(resolveDrained);
      }
      return running;
    },
    isDraining: () => running !== undefined,
    drained,
  };
}
