// The review workflow of issue 13 through `baton mcp` with the official
// SDK client, using only what the tools and agent_join say: a planner, two
// implementers and a reviewer run a six-task plan (files, dependencies) to
// `complete` without one polling call.  Every blocking call must come back
// with something new (counted: a task_claim that answers claimed:false
// before the end, a message_inbox with no message, a task_list); the
// reviewer, blocked in task_claim {review: true}, is woken within 100 ms of
// each submit; changes are requested once and come back through the
// implementer's claim; self-review and request_changes on a todo task are
// refused; tasks reserve their files.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { main, ok, is, diag, loadSdk, privateBroker, sdkClient, withTimeout, textOf } from './lib.mjs';

const WAIT = 40; // seconds a blocking call may wait (the broker caps at 50)
const WAKE_MS = 100; // a blocked reviewer is woken this soon after a submit

let empty = 0; // blocking or list calls that returned nothing new (polling)
const emptyCalls = [];

// Call a tool; its structuredContent (throws on isError).  Counts the
// answers that bring nothing new.
async function call(c, who, name, args) {
  const res = await withTimeout(c.callTool({ name, arguments: args }, undefined,
    { timeout: (WAIT + 10) * 1000 }), (WAIT + 15) * 1000, `${who}: ${name}`);
  if (res.isError) throw new Error(`${who}: ${name}: ${textOf(res)}`);
  const r = res.structuredContent;
  const over = r.project_status === 'complete' || r.project_status === 'stopped';
  if ((name === 'task_claim' && !r.claimed && !over) ||
      (name === 'message_inbox' && r.messages.length === 0) || name === 'task_list') {
    empty++;
    emptyCalls.push(`${who} ${name} ${JSON.stringify(args)}`);
  }
  return r;
}

// A call that must fail: the isError text.
async function refused(c, name, args) {
  const res = await withTimeout(c.callTool({ name, arguments: args }), 10000, name);
  return res.isError ? textOf(res) : null;
}

const submits = new Map(); // task id -> time its latest task_submit was sent
const wakes = []; // ms from a submit to the blocked reviewer's wake

// An implementer: claim (blocking), work in the task's files, submit, until the end.
async function implementer(c, name, log) {
  for (let round = 0; round < 30; round++) {
    const r = await call(c, name, 'task_claim', { wait_seconds: WAIT });
    if (!r.claimed)
      return r; // the project is complete (anything else counted as polling)
    log.push({ who: name, id: r.id, changes: r.task.changes_requested, feedback: r.task.feedback,
      files: r.task.files, reserved: r.task.files_reserved });
    submits.set(r.id, performance.now());
    await call(c, name, 'task_submit', { id: r.id, notes: `${name} did ${r.id}` +
      (r.task.changes_requested ? ` (fixed: ${r.task.feedback})` : '') });
  }
  throw new Error(`${name}: too many rounds`);
}

// The reviewer: block for the next review, approve (T2 once sent back), until the end.
async function reviewer(c, reviews) {
  for (let round = 0; round < 30; round++) {
    const blockedAt = performance.now();
    const r = await call(c, 'reviewer', 'task_claim', { review: true, wait_seconds: WAIT });
    const now = performance.now();
    if (!r.claimed)
      return r;
    const sent = submits.get(r.id);
    if (sent !== undefined && sent > blockedAt)
      wakes.push(now - sent); // it was blocked when the submit came
    reviews.push({ id: r.id, review: r.review, notes: r.task.notes });
    if (r.id === 'T2' && !reviews.sentBack) {
      reviews.sentBack = true;
      await call(c, 'reviewer', 'task_request_changes', { id: r.id, feedback: 'handle a missing name' });
    } else
      await call(c, 'reviewer', 'task_approve', { id: r.id, feedback: 'good' });
  }
  throw new Error('reviewer: too many rounds');
}

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker('review');
  const env = (agent) => ({ extraEnv: { BATON_AGENT: agent } });
  const planner = await sdkClient(sdk, b, 'planner', env('planner'));
  const impl1 = await sdkClient(sdk, b, 'impl1', env('impl1'));
  const impl2 = await sdkClient(sdk, b, 'impl2', env('impl2'));
  const rev = await sdkClient(sdk, b, 'reviewer', env('reviewer'));
  const st = await call(planner, 'planner', 'status', {});
  b.pids.add(st.pid);

  // In a project of its own, one agent cannot review its own work.
  const soloDir = join(b.dir, 'solo');
  mkdirSync(soloDir);
  const solo = await sdkClient(sdk, b, 'solo', { extraEnv: { BATON_AGENT: 'solo', BATON_PROJECT: soloDir } });
  await call(solo, 'solo', 'task_create', { title: 'mine', complexity: 'simple' });
  await call(solo, 'solo', 'task_claim', { id: 'T1' });
  await call(solo, 'solo', 'task_submit', { id: 'T1', notes: 'done' });
  const self = await refused(solo, 'task_approve', { id: 'T1' });
  ok(self !== null && /a review is by someone else/.test(self) && /self_review/.test(self),
    'approving your own task is refused, saying how a project allows it', self);
  // Here nobody claims: T2 stays todo (in the shared project below a waiting
  // implementer may take a task the moment its dependencies are done).
  await call(solo, 'solo', 'task_create', { title: 'later', complexity: 'simple' });
  const no = await refused(solo, 'task_request_changes', { id: 'T2', feedback: 'x' });
  ok(no !== null && /T2 is todo and cannot move to in_progress with task_request_changes/.test(no),
    'request_changes on a todo task is refused, naming the allowed moves', no);

  // Roles: what agent_join says is one workflow, the same in hint and next_steps.
  const jp = await call(planner, 'planner', 'agent_join', { role: 'planner' });
  const ji = await call(impl1, 'impl1', 'agent_join', { role: 'implementer' });
  await call(impl2, 'impl2', 'agent_join', { role: 'implementer' });
  const jr = await call(rev, 'reviewer', 'agent_join', { role: 'reviewer' });
  ok(/task_claim \{wait_seconds/.test(ji.next_steps) && /task_submit/.test(ji.next_steps) &&
    /task_claim/.test(ji.hint) && !/message_send/.test(ji.hint),
  'the implementer is told one workflow: blocking task_claim, task_submit', ji);
  ok(/task_claim \{review: true/.test(jr.next_steps) && /task_approve/.test(jr.next_steps) &&
    /review: true/.test(jr.hint), 'the reviewer is told to block in task_claim {review: true}', jr);
  ok(/complete or stopped/.test(jp.next_steps) && /baton disable/.test(jp.next_steps),
    "the guidance says when to stop and how the user turns baton off", jp);

  // Everyone waits before there is anything to do.
  const log = [];
  const reviews = [];
  const done1 = implementer(impl1, 'impl1', log);
  const done2 = implementer(impl2, 'impl2', log);
  const doneR = reviewer(rev, reviews);

  await call(planner, 'planner', 'project_set', { description: 'a greeting service',
    end_state: 'GET /hello answers hello', tech_stack: 'C', acceptance: 'tests pass',
    tests: 'make check', plan: 'server, route, config, tests, docs, release' });
  const p0 = await call(planner, 'planner', 'project_set', { status: 'ready' });
  is(p0.status, 'ready', 'the planner sets the project ready');
  const plan = [
    { title: 'server', complexity: 'simple', files: ['src/server.c'] },
    { title: 'route', complexity: 'medium', priority: 'high', files: ['src/route.c', 'src/route.h'] },
    { title: 'config', complexity: 'simple', files: ['src/'] },
    { title: 'tests', complexity: 'simple', files: ['tests/**'], depends_on: ['T1', 'T2'] },
    { title: 'docs', complexity: 'simple', files: ['docs/'] },
    { title: 'release', complexity: 'simple', files: ['NEWS'], depends_on: ['T4', 'T5'] },
  ];
  const ids = [];
  for (const t of plan) {
    const r = await call(planner, 'planner', 'task_create', t);
    ids.push(r.id);
  }
  is(ids.join(','), 'T1,T2,T3,T4,T5,T6', 'six tasks T1..T6 with their files and dependencies');

  // The planner waits for mail: the last approval tells it the work is done
  // (an approval while it was still creating tasks may have said so too:
  // it checks the summary, as the message asks).
  let cursor = 0;
  let allDone = null;
  while (allDone === null) {
    const inbox = await call(planner, 'planner', 'message_inbox', { after: cursor, wait_seconds: WAIT });
    cursor = inbox.cursor;
    const m = inbox.messages.find((x) => x.subject === 'every task is done');
    if (m && (await call(planner, 'planner', 'project_get', {})).summary.done === plan.length)
      allDone = m;
  }
  is(allDone.from, 'reviewer', "the planner's blocked message_inbox wakes when the last task is approved");
  const pj = await call(planner, 'planner', 'project_get', {});
  is(`${pj.status}:${pj.summary.done}`, 'in_progress:6',
    'the first claim moved the project to in_progress; all six tasks are done');
  const end = await call(planner, 'planner', 'project_set', { status: 'complete' });
  is(end.status, 'complete', 'the planner sets the project complete');
  const [r1, r2, rr] = await withTimeout(Promise.all([done1, done2, doneR]), 10000, 'everyone ends');
  is(`${r1.project_status},${r2.project_status},${rr.project_status}`, 'complete,complete,complete',
    "the implementers' and the reviewer's blocked task_claim return with project_status complete");

  is(empty, 0, 'no call returned nothing new: zero polling');
  if (empty > 0) diag(emptyCalls.join('\n'));
  // the first submit at least finds the reviewer blocked (it waits from the start)
  ok(wakes.length >= 1 && wakes.every((ms) => ms < WAKE_MS),
    `the blocked reviewer is woken within ${WAKE_MS} ms of each submit (${wakes.length} wakes, ` +
    `slowest ${Math.max(...wakes).toFixed(1)} ms)`, wakes);
  const back = log.find((e) => e.id === 'T2' && e.changes === true);
  ok(back !== undefined && back.feedback === 'handle a missing name',
    "requested changes come back through the implementer's task_claim, changes_requested and feedback", log);
  ok(log.every((e) => e.reserved === true || (e.changes && e.files.length > 0)),
    'every claim came with its files reserved', log);
  const t2 = await call(planner, 'planner', 'task_get', { id: 'T2' });
  is(t2.history.map((h) => h.action).join(','),
    'created,claimed,submitted,changes_requested,submitted,approved',
    'T2: claimed, submitted, changes requested, submitted again, approved');
  ok(reviews.every((r) => r.review === true) && reviews.length === 7,
    'the reviewer took seven reviews, one at a time (six tasks, T2 twice)', reviews);
  const locks = await call(planner, 'planner', 'lock_list', {});
  is(locks.count, 0, 'no file stays reserved at the end');
  diag(`claims: ${JSON.stringify(log)}`);
  diag(`wake ms: ${wakes.map((w) => w.toFixed(1)).join(' ')}`);
}, { timeoutMs: 120000 });
