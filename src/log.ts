export type LogLevel = 'info' | 'warn' | 'error';

/** Structured one-line JSON logs on stdout; every line names the instance. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(
  instanceId: string,
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger {
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    write(`${JSON.stringify({ time: new Date().toISOString(), level, instanceId, msg, ...fields })}\n`);
  };
  return {
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
  };
}
