// baton mcp, driven by the official MCP TypeScript SDK client and by raw
// JSON-RPC lines: initialize and version negotiation, tools/list generated
// from the operation table, a lock round trip seen by a second client and
// by `baton call`, structuredContent against outputSchema, JSON-RPC errors,
// a clean stdout and a clean exit on stdin EOF.
import { spawnSync } from 'node:child_process';
import {
  BATON, main, ok, is, diag, loadSdk, privateBroker, sdkClient, rawServer, textOf,
  schemaErrors, fdTarget, withTimeout,
} from './lib.mjs';

const VERSIONS = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'];
const NEWEST = '2025-11-25';
const LIMIT = 2048; // Claude Code cuts instructions and descriptions here

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();

  // ---- raw JSON-RPC: versions, errors, stdout hygiene, EOF ----
  const raw = rawServer(b);
  let id = 0;
  for (const v of VERSIONS) {
    const res = await raw.request(++id, 'initialize',
      { protocolVersion: v, capabilities: {}, clientInfo: { name: 'raw-test', version: '0' } });
    is(res.result && res.result.protocolVersion, v, `initialize ${v}: the server answers ${v}`);
  }
  let res = await raw.request(++id, 'initialize',
    { protocolVersion: '1999-01-01', capabilities: {}, clientInfo: { name: 'raw-test', version: '0' } });
  is(res.result && res.result.protocolVersion, NEWEST, 'initialize with an unknown version gets the newest');
  const init = res.result || {};
  ok(init.serverInfo && init.serverInfo.name === 'baton' && typeof init.serverInfo.version === 'string',
    'serverInfo names baton and its version', init.serverInfo);
  ok(init.capabilities && init.capabilities.tools && init.capabilities.tools.listChanged === false,
    'capabilities: tools, listChanged false', init.capabilities);
  ok(typeof init.instructions === 'string' && init.instructions.length < LIMIT &&
    init.instructions.includes('lock_acquire') && init.instructions.includes('lock_release'),
    `instructions explain the locks in under ${LIMIT} characters`, init.instructions);
  raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });

  raw.send('{"jsonrpc":"2.0","id":77,"method":"ping"'); // truncated JSON
  res = await raw.next((m) => m.error && m.error.code === -32700, 'parse error');
  ok(res.id === null, 'a malformed line gets -32700 with id null', res);

  res = await raw.request(++id, 'no/such/method', {});
  is(res.error && res.error.code, -32601, 'an unknown method gets -32601');

  raw.send('[{"jsonrpc":"2.0","id":1000,"method":"ping"}]');
  res = await raw.next((m) => m.error && m.error.code === -32600, 'batch answer');
  ok(res.id === null, 'a batch gets -32600', res);

  raw.send('"' + 'x'.repeat(4 * 1024 * 1024 + 10) + '"');
  res = await raw.next((m) => m.error && m.error.code === -32700 && /longer/.test(m.error.message),
    'over-long line');
  res = await raw.request(++id, 'ping');
  ok(res.result !== undefined, 'a line over 4 MiB gets -32700 saying so, and the server goes on');

  raw.send({ id: ++id, method: 'ping' });
  res = await raw.next((m) => m.id === id, 'missing jsonrpc');
  is(res.error && res.error.code, -32600, 'a request without jsonrpc "2.0" gets -32600');

  // A notification is never answered: the next line is the ping's answer.
  const before = raw.lines.length;
  raw.send({ jsonrpc: '2.0', method: 'notifications/whatever', params: {} });
  res = await raw.request(++id, 'ping');
  ok(res.result && Object.keys(res.result).length === 0 && raw.lines.length === before + 1,
    'ping answers {} and a notification gets no answer', raw.lines.slice(before));

  res = await raw.request(++id, 'tools/call', { name: 'no_such_tool', arguments: {} });
  ok(res.error && res.error.code === -32602 && /unknown tool: no_such_tool/.test(res.error.message),
    'an unknown tool gets -32602 "unknown tool: no_such_tool"', res);

  res = await raw.request(++id, 'tools/call',
    { name: 'lock_acquire', arguments: { name: 'x', mode: 'sideways' } });
  ok(res.error && res.error.code === -32602 && /mode/.test(res.error.message) &&
    res.error.data && res.error.data.field === 'mode',
    'a bad argument (mode:"sideways") gets -32602 naming the field', res);

  res = await raw.request(++id, 'tools/call',
    { name: 'lock_acquire', arguments: { name: 'x', colour: 'red' } });
  ok(res.error && res.error.code === -32602 && /colour/.test(res.error.message),
    'an unknown argument gets -32602 naming it', res);

  res = await raw.request(++id, 'tools/call', { name: 'lock_renew', arguments: { ttl_seconds: 5 } });
  ok(res.error && res.error.code === -32602 && res.error.data && res.error.data.field === 'name',
    'a missing required argument gets -32602 naming it', res);

  // ---- the SDK client ----
  const a = await sdkClient(sdk, b, 'mcp-test-a');
  ok(a.getServerVersion() && a.getServerVersion().name === 'baton',
    'the SDK client connects and sees serverInfo baton');
  ok(typeof a.getInstructions() === 'string' && a.getInstructions().length > 0,
    'the SDK client receives the instructions');

  const { tools } = await withTimeout(a.listTools(), 5000, 'tools/list');
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  for (const name of ['status', 'lock_acquire', 'lock_release', 'lock_list'])
    ok(byName[name] !== undefined, `tools/list has ${name}`);
  let bad = tools.filter((t) => !(t.inputSchema && t.inputSchema.type === 'object' &&
    t.inputSchema.additionalProperties === false && t.outputSchema &&
    t.outputSchema.type === 'object' && t.outputSchema.properties));
  ok(bad.length === 0, `all ${tools.length} tools have an object inputSchema and outputSchema`,
    bad.map((t) => t.name));
  bad = tools.filter((t) => !(t.annotations && typeof t.annotations.readOnlyHint === 'boolean' &&
    typeof t.annotations.destructiveHint === 'boolean' &&
    typeof t.annotations.idempotentHint === 'boolean' && typeof t.title === 'string'));
  ok(bad.length === 0, 'every tool has a title and readOnly/destructive/idempotent hints',
    bad.map((t) => t.name));
  bad = tools.filter((t) => typeof t.description !== 'string' || t.description.length === 0 ||
    t.description.length >= LIMIT ||
    Object.values(t.inputSchema.properties || {}).some((p) => !p.description || p.description.length >= LIMIT));
  ok(bad.length === 0, `every tool and argument is described in under ${LIMIT} characters`,
    bad.map((t) => t.name));
  ok(byName.status.annotations.readOnlyHint === true && byName.lock_list.annotations.readOnlyHint === true &&
    byName.lock_acquire.annotations.readOnlyHint === false,
    'status and lock_list are read-only, lock_acquire is not');
  ok(byName.lock_release.annotations.destructiveHint === true, 'lock_release is destructive');
  const la = byName.lock_acquire.inputSchema.properties;
  ok(la.mode && la.mode.type === 'string' && JSON.stringify(la.mode.enum) === '["exclusive","shared"]' &&
    la.mode.default === 'exclusive', 'lock_acquire mode: string enum with its default', la.mode);
  ok(la.wait_seconds && la.wait_seconds.type === 'number' && la.wait_seconds.minimum === 0 &&
    typeof la.wait_seconds.maximum === 'number', 'lock_acquire wait_seconds: number with bounds', la.wait_seconds);
  ok(la.names && la.names.type === 'array' && la.names.items && la.names.items.type === 'string',
    'lock_acquire names: array of strings', la.names);
  ok(JSON.stringify(byName.lock_renew.inputSchema.required) === '["name","ttl_seconds"]',
    'lock_renew requires name and ttl_seconds');
  ok(byName.lock_break === undefined, 'lock_break, the user\'s, is not offered to agents');
  let brk = null;
  try {
    await withTimeout(a.callTool({ name: 'lock_break', arguments: { name: 'x' } }), 10000, 'lock_break');
  } catch (e) {
    brk = e;
  }
  ok(brk !== null && /unknown tool: lock_break/.test(String(brk.message)),
    'and calling it anyway is refused as an unknown tool', String(brk && brk.message));

  // status: the broker we talk to; structuredContent equals the text.
  res = await withTimeout(a.callTool({ name: 'status', arguments: {} }), 10000, 'status');
  const st = res.structuredContent || {};
  ok(!res.isError && Number.isInteger(st.pid) && st.pid > 0, 'status returns the broker pid', res);
  if (st.pid) b.pids.add(st.pid);
  ok(JSON.stringify(JSON.parse(textOf(res))) === JSON.stringify(st),
    'the text content is the same JSON as structuredContent');
  let errs = schemaErrors(byName.status.outputSchema, st);
  ok(errs.length === 0, 'status structuredContent matches its outputSchema', errs);
  is(fdTarget(st.pid, 1), '/dev/null', 'the autostarted broker has stdout on /dev/null');
  ok(st.agent && st.agent.startsWith('mcp-test-a-') && /^mcp-test-a-[0-9a-f]{4}$/.test(st.agent),
    'the agent name is clientInfo.name plus 4 hex digits', st.agent);

  // The lock round trip.
  res = await withTimeout(a.callTool({ name: 'lock_acquire', arguments: { name: 'x', reason: 'mcp test' } }),
    10000, 'lock_acquire');
  const got = res.structuredContent || {};
  ok(!res.isError && got.acquired === true && typeof got.token === 'string' && got.token.length > 0 &&
    Number.isInteger(got.fence), 'lock_acquire {name:"x"} -> acquired with a token and a fence', res);
  errs = schemaErrors(byName.lock_acquire.outputSchema, got);
  ok(errs.length === 0, 'lock_acquire structuredContent matches its outputSchema', errs);

  const c2 = await sdkClient(sdk, b, 'mcp-test-b');
  res = await withTimeout(c2.callTool({ name: 'lock_list', arguments: {} }), 10000, 'lock_list');
  const list = res.structuredContent || {};
  const x = (list.locks || []).find((l) => l.name === 'x');
  ok(!res.isError && x && x.holders && x.holders[0] && x.holders[0].agent === st.agent,
    'a second client sees x held by the first in lock_list', res);
  errs = schemaErrors(byName.lock_list.outputSchema, list);
  ok(errs.length === 0, 'lock_list structuredContent matches its outputSchema', errs);

  const call = spawnSync(BATON, ['call', 'lock_list', '{}'], { env: b.env, encoding: 'utf8', timeout: 10000 });
  let cli = null;
  try { cli = JSON.parse(call.stdout); } catch { /* reported below */ }
  ok(call.status === 0 && cli && (cli.locks || []).some((l) => l.name === 'x'),
    '`baton call lock_list {}` in the same project sees x', call.stderr || call.stdout);

  // Someone else's lock: a tool error that says why, not a protocol error.
  res = await withTimeout(c2.callTool({ name: 'lock_release', arguments: { name: 'x' } }), 10000, 'foreign release');
  ok(res.isError === true && /permission/.test(textOf(res) || '') && res.structuredContent === undefined,
    "releasing another agent's lock is isError with a text naming the cause", res);

  res = await withTimeout(a.callTool({ name: 'lock_release', arguments: { name: 'x', token: got.token } }),
    10000, 'lock_release');
  ok(!res.isError && res.structuredContent && res.structuredContent.released === true,
    'lock_release with the token -> released true', res);
  res = await withTimeout(c2.callTool({ name: 'lock_list', arguments: {} }), 10000, 'lock_list after');
  ok(res.structuredContent && !(res.structuredContent.locks || []).some((l) => l.name === 'x'),
    'x is gone from lock_list after the release', res);

  // ---- stdout hygiene and EOF on the raw server ----
  res = await raw.request(++id, 'tools/call', { name: 'status', arguments: {} }, 10000);
  ok(res.result && res.result.structuredContent && res.result.structuredContent.pid === st.pid,
    'the raw client reaches the same broker');
  raw.closeStdin();
  let exit = null;
  try { exit = await raw.waitExit(5000); } catch (e) { diag(e.message); }
  ok(exit && exit.code === 0, 'stdin EOF -> baton mcp exits 0 within 5 s', exit);
  bad = raw.lines.filter((l) => {
    try {
      const m = JSON.parse(l);
      return m.jsonrpc !== '2.0' || !('id' in m || 'method' in m) ||
        ('id' in m && !('result' in m) && !('error' in m) && !('method' in m));
    } catch {
      return true;
    }
  });
  ok(bad.length === 0 && raw.rest() === '' && raw.lines.length > 10,
    `every one of the ${raw.lines.length} lines on stdout is a JSON-RPC message`, bad);
});
