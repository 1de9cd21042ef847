// The load-balancer templates in infra/ against the real tools: the rendered configs pass `haproxy -c` and
// `nginx -t`, and the render.mjs CLI renders like the library and rejects bad input. What the files say is
// checked without processes in test/unit/infra.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Backend, parseArgs, renderConfig } from '../../infra/render.mjs';
import { checkCommand, LB_COMMAND, type LoadBalancerKind, renderInto } from '../helpers/lb.js';
import { toolAvailable } from '../helpers/tools.js';

const INFRA = fileURLToPath(new URL('../../infra', import.meta.url));
const RENDER = join(INFRA, 'render.mjs');

describe('load balancer templates', () => {
  const backends: Backend[] = [
    { name: 'relay-1', host: '127.0.0.1', port: 3001, adminPort: 9101 },
    { name: 'relay-2', host: '127.0.0.1', port: 3002, adminPort: 9102 },
    { name: 'relay-3', host: '127.0.0.1', port: 3003, adminPort: 9103 },
  ];

  for (const kind of ['haproxy', 'nginx'] as const satisfies readonly LoadBalancerKind[]) {
    test(`${kind}: the rendered config passes \`${kind === 'haproxy' ? 'haproxy -c' : 'nginx -t'}\``, (t) => {
      if (!toolAvailable(LB_COMMAND[kind])) return t.skip(`${kind} is not installed`);
      const rendered = renderInto(kind, backends, '127.0.0.1:18080');
      t.after(() => rmSync(rendered.dir, { recursive: true, force: true }));
      const text = readFileSync(rendered.configPath, 'utf8');
      assert.doesNotMatch(text, /\{\{|\}\}/, 'no marker left');
      for (const b of backends) assert.match(text, new RegExp(`${b.host}:${b.port}`));
      const [command, args] = checkCommand(rendered);
      const run = spawnSync(command, args, { encoding: 'utf8' });
      assert.equal(run.status, 0, `${command} ${args.join(' ')}:\n${run.stdout}${run.stderr}`);
    });
  }

  test('haproxy: the compose config (backend names, run-time DNS) passes `haproxy -c`', (t) => {
    if (!toolAvailable('haproxy')) return t.skip('haproxy is not installed');
    const path = join(INFRA, 'haproxy', 'haproxy.compose.cfg');
    const run = spawnSync('haproxy', ['-c', '-f', path], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
  });

  test('render.mjs CLI: renders like the library, rejects bad input with exit code 2', () => {
    const args = [
      'haproxy',
      '--listen',
      '127.0.0.1:18080',
      '--backend',
      'a=10.0.0.1:3000:9100',
      '--backend=10.0.0.2:3000:9100',
    ];
    const ok = spawnSync(process.execPath, [RENDER, ...args], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    const { kind, options } = parseArgs(args);
    assert.equal(ok.stdout, renderConfig(kind, options));
    assert.match(ok.stdout, /server relay-2 10\.0\.0\.2:3000 cookie relay-2 port 9100/);

    for (const bad of [
      ['haproxy'],
      ['apache', '--backend', 'a:1:2'],
      ['nginx', '--backend', 'a b:1:2'],
      ['nginx', '--backend', 'host:3000'],
      ['nginx', '--stats-socket', '/x', '--backend', 'a:1:2'],
      ['haproxy', '--listen', '0.0.0.0:80;evil', '--backend', 'a:1:2'],
    ]) {
      const run = spawnSync(process.execPath, [RENDER, ...bad], { encoding: 'utf8' });
      assert.equal(run.status, 2, `${bad.join(' ')} exits 2`);
      assert.match(run.stderr, /^render: .+\n$/, `${bad.join(' ')}: one line on stderr`);
    }
  });
});
