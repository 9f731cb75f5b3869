// `baton mcp --compat lockstep` (issue 19) through the official SDK client:
// Lockstep MCP's documented tools with its arguments and result shapes; its
// README's planner/implementer loop end to end; its defects gone (4 racing
// claims -> 1 winner, a released path locked again, no internal error under
// 4 contending agents); and its file and command tools confined: outside
// the roots, "..", a symlink out, an executable not allowed, shell
// metacharacters, a runaway command, a denied variable, a package manager
// not allowed: each refused or contained with a clear error, and recorded.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BATON, main, ok, is, cmpOk, loadSdk, privateBroker, sdkClient, textOf, withTimeout,
} from './lib.mjs';

const T = 10000;
const BUDGET = 6000;
const DOCUMENTED = ['coordination_init', 'project_context_set', 'project_context_get', 'project_status_set',
  'task_create', 'task_claim', 'task_update', 'task_list', 'task_submit_for_review', 'task_approve',
  'task_request_changes', 'lock_acquire', 'lock_release', 'lock_list', 'note_append', 'note_list',
  'discussion_start', 'discussion_reply', 'discussion_resolve', 'discussion_inbox', 'status_get', 'log_append',
  'launch_implementer', 'implementer_list', 'worktree_status', 'worktree_merge', 'worktree_list', 'worktree_cleanup',
  'file_read', 'file_write', 'artifact_read', 'artifact_write', 'command_run', 'tool_install'];

const out = (res) => JSON.parse(textOf(res));

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();
  const root = b.env.BATON_PROJECT;
  const outside = join(b.dir, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'do not read');
  const client = (name, args = [], extraEnv = {}) =>
    sdkClient(sdk, b, name, { args: ['--compat', 'lockstep', ...args], extraEnv });
  const planner = await client('ls-planner');
  // SECRET_X is in baton mcp's environment: it must not reach a command
  const impl = await client('ls-impl', ['--command-allow', 'echo,sleep,sh,printf', '--install-allow', 'true'],
    { SECRET_X: 'leaked' });
  const call = async (cl, name, args, what) => {
    const res = await withTimeout(cl.callTool({ name, arguments: args }), T, what || name);
    if (res.isError) throw new Error(`${name} failed: ${textOf(res)}`);
    return out(res);
  };
  const refused = async (cl, name, args, re, what) => {
    const res = await withTimeout(cl.callTool({ name, arguments: args }), T, what);
    ok(res.isError === true && re.test(textOf(res)), what, textOf(res));
    return textOf(res);
  };

  const listed = await withTimeout(planner.listTools(), T, 'tools/list');
  const names = listed.tools.map((t) => t.name);
  const missing = DOCUMENTED.filter((n) => !names.includes(n));
  ok(missing.length === 0, 'tools/list offers every documented Lockstep tool', missing);
  const tokens = JSON.stringify({ tools: listed.tools }).length / 4;
  cmpOk(tokens, '<=', BUDGET, `the lockstep tools/list is ${Math.round(tokens)} tokens, within the budget`);
  const tc = listed.tools.find((t) => t.name === 'task_claim').inputSchema;
  ok(JSON.stringify(tc.required) === '["id","owner"]', 'task_claim: Lockstep\'s required id and owner', tc);

  // Planner: phases 1-3
  let r = await call(planner, 'coordination_init', { role: 'planner' });
  ok(r.role === 'planner' && r.status === 'needs_context' && r.phase === 'gather_info' && typeof r.instruction === 'string',
    'coordination_init planner without context: needs_context / gather_info', r);
  r = await call(planner, 'project_context_get', {});
  ok(r.found === false && typeof r.message === 'string', 'project_context_get before any: {found:false, message}', r);
  r = await call(planner, 'project_context_set', { description: 'a todo app', endState: 'tests pass',
    techStack: ['node', 'sqlite'], acceptanceCriteria: ['it works'], tests: ['npm test'] });
  ok(r.success === true && r.context.description === 'a todo app' && r.context.endState === 'tests pass' &&
    JSON.stringify(r.context.techStack) === '["node","sqlite"]', 'project_context_set: {success, context}', r);
  r = await call(planner, 'coordination_init', { role: 'planner' });
  is(r.status, 'needs_plan', 'with a context but no plan: needs_plan');
  r = await call(planner, 'project_context_set', { description: 'a todo app', endState: 'tests pass',
    implementationPlan: ['model', 'api', 'ui'], status: 'ready' });
  ok(JSON.stringify(r.context.implementationPlan) === '["model","api","ui"]' && r.context.status === 'ready',
    'the plan round-trips as an array, status ready', r);
  r = await call(planner, 'coordination_init', { role: 'planner' });
  is(r.status, 'needs_tasks', 'with a plan and no tasks: needs_tasks');
  const t1 = await call(planner, 'task_create', { title: 'model', description: 'the model', complexity: 'simple', tags: ['db'] });
  ok(typeof t1.id === 'string' && t1.status === 'todo' && t1.complexity === 'simple' && t1.isolation === 'shared' &&
    typeof t1.createdAt === 'string', 'task_create: a Lockstep task {id, title, status, complexity, isolation, ...}', t1);
  const t2 = await call(planner, 'task_create', { title: 'api', complexity: 'complex', isolation: 'worktree' });
  is(t2.isolation, 'worktree', 'task_create isolation worktree');
  r = await call(planner, 'coordination_init', { role: 'planner' });
  ok(r.status === 'monitoring' && r.taskSummary && r.taskSummary.todo === 2, 'then monitoring, with the task summary', r);

  // Implementer loop
  r = await call(impl, 'coordination_init', { role: 'implementer' });
  ok(r.role === 'implementer' && r.status === 'ready' && r.availableTasks === 2, 'coordination_init implementer: ready', r);
  r = await call(impl, 'task_list', {});
  ok(Array.isArray(r.tasks) && r.tasks.length === 2 && r.total === 2 && r.projectStatus === 'ready' &&
    r.hasMore === false && r.offset === 0, 'task_list: {tasks, total, offset, hasMore, doneCount, projectStatus}', r);
  r = await call(impl, 'task_claim', { id: t1.id, owner: 'impl-1' });
  ok(r.id === t1.id && r.status === 'in_progress' && r.owner === 'impl-1' && /Simple task/.test(r._instruction),
    'task_claim: the task, in_progress, owner, _instruction by complexity', r);
  r = await call(impl, 'lock_acquire', { path: 'src/model.js', owner: 'impl-1', note: 'model' });
  ok(r.path === 'src/model.js' && r.owner === 'impl-1' && r.status === 'active', 'lock_acquire: {path, owner, status:active}', r);
  await refused(planner, 'lock_acquire', { path: 'src/model.js', owner: 'planner' }, /already active.*impl-1/,
    'a held path: an error naming the holder');
  r = await call(planner, 'lock_list', {});
  ok(Array.isArray(r) && r.some((l) => l.path === 'src/model.js' && l.owner === 'impl-1' && l.note === 'model'),
    'lock_list: [{path, owner, note, status}]', r);
  r = await call(impl, 'lock_release', { path: 'src/model.js' });
  ok(r.path === 'src/model.js' && r.status === 'resolved', 'lock_release: {path, status:resolved}', r);
  r = await call(impl, 'lock_acquire', { path: 'src/model.js', owner: 'impl-1' });
  is(r.status, 'active', 're-lock after release works (Lockstep\'s row made it fail)');
  await call(impl, 'lock_release', { path: 'src/model.js', owner: 'impl-1' });
  r = await call(impl, 'task_update', { id: t1.id, status: 'done' });
  ok(r.status === 'review' && /review/.test(r._instruction), 'task_update done: baton sends it to review, and says so', r);
  r = await call(impl, 'note_append', { text: 'model done', author: 'impl-1' });
  ok(r.text === 'model done' && r.author === 'impl-1' && typeof r.id === 'string' && typeof r.createdAt === 'string',
    'note_append: {id, text, author, createdAt}', r);
  r = await call(planner, 'note_list', { limit: 5 });
  ok(Array.isArray(r) && r.length >= 1 && r[r.length - 1].text === 'model done', 'note_list: recent notes, oldest first', r);
  r = await call(planner, 'task_request_changes', { id: t1.id, feedback: 'add a test' });
  ok(r.status === 'in_progress' && r.reviewFeedback === 'add a test' && /Changes requested/.test(r._instruction),
    'task_request_changes: back to in_progress with reviewFeedback', r);
  r = await call(impl, 'task_submit_for_review', { id: t1.id, owner: 'impl-1', reviewNotes: 'added the test' });
  ok(r.status === 'review' && r.reviewNotes === 'added the test', 'task_submit_for_review: review with reviewNotes', r);
  r = await call(planner, 'task_approve', { id: t1.id, feedback: 'good' });
  is(r.status, 'done', 'task_approve: done');
  r = await call(planner, 'task_summary', {});
  ok(r.summary && r.summary.done === 1 && r.summary.total === 2 && r.completionPercent === 50, 'task_summary', r);
  r = await call(impl, 'task_list', {});
  ok(r.tasks.length === 1 && r.doneCount === 1, 'task_list hides done tasks by default', r);
  r = await call(impl, 'task_list', { includeDone: true });
  is(r.tasks.length, 2, 'includeDone shows them');

  // discussions
  r = await call(impl, 'discussion_start', { topic: 'db choice', message: 'sqlite or pg?', author: 'impl-1',
    waitingOn: 'planner', category: 'architecture', priority: 'high' });
  ok(r.success === true && r.discussion.id && r.discussion.status === 'waiting' && r.discussion.priority === 'high',
    'discussion_start: {success, discussion, message, instruction}', r);
  const did = r.discussion.id;
  r = await call(planner, 'discussion_inbox', { agent: 'planner' });
  ok(r.agent === 'planner' && r.waitingCount === 1 && r.discussions[0].id === did, 'discussion_inbox: waiting on the planner', r);
  r = await call(planner, 'discussion_reply', { discussionId: did, message: 'sqlite', author: 'planner',
    recommendation: 'sqlite', waitingOn: 'impl-1' });
  ok(r.success === true && r.message.recommendation === 'sqlite', 'discussion_reply: {success, discussion, message}', r);
  r = await call(planner, 'discussion_get', { discussionId: did });
  ok(r.found === true && r.messageCount === 2 && r.messages[1].author === 'planner', 'discussion_get: the thread', r);
  r = await call(impl, 'discussion_resolve', { discussionId: did, decision: 'sqlite', reasoning: 'simple', decidedBy: 'impl-1' });
  ok(r.success === true && r.discussion.status === 'resolved' && r.discussion.decision === 'sqlite',
    'discussion_resolve: resolved with the decision', r);
  r = await call(planner, 'discussion_list', { status: 'resolved' });
  ok(r.count === 1 && r.discussions[0].id === did, 'discussion_list resolved', r);

  r = await call(planner, 'status_get', {});
  ok(r.config && r.config.mode === 'strict' && Array.isArray(r.config.roots) && r.stateSummary.tasks === 2,
    'status_get: {config, stateSummary}', r);
  r = await call(planner, 'task_approve_batch', { ids: [t2.id, 'T99'] });
  ok(r.total === 2 && r.approved === 0 && r.failed === 2 && r.results.length === 2, 'task_approve_batch: per-id results', r);

  // Lockstep's defects: 4 racing claims, 4 contending agents
  const racers = [impl, planner, await client('ls-c'), await client('ls-d')];
  const t3 = await call(planner, 'task_create', { title: 'race me' });
  const claims = await Promise.all(racers.map((cl, i) => withTimeout(cl.callTool({ name: 'task_claim',
    arguments: { id: t3.id, owner: `racer-${i}` } }), T, 'race')));
  const winners = claims.filter((c) => !c.isError);
  is(winners.length, 1, '4 agents race task_claim on one task: exactly 1 winner (Lockstep: 4 of 4)');
  ok(claims.filter((c) => c.isError).every((c) => /not claimed/.test(textOf(c))),
    'the losers are told it was not claimed', claims.map(textOf));
  let internal = 0;
  let conflicts = 0;
  let held = 0;
  let worst = 0;
  await Promise.all(racers.map(async (cl, i) => {
    for (let k = 0; k < 15; k++) {
      const res = await withTimeout(cl.callTool({ name: 'lock_acquire', arguments: { path: 'hot.js', owner: `hot-${i}` } }), T, 'hot');
      if (res.isError) {
        if (/already active/.test(textOf(res))) conflicts++; else internal++;
        continue;
      }
      held++;
      worst = Math.max(worst, held);
      held--;
      const rel = await withTimeout(cl.callTool({ name: 'lock_release', arguments: { path: 'hot.js', owner: `hot-${i}` } }), T, 'rel');
      if (rel.isError) internal++;
    }
  }));
  is(internal, 0, `4 contending agents x 15 lock_acquire: 0 internal errors (${conflicts} clear conflicts; Lockstep failed 7-10 % with "database is locked")`);

  // file tools: confined
  r = await call(impl, 'file_write', { path: 'docs/plan.md', content: 'the plan', createDirs: true });
  ok(r.path === join(root, 'docs/plan.md') && r.bytes === 8, 'file_write inside the root: {path, bytes}', r);
  is(readFileSync(join(root, 'docs/plan.md'), 'utf8'), 'the plan', 'the file holds what was written');
  r = await call(impl, 'file_write', { path: 'docs/plan.md', content: '!', mode: 'append' });
  is(readFileSync(join(root, 'docs/plan.md'), 'utf8'), 'the plan!', 'append mode appends');
  r = await call(impl, 'file_read', { path: 'docs/plan.md', maxBytes: 3 });
  ok(r.content === 'the' && r.truncated === true, 'file_read maxBytes: {path, truncated, content}', r);
  r = await call(impl, 'artifact_write', { path: 'out/bin.dat', content: Buffer.from([0, 1, 2, 255]).toString('base64'),
    encoding: 'base64', createDirs: true });
  r = await call(impl, 'artifact_read', { path: 'out/bin.dat', binary: true });
  is(r.content, 'AAEC/w==', 'artifact_write/artifact_read round-trip binary content as base64');
  await refused(impl, 'file_read', { path: join(outside, 'secret') }, /outside the roots/, 'an absolute path outside the roots is refused');
  await refused(impl, 'file_read', { path: '../outside/secret' }, /outside the roots/, '".." out of the root is refused');
  symlinkSync(outside, join(root, 'link-out'));
  symlinkSync(join(outside, 'secret'), join(root, 'secret-link'));
  await refused(impl, 'file_read', { path: 'link-out/secret' }, /symlink/, 'a path through a symlink pointing out is refused');
  await refused(impl, 'file_read', { path: 'secret-link' }, /symlink/, 'a symlink to a file outside is refused');
  await refused(impl, 'file_write', { path: 'secret-link', content: 'owned' }, /symlink/, 'writing through a symlink is refused');
  is(readFileSync(join(outside, 'secret'), 'utf8'), 'do not read', 'and the file outside is untouched');
  await refused(impl, 'file_write', { path: 'link-out/new', content: 'x' }, /symlink/, 'creating under a symlinked directory is refused');
  ok(!existsSync(join(outside, 'new')), 'nothing was created outside');

  // command_run: off by default, an argument vector, contained
  await refused(planner, 'command_run', { command: 'echo hi' }, /command_run is off.*--command-allow/,
    'command_run with no allowlist (the default): refused, saying how to allow');
  await refused(impl, 'command_run', { command: 'rm -rf /' }, /rm is not an allowed executable/, 'an executable not on the allowlist is refused');
  writeFileSync(join(root, 'victim'), 'here');
  r = await call(impl, 'command_run', { command: 'echo hi; rm victim && $(rm victim) `rm victim` | cat > x *' });
  ok(r.exitCode === 0 && r.stdout === 'hi; rm victim && $(rm victim) `rm victim` | cat > x *\n' && existsSync(join(root, 'victim')),
    'shell metacharacters are words for echo, never interpreted', r);
  r = await call(impl, 'command_run', { command: 'printf "%s|" "a b" \'c d\' e\\ f' });
  is(r.stdout, 'a b|c d|e f|', 'quotes and backslashes group words, as documented');
  const t0 = Date.now();
  r = await call(impl, 'command_run', { command: 'sh -c "sleep 30 & sleep 30"', timeoutMs: 500 });
  ok(r.timedOut === true && r.exitCode === null && r.signal !== null, 'a runaway command is killed at timeoutMs: timedOut', r);
  cmpOk(Date.now() - t0, '<', 5000, 'within the timeout and the kill grace, its group included');
  r = await call(impl, 'command_run', { command: 'sh -c "yes | head -c 100000"', maxOutputBytes: 1000 });
  ok(r.stdout.length === 1000 && r.stdoutTruncated === true, 'output is capped at maxOutputBytes', { len: r.stdout.length });
  r = await call(impl, 'command_run', { command: 'sh -c "pwd; echo \\"[$SECRET_X] $FOO\\""', cwd: 'docs', env: { FOO: 'bar' } });
  ok(r.stdout === `${join(root, 'docs')}\n[] bar\n`, 'cwd in the roots; only a filtered environment reaches it', r);
  await refused(impl, 'command_run', { command: 'echo x', cwd: outside }, /outside the roots/, 'a cwd outside the roots is refused');
  await refused(impl, 'command_run', { command: 'echo x', env: { LD_PRELOAD: '/tmp/evil.so' } }, /LD_PRELOAD is refused/,
    'LD_PRELOAD in env is refused');
  await refused(impl, 'command_run', { command: 'echo "unclosed' }, /quote is not closed/, 'an unclosed quote is refused');
  await refused(planner, 'tool_install', { manager: 'npm', args: ['i', 'left-pad'] }, /not an allowed package manager.*--install-allow/,
    'tool_install with no allowed managers: refused, saying how to allow');
  r = await call(impl, 'tool_install', { manager: 'true', args: ['install', 'x'] });
  ok(r.exitCode === 0 && r.timedOut === false, 'an allowed manager runs, without a shell', r);

  // log_append: an entry in baton's audit log, as the agent that called
  r = await call(planner, 'log_append', { event: 'tests green on T1', payload: { suite: 'unit', passed: 12 } });
  ok(r.ok === true, 'log_append answers {ok: true}', r);
  await refused(planner, 'log_append', { event: 'two\nlines' }, /event/, 'log_append refuses an event of two lines, naming event');

  // every file and command call was recorded, in the audit log
  const log = spawnSync(BATON, ['log', '--json', '-n', '1000'], { env: b.env, encoding: 'utf8', timeout: 5000 });
  const entries = JSON.parse(log.stdout || '{"entries":[]}').entries;
  const appended = entries.filter((e) => e.op === 'log_append');
  const mine = appended.find((e) => e.summary === 'tests green on T1');
  ok(mine && mine.data && mine.data.passed === 12, 'the log_append entry is in baton log with its payload', mine || log.stdout.slice(0, 400));
  const audit = appended.filter((e) => e.data && /^(file_read|file_write|artifact_read|artifact_write|command_run|tool_install)$/.test(e.data.tool));
  cmpOk(audit.length, '>=', 20, `every file and command call is recorded in baton log (${audit.length} entries)`);
  const refusal = audit.find((e) => e.data.tool === 'command_run' && /not an allowed executable/.test(e.data.outcome));
  ok(refusal && /^command_run rm -rf \/: rm is not an allowed executable/.test(refusal.summary), 'a refused command is recorded with its reason, its event one line', refusal || audit.slice(0, 3));

  // an unknown tool / argument
  const res = await withTimeout(impl.callTool({ name: 'task_claim', arguments: { id: 'T1', ownr: 'x' } }), T, 'typo');
  ok(res.isError && /unknown argument ownr; did you mean owner/.test(textOf(res)), 'a misspelt argument names the right one', textOf(res));
  r = await call(planner, 'project_status_set', { status: 'stopped' });
  ok(r.success === true && r.context.status === 'stopped', 'project_status_set: {success, context, message}', r);
  r = await call(impl, 'task_list', {});
  ok(r.projectStatus === 'stopped' && /STOPPED/.test(r._hint), 'the implementer sees STOPPED in task_list', r);
  r = await call(impl, 'coordination_init', { role: 'implementer' });
  is(r.status, 'stopped', 'coordination_init implementer: stopped');
}, { timeoutMs: 120000 });
