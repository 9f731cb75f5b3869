// What tools/list costs and which tools it offers: the size budget of the
// full list and of the core profile (chars/4 of the compact JSON result,
// from the real tools/list), the profiles of `baton mcp --tools` and
// BATON_TOOLS, and a call outside the profile refused naming it.
import { spawnSync } from 'node:child_process';
import {
  BATON, main, ok, is, loadSdk, privateBroker, sdkClient, withTimeout,
} from './lib.mjs';

const FULL_BUDGET = 6000; // tokens (DESIGN 6)
const CORE_BUDGET = 3000;
const CORE = ['agent_join', 'lock_acquire', 'lock_release', 'lock_list', 'task_claim', 'task_submit',
  'task_release', 'message_inbox', 'message_send', 'discussion_start', 'discussion_reply', 'discussion_get'];
// run by baton mcp itself (git, tmux): the planner's, opt-in beside full
const WORKTREES = ['worktree_create', 'worktree_status', 'worktree_merge', 'worktree_list', 'worktree_cleanup',
  'launch_implementer', 'implementer_list'];

// The tools/list result of a client, and its size in tokens (chars/4).
async function listed(client) {
  const result = await withTimeout(client.listTools(), 5000, 'tools/list');
  const wire = { tools: result.tools }; // the SDK adds nothing we did not send
  return { tools: result.tools, tokens: JSON.stringify(wire).length / 4 };
}

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();

  const full = await sdkClient(sdk, b, 'profile-full');
  const f = await listed(full);
  ok(f.tokens <= FULL_BUDGET, `the full tools/list is ${Math.round(f.tokens)} tokens, at most ${FULL_BUDGET}`,
    f.tokens);
  const usage = spawnSync(BATON, ['--help'], { encoding: 'utf8' }).stdout.split('\n');
  const from = usage.findIndex((l) => l.startsWith('Operations'));
  const to = usage.findIndex((l, i) => i > from && l === '');
  const ops = usage.slice(from + 1, to).map((l) => l.trim().split(/\s+/)[0]);
  const names = f.tools.map((t) => t.name);
  ok(names.length >= 30 && names.includes('note_set') && names.includes('task_create') &&
    !names.includes('lock_break') && !names.includes('state_export'),
  `full offers every agent tool (${names.length}), not the user's (lock_break, state_export)`, names);

  const core = await sdkClient(sdk, b, 'profile-core', { extraEnv: { BATON_TOOLS: 'core' } });
  const c = await listed(core);
  ok(c.tokens <= CORE_BUDGET, `the core tools/list is ${Math.round(c.tokens)} tokens, at most ${CORE_BUDGET}`,
    c.tokens);
  is(JSON.stringify(c.tools.map((t) => t.name).sort()), JSON.stringify([...CORE].sort()),
    'BATON_TOOLS=core offers join, locks, claim/submit/release, inbox/send and discussions');
  let res = await withTimeout(core.callTool({ name: 'lock_acquire', arguments: { name: 'p' } }), 10000, 'core call');
  ok(!res.isError && res.structuredContent && res.structuredContent.acquired === true,
    'a core tool works under the core profile', res);
  let err = null;
  try {
    await withTimeout(core.callTool({ name: 'note_set', arguments: { key: 'k', value: 1 } }), 10000, 'outside');
  } catch (e) {
    err = e;
  }
  ok(err !== null && /note_set is not offered/.test(err.message) && /core/.test(err.message) &&
    /BATON_TOOLS/.test(err.message), 'a tool outside the profile is refused, naming the profile and how to change it',
    String(err && err.message));

  // --tools wins over BATON_TOOLS; a list mixes profiles and tool names
  const mixed = await sdkClient(sdk, b, 'profile-mixed',
    { extraEnv: { BATON_TOOLS: 'full' }, args: ['--tools', 'reviewer,note_get,counter_incr'] });
  const m = await listed(mixed);
  const mnames = m.tools.map((t) => t.name);
  ok(mnames.includes('task_approve') && mnames.includes('note_get') && mnames.includes('counter_incr') &&
    !mnames.includes('note_set') && !mnames.includes('task_create'),
  '--tools reviewer,note_get,counter_incr: the reviewer\'s tools and those two, over BATON_TOOLS=full', mnames);
  const planner = await sdkClient(sdk, b, 'profile-planner', { args: ['--tools=planner'] });
  const p = await listed(planner);
  ok(p.tools.some((t) => t.name === 'task_create') && p.tools.some((t) => t.name === 'project_set') &&
    WORKTREES.every((n) => p.tools.some((t) => t.name === n)) &&
    !p.tools.some((t) => t.name === 'lock_acquire'), `--tools=planner: ${p.tools.length} tools, ` +
    `${Math.round(p.tokens)} tokens`, p.tools.map((t) => t.name));

  // bad profiles: a usage error before any protocol
  for (const [what, args, env, want] of [
    ['--tools nosuch', ['mcp', '--tools', 'nosuch'], {}, /unknown profile or tool 'nosuch'/],
    ['BATON_TOOLS=core,lock_break', ['mcp'], { BATON_TOOLS: 'core,lock_break' },
      /unknown profile or tool 'lock_break'/],
    ['--tools without a profile', ['mcp', '--tools'], {}, /--tools needs a profile/],
  ]) {
    const r = spawnSync(BATON, args, { env: { ...b.env, ...env }, input: '', encoding: 'utf8', timeout: 5000 });
    ok(r.status === 64 && want.test(r.stderr) && r.stdout === '',
      `${what}: exit 64 saying what is wrong, nothing on stdout`, { status: r.status, stderr: r.stderr });
  }
  const help = spawnSync(BATON, ['help', 'mcp'], { encoding: 'utf8' });
  ok(help.status === 0 && /--tools/.test(help.stdout) && /core/.test(help.stdout) && /reviewer/.test(help.stdout),
    'baton help mcp lists the profiles', help.stdout);
  ok(ops.length > 30 && ops.every((o) => o === 'lock_break' || o === 'state_export' ||
    o.startsWith('queue_') || WORKTREES.includes(o) || names.includes(o)),
  'every operation but the user\'s and the opt-in queues and worktrees is in full',
  ops.filter((o) => !names.includes(o)));
  const withq = await sdkClient(sdk, b, 'profile-queues', { args: ['--tools', 'full,queues'] });
  const q = (await listed(withq)).tools.map((t) => t.name);
  ok(['queue_push', 'queue_claim', 'queue_finish', 'queue_list'].every((n) => q.includes(n)) &&
    q.length === names.length + 4, '--tools full,queues adds the four queue tools', q);
  const withw = await sdkClient(sdk, b, 'profile-worktrees', { args: ['--tools', 'full,worktrees'] });
  const w = (await listed(withw)).tools.map((t) => t.name);
  ok(WORKTREES.every((n) => w.includes(n) && !names.includes(n)) && w.length === names.length + WORKTREES.length,
    '--tools full,worktrees adds the seven worktree and launcher tools, which full leaves out', w);
});
