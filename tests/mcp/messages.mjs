// Presence, messages and discussions through `baton mcp` with the
// official SDK client: a round trip of every tool with structuredContent
// checked against its outputSchema (and the same JSON as text), a name
// another live session joined under refused, role addressing, a blocked
// message_inbox in one client woken by message_send from another
// (measured), a discussion waking the inbox of the agent it waits on,
// and errors (cursor_expired, a reply to a resolved discussion).
import {
  main, ok, is, cmpOk, diag, loadSdk, privateBroker, sdkClient, textOf, withTimeout, callChecked,
} from './lib.mjs';

const TOOLS = ['agent_join', 'agent_list', 'message_send', 'message_inbox', 'message_ack',
  'discussion_start', 'discussion_reply', 'discussion_resolve', 'discussion_list', 'discussion_get'];

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();
  const plan = await sdkClient(sdk, b, 'msg-plan');
  const alice = await sdkClient(sdk, b, 'msg-alice');
  const bob = await sdkClient(sdk, b, 'msg-bob');
  const eve = await sdkClient(sdk, b, 'msg-eve');

  let byName = {};
  for (const c of [plan, alice, bob, eve]) {
    const { tools } = await withTimeout(c.listTools(), 5000, 'tools/list');
    byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  }
  ok(TOOLS.every((n) => byName[n] && byName[n].outputSchema), 'every presence/message/discussion tool is listed with an outputSchema',
    TOOLS.filter((n) => !byName[n]));
  ok(['message_inbox', 'agent_list', 'discussion_list', 'discussion_get'].every((n) => byName[n].annotations.readOnlyHint === true),
    'message_inbox (a wait) and the lists are read-only',
    ['message_inbox', 'agent_list', 'discussion_list', 'discussion_get'].map((n) => [n, byName[n].annotations]));
  ok(TOOLS.every((n) => byName[n].description.length < 2048), 'descriptions stay under 2048 characters',
    TOOLS.map((n) => [n, byName[n].description.length]));
  const pid = (await plan.callTool({ name: 'status', arguments: {} })).structuredContent.pid;
  if (Number.isInteger(pid)) b.pids.add(pid);

  const call = (client, name, args, what, ms) => callChecked(client, byName, name, args, what, ms);
  // fails: run a tool that must fail; its text.
  async function fails(client, name, args) {
    const res = await withTimeout(client.callTool({ name, arguments: args }), 10000, `${name} (failing)`);
    return res.isError === true ? textOf(res) || '' : null;
  }

  // ---- presence ----
  let r = await call(plan, 'agent_join', { name: 'lead', role: 'planner' }, 'planner joins');
  ok(r.agent === 'lead' && r.role === 'planner' && /planner/i.test(r.hint), 'agent_join sets name and role and gives role guidance', r);
  await call(alice, 'agent_join', { name: 'alice', role: 'implementer' }, 'alice joins');
  await call(bob, 'agent_join', { name: 'bob', role: 'implementer' }, 'bob joins');
  let t = await fails(eve, 'agent_join', { name: 'alice', role: 'reviewer' });
  ok(t !== null && /taken/.test(t) && /session s\d+/.test(t), 'joining under a name another live session joined under is refused, naming it', t);
  await call(eve, 'agent_join', { name: 'eve', role: 'reviewer', ttl_seconds: 300 }, 'eve joins with a TTL');
  r = await call(plan, 'agent_list', {}, 'list');
  const roles = Object.fromEntries((r.agents || []).map((a) => [a.agent, a.role]));
  ok(roles.lead === 'planner' && roles.alice === 'implementer' && roles.bob === 'implementer' && roles.eve === 'reviewer',
    'agent_list shows the four agents with their roles', r);
  ok((r.agents || []).every((a) => a.connected === true && Array.isArray(a.locks) && Array.isArray(a.tasks)),
    'each entry is connected with locks and tasks arrays', r);
  await plan.callTool({ name: 'lock_acquire', arguments: { name: 'db' } });
  r = await call(plan, 'agent_list', { role: 'planner' }, 'list planners');
  ok(r.count === 1 && r.agents[0].locks.includes('db'), 'agent_list filters by role and shows the locks held', r);

  // ---- a blocked inbox woken by another client's send ----
  const waiting = call(alice, 'message_inbox', { wait_seconds: 20 }, 'alice waits', 25000);
  let settled = false;
  waiting.then(() => { settled = true; });
  r = await call(alice, 'agent_list', {}, 'alice lists while her inbox waits');
  ok(!settled, 'while message_inbox waits, the same client still runs other calls', r);
  const t0 = performance.now();
  r = await call(plan, 'message_send', { to: 'alice', body: 'take T1', subject: 'work', thread: 'T1' }, 'send to alice');
  ok(Number.isInteger(r.id) && r.to === 'alice' && r.recipients.includes('alice'), 'message_send gives id, to and recipients', r);
  const got = await waiting;
  const ms = performance.now() - t0;
  diag(`message_send -> blocked message_inbox answered in ${ms.toFixed(1)} ms`);
  ok(got.messages && got.messages.length === 1 && got.messages[0].body === 'take T1' && got.messages[0].from === 'lead' &&
    got.messages[0].subject === 'work' && got.messages[0].thread === 'T1' &&
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(got.messages[0].at),
  `the blocked inbox of another client wakes with the message (${ms.toFixed(1)} ms): id, from, subject, thread, ISO at`, got);
  cmpOk(ms, '<', 1000, 'woken well within a second');
  const cursor = got.cursor;

  // ---- role addressing ----
  r = await call(plan, 'message_send', { to: 'role:implementer', body: 'standup' }, 'to the implementers');
  ok(JSON.stringify([...r.recipients].sort()) === '["alice","bob"]', 'role:implementer reaches alice and bob', r);
  r = await call(bob, 'message_inbox', {}, 'bob reads');
  ok(r.messages.some((m) => m.body === 'standup') && !r.messages.some((m) => m.body === 'take T1'), 'bob gets the role message, not alice\'s', r);
  r = await call(eve, 'message_inbox', {}, 'eve reads');
  ok(!r.messages.some((m) => m.body === 'standup'), 'the reviewer does not', r);
  r = await call(alice, 'message_inbox', { after: cursor }, 'alice reads on');
  ok(r.messages.length === 1 && r.messages[0].body === 'standup' && r.cursor > cursor, 'after=cursor gives only what is new', r);

  // ---- read state ----
  r = await call(alice, 'message_ack', { ids: [r.messages[0].id] }, 'ack by id');
  ok(r.acked === 1 && r.unread === 1, 'message_ack ids marks one read, one left', r);
  r = await call(alice, 'message_inbox', { unread_only: true }, 'unread only');
  ok(r.messages.length === 1 && r.messages[0].body === 'take T1' && r.unread === 1, 'unread_only skips what was acked', r);
  r = await call(alice, 'message_ack', { up_to: r.cursor }, 'ack up_to');
  is(r.unread, 0, 'message_ack up_to marks the rest read');

  // ---- discussions ----
  const bobWaits = call(bob, 'message_inbox', { after: (await call(bob, 'message_inbox', {}, 'bob cursor')).cursor, wait_seconds: 20 },
    'bob waits for a question', 25000);
  r = await call(plan, 'discussion_start', { topic: 'ORM or SQL?', message: 'which do you prefer?', waiting_on: 'bob', category: 'design', priority: 'high' }, 'start');
  ok(r.id === 'D1' && r.status === 'open' && r.waiting_on === 'bob' && /^[0-9a-f]{32}$/.test(r.token), 'discussion_start gives D1, waiting_on and a token', r);
  const token = r.token;
  r = await bobWaits;
  ok(r.discussions.length === 1 && r.discussions[0].id === 'D1' && r.messages.some((m) => m.thread === 'D1'),
    "a discussion waiting on bob wakes bob's blocked inbox, which lists it", r);
  r = await call(bob, 'discussion_reply', { id: 'D1', message: 'plain SQL' }, 'reply');
  ok(r.replies === 2 && r.waiting_on === 'lead', 'bob replies; it now waits on whoever started it', r);
  r = await call(plan, 'discussion_list', {}, 'list open');
  ok(r.count === 1 && r.discussions[0].waiting_on === 'lead' && r.discussions[0].priority === 'high', 'discussion_list shows it open', r);
  t = await fails(bob, 'discussion_resolve', { id: 'D1', decision: 'SQL' });
  ok(t !== null && /token/.test(t), 'resolving from another session without the token is refused', t);
  r = await call(plan, 'discussion_resolve', { id: 'D1', decision: 'plain SQL', reasoning: 'fewer layers', linked_task: 'T2' }, 'resolve');
  ok(r.status === 'resolved' && r.decided_by === 'lead', 'the starting session resolves it; decided_by recorded', r);
  t = await fails(bob, 'discussion_reply', { id: 'D1', message: 'wait' });
  ok(t !== null && /resolved/.test(t), 'a reply to a resolved discussion is an error that says so', t);
  r = await call(eve, 'discussion_get', { id: 'd1' }, 'get');
  ok(r.replies.length === 2 && r.replies[1].who === 'bob' && r.resolution.decision === 'plain SQL' &&
    r.resolution.decided_by === 'lead' && r.resolution.linked_task === 'T2', 'discussion_get has the thread and the resolution', r);
  r = await call(eve, 'discussion_start', { topic: 'naming', message: 'snake or camel?' }, 'a second one');
  await call(bob, 'discussion_resolve', { id: r.id, decision: 'snake', token: r.token }, 'resolve with the token');
  r = await call(eve, 'discussion_list', { status: 'resolved' }, 'list resolved');
  is(r.count, 2, 'with the token another session resolves it');
  void token;

  // ---- errors ----
  t = await fails(alice, 'message_inbox', { after: 1e12 });
  ok(t !== null && /cursor_expired|without after/.test(t), 'a cursor the broker never issued is cursor_expired, saying to call without after', t);
  t = await fails(alice, 'discussion_get', { id: 'D99' });
  ok(t !== null && /no discussion D99/.test(t), 'an unknown discussion is not found', t);
  t = await fails(alice, 'message_send', { to: 'role:', body: 'x' });
  ok(t !== null && /role/.test(t), 'an empty role is refused', t);
});
