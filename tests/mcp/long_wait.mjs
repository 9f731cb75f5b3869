// A wait whose MCP client sent a progress token may run to the longer cap
// (batond --max-wait-progress; 10 min by default), with
// notifications/progress every few seconds; without one it stops at
// --max-wait.  Every answer says which cap applied.  Short caps stand in
// for the defaults: --max-wait 1, --max-wait-progress 11.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { main, ok, is, diag, loadSdk, privateBroker, sdkClient, withTimeout } from './lib.mjs';

const CAP = 1;
const LONG = 11;

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker('long-wait');
  const batond = process.env.BATOND || join(process.env.TOP_BUILDDIR, 'batond');
  const r = spawnSync(batond, ['-S', b.env.BATON_SOCKET, '-D', b.env.BATON_STATE_DIR,
    '--max-wait', String(CAP), '--max-wait-progress', String(LONG)],
  { env: b.env, encoding: 'utf8', timeout: 10000 });
  is(r.status, 0, `batond --max-wait ${CAP} --max-wait-progress ${LONG} starts`);
  const a = await sdkClient(sdk, b, 'holder');
  const w = await sdkClient(sdk, b, 'waiter');
  const st = await withTimeout(a.callTool({ name: 'status', arguments: {} }), 10000, 'status');
  b.pids.add(st.structuredContent.pid);
  await withTimeout(a.callTool({ name: 'lock_acquire', arguments: { name: 'long' } }), 10000, 'hold');

  // Without a progress token: the wait stops at --max-wait.
  let t0 = Date.now();
  let res = await withTimeout(w.callTool({ name: 'lock_acquire',
    arguments: { name: 'long', wait_seconds: 60 } }), 10000, 'a wait without progress');
  let sc = res.structuredContent || {};
  ok(sc.acquired === false && sc.wait_cap_seconds === CAP && Date.now() - t0 < 3000,
    `without a progress token the wait stops at the ${CAP} s cap and says so ` +
    `(${Date.now() - t0} ms)`, sc);

  // With one: it runs to the longer cap, with progress every few seconds.
  const prog = [];
  t0 = Date.now();
  res = await withTimeout(w.callTool({ name: 'lock_acquire',
    arguments: { name: 'long', wait_seconds: 60, ticket: sc.ticket } }, undefined, {
    timeout: 30000, onprogress: (p) => prog.push(Date.now() - t0),
  }), 30000, 'a wait with progress');
  const took = Date.now() - t0;
  sc = res.structuredContent || {};
  ok(sc.acquired === false && sc.wait_cap_seconds === LONG && took >= (LONG - 1) * 1000 &&
    took < (LONG + 3) * 1000,
  `with a progress token the same wait runs to the ${LONG} s cap and says so (${took} ms)`, sc);
  ok(prog.length >= 2, `notifications/progress came every few seconds meanwhile (${prog.join(', ')} ms)`,
    prog);
  is(sc.queue_position, 1, 'its ticket kept its place through both waits');

  // A message_inbox and an event_wait say the cap too.
  res = await withTimeout(w.callTool({ name: 'event_wait',
    arguments: { name: 'never', wait_seconds: 60 } }), 10000, 'event_wait');
  is(res.structuredContent.wait_cap_seconds, CAP, 'event_wait says which cap applied');
  res = await withTimeout(w.callTool({ name: 'message_inbox',
    arguments: { wait_seconds: 60 } }), 10000, 'message_inbox');
  is(res.structuredContent.wait_cap_seconds, CAP, 'message_inbox says which cap applied');
  diag(`progress at ${prog.join(', ')} ms`);
}, { timeoutMs: 60000 });
