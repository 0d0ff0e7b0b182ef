// Starts a real ARouter gateway (bin/arouter) on a free loopback port with a temporary
// configuration and SQLite store, the built-in mock provider, and a known admin key. Also used
// by compat/openai-node, which needs nothing else from this directory.
import {spawn} from 'node:child_process';
import {mkdtemp, writeFile, rm} from 'node:fs/promises';
import {randomBytes} from 'node:crypto';
import {createServer} from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const {port} = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// startGateway takes optional YAML list items to add to the configuration's providers and
// models (indented as list items under those keys, like the ones below).
export async function startGateway({providers = '', models = ''} = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'arouter-e2e-'));
  const port = await freePort();
  const config = path.join(dir, 'arouter.yaml');
  await writeFile(config, `listen: 127.0.0.1:${port}
log_level: warn
store:
  sqlite: ${path.join(dir, 'arouter.db')}
accounting:
  flush_interval: 50ms
bootstrap:
  admin_email: admin@localhost
  initial_credits: 100
providers:
  - id: mock
    kind: mock
    mock: {latency: 0s, event_delay: 1ms, tokens: 16}
  - id: mock-backup
    kind: mock
${providers}models:
  - id: openai/gpt-4o-mini
    name: GPT-4o mini
    pricing: {prompt: "0.15", completion: "0.60"}
    deployments:
      - {provider: mock, model: gpt-4o-mini}
      - {provider: mock-backup, model: gpt-4o-mini}
  - id: anthropic/claude-sonnet-4-6
    name: Claude Sonnet 4.6
    pricing: {prompt: "3", completion: "15"}
    deployments:
      - {provider: mock, model: claude-sonnet-4-6}
${models}`);
  const adminKey = `sk-ar-mgmt-v1-${randomBytes(32).toString('hex')}`;
  const bin = process.env.AROUTER_BIN || path.join(root, 'bin', 'arouter');
  const proc = spawn(bin, ['serve', '--config', config], {
    env: {...process.env, AROUTER_ADMIN_KEY: adminKey, AROUTER_MASTER_KEY: randomBytes(32).toString('hex')},
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', d => { stderr += d; });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`gateway exited (${proc.exitCode}):\n${stderr}`);
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`gateway not ready after 20s:\n${stderr}`);
    await new Promise(r => setTimeout(r, 100));
  }
  return {
    url, adminKey, logs: () => stderr,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise(r => proc.once('exit', r));
        proc.kill('SIGTERM');
        let timer;
        await Promise.race([exited, new Promise(r => { timer = setTimeout(r, 10000); })]);
        clearTimeout(timer); // a pending timer would hold the test process open for its 10 s
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      await rm(dir, {recursive: true, force: true});
    },
  };
}
