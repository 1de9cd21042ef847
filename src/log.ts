import { type Logger as PinoLogger, pino } from 'pino';

/** Structured one-line JSON logs on stdout; every line names the instance. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** The pino logger underneath, when there is one: the admin server (Fastify) logs through it too. */
  readonly pino?: PinoLogger;
}

/** An `Error` as a log field. */
interface LoggedError {
  type: string;
  message: string;
  stack?: string;
  code?: unknown;
}

/**
 * Lines like `{"level":"info","time":"<ISO>","instanceId":"a","msg":"listening","port":3000}`, written
 * through `write` (default: stdout), synchronously.
 */
export function createLogger(
  instanceId: string,
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger & { readonly pino: PinoLogger } {
  const logger = pino(
    {
      base: { instanceId },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Where pino's own callers (Fastify) put an error.
      serializers: { err: loggable },
    },
    { write },
  );
  // `msg` ahead of the fields, where it has always been; an Error in any field keeps its stack.
  const line = (msg: string, fields: Record<string, unknown> = {}) => {
    const out: Record<string, unknown> = { msg };
    for (const [key, value] of Object.entries(fields)) out[key] = loggable(value);
    return out;
  };
  return {
    pino: logger,
    info: (msg, fields) => logger.info(line(msg, fields)),
    warn: (msg, fields) => logger.warn(line(msg, fields)),
    error: (msg, fields) => logger.error(line(msg, fields)),
  };
}

// An error's other own properties may hold what must not be logged (Node's ERR_INVALID_URL keeps the
// whole URL, password included, in `input`): name the four that explain it, nothing else.
function loggable(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const logged: LoggedError = { type: value.name, message: value.message, stack: value.stack };
  const code = (value as { code?: unknown }).code;
  if (code !== undefined) logged.code = code;
  return logged;
}
