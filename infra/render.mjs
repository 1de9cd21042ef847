#!/usr/bin/env node
// Renders the load-balancer templates (infra/haproxy/haproxy.cfg.template, infra/nginx/nginx.conf.template)
// for a list of relay instances. Plain Node ESM, no dependencies; the tests import the same functions.
//
//   node infra/render.mjs haproxy --listen 0.0.0.0:8080 \
//     --backend relay-1=10.0.0.1:3000:9100 --backend relay-2=10.0.0.2:3000:9100 [--out haproxy.cfg]
//
// Template syntax: {{NAME}} is replaced by a value; {{#LIST}}...{{/LIST}} is repeated once per item of
// LIST (BACKENDS: one per instance, with NAME, HOST, PORT, ADMIN_PORT; RESOLVER: once when --resolver is
// given). A marker alone on its line takes its line break with it. An unknown marker is an error.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const KINDS = /** @type {const} */ (['haproxy', 'nginx']);

/** @type {Record<string, URL>} */
export const TEMPLATES = {
  haproxy: new URL('./haproxy/haproxy.cfg.template', import.meta.url),
  nginx: new URL('./nginx/nginx.conf.template', import.meta.url),
};

/** Settings per kind: CLI flag → [template variable, default]. */
const SETTINGS = {
  haproxy: {
    listen: ['LISTEN', '0.0.0.0:8080'],
    maxconn: ['MAXCONN', '8000'],
    statsSocket: ['STATS_SOCKET', '/var/lib/haproxy/stats'],
    resolver: ['RESOLVER', undefined],
  },
  nginx: {
    listen: ['LISTEN', '0.0.0.0:8080'],
    workerProcesses: ['WORKER_PROCESSES', 'auto'],
    pidFile: ['PID_FILE', '/run/nginx.pid'],
    errorLog: ['ERROR_LOG', '/var/log/nginx/error.log'],
    accessLog: ['ACCESS_LOG', '/var/log/nginx/access.log'],
    tempDir: ['TEMP_DIR', '/var/lib/nginx'],
  },
};

// Values end up inside config files: no whitespace, quotes, comments or statement separators.
const SAFE_VALUE = /^[A-Za-z0-9._:/@[\]-]+$/;
const SAFE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export class RenderError extends Error {}

/**
 * Parses `[name=]host:port:adminPort` (IPv6 hosts in brackets: `[::1]:3000:9100`).
 * @param {string} spec
 * @param {number} index position in the list, for the default name `relay-<index+1>`
 */
export function parseBackend(spec, index) {
  const eq = spec.indexOf('=');
  const name = eq === -1 ? `relay-${index + 1}` : spec.slice(0, eq);
  const rest = eq === -1 ? spec : spec.slice(eq + 1);
  const match = /^(.+):(\d{1,5}):(\d{1,5})$/.exec(rest);
  if (!match) throw new RenderError(`--backend ${spec}: expected [name=]host:port:adminPort`);
  const [, host, port, adminPort] = /** @type {[string, string, string, string]} */ (match);
  const backend = { name, host, port: Number(port), adminPort: Number(adminPort) };
  validateBackend(backend);
  return backend;
}

/** @param {{ name: string, host: string, port: number, adminPort: number }} b */
function validateBackend(b) {
  if (!SAFE_NAME.test(b.name))
    throw new RenderError(`backend name ${JSON.stringify(b.name)}: expected [A-Za-z0-9._-]`);
  if (!SAFE_VALUE.test(b.host))
    throw new RenderError(`backend host ${JSON.stringify(b.host)}: not a host name or address`);
  for (const [what, port] of [
    ['port', b.port],
    ['admin port', b.adminPort],
  ]) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RenderError(`backend ${b.name} ${what} ${port}: expected 1-65535`);
    }
  }
}

/**
 * Fills a template: `vars` for {{NAME}}, `lists` for {{#LIST}}...{{/LIST}} blocks.
 * @param {string} template
 * @param {Record<string, string>} vars
 * @param {Record<string, Array<Record<string, string>>>} lists
 */
export function renderTemplate(template, vars, lists) {
  const standalone = /^[ \t]*(\{\{[#/][A-Z_]+\}\})[ \t]*\n/gm;
  const blocks = /\{\{#([A-Z_]+)\}\}([\s\S]*?)\{\{\/\1\}\}/g;
  const text = template.replace(standalone, '$1').replace(blocks, (_, list, body) => {
    const items = lists[list];
    if (!items) throw new RenderError(`template block {{#${list}}} has no list`);
    return items.map((item) => fill(body, { ...vars, ...item })).join('');
  });
  return fill(text, vars);
}

/**
 * @param {string} text
 * @param {Record<string, string>} vars
 */
function fill(text, vars) {
  return text.replace(/\{\{([^}]*)\}\}/g, (_, key) => {
    const value = vars[key];
    if (value === undefined) throw new RenderError(`template marker {{${key}}} has no value`);
    return value;
  });
}

/**
 * Renders the config for `kind` from its template file.
 * @param {'haproxy' | 'nginx'} kind
 * @param {{ backends: Array<{ name: string, host: string, port: number, adminPort: number }> } & Record<string, unknown>} options
 *   `backends` plus the kind's settings (haproxy: listen, statsSocket, resolver; nginx: listen,
 *   workerProcesses, pidFile, errorLog, accessLog, tempDir); unset ones take their defaults.
 */
export function renderConfig(kind, options) {
  const settings = Object.hasOwn(SETTINGS, kind) ? SETTINGS[kind] : undefined;
  if (!settings)
    throw new RenderError(`unknown load balancer ${JSON.stringify(kind)}: expected ${KINDS.join(' or ')}`);
  const { backends, ...given } = options;
  if (!Array.isArray(backends) || backends.length === 0)
    throw new RenderError('at least one backend is required');
  const names = new Set();
  for (const b of backends) {
    validateBackend(b);
    if (names.has(b.name)) throw new RenderError(`backend name ${b.name} is used twice`);
    names.add(b.name);
  }
  /** @type {Record<string, string>} */
  const vars = {};
  /** @type {Record<string, Array<Record<string, string>>>} */
  const lists = {
    BACKENDS: backends.map((b) => ({
      NAME: b.name,
      HOST: b.host,
      PORT: String(b.port),
      ADMIN_PORT: String(b.adminPort),
    })),
  };
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(settings, key)) throw new RenderError(`${kind}: unknown setting ${key}`);
  }
  for (const [key, [variable, fallback]] of Object.entries(settings)) {
    const value = given[key] ?? fallback;
    if (value !== undefined && !SAFE_VALUE.test(String(value))) {
      throw new RenderError(`${key} ${JSON.stringify(value)}: unexpected characters`);
    }
    if (variable === 'RESOLVER') lists.RESOLVER = value === undefined ? [] : [{ RESOLVER: String(value) }];
    // nginx: a path is written with the template's "relay" log format; "off" stands alone.
    else if (variable === 'ACCESS_LOG') vars[variable] = value === 'off' ? 'off' : `${value} relay`;
    else if (value !== undefined) vars[variable] = String(value);
  }
  return renderTemplate(readFileSync(TEMPLATES[kind], 'utf8'), vars, lists);
}

const USAGE = `usage: node infra/render.mjs <haproxy|nginx> --backend [name=]host:port:adminPort [--backend ...]
  [--listen addr:port] [--out FILE]
  haproxy: [--maxconn N] [--stats-socket PATH] [--resolver ip:port (re-resolve backend names, e.g. 127.0.0.11:53 in Docker)]
  nginx:   [--worker-processes N|auto] [--pid-file PATH] [--error-log PATH] [--access-log PATH|off] [--temp-dir DIR]`;

/**
 * Parses the CLI arguments (after `node render.mjs`).
 * @param {string[]} argv
 * @returns {{ kind: 'haproxy' | 'nginx', options: Record<string, unknown> & { backends: Array<{ name: string, host: string, port: number, adminPort: number }> }, out: string | undefined }}
 */
export function parseArgs(argv) {
  const [kind, ...rest] = argv;
  if (kind !== 'haproxy' && kind !== 'nginx') {
    throw new RenderError(
      `expected haproxy or nginx as the first argument, got ${JSON.stringify(kind ?? '')}`,
    );
  }
  /** @type {Array<{ name: string, host: string, port: number, adminPort: number }>} */
  const backends = [];
  /** @type {Record<string, unknown>} */
  const given = {};
  let out;
  for (let i = 0; i < rest.length; i++) {
    const arg = /** @type {string} */ (rest[i]);
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg;
    if (!flag.startsWith('--')) throw new RenderError(`unexpected argument ${JSON.stringify(arg)}`);
    const value = eq !== -1 && flag !== arg ? arg.slice(eq + 1) : rest[++i];
    if (value === undefined || value === '') throw new RenderError(`${flag} needs a value`);
    const key = flag.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (key === 'backend') backends.push(parseBackend(value, backends.length));
    else if (key === 'out') out = value;
    else if (Object.hasOwn(SETTINGS[kind], key)) given[key] = value;
    else throw new RenderError(`unknown flag ${flag} for ${kind}`);
  }
  return { kind, options: { ...given, backends }, out };
}

function main() {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(argv.length === 0 ? 2 : 0);
  }
  try {
    const { kind, options, out } = parseArgs(argv);
    const text = renderConfig(kind, options);
    if (out) writeFileSync(out, text);
    else process.stdout.write(text);
  } catch (err) {
    if (!(err instanceof RenderError)) throw err;
    process.stderr.write(`render: ${err.message}\n`);
    process.exit(2);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
