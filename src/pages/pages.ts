// The browser pages: the demo chat page (public port, `/`) and the dashboard (admin port, `/dashboard`).
// Their HTML, CSS and scripts are plain files next to this module, linted by Biome; the build copies them
// to dist/pages/.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Page } from '../transport/transport.js';

function read(name: string): string {
  return readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

/** Replaces `marker` (which must occur exactly once) with `value`, taken literally. */
function fill(html: string, marker: string, value: string): string {
  const at = html.indexOf(marker);
  if (at === -1 || html.indexOf(marker, at + 1) !== -1) {
    throw new Error(`page template: expected exactly one ${marker}`);
  }
  return html.slice(0, at) + value + html.slice(at + marker.length);
}

/**
 * The demo chat page served at `/`. The public transport serves that one document only, so its style and
 * script are inlined, and a CSP allows exactly them (by hash) plus the Socket.IO client bundle, which
 * Socket.IO serves under `socketPath` (--path).
 */
export function loadDemoPage(socketPath: string): Page {
  const style = read('demo.css');
  const script = read('demo.js');
  if (script.includes('</script')) throw new Error('demo.js must not contain "</script"');
  const csp = [
    "default-src 'self'",
    `script-src 'self' ${sha256(script)}`,
    `style-src 'self' ${sha256(style)}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  // The path is a configured setting (letters, digits and ._~-/ only): safe in an attribute and a URL.
  const path = socketPath.endsWith('/') ? socketPath : `${socketPath}/`;
  let body = read('demo.html').replaceAll('__PATH__', path);
  body = fill(body, '__CSP__', csp);
  body = fill(body, '<style data-inline="demo.css"></style>', `<style>${style}</style>`);
  body = fill(body, '<script data-inline="demo.js"></script>', `<script>${script}</script>`);
  return { contentType: 'text/html; charset=utf-8', body };
}

/**
 * The dashboard's files by the name they are served under (`/dashboard/<name>`; `index.html` at
 * `/dashboard`). `tokenRequired` lets the page ask for the admin token before its first `/v1/*` call.
 */
export function loadDashboardAssets(opts: { tokenRequired: boolean }): Map<string, Page> {
  const html = fill(read('dashboard.html'), '__TOKEN_REQUIRED__', String(opts.tokenRequired));
  return new Map([
    ['index.html', { contentType: 'text/html; charset=utf-8', body: html }],
    ['dashboard.css', { contentType: 'text/css; charset=utf-8', body: read('dashboard.css') }],
    ['dashboard.js', { contentType: 'text/javascript; charset=utf-8', body: read('dashboard.js') }],
  ]);
}
