// baton mcp with calls that wait: several calls outstanding on one
// connection, progress notifications, notifications/cancelled ending a
// wait without an answer, and a broker that goes away mid-wait (the call
// fails with isError, the next one reconnects to a new broker).
import {
  main, ok, is, diag, loadSdk, privateBroker, sdkClient, rawServer, textOf, withTimeout,
  killBroker,
} from './lib.mjs';

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();
  const a = await sdkClient(sdk, b, 'wait-a');
  const c = await sdkClient(sdk, b, 'wait-b');

  let res = await withTimeout(a.callTool({ name: 'status', arguments: {} }), 10000, 'status');
  const pid = res.structuredContent && res.structuredContent.pid;
  ok(Number.isInteger(pid), 'status gives the broker pid', res);
  b.pids.add(pid);

  // One client, a waiting call and other calls at the same time.
  res = await withTimeout(a.callTool({ name: 'lock_acquire', arguments: { name: 'z' } }), 10000, 'take z');
  ok(res.structuredContent && res.structuredContent.acquired === true, 'a takes z', res);
  const waiting = c.callTool({ name: 'lock_acquire', arguments: { name: 'z', wait_seconds: 30 } },
    undefined, { timeout: 40000 });
  let settled = false;
  waiting.then(() => { settled = true; }, () => { settled = true; });
  res = await withTimeout(c.callTool({ name: 'lock_list', arguments: {} }), 10000, 'list while waiting');
  const z = (res.structuredContent.locks || []).find((l) => l.name === 'z');
  ok(z && z.waiters && z.waiters.length === 1 && !settled,
    'while its lock_acquire waits, the same client runs lock_list and sees itself waiting', res);
  res = await withTimeout(a.callTool({ name: 'lock_release', arguments: { name: 'z' } }), 10000, 'release z');
  ok(res.structuredContent && res.structuredContent.released === true, 'a releases z', res);
  res = await withTimeout(waiting, 10000, 'the wait ends with the grant');
  ok(!res.isError && res.structuredContent && res.structuredContent.acquired === true,
    "the waiting call is answered acquired:true once z is released", res);

  // Raw: progress every few seconds, and a cancelled wait gets no answer.
  const raw = rawServer(b);
  await raw.request(1, 'initialize',
    { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'wait-raw', version: '0' } });
  raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const progress = raw.next((m) => m.method === 'notifications/progress', 'progress', 9000);
  raw.send({ jsonrpc: '2.0', id: 'w1', method: 'tools/call', params:
    { name: 'lock_acquire', arguments: { name: 'z', wait_seconds: 40 }, _meta: { progressToken: 'tok-1' } } });
  let p = null;
  try { p = await progress; } catch (e) { diag(e.message); }
  ok(p && p.params && p.params.progressToken === 'tok-1' && p.params.progress === 1 &&
    typeof p.params.message === 'string', 'a waiting call with a progressToken gets notifications/progress', p);
  raw.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'w1', reason: 'test' } });
  res = await raw.request(2, 'tools/call', { name: 'lock_list', arguments: { prefix: 'z' } });
  const z2 = res.result && (res.result.structuredContent.locks || []).find((l) => l.name === 'z');
  ok(z2 && z2.waiters && z2.waiters.length === 0,
    'notifications/cancelled ends the wait (no waiter left on z)', res);
  ok(!raw.lines.some((l) => JSON.parse(l).id === 'w1'), 'the cancelled call gets no response', raw.lines);

  // a joins under a name and role of its own: a reconnect must keep them
  res = await withTimeout(a.callTool({ name: 'agent_join', arguments: { name: 'joined-a', role: 'reviewer' } }),
    10000, 'agent_join');
  is(res.structuredContent && res.structuredContent.agent, 'joined-a', 'a joins as joined-a');

  // The broker goes away while a call waits (c holds z now).
  const lost = a.callTool({ name: 'lock_acquire', arguments: { name: 'z', wait_seconds: 30 } },
    undefined, { timeout: 40000 });
  res = await withTimeout(a.callTool({ name: 'lock_list', arguments: { prefix: 'z' } }), 10000, 'list');
  ok(res.structuredContent.locks[0] && res.structuredContent.locks[0].waiters.length === 1,
    'a second wait on z is queued', res);
  killBroker(pid);
  res = await withTimeout(lost, 10000, 'the wait fails when the broker goes');
  ok(res.isError === true && /unavailable/.test(textOf(res) || '') && /again/.test(textOf(res) || ''),
    'a waiting call fails with isError saying to call again when the broker goes away', res);
  res = await withTimeout(a.callTool({ name: 'status', arguments: {} }), 15000, 'status after restart');
  const pid2 = res.structuredContent && res.structuredContent.pid;
  if (Number.isInteger(pid2)) b.pids.add(pid2);
  ok(!res.isError && Number.isInteger(pid2) && pid2 !== pid,
    'the next call reconnects to a new broker (started on demand)', res);
  is(res.structuredContent && res.structuredContent.agent, 'joined-a',
    'it comes back under its agent_join name, not the one it started with');
  res = await withTimeout(c.callTool({ name: 'agent_list', arguments: {} }), 15000, 'agent_list');
  const ja = ((res.structuredContent && res.structuredContent.agents) || []).find((x) => x.agent === 'joined-a');
  ok(ja && ja.role === 'reviewer' && ja.joined === true, 'and in its joined role, joined again', res.structuredContent);
  res = await withTimeout(c.callTool({ name: 'lock_list', arguments: {} }), 15000, 'other client');
  is(res.isError, false, 'the other client reconnects too');

  raw.closeStdin();
  let exit = null;
  try { exit = await raw.waitExit(5000); } catch (e) { diag(e.message); }
  ok(exit && exit.code === 0, 'stdin EOF -> exit 0', exit);
});
