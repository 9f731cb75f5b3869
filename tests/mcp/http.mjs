// `baton mcp --http` (issue 19): MCP over Streamable HTTP for clients
// configured like Airlock. The token is required (none, a wrong one: 401),
// a foreign Origin or Host is refused (403), Airlock's curl recipe works
// with the token, the SDK's HTTP client speaks to it with sessions (native
// tools and --compat airlock), a session's end releases its locks, and a
// 45 s blocking wait runs over server-sent events with keep-alives.
import { spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BATON, main, ok, is, cmpOk, diag, loadSdk, privateBroker, textOf, until, withTimeout,
} from './lib.mjs';

const T = 10000;

// A port nobody listens on now.
function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// Start `baton mcp --http PORT ARGS`, wait until it answers; its process.
async function httpServer(b, port, args = []) {
  const child = spawn(BATON, ['mcp', '--http', String(port), ...args], { env: b.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((res) => child.on('exit', res));
  process.on('exit', () => child.kill('SIGKILL'));
  await until(async () => {
    try { await fetch(`http://127.0.0.1:${port}/`, { method: 'POST' }); return true; } catch { return false; }
  }, T, `baton mcp --http ${port} listens (stderr: ${err})`);
  return { child, exited, stderr: () => err };
}

await main(async () => {
  const sdk = await loadSdk();
  const rel = 'tests/mcp/node_modules/@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js';
  const dirs = [process.env.TOP_SRCDIR, process.env.TOP_BUILDDIR].map((d) => join(d, rel));
  const { StreamableHTTPClientTransport } = await import(pathToFileURL(dirs.find((d) => {
    try { return statSync(d).isFile(); } catch { return false; }
  })).href);
  const b = privateBroker();

  const pt = spawnSync(BATON, ['mcp', '--http', '--print-token'], { env: b.env, encoding: 'utf8', timeout: 5000 });
  const token = pt.stdout.trim();
  ok(pt.status === 0 && /^[0-9a-f]{32}$/.test(token), 'mcp --http --print-token prints a 32-hex token', pt);
  const st = statSync(join(b.env.BATON_STATE_DIR, 'http-token'));
  is((st.mode & 0o777).toString(8), '600', 'the token file is 0600 in the state directory');
  is(spawnSync(BATON, ['mcp', '--http', '--print-token'], { env: b.env, encoding: 'utf8' }).stdout.trim(), token,
    'the token stays the same across runs');

  const port = await freePort();
  const srv = await httpServer(b, port, ['--compat', 'airlock']);
  const url = `http://127.0.0.1:${port}/`;
  const post = (body, headers = {}) => fetch(url, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body),
  });
  const auth = { Authorization: `Bearer ${token}` };
  const call = (id, name, args) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

  // refusals
  let r = await post(call(1, 'list_locks', {}));
  ok(r.status === 401 && /Bearer/.test(r.headers.get('www-authenticate') || ''), 'no token: 401 with WWW-Authenticate', r.status);
  r = await post(call(1, 'list_locks', {}), { Authorization: 'Bearer 0123456789abcdef0123456789abcdef' });
  is(r.status, 401, 'a wrong token: 401');
  r = await post(call(1, 'list_locks', {}), { ...auth, Origin: 'http://evil.example' });
  is(r.status, 403, 'a foreign Origin: 403');
  r = await post(call(1, 'list_locks', {}), { ...auth, Origin: `http://localhost:${port}` });
  is(r.status, 200, 'this server\'s own Origin is fine');
  const rebind = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: evil.example',
    '-H', `Authorization: Bearer ${token}`, '-d', '{}', url], { encoding: 'utf8', timeout: 5000 });
  is(rebind.stdout, '403', 'a foreign Host (DNS rebinding): 403');
  r = await fetch(url, { method: 'GET', headers: auth });
  is(r.status, 405, 'GET (no stream of our own): 405');
  r = await post([call(1, 'list_locks', {})], auth);
  is(r.status, 400, 'a batch: 400');

  // Airlock's curl recipe, with the token
  const A = JSON.parse((await (await post(call(1, 'lock_resource', { name: 'file:/repo/package.json', agent_id: 'sub-A', wait_seconds: 50 }), auth)).json())
    .result.content[0].text);
  ok(A.locked === true && typeof A.lock_token === 'string', 'recipe: sub-A locks over HTTP (curl, no initialize)', A);
  const waiting = post(call(2, 'lock_resource', { name: 'file:/repo/package.json', agent_id: 'sub-B', wait_seconds: 50 }), auth);
  await new Promise((res) => setTimeout(res, 300));
  const t0 = Date.now();
  const U = JSON.parse((await (await post(call(3, 'unlock_resource', { name: 'file:/repo/package.json', lock_token: A.lock_token }), auth)).json())
    .result.content[0].text);
  is(U.released, true, 'recipe: sub-A unlocks');
  const Bres = JSON.parse((await (await waiting).json()).result.content[0].text);
  ok(Bres.locked === true, 'recipe: the parked sub-B wakes with the lock', Bres);
  cmpOk(Date.now() - t0, '<', 2000, 'at once');

  // the SDK's HTTP client: a session, Airlock's tools
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: auth } });
  const c1 = new sdk.Client({ name: 'http-sdk', version: '1' });
  await withTimeout(c1.connect(transport), T, 'SDK connect over HTTP');
  ok(typeof transport.sessionId === 'string' && transport.sessionId.length === 32, 'initialize opens a session (Mcp-Session-Id)', transport.sessionId);
  const tools = await withTimeout(c1.listTools(), T, 'tools/list');
  is(tools.tools.length, 22, 'tools/list over HTTP: Airlock\'s 22 tools');
  let res = await withTimeout(c1.callTool({ name: 'increment_counter', arguments: { name: 'n' } }), T, 'counter');
  ok(!res.isError && res.structuredContent.value === 1, 'a tool call over HTTP', res);

  // a 45 s wait over SSE (the SDK client's), and the raw stream's keep-alives meanwhile
  const started = Date.now();
  const sdkWait = withTimeout(c1.callTool({ name: 'wait_for_event', arguments: { name: 'late', wait_seconds: 45 } },
    undefined, { timeout: 70000 }), 70000, '45 s wait');
  const raw = await post(call(9, 'wait_for_event', { name: 'late', wait_seconds: 45 }), { ...auth, Accept: 'application/json, text/event-stream' });
  is(raw.headers.get('content-type'), 'text/event-stream', 'a client that accepts it gets an event stream');
  const text = await raw.text();
  const keepalives = (text.match(/^: waiting$/mg) || []).length;
  res = await sdkWait;
  const took = Date.now() - started;
  ok(!res.isError && res.structuredContent.fired === false, 'the 45 s wait_for_event over SSE answers', res);
  cmpOk(took, '>=', 44500, `it blocked the whole 45 s (${took} ms)`);
  cmpOk(keepalives, '>=', 2, `the stream stayed alive with comments (${keepalives})`);
  ok(/^event: message\ndata: \{"jsonrpc":"2.0","id":9,/m.test(text), 'and ended with the answer as an SSE message, the client\'s id back', text.slice(-300));
  diag(`45 s wait over SSE: ${took} ms`);
  await c1.close();
  srv.child.kill('SIGTERM');
  await withTimeout(srv.exited, T, 'the server exits on SIGTERM');

  // the native tools over HTTP: a session's locks end with it
  const port2 = await freePort();
  const srv2 = await httpServer(b, port2);
  const t2 = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port2}/mcp`), { requestInit: { headers: auth } });
  const c2 = new sdk.Client({ name: 'http-native', version: '1' });
  await withTimeout(c2.connect(t2), T, 'native connect');
  res = await withTimeout(c2.callTool({ name: 'lock_acquire', arguments: { name: 'native-lock' } }), T, 'acquire');
  ok(!res.isError && res.structuredContent.acquired === true, 'baton\'s own tools over HTTP: lock_acquire', res);
  const held = () => JSON.parse(spawnSync(BATON, ['call', 'lock_list', '{}'], { env: b.env, encoding: 'utf8' }).stdout)
    .locks.some((l) => l.name === 'native-lock');
  ok(held(), 'the lock is held by the HTTP session');
  await t2.terminateSession();
  await until(async () => !held(), T, 'released after DELETE');
  ok(true, 'ending the session (DELETE) releases its locks');
  srv2.child.kill('SIGTERM');
  await withTimeout(srv2.exited, T, 'server 2 exits');

  // bad arguments
  const bad = spawnSync(BATON, ['mcp', '--http', 'x:99999'], { env: b.env, encoding: 'utf8', timeout: 5000 });
  ok(bad.status === 64 && /port/.test(bad.stderr), 'mcp --http with a bad port: exit 64', bad.stderr);
}, { timeoutMs: 150000 });
