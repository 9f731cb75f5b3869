// MCP 2026-07-28 through @modelcontextprotocol/client 2.x (pinned): the
// server/discover probe and per-request _meta, tools/list and tools/call;
// the io.modelcontextprotocol/tasks extension through ext-tasks: a lock
// wait that runs as a task and is granted after the holder releases, one
// that is cancelled and holds nothing, one that needs no wait and comes
// back as an ordinary result, and a wait past the broker's cap on one
// call that keeps its place in line; and
// raw 2026-07-28 requests that carry _meta only (no initialize), ids
// echoed exactly, argument errors as isError with "did you mean", and
// the errors of the revision.
import { spawn } from 'node:child_process';
import {
  main, ok, is, loadSdk, loadSdk2, privateBroker, sdkClient, sdk2Client, rawServer, textOf,
  withTimeout, diag, brokerPid, lockState, until,
} from './lib.mjs';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'raw-2026', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const TASKS_META = {
  ...META,
  'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } },
};

await main(async () => {
  const sdk = await loadSdk();
  const sdk2 = await loadSdk2();
  const b = privateBroker();

  // ---- the 2.x client pinned to 2026-07-28 ----
  const { client: c2, tap } = await sdk2Client(sdk2, b, 'modern-a');
  is(c2.getProtocolEra && c2.getProtocolEra(), 'modern', 'the 2.x client pinned to 2026-07-28 connects: modern era');
  is(c2.getNegotiatedProtocolVersion && c2.getNegotiatedProtocolVersion(), '2026-07-28',
    'server/discover offered 2026-07-28');
  const caps = c2.getServerCapabilities() || {};
  ok(caps.tools && caps.extensions && caps.extensions['io.modelcontextprotocol/tasks'],
    'discover: tools and the io.modelcontextprotocol/tasks extension', caps);
  ok(c2.getServerVersion() && c2.getServerVersion().name === 'baton' && /lock_acquire/.test(c2.getInstructions() || ''),
    'discover: serverInfo baton and the instructions');
  const { tools } = await withTimeout(c2.listTools(), 5000, 'tools/list (2026-07-28)');
  ok(tools.length >= 30 && tools.some((t) => t.name === 'lock_acquire'), `tools/list: ${tools.length} tools`);
  let res = await withTimeout(c2.callTool({ name: 'status', arguments: {} }), 10000, 'status');
  const st = res.structuredContent || {};
  ok(!res.isError && Number.isInteger(st.pid) && /^modern-a-[0-9a-f]{4}$/.test(st.agent || ''),
    'tools/call status: the agent is named from _meta clientInfo', res);
  if (st.pid) b.pids.add(st.pid);
  res = await withTimeout(c2.callTool({ name: 'task_get', arguments: { task_id: 'T1' } }), 10000, 'bad arg');
  ok(res.isError === true && /unknown argument task_id; did you mean id\?/.test(textOf(res) || ''),
    'an unknown argument is an isError result with "did you mean id?"', res);

  // ---- tasks through ext-tasks ----
  const holder = await sdkClient(sdk, b, 'holder');
  const session = sdk2.tasks.createTaskSessionFromClient(c2, {
    endpointId: 'baton-test',
    rawDispatch: (req) => tap.dispatch(req),
    v2RequestFraming: {
      protocolVersion: '2026-07-28',
      clientInfo: { name: 'modern-a', version: '2.0.0' },
      clientCapabilities: {},
    },
  });
  ok(session.capabilities.execution === true && session.capabilities.cancellation === true,
    'ext-tasks sees a server that runs tasks and cancels them', session.capabilities);

  // a free lock needs no wait: an ordinary result
  let ex = await withTimeout(session.callTool('lock_acquire', { name: 'free', wait_seconds: 20 }), 10000, 'free');
  is(ex.kind, 'immediate', 'a wait that needs no waiting comes back as an ordinary result, not a task');
  let out = await withTimeout(ex.settle(), 10000, 'settle free');
  ok(out.outcome.status === 'completed' && out.outcome.result.structuredContent.acquired === true,
    'and it holds the lock', out.outcome);

  // granted after release
  res = await withTimeout(holder.callTool({ name: 'lock_acquire', arguments: { name: 'tq' } }), 10000, 'hold tq');
  ok(res.structuredContent.acquired === true, 'the holder takes tq');
  const t0 = Date.now();
  ex = await withTimeout(session.callTool('lock_acquire', { name: 'tq', wait_seconds: 30 }), 10000, 'task tq');
  ok(ex.kind === 'task' && typeof ex.handle.taskId === 'string' && ex.handle.taskId.length >= 32 &&
    Date.now() - t0 < 2000, 'a lock wait runs as a task: the handle comes back at once', ex.kind);
  await withTimeout(until(async () => (await lockState(holder, 'tq')).waiters === 1, 5000, 'waiter'), 6000, 'waiter');
  ok(true, 'the task waits in line for tq');
  let snap = await withTimeout(session.task(ex.handle.taskId).snapshot(), 5000, 'tasks/get');
  is(snap.status, 'working', 'tasks/get: working while it waits');
  const settled = ex.settle();
  res = await withTimeout(holder.callTool({ name: 'lock_release', arguments: { name: 'tq' } }), 10000, 'release tq');
  out = await withTimeout(settled, 10000, 'the task settles');
  const got = out.outcome.status === 'completed' && out.outcome.result.structuredContent;
  ok(got && got.acquired === true && typeof got.token === 'string',
    'released: the task completes with acquired:true and a token', out.outcome.error ? String(out.outcome.error.message) + ' ' + String(out.outcome.error.cause && out.outcome.error.cause.stack) : out.outcome);
  const after = await lockState(holder, 'tq');
  ok(after.holders.length === 1 && /^modern-a-/.test(after.holders[0]), 'and the waiting client holds tq', after);

  // cancelled: holds nothing
  res = await withTimeout(holder.callTool({ name: 'lock_acquire', arguments: { name: 'tc' } }), 10000, 'hold tc');
  ex = await withTimeout(session.callTool('lock_acquire', { name: 'tc', wait_seconds: 30 }), 10000, 'task tc');
  is(ex.kind, 'task', 'a second lock wait is a task');
  await withTimeout(until(async () => (await lockState(holder, 'tc')).waiters === 1, 5000, 'waiter'), 6000, 'waiter');
  await withTimeout(ex.cancel(), 5000, 'tasks/cancel');
  await withTimeout(until(async () => (await lockState(holder, 'tc')).waiters === 0, 5000, 'no waiter'), 6000,
    'no waiter after the cancel');
  ok(true, 'tasks/cancel ends the wait: no waiter left on tc');
  snap = await withTimeout(session.task(ex.handle.taskId).snapshot(), 5000, 'tasks/get cancelled');
  is(snap.status, 'cancelled', 'tasks/get: cancelled');
  await withTimeout(holder.callTool({ name: 'lock_release', arguments: { name: 'tc' } }), 10000, 'release tc');
  const tc = await lockState(holder, 'tc');
  ok(tc.holders.length === 0, 'the holder releases: the cancelled task was not granted tc', tc);

  // ---- raw 2026-07-28: _meta only, no initialize ----
  const raw = rawServer(b);
  let r = await raw.request(1, 'tools/call', { name: 'counter_incr', arguments: { name: 'c' }, _meta: META });
  ok(r.result && r.result.resultType === 'complete' && r.result.structuredContent.value === 1 &&
    r.result._meta && r.result._meta['io.modelcontextprotocol/serverInfo'].name === 'baton',
  'a tools/call with _meta and no initialize: resultType complete, serverInfo in _meta', r);
  const before = raw.lines.length;
  raw.send('{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/list","params":{"_meta":' +
    JSON.stringify(META) + '}}');
  await withTimeout(until(() => raw.lines.length > before, 5000, 'tools/list line'), 6000, 'tools/list');
  const line = raw.lines[before];
  ok(line.startsWith('{"jsonrpc":"2.0","id":9007199254740993,'), 'id 9007199254740993 is echoed exactly',
    line.slice(0, 80));
  // the usual ids print back as written; others are echoed from their text
  for (const id of ['0', '-5', '42', '-0', '007', '1.0', '1e2', '123456789012345', '1234567890123456']) {
    const n = raw.lines.length;
    raw.send('{"jsonrpc":"2.0","id":' + id + ',"method":"ping","params":{"_meta":' + JSON.stringify(META) + '}}');
    await withTimeout(until(() => raw.lines.length > n, 5000, 'ping line'), 6000, 'ping ' + id);
    ok(raw.lines[n].startsWith('{"jsonrpc":"2.0","id":' + id + ','), 'id ' + id + ' is echoed exactly',
      raw.lines[n].slice(0, 80));
  }
  const tl = JSON.parse(line).result;
  ok(tl.resultType === 'complete' && tl.ttlMs > 0 && tl.cacheScope === 'private' && tl.tools.length >= 30,
    'tools/list (2026-07-28): cacheable, with every tool', { ...tl, tools: tl.tools.length });
  r = await raw.request(2, 'tools/call', { name: 'status', arguments: {},
    _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01', 'io.modelcontextprotocol/clientCapabilities': {} } });
  ok(r.error && r.error.code === -32022 && r.error.data && r.error.data.supported.includes('2026-07-28') &&
    r.error.data.requested === '2099-01-01', 'an unknown revision in _meta: -32022 with the supported ones', r);
  r = await raw.request(3, 'tools/call', { name: 'status', arguments: {},
    _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } });
  ok(r.error && r.error.code === -32602 && /clientCapabilities/.test(r.error.message),
    '_meta without clientCapabilities: -32602 naming it', r);
  r = await raw.request(4, 'tasks/get', { taskId: 'nope', _meta: META });
  ok(r.error && r.error.code === -32021 && r.error.data.requiredCapabilities.extensions,
    'tasks/get without the extension declared: -32021', r);
  r = await raw.request(5, 'tasks/get', { taskId: 'nope', _meta: TASKS_META });
  ok(r.error && r.error.code === -32602 && /no task nope/.test(r.error.message), 'an unknown task: -32602', r);

  // A wait past the broker's cap on one call keeps its place in line: on a
  // broker started with --max-wait 0.3, a task waits 4 s for tw; a 1.x
  // client queues behind it; the holder releases after 1 s: the task
  // (asked again with its ticket after each 0.3 s) is granted first.
  const b3 = privateBroker('capped');
  const batond = spawn(process.env.BATOND, ['-f', '-S', b3.env.BATON_SOCKET, '-D', b3.env.BATON_STATE_DIR,
    '--max-wait', '0.3'], { env: b3.env, stdio: ['ignore', 'ignore', 'inherit'] });
  b3.pids.add(batond.pid);
  await withTimeout(until(() => brokerPid(b3) === batond.pid, 5000, 'batond --max-wait'), 6000, 'batond');
  const h3 = await sdkClient(sdk, b3, 'holder3');
  const w3 = await sdkClient(sdk, b3, 'second3');
  const raw3 = rawServer(b3);
  await withTimeout(h3.callTool({ name: 'lock_acquire', arguments: { name: 'tw' } }), 10000, 'hold tw');
  r = await raw3.request(6, 'tools/call', { name: 'lock_acquire', arguments: { name: 'tw', wait_seconds: 4 },
    _meta: TASKS_META });
  const tid = r.result && r.result.taskId;
  ok(r.result && r.result.resultType === 'task' && r.result.status === 'working' && r.result.pollIntervalMs > 0 &&
    r.result.ttlMs >= 4000, 'raw: a lock wait with the extension gives a task handle', r);
  await withTimeout(until(async () => (await lockState(h3, 'tw')).waiters === 1, 5000, 'task waits'), 6000, 'waits');
  const second = w3.callTool({ name: 'lock_acquire', arguments: { name: 'tw', wait_seconds: 0.25 } },
    undefined, { timeout: 10000 });
  await new Promise((res) => setTimeout(res, 1000)); // three times the broker's cap
  let g = await raw3.request('g1', 'tasks/get', { taskId: tid, _meta: TASKS_META });
  is(g.result && g.result.status, 'working', 'past the broker\'s cap the task still waits (asked again with its ticket)');
  const ll = await withTimeout(h3.callTool({ name: 'lock_list', arguments: { prefix: 'tw' } }), 5000, 'lock_list tw');
  const ws = (ll.structuredContent.locks[0] || {}).waiters || [];
  ok(ws.length === 2 && /^raw-2026-/.test(ws[0].agent) && ws[0].active === true && ws[0].waited_seconds >= 0.9 &&
    /^second3-/.test(ws[1].agent), 'it is first in line, waiting since it began (three broker caps ago), ' +
    'ahead of the client that came after', ws);
  await withTimeout(h3.callTool({ name: 'lock_release', arguments: { name: 'tw' } }), 10000, 'release tw');
  await withTimeout(until(async () => {
    g = await raw3.request(`g${Date.now()}`, 'tasks/get', { taskId: tid, _meta: TASKS_META });
    return g.result && g.result.status !== 'working';
  }, 5000, 'task ends'), 6000, 'task ends');
  ok(g.result.status === 'completed' && g.result.resultType === 'complete' &&
    g.result.result.structuredContent.acquired === true,
  'released: the task, first in line, completes with acquired:true', g.result);
  const sr = await withTimeout(second, 10000, 'the second waiter');
  ok(sr.structuredContent && sr.structuredContent.acquired === false,
    'the client that queued behind it was not granted', sr.structuredContent);
  raw3.closeStdin();
  raw.closeStdin();
  diag(`2026-07-28 done in ${Date.now() - t0} ms`);
});
