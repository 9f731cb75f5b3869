// Locks between agents through `baton mcp` and the official SDK client
// (DESIGN 5.1, 6): three clients on one private broker and one project.
// A blocked lock_acquire is granted when the holder releases; a cancelled
// wait (AbortController -> notifications/cancelled) leaves the queue; a
// timed-out wait returns a ticket that keeps its place ahead of a later
// waiter; a wait that would close a cycle fails at once with "deadlock";
// a long wait with onprogress gets notifications/progress.
import { main, ok, cmpOk, diag, loadSdk, privateBroker, sdkClient, textOf, withTimeout } from './lib.mjs';

const T = 10000; // bound on every single call that should answer at once

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();
  const A = await sdkClient(sdk, b, 'lock-a');
  const B = await sdkClient(sdk, b, 'lock-b');
  const C = await sdkClient(sdk, b, 'lock-c');

  const call = (cl, name, args, what, opts) =>
    withTimeout(cl.callTool({ name, arguments: args }, undefined, opts), T, what);
  // A call that may wait: its promise, and whether it has settled yet.
  const pending = (cl, args, opts = {}) => {
    const p = cl.callTool({ name: 'lock_acquire', arguments: args }, undefined,
      { timeout: 40000, ...opts });
    const st = { settled: false, p };
    p.then(() => { st.settled = true; }, () => { st.settled = true; });
    return st;
  };
  const sc = (res) => (res && res.structuredContent) || {};
  const lockOf = async (name) => {
    const res = await call(C, 'lock_list', { prefix: name }, `lock_list ${name}`);
    return (sc(res).locks || []).find((l) => l.name === name);
  };
  // Wait (bounded) until lock name has n waiters; the lock's entry.
  const untilWaiters = async (name, n, what) => {
    const end = Date.now() + T;
    for (;;) {
      const l = await lockOf(name);
      const w = l ? l.waiters.length : 0;
      if (w === n) return l;
      if (Date.now() > end) throw new Error(`timed out: ${what} (${w} waiters on ${name}, want ${n})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const agentOf = async (cl) => sc(await call(cl, 'status', {}, 'status')).agent;

  let res = await call(A, 'status', {}, 'status');
  if (Number.isInteger(sc(res).pid)) b.pids.add(sc(res).pid);
  const [na, nb, nc] = [sc(res).agent, await agentOf(B), await agentOf(C)];
  ok(na && nb && nc && na !== nb && nb !== nc, 'three MCP clients are three sessions', [na, nb, nc]);

  // ---- a blocking acquire is granted when the holder releases ----
  res = await call(A, 'lock_acquire', { name: 'x' }, 'A takes x');
  ok(sc(res).acquired === true, 'A takes x', res);
  let wb = pending(B, { name: 'x', wait_seconds: 20 });
  let l = await untilWaiters('x', 1, "B's wait reaches the queue");
  ok(!wb.settled && l.waiters[0].agent === nb && l.holders[0].agent === na,
    "B's lock_acquire {wait_seconds: 20} is pending while A holds x", l);
  const t0 = Date.now();
  res = await call(A, 'lock_release', { name: 'x' }, 'A releases x');
  res = await withTimeout(wb.p, T, "B's wait ends");
  const ms = Date.now() - t0;
  ok(!res.isError && sc(res).acquired === true && /^[0-9a-f]{32}$/.test(sc(res).token),
    "A's lock_release: B's pending call resolves acquired:true with a token", res);
  diag(`A's release call to B's grant, through two baton mcp: ${ms} ms`);
  cmpOk(ms, '<', 1000, `promptly (${ms} ms)`);
  l = await lockOf('x');
  ok(l && l.holders.length === 1 && l.holders[0].agent === nb && l.waiters.length === 0,
    'lock_list shows B holding x and nobody waiting', l);
  res = await call(B, 'lock_release', { name: 'x' }, 'B releases x');

  // ---- a cancelled wait leaves the queue ----
  res = await call(A, 'lock_acquire', { name: 'x' }, 'A takes x again');
  const ctl = new AbortController();
  wb = pending(B, { name: 'x', wait_seconds: 20 }, { signal: ctl.signal });
  await untilWaiters('x', 1, "B's second wait reaches the queue");
  ctl.abort('test cancels');
  let err = null;
  try { await withTimeout(wb.p, T, 'the aborted call'); } catch (e) { err = e; }
  ok(err !== null && !/timed out after/.test(err.message),
    'the aborted callTool rejects at once (the SDK sent notifications/cancelled)', err && err.message);
  let gone = null;
  try { gone = await untilWaiters('x', 0, 'the cancelled waiter leaves'); } catch (e) { diag(e.message); }
  ok(gone && gone.holders[0].agent === na, 'lock_list shows no waiter on x after the cancel', gone);
  res = await call(A, 'lock_release', { name: 'x' }, 'A releases x');
  l = await lockOf('x');
  ok(l === undefined, 'when A releases, the cancelled B is not granted: x is free', l);

  // ---- a timed-out wait returns a ticket that keeps its place ----
  res = await call(A, 'lock_acquire', { name: 'x' }, 'A takes x (ticket)');
  res = await withTimeout(B.callTool({ name: 'lock_acquire',
    arguments: { name: 'x', wait_seconds: 0.5 } }), T, 'B times out');
  const r = sc(res);
  ok(!res.isError && r.acquired === false && r.queue_position === 1 &&
    typeof r.ticket === 'string' && r.ticket.length > 0,
    'a wait of 0.5 s times out with acquired:false, queue_position 1 and a ticket', res);
  ok(typeof r.hint === 'string' && /ticket/.test(r.hint), 'its hint says to call again with the ticket', r.hint);
  ok(Array.isArray(r.holders) && r.holders[0] && r.holders[0].agent === na,
    'and names the holder', r.holders);
  const wc = pending(C, { name: 'x', wait_seconds: 20 });
  l = await untilWaiters('x', 2, "C queues behind B's ticket");
  ok(l.waiters[0].agent === nb && l.waiters[0].active === false && l.waiters[1].agent === nc,
    "C queues behind B's parked place", l.waiters);
  wb = pending(B, { name: 'x', wait_seconds: 20, ticket: r.ticket });
  const endw = Date.now() + T;
  while (!(l = await lockOf('x')).waiters[0].active && Date.now() < endw)
    await new Promise((res2) => setTimeout(res2, 20));
  ok(!wb.settled && l.waiters.map((w) => w.agent).join() === `${nb},${nc}` && l.waiters[0].active,
    "B's retry with the ticket waits at its old place, ahead of C", l.waiters);
  res = await call(A, 'lock_release', { name: 'x' }, 'A releases x (ticket)');
  res = await withTimeout(wb.p, T, "B's ticket wait ends");
  ok(!res.isError && sc(res).acquired === true, "A releases: B, holding the ticket, is granted", res);
  l = await lockOf('x');
  ok(!wc.settled && l.holders[0].agent === nb && l.waiters.length === 1 && l.waiters[0].agent === nc,
    'C, who came later, still waits', l);
  res = await call(B, 'lock_release', { name: 'x' }, 'B releases x (ticket)');
  res = await withTimeout(wc.p, T, "C's wait ends");
  ok(!res.isError && sc(res).acquired === true, 'B releases: C is granted', res);
  res = await call(C, 'lock_release', { name: 'x' }, 'C releases x');

  // ---- deadlock: A holds x, B holds y, A waits for y, B asks for x ----
  res = await call(A, 'lock_acquire', { name: 'x' }, 'A takes x (deadlock)');
  ok(sc(res).acquired === true, 'A takes x', res);
  res = await call(B, 'lock_acquire', { name: 'y' }, 'B takes y');
  ok(sc(res).acquired === true, 'B takes y', res);
  const wa = pending(A, { name: 'y', wait_seconds: 20 });
  await untilWaiters('y', 1, "A's wait for y reaches the queue");
  res = await call(B, 'lock_acquire', { name: 'x' }, 'B tries x');
  ok(!res.isError && sc(res).acquired === false && sc(res).holders[0].agent === na,
    'without wait_seconds, B asking for x is no wait and no deadlock: acquired:false naming A', res);
  const td = Date.now();
  res = await call(B, 'lock_acquire', { name: 'x', wait_seconds: 20 }, 'B asks for x');
  const txt = textOf(res) || '';
  diag(`deadlock error: ${txt}`);
  const dms = Date.now() - td;
  ok(res.isError === true && /deadlock/.test(txt) && dms < 2000,
    `B's wait for x fails at once with isError and a deadlock error (${dms} ms)`, res);
  ok(txt.includes(na) && /\bx\b/.test(txt) && /\by\b/.test(txt),
    'the error names the cycle (A holding x, waiting for y)', txt);
  l = await lockOf('x');
  ok(l && l.waiters.length === 0, 'B is not left in the queue of x', l);
  ok(!wa.settled, "A's wait for y goes on", wa);
  res = await call(B, 'lock_release', { name: 'y' }, 'B releases y');
  res = await withTimeout(wa.p, T, "A's wait for y ends");
  ok(!res.isError && sc(res).acquired === true, 'B releases y: A is granted y', res);
  res = await call(A, 'lock_release', { name: 'y' }, 'A releases y');

  // ---- progress during a long wait (A still holds x) ----
  const prog = [];
  let first;
  const gotProgress = new Promise((resolve) => { first = resolve; });
  const wp = pending(B, { name: 'x', wait_seconds: 8 }, {
    onprogress: (p) => { prog.push(p); first(p); },
  });
  let p = null;
  try { p = await withTimeout(gotProgress, 9000, 'a progress notification'); } catch (e) { diag(e.message); }
  ok(p && typeof p.progress === 'number' && !wp.settled,
    'a wait with onprogress (a progressToken) gets notifications/progress while it waits', p);
  res = await call(A, 'lock_release', { name: 'x' }, 'A releases x (progress)');
  res = await withTimeout(wp.p, T, 'the progressed wait ends');
  ok(!res.isError && sc(res).acquired === true, 'and is granted when A releases', res);
}, { timeoutMs: 90000 });
