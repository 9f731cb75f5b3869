// The whole planner -> implementer -> review workflow through `baton mcp`
// with the official SDK client and no polling loop: two implementers
// block in task_claim before any task exists, the planner records the
// context and plan, creates tasks with dependencies, waits for mail
// (message_inbox with wait_seconds) to review, requests changes once and
// approves, then sets the project complete, which ends the implementers'
// blocked claims.  Role guidance comes from agent_join and MCP prompts.
import { main, ok, is, diag, loadSdk, privateBroker, sdkClient, withTimeout } from './lib.mjs';

const WAIT = 40; // seconds a task_claim or message_inbox may block (the broker caps at 50)

// Call a tool and return its structuredContent (throws on isError).
async function call(c, name, args, what) {
  const res = await withTimeout(c.callTool({ name, arguments: args }, undefined,
    { timeout: (WAIT + 10) * 1000 }), (WAIT + 15) * 1000, what || name);
  if (res.isError) throw new Error(`${name}: ${JSON.stringify(res.content)}`);
  return res.structuredContent;
}

// An implementer: claim (blocking), submit, tell the planner, until the end.
async function implementer(c, name, log) {
  for (let round = 0; round < 20; round++) {
    const r = await call(c, 'task_claim', { wait_seconds: WAIT }, `${name}: task_claim`);
    log.push({ who: name, claimed: r.claimed, id: r.id, status: r.project_status,
      feedback: r.task && r.task.feedback });
    if (!r.claimed) {
      if (r.project_status === 'complete' || r.project_status === 'stopped') return r;
      continue; // the wait timed out: the designed way is to wait again
    }
    await call(c, 'task_submit', { id: r.id, notes: `${name} did ${r.id}` +
      (r.task.changes_requested || r.task.feedback ? ' (with the fix)' : '') });
    await call(c, 'message_send', { to: 'planner', body: `${r.id} is ready for review`,
      thread: r.id });
  }
  throw new Error(`${name}: too many rounds`);
}

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker('workflow');
  const planner = await sdkClient(sdk, b, 'planner', { extraEnv: { BATON_AGENT: 'planner' } });
  const impl1 = await sdkClient(sdk, b, 'impl1', { extraEnv: { BATON_AGENT: 'impl1' } });
  const impl2 = await sdkClient(sdk, b, 'impl2', { extraEnv: { BATON_AGENT: 'impl2' } });
  const st = await call(planner, 'status', {});
  b.pids.add(st.pid);

  // Roles and their guidance.
  let j = await call(planner, 'agent_join', { role: 'planner' });
  ok(/no context yet/.test(j.next_steps || ''), 'agent_join as planner with no context: ask the user, project_set', j);
  j = await call(impl1, 'agent_join', { role: 'implementer' });
  ok(/task_claim/.test(j.next_steps || ''), 'agent_join as implementer: claim, work, submit', j);
  await call(impl2, 'agent_join', { role: 'implementer' });
  const prompts = await withTimeout(planner.listPrompts(), 10000, 'prompts/list');
  is(prompts.prompts.map((p) => p.name).join(','), 'planner,implementer,reviewer',
    'prompts/list offers planner, implementer and reviewer');

  // The implementers wait before there is anything to do.
  const log = [];
  const done1 = implementer(impl1, 'impl1', log);
  const done2 = implementer(impl2, 'impl2', log);

  await call(planner, 'project_set', { description: 'a greeting service',
    end_state: 'GET /hello answers hello', tech_stack: 'C', acceptance: 'tests pass',
    tests: 'make check' });
  let p = await withTimeout(planner.getPrompt({ name: 'planner' }), 10000, 'prompts/get');
  const ptext = p.messages && p.messages[0] && p.messages[0].content.text;
  ok(/implementation plan/.test(ptext || ''), 'prompts/get planner: with context, the next step is the plan', p);
  await call(planner, 'project_set', { plan: '1. server 2. route 3. tests', status: 'ready' });
  const t1 = await call(planner, 'task_create', { title: 'server', complexity: 'simple' });
  const t2 = await call(planner, 'task_create', { title: 'route', complexity: 'medium', priority: 'high' });
  const t3 = await call(planner, 'task_create', { title: 'tests', complexity: 'simple',
    depends_on: [t1.id, t2.id] });
  is([t1.id, t2.id, t3.id].join(','), 'T1,T2,T3', 'tasks get short ids T1, T2, T3');
  await call(planner, 'project_set', { status: 'in_progress' });

  // Review from the inbox: wait for mail, never poll.
  let cursor = 0;
  let changed = false;
  const approved = new Set();
  while (approved.size < 3) {
    const inbox = await call(planner, 'message_inbox', { after: cursor, wait_seconds: WAIT });
    cursor = inbox.cursor;
    for (const m of inbox.messages) {
      const id = m.thread;
      const t = await call(planner, 'task_get', { id });
      if (t.status !== 'review') continue;
      if (id === 'T2' && !changed) {
        changed = true;
        await call(planner, 'task_request_changes', { id, feedback: 'handle a missing name' });
      } else {
        await call(planner, 'task_approve', { id, feedback: 'good' });
        approved.add(id);
      }
    }
  }
  const list = await call(planner, 'task_list', {});
  is(list.summary.percent_done, 100, 'every task is done (percent_done 100)');
  p = await withTimeout(planner.getPrompt({ name: 'planner' }), 10000, 'prompts/get');
  ok(/project_set \{status:"complete"\}/.test(p.messages[0].content.text),
    'the planner prompt now says to set the project complete', p);

  // Both implementers are blocked in task_claim now; complete ends them.
  const end = await call(planner, 'project_set', { status: 'complete' });
  ok(/answered/.test(end.hint || ''), 'project_set complete says it answered the waiting claims', end);
  const [r1, r2] = await withTimeout(Promise.all([done1, done2]), 10000, 'implementers end');
  is(`${r1.project_status},${r2.project_status}`, 'complete,complete',
    "both implementers' blocked task_claim return with project_status complete");
  const owners = new Set(log.filter((e) => e.claimed).map((e) => e.who));
  is(owners.size, 2, 'both implementers worked');
  const back = log.find((e) => e.claimed && e.id === 'T2' && e.feedback === 'handle a missing name');
  ok(back !== undefined, "requested changes came back through the claimant's task_claim with the feedback", log);
  const t2h = await call(planner, 'task_get', { id: 'T2' });
  is(t2h.history.map((h) => h.action).join(','),
    'created,claimed,submitted,changes_requested,submitted,approved',
    'T2 history: created, claimed, submitted, changes requested, submitted, approved');
  const t3h = await call(planner, 'task_get', { id: 'T3' });
  const claimAt = t3h.history.find((h) => h.action === 'claimed').at;
  ok(claimAt >= t2h.history[t2h.history.length - 1].at, 'T3 was claimed only after its dependencies were done', t3h);
  diag(`claims: ${JSON.stringify(log)}`);
}, { timeoutMs: 120000 });
