// Locks as agents expect them (issue 13) through `baton mcp` and the
// official SDK client, each client its own process and session: asking
// again for a lock you hold returns your grant (same token and fence, no
// deadlock with yourself); lock_release {token} frees every name of the
// grant; a name given twice, also as two spellings of one file, is an
// isError naming the field and the broker goes on (issue 12); a free lock
// is never left idle because the waiter ahead is between two calls: the
// present waiter behind it is granted within a round trip, and the absent
// one keeps its place ahead of those who came later.
import { main, ok, is, diag, loadSdk, privateBroker, sdkClient, textOf, withTimeout } from './lib.mjs';

const T = 10000; // bound on every single call that should answer at once

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();
  const [A, B, C, D] = await Promise.all(['again-a', 'again-b', 'again-c', 'again-d']
    .map((n) => sdkClient(sdk, b, n)));
  const call = (cl, name, args, what) =>
    withTimeout(cl.callTool({ name, arguments: args }), T, what || name);
  const sc = (res) => (res && res.structuredContent) || {};
  // A call that may wait: its promise, whether it settled, when.
  const pending = (cl, args) => {
    const st = { settled: false, at: 0 };
    st.p = cl.callTool({ name: 'lock_acquire', arguments: args }, undefined, { timeout: 40000 });
    st.p.then(() => { st.settled = true; st.at = performance.now(); }, () => { st.settled = true; });
    return st;
  };
  const waitersOf = async (name) => {
    const l = (sc(await call(A, 'lock_list', { prefix: name })).locks || []).find((x) => x.name === name);
    return l ? l.waiters : [];
  };
  const untilWaiters = async (name, n) => {
    const end = Date.now() + T;
    while ((await waitersOf(name)).length !== n) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${n} waiters on ${name}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  let res = await call(A, 'status', {});
  b.pids.add(sc(res).pid);

  // ---- asking again for what you hold ----
  const g = sc(await call(A, 'lock_acquire', { name: 'x' }));
  res = sc(await call(A, 'lock_acquire', { name: 'x' }));
  ok(res.acquired === true && res.token === g.token && res.fence === g.fence,
    'asking again for a lock you hold returns your grant: same token and fence', res);
  const t0 = Date.now();
  res = await call(A, 'lock_acquire', { name: 'x', wait_seconds: 20 });
  ok(!res.isError && sc(res).acquired === true && Date.now() - t0 < 2000,
    'asking again with wait_seconds answers at once: no deadlock with yourself', res);
  res = sc(await call(A, 'lock_acquire', { names: ['x', 'y', 'file:src/z.c'] }));
  ok(res.acquired === true && res.held.join() === 'x' && res.names.length === 3,
    'asking for names you partly hold grants the others, naming the ones you held', res);

  // ---- release by token ----
  res = sc(await call(A, 'lock_release', { token: res.token }));
  ok(res.released === true && res.names.slice().sort().join() === 'file:src/z.c,y',
    'lock_release {token} frees every name of that grant, and only those', res);
  res = sc(await call(A, 'lock_list', {}));
  ok(res.count === 1 && res.locks[0].name === 'x', 'x, of the earlier grant, is still held', res);
  await call(A, 'lock_release', { token: g.token });

  // ---- a name twice (issue 12: the broker freed it twice and died) ----
  for (const names of [['k', 'k'], ['file:src/a.c', 'file:./src/a.c'], ['file:src/a.c', 'file:src/./a.c']]) {
    res = await call(B, 'lock_acquire', { names });
    ok(res.isError === true && /named twice/.test(textOf(res)) && /names/.test(textOf(res)),
      `names ${JSON.stringify(names)}: isError naming the field`, textOf(res));
  }
  res = await call(B, 'status', {});
  is(sc(res).pid, sc(await call(A, 'status', {})).pid, 'the broker lives on and answers');

  // ---- a waiter between calls does not hold the line ----
  await call(A, 'lock_acquire', { name: 'q' });
  res = sc(await call(B, 'lock_acquire', { name: 'q', wait_seconds: 0.1 }));
  ok(res.acquired === false && res.queue_position === 1 && /within 60 s/.test(res.hint),
    "B's wait times out: first in line, with a ticket kept 60 s", res);
  const ticket = res.ticket;
  const wc = pending(C, { name: 'q', wait_seconds: 20 });
  await untilWaiters('q', 2);
  const tr = performance.now();
  await call(A, 'lock_release', { name: 'q' });
  res = await withTimeout(wc.p, T, "C's wait");
  const ms = wc.at - tr;
  ok(sc(res).acquired === true && ms < 100,
    `A releases while B is between calls: C, present, is granted within a round trip (${ms.toFixed(1)} ms)`,
    res);
  const wb = pending(B, { name: 'q', wait_seconds: 20, ticket });
  await untilWaiters('q', 1);
  const wd = pending(D, { name: 'q', wait_seconds: 20 });
  await untilWaiters('q', 2);
  const ws = await waitersOf('q');
  is(ws.map((w) => w.active).join(), 'true,true', 'B and D both wait');
  await call(C, 'lock_release', { name: 'q' });
  res = await withTimeout(wb.p, T, "B's wait with its ticket");
  ok(sc(res).acquired === true && !wd.settled,
    'C releases: B, back with its ticket, is granted ahead of D who came later', res);
  await call(B, 'lock_release', { name: 'q' });
  res = await withTimeout(wd.p, T, "D's wait");
  ok(sc(res).acquired === true, 'then D', res);
}, { timeoutMs: 60000 });
