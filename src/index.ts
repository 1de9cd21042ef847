// Public API: embed the relay in another program, or reuse its config loader and error codes.

export { createRelay, type Relay } from './composition-root.js';
export { loadConfig, usage } from './config/load.js';
export type { NamespacePolicy, UpstreamConfig } from './config/namespaces.js';
export type { RelayConfig, TransportName } from './config/schema.js';
export {
  ConfigError,
  DISCONNECT_EVENT,
  type ErrorBody,
  type ErrorCode,
  ErrorCodes,
  RelayError,
} from './errors.js';
export { createLogger, type Logger } from './log.js';
