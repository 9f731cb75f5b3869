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
  ok(res.result !== undefined, 'a line over 4 MiB gets -32700 saying so, and the server goes on', res);

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

  // Argument errors: JSON-RPC -32602 before 2025-11-25 ...
  res = await raw.request(++id, 'initialize',
    { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw-test', version: '0' } });
  is(res.result && res.result.protocolVersion, '2025-06-18', 'initialize 2025-06-18 again');
  res = await raw.request(++id, 'tools/call',
    { name: 'lock_acquire', arguments: { name: 'x', mode: 'sideways' } });
  ok(res.error && res.error.code === -32602 && /mode/.test(res.error.message) &&
    res.error.data && res.error.data.field === 'mode',
    '2025-06-18: a bad argument (mode:"sideways") gets -32602 naming the field', res);

  res = await raw.request(++id, 'tools/call',
    { name: 'lock_acquire', arguments: { name: 'x', colour: 'red' } });
  ok(res.error && res.error.code === -32602 && /colour/.test(res.error.message),
    '2025-06-18: an unknown argument gets -32602 naming it', res);

  res = await raw.request(++id, 'tools/call', { name: 'lock_renew', arguments: { ttl_seconds: 5 } });
  ok(res.error && res.error.code === -32602 && res.error.data && res.error.data.field === 'name',
    '2025-06-18: a missing required argument gets -32602 naming it', res);

  res = await raw.request(++id, 'tools/call', { name: 'task_get', arguments: { task_id: 'T1' } });
  ok(res.error && res.error.code === -32602 && /unknown argument task_id; did you mean id\?/.test(res.error.message),
    '2025-06-18: an unknown argument close to a known one says which', res);

  // ... and isError tool results the model can act on from 2025-11-25 on
  res = await raw.request(++id, 'initialize',
    { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw-test', version: '0' } });
  is(res.result && res.result.protocolVersion, '2025-11-25', 'initialize 2025-11-25 again');
  res = await raw.request(++id, 'tools/call', { name: 'task_get', arguments: { task_id: 'T1' } });
  ok(res.result && res.result.isError === true && res.error === undefined &&
    textOf(res.result) === 'invalid arguments for task_get: unknown argument task_id; did you mean id?',
  '2025-11-25: task_id for id is an isError result: "unknown argument task_id; did you mean id?"', res);
  res = await raw.request(++id, 'tools/call',
    { name: 'lock_acquire', arguments: { name: 'x', mode: 'sideways' } });
  ok(res.result && res.result.isError === true && /mode must be one of exclusive\|shared/.test(textOf(res.result)),
    '2025-11-25: a bad value is an isError result naming the field and what it takes', res);
  res = await raw.request(++id, 'tools/call', { name: 'lock_acquire', arguments: { name: 'x', wait_second: 3 } });
  ok(res.result && res.result.isError === true && /did you mean wait_seconds\?/.test(textOf(res.result)),
    '2025-11-25: a misspelt argument (wait_second) gets "did you mean wait_seconds?"', res);
  res = await raw.request(++id, 'tools/call', { name: 'lock_acquire', arguments: { name: 'x', zzzzzzzzzzzz: 3 } });
  ok(res.result && res.result.isError === true && /unknown argument zzzzzzzzzzzz; it takes name, names, mode/.test(textOf(res.result)),
    '2025-11-25: an argument close to none lists the ones the tool takes', res);
  res = await raw.request(++id, 'tools/call', { name: 'lock_renew', arguments: { ttl_seconds: 5 } });
  ok(res.result && res.result.isError === true && /name is required/.test(textOf(res.result)),
    '2025-11-25: a missing required argument is an isError result naming it', res);
  res = await raw.request(++id, 'tools/call', { name: 'no_such_tool', arguments: {} });
  ok(res.error && res.error.code === -32602, '2025-11-25: an unknown tool stays a protocol error', res);

  // ---- the SDK client ----
  const a = await sdkClient(sdk, b, 'mcp-test-a');
  ok(a.getServerVersion() && a.getServerVersion().name === 'baton',
    'the SDK client connects and sees serverInfo baton', a.getServerVersion());
  ok(typeof a.getInstructions() === 'string' && a.getInstructions().length > 0,
    'the SDK client receives the instructions', a.getInstructions());

  const { tools } = await withTimeout(a.listTools(), 5000, 'tools/list');
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  for (const name of ['status', 'lock_acquire', 'lock_release', 'lock_list'])
    ok(byName[name] !== undefined, `tools/list has ${name}`, Object.keys(byName));
  let bad = tools.filter((t) => !(t.inputSchema && t.inputSchema.type === 'object' &&
    t.inputSchema.properties && t.outputSchema && t.outputSchema.type === 'object' &&
    t.outputSchema.properties));
  ok(bad.length === 0, `all ${tools.length} tools have an object inputSchema and outputSchema`,
    bad.map((t) => t.name));
  // Hints: a read-only tool says only that; a writer says whether it destroys
  // (the MCP default is true) and never has a title twice.
  bad = tools.filter((t) => !(t.annotations && typeof t.title === 'string' && t.annotations.title === undefined &&
    (t.annotations.readOnlyHint === true ? t.annotations.destructiveHint === undefined
      : typeof t.annotations.destructiveHint === 'boolean')));
  ok(bad.length === 0, 'every tool has one title and hints: read-only, or whether it destroys',
    bad.map((t) => [t.name, t.annotations]));
  bad = tools.filter((t) => typeof t.description !== 'string' || t.description.length < 20 ||
    t.description.length >= LIMIT ||
    Object.values(t.inputSchema.properties || {}).some((p) => p.description !== undefined && p.description.length >= LIMIT));
  ok(bad.length === 0, `every tool is described in under ${LIMIT} characters, and so is each argument described`,
    bad.map((t) => t.name));
  ok(byName.status.annotations.readOnlyHint === true && byName.lock_list.annotations.readOnlyHint === true &&
    byName.lock_acquire.annotations.readOnlyHint === undefined,
    'status and lock_list are read-only, lock_acquire is not',
    ['status', 'lock_list', 'lock_acquire'].map((n) => [n, byName[n].annotations]));
  ok(byName.lock_release.annotations.destructiveHint === false && byName.task_release.annotations.destructiveHint === false,
    'releasing your own lock or task is not destructive', [byName.lock_release.annotations, byName.task_release.annotations]);
  ok(byName.note_set.annotations.destructiveHint === true && byName.note_delete.annotations.destructiveHint === true &&
    byName.note_set.annotations.idempotentHint === undefined,
    'note_set (it overwrites) and note_delete are destructive; note_set is not idempotent',
    [byName.note_set.annotations, byName.note_delete.annotations]);
  ok(byName.lock_acquire.annotations.destructiveHint === false && byName.message_send.annotations.destructiveHint === false,
    'lock_acquire and message_send only add',
    [byName.lock_acquire.annotations, byName.message_send.annotations]);
  const la = byName.lock_acquire.inputSchema.properties;
  ok(la.mode && la.mode.type === 'string' && JSON.stringify(la.mode.enum) === '["exclusive","shared"]' &&
    la.mode.default === 'exclusive', 'lock_acquire mode: string enum with its default', la.mode);
  ok(la.wait_seconds && la.wait_seconds.type === 'number' && la.wait_seconds.default === 0 &&
    la.wait_seconds.minimum === undefined && la.wait_seconds.maximum === undefined,
    'lock_acquire wait_seconds: a number with its default, without bounds the model cannot use', la.wait_seconds);
  ok(la.names && la.names.type === 'array' && la.names.items && la.names.items.type === 'string',
    'lock_acquire names: array of strings', la.names);
  ok(JSON.stringify(byName.lock_renew.inputSchema.required) === '["name","ttl_seconds"]',
    'lock_renew requires name and ttl_seconds', byName.lock_renew.inputSchema);
  ok(byName.lock_break === undefined, 'lock_break, the user\'s, is not offered to agents', byName.lock_break);
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
    'the text content is the same JSON as structuredContent', res);
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
    'the raw client reaches the same broker', { res, want_pid: st.pid });
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
