// Progress lines on stderr while a benchmark runs (stdout stays free for the JSON of --out -).
const started = Date.now();

export function progress(message: string): void {
  const s = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${s}s] ${message}\n`);
}
