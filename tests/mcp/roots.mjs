// The project of a `baton mcp` session from the client's MCP roots
// (DESIGN 2): without --project, BATON_PROJECT or CLAUDE_PROJECT_DIR, the
// first local file:// root the client offers names the project, so an
// agent started anywhere shares names with the CLI run in its repository.
// Explicit settings win; a client without roots, with only remote roots,
// with a failing roots handler or one that never answers falls back to the
// working directory; tool calls sent meanwhile wait and are answered.
import { spawnSync } from 'node:child_process';
import { mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  main, ok, is, loadSdk, privateBroker, rawServer, withTimeout, BATON,
} from './lib.mjs';

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();
  const root = join(b.dir, 'my repo'); // a space: the URI carries %20
  const elsewhere = join(b.dir, 'elsewhere');
  mkdirSync(root);
  mkdirSync(elsewhere);
  const rootReal = realpathSync(root);
  const env = { ...b.env };
  delete env.BATON_PROJECT;
  const clients = [];

  // An SDK client started in `elsewhere` that answers roots/list with roots().
  async function client(name, roots, extraEnv = {}) {
    const transport = new sdk.StdioClientTransport({
      command: BATON, args: ['mcp'], cwd: elsewhere, env: { ...env, ...extraEnv }, stderr: 'inherit',
    });
    const caps = roots === null ? {} : { roots: { listChanged: true } };
    const c = new sdk.Client({ name, version: '1.0.0' }, { capabilities: caps });
    if (roots !== null)
      c.setRequestHandler(sdk.types.ListRootsRequestSchema, async () => roots());
    await withTimeout(c.connect(transport), 10000, `${name}: connect`);
    clients.push(c);
    return c;
  }
  const status = async (c, what) =>
    (await withTimeout(c.callTool({ name: 'status', arguments: {} }), 10000, what)).structuredContent;

  const uri = pathToFileURL(root).href;
  ok(uri.includes('%20'), 'the root URI is percent-encoded', uri);
  const a = await client('roots-a', () => ({ roots: [{ uri, name: 'repo' }, { uri: 'file:///' }] }));
  let st = await status(a, 'status a');
  is(st.project, rootReal, 'the first root names the project of the session');
  if (Number.isInteger(st.pid)) b.pids.add(st.pid);

  // the CLI in that directory shares the namespace
  const r = await withTimeout(a.callTool({ name: 'lock_acquire', arguments: { name: 'db' } }), 10000, 'acquire');
  ok(r.structuredContent && r.structuredContent.acquired === true, 'the agent takes lock db', r);
  const cli = spawnSync(BATON, ['--no-autostart', 'locks', '--json'], { cwd: root, env, encoding: 'utf8', timeout: 10000 });
  let listed = null;
  try { listed = JSON.parse(cli.stdout); } catch { /* checked below */ }
  ok(listed !== null && listed.count === 1 && listed.locks[0].name === 'db',
    'baton locks run in the repository sees the agent\'s lock', cli.stdout + cli.stderr);

  const e = await client('roots-env', () => ({ roots: [{ uri }] }), { BATON_PROJECT: elsewhere });
  is((await status(e, 'status env')).project, realpathSync(elsewhere), 'BATON_PROJECT wins over the roots');

  const n = await client('no-roots', null);
  is((await status(n, 'status no roots')).project, realpathSync(elsewhere),
    'a client without roots: the working directory');

  const w = await client('web-roots', () => ({ roots: [{ uri: 'https://example.com/repo' }, { uri: 'file:///nonexistent/x' }] }));
  is((await status(w, 'status web roots')).project, realpathSync(elsewhere),
    'no local directory among the roots: the working directory');

  const f = await client('failing-roots', () => { throw new Error('no roots here'); });
  is((await status(f, 'status failing')).project, realpathSync(elsewhere),
    'a roots/list error: the working directory');

  // a client that never answers roots/list: calls wait (bounded), then go on
  const raw = rawServer({ ...b, env });
  await raw.request(1, 'initialize', {
    protocolVersion: '2025-06-18', capabilities: { roots: {} }, clientInfo: { name: 'silent', version: '1' },
  });
  const ask = raw.next((m) => m.method === 'roots/list', 'roots/list request');
  raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const q = await ask;
  ok(q.id !== undefined && q.jsonrpc === '2.0', 'baton mcp asks the client for its roots', q);
  const t0 = Date.now();
  const ans = await raw.request(2, 'tools/call', { name: 'status', arguments: {} }, 10000);
  const ms = Date.now() - t0;
  ok(ans.result && ans.result.structuredContent && ans.result.structuredContent.project !== rootReal &&
    ms >= 2500, `a tool call sent before the answer is answered after the roots wait (${ms} ms)`, ans);
  const pong = await raw.request(3, 'ping', {}, 2000);
  ok(pong.result !== undefined, 'and the session works on', pong);
  raw.closeStdin();
  await raw.waitExit();

  for (const c of clients) await withTimeout(c.close(), 5000, 'close');
}, { timeoutMs: 90000 });
