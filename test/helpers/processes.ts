import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();

/** Tracks a child so it is killed if the test process ends first: no test leaves a server behind. */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** The child's stdout, one JSON value per line, appended to the returned array as lines arrive. */
export function jsonLines<T>(child: ChildProcess): T[] {
  const lines: T[] = [];
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      lines.push(JSON.parse(buffer.slice(0, i)) as T);
      buffer = buffer.slice(i + 1);
    }
  });
  return lines;
}

/** Resolves with the exit code (or signal name) when the child exits. */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

/** Waits until `check` returns a truthy value; fails after `timeoutMs` naming `what`. */
type Maybe<T> = T | undefined | null | false;

export async function waitFor<T>(
  what: string,
  check: () => Maybe<T> | Promise<Maybe<T>>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
