// Process entry: load config → build relay → signal handlers. Exit 2 on bad config, 1 on a failed start.

import { createRelay } from './composition-root.js';
import { loadConfig, usage, usesRedis } from './config/load.js';
import { ConfigError, ErrorCodes, RelayError } from './errors.js';
import { createLogger } from './log.js';

async function main(): Promise<void> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ argv: process.argv.slice(2), env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`edge-relay: ${err.code} ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (loaded.command === 'help') {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  const { config } = loaded;
  const log = createLogger(config.instanceId);
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled rejection', { code: ErrorCodes.INTERNAL, error: reason });
  });

  const relay = await createRelay(config, log);
  relay.drained.then((code) => process.exit(code));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void relay.drain(signal));
  }
  try {
    const { port, adminPort } = await relay.start();
    log.info('listening', {
      port,
      adminPort,
      host: config.host,
      adminHost: config.adminHost,
      transport: config.transport,
      adapter: usesRedis(config) ? config.adapter : 'memory',
    });
  } catch (err) {
    const code = err instanceof RelayError ? err.code : ErrorCodes.INTERNAL;
    log.error('start failed', { code, error: err });
    process.exit(1);
  }
}

await main();
