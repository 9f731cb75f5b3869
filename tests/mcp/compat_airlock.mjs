// `baton mcp --compat airlock` (issue 19) through the official SDK client:
// every tool Airlock documents, called with its documented arguments,
// answers its documented shape; the README's recipes run end to end (two
// agents on one blocking lock, counters, compare-and-swap, events, the
// task queue with a lease that runs out); and Airlock's defects do not
// come back (a dead agent's lock is released at once, no heartbeat).
import { spawnSync } from 'node:child_process';
import {
  BATON, main, ok, is, cmpOk, loadSdk, privateBroker, sdkClient, textOf, until, withTimeout,
} from './lib.mjs';

const T = 10000;
const BUDGET = 6000; // tokens (chars/4), DESIGN 6
const TOOLS = ['lock_resource', 'unlock_resource', 'renew_lock', 'list_locks', 'lock_resources',
  'set_note', 'get_note', 'list_notes', 'delete_note', 'set_note_if', 'increment_counter',
  'register_agent', 'unregister_agent', 'list_agents', 'signal_event', 'wait_for_event',
  'clear_event', 'push_task', 'claim_next_task', 'complete_task', 'fail_task', 'list_tasks'];

// The JSON of a result's text (Airlock's shape: an object, or an array for list_*).
const out = (res) => JSON.parse(textOf(res));
const keys = (o) => Object.keys(o).sort().join(',');

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();
  const client = (name) => sdkClient(sdk, b, name, { args: ['--compat', 'airlock'] });
  const A = await client('airlock-a');
  const B = await client('airlock-b');
  const call = async (cl, name, args, what, ms = T) => {
    const res = await withTimeout(cl.callTool({ name, arguments: args }, undefined, { timeout: ms + 5000 }),
      ms, what || name);
    if (res.isError) throw new Error(`${name} failed: ${textOf(res)}`);
    return out(res);
  };

  // tools/list: Airlock's 22 tools, and within the budget
  const listed = await withTimeout(A.listTools(), T, 'tools/list');
  const names = listed.tools.map((t) => t.name).sort();
  is(JSON.stringify(names), JSON.stringify([...TOOLS].sort()), 'tools/list offers exactly Airlock\'s 22 tools');
  const tokens = JSON.stringify({ tools: listed.tools }).length / 4;
  cmpOk(tokens, '<=', BUDGET, `the airlock tools/list is ${Math.round(tokens)} tokens, within the budget`);
  const lr = listed.tools.find((t) => t.name === 'lock_resource').inputSchema;
  ok(lr.properties.ttl_seconds.default === 900 && lr.properties.wait_seconds.default === 0 &&
    JSON.stringify(lr.required) === '["name","agent_id"]', 'lock_resource: Airlock\'s arguments and defaults', lr);

  // locks: the documented shapes
  let r = await call(A, 'lock_resource', { name: 'npm-install', agent_id: 'agent-a' });
  ok(r.locked === true && typeof r.lock_token === 'string' && r.expires_in_seconds === 900,
    'lock_resource: {locked:true, lock_token, expires_in_seconds:900}', r);
  const tokA = r.lock_token;
  r = await call(B, 'lock_resource', { name: 'npm-install', agent_id: 'agent-b' });
  ok(r.locked === false && r.held_by === 'agent-a' && typeof r.expires_in_seconds === 'number',
    'contended without waiting: {locked:false, held_by, expires_in_seconds}', r);
  r = await call(B, 'lock_resource', { name: 'npm-install', agent_id: 'agent-b', wait_seconds: 0.3 });
  ok(r.locked === false && typeof r.wake_token === 'string' && r.queue_position === 1 &&
    r.retry_with && r.retry_with.wake_token === r.wake_token && r.retry_with.agent_id === 'agent-b',
  'a timed-out wait is queued: wake_token, queue_position, retry_with', r);
  const queued = r;
  r = await call(A, 'list_locks', {});
  ok(Array.isArray(r) && r.length === 1 && keys(r[0]) === 'agent_id,expires_in_seconds,name' &&
    r[0].agent_id === 'agent-a', 'list_locks: [{name, agent_id, expires_in_seconds}]', r);
  r = await call(A, 'renew_lock', { name: 'npm-install', lock_token: tokA, ttl_seconds: 120 });
  ok(r.renewed === true && r.expires_in_seconds === 120, 'renew_lock: {renewed:true, expires_in_seconds}', r);
  r = await call(B, 'renew_lock', { name: 'npm-install', lock_token: 'f'.repeat(32) });
  ok(r.renewed === false && typeof r.error === 'string', 'renew_lock with a wrong token: {renewed:false, error}', r);
  r = await call(B, 'unlock_resource', { name: 'npm-install', lock_token: 'f'.repeat(32) });
  is(r.released, false, 'unlock_resource with a wrong token does not release');
  r = await call(A, 'unlock_resource', { name: 'npm-install', lock_token: tokA });
  ok(r.released === true, 'unlock_resource: {released:true}', r);
  // (a lock is never left idle for a queued agent between its calls: a
  // newcomer asking now would get it, see baton(1) on tickets)
  r = await call(B, 'lock_resource', queued.retry_with);
  ok(r.locked === true, 'after the release, retry_with (its wake_token) gets the lock', r);
  r = await call(B, 'unlock_resource', { name: 'npm-install', agent_id: 'agent-b' });
  ok(r.released === true, 'unlock_resource by agent_id (v1)', r);
  r = await call(A, 'lock_resource', { name: 'npm-install', agent_id: 'agent-a' });
  ok(r.locked === true, 'a name can be locked again after its release (Lockstep could not)', r);
  await call(A, 'unlock_resource', { name: 'npm-install', lock_token: r.lock_token });
  r = await call(A, 'lock_resources', { names: ['m-b', 'm-a'], agent_id: 'agent-a' });
  ok(r.locked === true && r.tokens && typeof r.tokens['m-a'] === 'string' && typeof r.tokens['m-b'] === 'string',
    'lock_resources: {locked:true, tokens:{name:token}}', r);
  r = await call(B, 'lock_resources', { names: ['m-a', 'free-c'], agent_id: 'agent-b' });
  ok(r.locked === false && r.held_by === 'agent-a', 'lock_resources all-or-nothing: {locked:false, held_by}', r);
  r = await call(B, 'lock_resource', { name: 'free-c', agent_id: 'agent-b' });
  ok(r.locked === true, '...and took none of them', r);

  // The README recipe: two subagents on one lock, the second blocks and wakes at the release.
  const tok = (await call(A, 'lock_resource', { name: 'file:/repo/package.json', agent_id: 'sub-A', wait_seconds: 50 })).lock_token;
  const t0 = Date.now();
  const waiting = call(B, 'lock_resource', { name: 'file:/repo/package.json', agent_id: 'sub-B', wait_seconds: 50 },
    'the blocked lock', 60000);
  await until(async () => {
    const l = await call(A, 'list_locks', {});
    return l.some((x) => x.name === 'file:/repo/package.json');
  }, T, 'the lock is listed');
  await new Promise((res) => setTimeout(res, 300)); // B is parked at the broker meanwhile
  const released = Date.now();
  r = await call(A, 'unlock_resource', { name: 'file:/repo/package.json', lock_token: tok });
  is(r.released, true, 'recipe: sub-A unlocks');
  r = await waiting;
  ok(r.locked === true && typeof r.lock_token === 'string', 'recipe: the blocked sub-B wakes with the lock', r);
  cmpOk(Date.now() - released, '<', 2000, 'recipe: sub-B got it right after the release (no poll loop)');
  ok(Date.now() - t0 >= 300, 'recipe: sub-B did block until then');

  // Subagents sharing ONE server keep their locks apart (one session per agent_id).
  r = await call(A, 'lock_resource', { name: 'shared', agent_id: 'sub-1' });
  const sub2 = await call(A, 'lock_resource', { name: 'shared', agent_id: 'sub-2' });
  ok(r.locked === true && sub2.locked === false && sub2.held_by === 'sub-1',
    'two agent_ids through one server: the second is refused, not handed the first\'s grant', sub2);

  // notes, CAS, counters
  r = await call(A, 'set_note', { key: 'api/base', value: 'http://x', author: 'agent-a', ttl_seconds: 600 });
  ok(r.saved === true, 'set_note: {saved:true}', r);
  r = await call(B, 'get_note', { key: 'api/base' });
  ok(r.key === 'api/base' && r.value === 'http://x' && r.author === 'agent-a' && r.expires_in_seconds > 590,
    'get_note: {key, value, author, expires_in_seconds}', r);
  r = await call(B, 'get_note', { key: 'nope' });
  ok(r.found === false, 'get_note of an absent key: {found:false}', r);
  r = await call(B, 'list_notes', {});
  ok(Array.isArray(r) && r.some((n) => n.key === 'api/base' && n.value === 'http://x'),
    'list_notes: [{key, value, author?, expires_in_seconds?}]', r);
  r = await call(A, 'set_note_if', { key: 'leader', expected_value: '', new_value: 'agent-a' });
  ok(r.swapped === true, 'set_note_if on an absent note with expected "" swaps (absent counts as "")', r);
  const cas = await Promise.all(['c1', 'c2', 'c3', 'c4'].map((who, i) =>
    call(i % 2 ? A : B, 'set_note_if', { key: 'leader', expected_value: 'agent-a', new_value: who, author: who })));
  is(cas.filter((x) => x.swapped).length, 1, 'CAS: four racing set_note_if from the same value, exactly one swaps');
  r = await call(A, 'delete_note', { key: 'leader' });
  ok(r.deleted === true, 'delete_note: {deleted:true}', r);
  r = await call(A, 'delete_note', { key: 'leader' });
  ok(r.deleted === false, 'delete_note again: {deleted:false}', r);
  const values = await Promise.all(Array.from({ length: 40 }, (_, i) =>
    call(i % 2 ? A : B, 'increment_counter', { name: 'migration' })));
  const v = values.map((x) => x.value).sort((x, y) => x - y);
  ok(new Set(v).size === 40 && v[0] === 1 && v[39] === 40, 'increment_counter: 40 concurrent calls, 40 unique values', v);
  r = await call(A, 'increment_counter', { name: 'migration', by: 10 });
  is(r.value, 50, 'increment_counter by: {value} after it');

  // events: generation-counted, a signal between calls is not missed, clear waits for the next
  r = await call(A, 'signal_event', { name: 'built' });
  is(r.generation, 1, 'signal_event: {generation}');
  r = await call(B, 'wait_for_event', { name: 'built', last_seen_generation: 0, wait_seconds: 5 });
  ok(r.fired === true && r.generation === 1, 'a signal before the wait is not missed: {generation, fired}', r);
  r = await call(B, 'wait_for_event', { name: 'built', last_seen_generation: 1, wait_seconds: 0.2 });
  ok(r.fired === false && r.generation === 1, 'nothing new: fired:false after wait_seconds', r);
  const w = call(B, 'wait_for_event', { name: 'built', last_seen_generation: 1, wait_seconds: 20 }, 'event wait', 25000);
  await new Promise((res) => setTimeout(res, 200));
  await call(A, 'signal_event', { name: 'built' });
  r = await w;
  ok(r.fired === true && r.generation === 2, 'a blocked wait_for_event wakes at the signal', r);
  r = await call(A, 'clear_event', { name: 'built' });
  ok(r.cleared === true, 'clear_event: {cleared:true}', r);
  r = await call(B, 'wait_for_event', { name: 'built', wait_seconds: 0.2 });
  ok(r.fired === false, 'after clear_event a wait from 0 waits for the next signal', r);
  await call(A, 'signal_event', { name: 'built' });
  r = await call(B, 'wait_for_event', { name: 'built', wait_seconds: 5 });
  ok(r.fired === true && r.generation === 3, '...and that signal fires it; generations never went back', r);

  // the task queue: priorities, leases, lease expiry
  const lo = await call(A, 'push_task', { queue: 'builds', payload: 'low', author: 'planner' });
  const hi = await call(A, 'push_task', { queue: 'builds', payload: 'high', priority: 5 });
  ok(Number.isInteger(lo.id) && Number.isInteger(hi.id) && hi.id > lo.id, 'push_task: {id}', [lo, hi]);
  r = await call(B, 'claim_next_task', { queue: 'builds', agent_id: 'worker-1' });
  ok(r.claimed === true && r.id === hi.id && r.payload === 'high' && typeof r.lease_token === 'string',
    'claim_next_task: the higher priority first, {claimed, id, payload, lease_token}', r);
  const hiLease = r;
  r = await call(B, 'complete_task', { id: hi.id, lease_token: 'f'.repeat(32) });
  is(r.completed, false, 'complete_task needs the lease token');
  r = await call(B, 'claim_next_task', { queue: 'builds', agent_id: 'worker-1', lease_seconds: 1 });
  ok(r.claimed === true && r.payload === 'low', 'the next claim takes the older, lower one', r);
  const lease = r;
  let tasks = await call(A, 'list_tasks', { queue: 'builds' });
  ok(Array.isArray(tasks) && tasks.some((t) => t.id === lease.id && t.state === 'claimed' &&
    t.lease_agent === 'worker-1' && typeof t.lease_expires_in_seconds === 'number' && t.author === 'planner'),
  'list_tasks: [{id, queue, payload, priority, state, author?, lease_agent?, lease_expires_in_seconds?}]', tasks);
  await until(async () => (await call(A, 'list_tasks', { queue: 'builds' }))
    .some((t) => t.id === lease.id && t.state === 'pending'), T, 'the lease runs out');
  ok(true, 'a lease that runs out puts the task back to pending');
  r = await call(B, 'complete_task', { id: lease.id, lease_token: lease.lease_token });
  is(r.completed, false, 'the expired lease can no longer complete it');
  r = await call(A, 'claim_next_task', { queue: 'builds', agent_id: 'worker-2' });
  ok(r.claimed === true && r.id === lease.id, 'another consumer gets it', r);
  r = await call(A, 'fail_task', { id: r.id, lease_token: r.lease_token });
  is(r.failed, true, 'fail_task (requeue by default): {failed:true}');
  r = await call(A, 'claim_next_task', { queue: 'builds', agent_id: 'worker-2' });
  const c2 = await call(A, 'complete_task', { id: r.id, lease_token: r.lease_token });
  is(c2.completed, true, 'complete_task: {completed:true}');
  tasks = await call(A, 'list_tasks', { queue: 'builds' });
  ok(tasks.some((t) => t.id === lease.id && t.state === 'done'), 'the done task is listed done', tasks);
  r = await call(B, 'fail_task', { id: hi.id, lease_token: hiLease.lease_token, requeue: false });
  is(r.failed, true, 'fail_task requeue:false on the first task, still leased by worker-1');
  r = await call(A, 'claim_next_task', { queue: 'builds', agent_id: 'worker-2' });
  ok(r.claimed === false, 'fail_task requeue:false gives up: nothing left, {claimed:false}', r);
  // four racing consumers of one task: one winner
  await call(A, 'push_task', { queue: 'race', payload: 'once' });
  const C = await client('airlock-c');
  const D = await client('airlock-d');
  const claims = await Promise.all([A, B, C, D].map((cl, i) => call(cl, 'claim_next_task', { queue: 'race', agent_id: `racer-${i}` })));
  is(claims.filter((x) => x.claimed).length, 1, '4 racing claim_next_task on one task: exactly 1 winner');

  // presence: registration, list, unregister releases the locks
  r = await call(C, 'register_agent', { agent_id: 'worker-9', ttl_seconds: 30 });
  ok(r.registered === true && r.expires_in_seconds === 30, 'register_agent: {registered, expires_in_seconds}', r);
  await call(C, 'lock_resource', { name: 'db', agent_id: 'worker-9' });
  r = await call(D, 'list_agents', {});
  ok(Array.isArray(r) && r.some((x) => x.agent_id === 'worker-9' && x.expires_in_seconds > 25),
    'list_agents: [{agent_id, expires_in_seconds}]', r);
  r = await call(C, 'unregister_agent', { agent_id: 'worker-9' });
  ok(r.unregistered === true, 'unregister_agent: {unregistered:true}', r);
  r = await call(D, 'lock_resource', { name: 'db', agent_id: 'other' });
  ok(r.locked === true, 'unregister_agent released its locks', r);
  r = await call(D, 'list_agents', {});
  ok(!r.some((x) => x.agent_id === 'worker-9'), 'an unregistered agent is no longer listed', r);
  // a registration that lapses releases the agent's locks
  await call(C, 'register_agent', { agent_id: 'short', ttl_seconds: 1 });
  await call(C, 'lock_resource', { name: 'short-lock', agent_id: 'short' });
  r = await call(D, 'lock_resource', { name: 'short-lock', agent_id: 'other', wait_seconds: 10 }, 'lapse', 15000);
  ok(r.locked === true, 'when a registration lapses, its locks are released and the waiter wakes', r);

  // errors: a clear isError naming the field, the broker lives on
  let res = await withTimeout(A.callTool({ name: 'lock_resource', arguments: { name: 'x' } }), T, 'missing');
  ok(res.isError && /agent_id is required/.test(textOf(res)), 'a missing argument is an isError naming it', res);
  res = await withTimeout(A.callTool({ name: 'lock_resource', arguments: { name: 'x', agent: 'a' } }), T, 'unknown');
  ok(res.isError && /unknown argument agent; did you mean agent_id/.test(textOf(res)),
    'an unknown argument names the closest known one', res);
  res = await withTimeout(A.callTool({ name: 'increment_counter', arguments: { name: 'x', by: 'two' } }), T, 'type');
  ok(res.isError && /by must be an integer/.test(textOf(res)), 'a wrong type names the field', res);

  // Airlock's defect: a dead agent's lock outlived it until its heartbeat lapsed.
  const E = await client('airlock-e');
  r = await call(E, 'lock_resource', { name: 'killed', agent_id: 'doomed', ttl_seconds: 900 });
  is(r.locked, true, 'a second process holds a lock with a 900 s ttl');
  const pid = E.transport.pid;
  const wait2 = call(D, 'lock_resource', { name: 'killed', agent_id: 'survivor', wait_seconds: 50 }, 'after kill', 60000);
  await new Promise((res2) => setTimeout(res2, 200));
  const killed = Date.now();
  process.kill(pid, 'SIGKILL');
  r = await wait2;
  ok(r.locked === true, 'its agent killed (SIGKILL), the lock is released and the waiter granted', r);
  cmpOk(Date.now() - killed, '<', 2000, 'at once, not after the ttl or a heartbeat');

  // 4 agents contending on one lock: no internal error, mutual exclusion holds
  let inside = 0;
  let worst = 0;
  let errors = 0;
  const agents = [A, B, C, D].map((cl, i) => (async () => {
    for (let k = 0; k < 10; k++) {
      const g = await call(cl, 'lock_resource', { name: 'hot', agent_id: `hot-${i}`, wait_seconds: 50 }, 'hot', 60000)
        .catch(() => { errors++; return null; });
      if (!g || !g.locked) { errors++; continue; }
      inside++;
      worst = Math.max(worst, inside);
      await new Promise((res2) => setTimeout(res2, 2));
      inside--;
      await call(cl, 'unlock_resource', { name: 'hot', lock_token: g.lock_token }).catch(() => { errors++; });
    }
  })());
  await Promise.all(agents);
  is(errors, 0, '4 contending agents x 10 lock pairs: 0 errors');
  is(worst, 1, '...and never two inside at once');

  // --compat and --tools do not mix; an unknown profile is a usage error
  const bad = spawnSync(BATON, ['mcp', '--compat', 'nope'], { env: b.env, encoding: 'utf8', timeout: 5000 });
  ok(bad.status === 64 && /lockstep or airlock/.test(bad.stderr), 'mcp --compat nope: exit 64 naming the profiles', bad.stderr);
}, { timeoutMs: 120000 });
