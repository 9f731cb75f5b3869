// Lockstep's implementer and worktree tools through `baton mcp --compat
// lockstep` (issue 19 on issue 17's worktrees), official SDK client, real
// git: a Lockstep planner creates an isolation:worktree task; a native
// implementer claims it (its worktree), commits and submits; the planner
// sees it with worktree_list and worktree_status {implementerId}, is
// refused a merge into another branch than the base and a merge before
// approval, approves, merges (the main checkout has the work), lists its
// implementers, and cleans up once the implementer is gone; a launch of an
// agent command nobody configured is refused, saying how.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main, ok, is, loadSdk, gitBroker, git, sdkClient, withTimeout, textOf, callChecked, until } from './lib.mjs';

const T = 15000;

await main(async () => {
  const sdk = await loadSdk();
  const b = gitBroker('ls-wt-project');
  const R = b.env.BATON_PROJECT;

  const planner = await sdkClient(sdk, b, 'ls-planner', { args: ['--compat', 'lockstep'] });
  const names = (await withTimeout(planner.listTools(), T, 'tools/list')).tools.map((t) => t.name);
  const want = ['launch_implementer', 'implementer_list', 'worktree_status', 'worktree_merge', 'worktree_list', 'worktree_cleanup'];
  is(want.filter((n) => !names.includes(n)).join(' '), '', 'the lockstep profile offers its implementer and worktree tools');
  const call = async (name, args, what) => {
    const res = await withTimeout(planner.callTool({ name, arguments: args }), T, what || name);
    if (res.isError) throw new Error(`${name} failed: ${textOf(res)}`);
    return JSON.parse(textOf(res));
  };
  const refused = async (name, args, re, what) => {
    const res = await withTimeout(planner.callTool({ name, arguments: args }), T, what);
    ok(res.isError === true && re.test(textOf(res)), what, textOf(res));
  };

  await call('coordination_init', { role: 'planner' });
  const task = await call('task_create', { title: 'Add one.txt', isolation: 'worktree', complexity: 'simple' });
  ok(typeof task.id === 'string', 'task_create with isolation worktree', task);

  // a native implementer claims it: its worktree
  const ann = await sdkClient(sdk, b, 'ann');
  const atools = Object.fromEntries((await ann.listTools()).tools.map((t) => [t.name, t]));
  await callChecked(ann, atools, 'agent_join', { name: 'ann', role: 'implementer' }, 'ann joins');
  const claim = await callChecked(ann, atools, 'task_claim', {}, 'ann claims');
  const path = (claim.worktree || {}).path;
  is(path, join(R, '.baton', 'worktrees', 'ann'), "ann's claim gives her worktree");
  writeFileSync(join(path, 'one.txt'), 'ann was here\n');
  git(path, 'add', 'one.txt');
  git(path, 'commit', '-qm', 'one.txt by ann');

  let r = await call('worktree_list', {});
  is(`${r.count} ${r.worktrees.map((w) => `${w.agent}:${w.branch}`).join(' ')}`, '1 ann:baton/ann',
    'worktree_list: the count and the worktrees, by agent and branch');
  r = await call('worktree_status', { implementerId: 'ann' });
  ok(r.found === true && r.worktreeStatus.ahead === 1 && r.worktreeStatus.clean_merge === true,
    'worktree_status {implementerId}: found, one commit ahead, merges cleanly', r);
  ok(/commits ready to merge/.test(r.instruction), 'with Lockstep\'s instruction', r.instruction);
  writeFileSync(join(path, 'draft.txt'), 'not yet\n');
  r = await call('worktree_status', { implementerId: 'ann' });
  ok(/uncommitted changes/.test(r.instruction) && r.worktreeStatus.uncommitted.length === 1,
    'uncommitted work in the worktree is told', r);
  git(path, 'add', 'draft.txt');
  git(path, 'commit', '-qm', 'draft');

  await callChecked(ann, atools, 'task_submit', { id: claim.id, notes: 'added one.txt' }, 'ann submits');
  await refused('worktree_merge', { implementerId: 'ann', targetBranch: 'release' }, /merges into main, its base, not release/,
    'a merge into another branch than its base is refused, naming both');
  r = await withTimeout(planner.callTool({ name: 'worktree_merge', arguments: { implementerId: 'ann' } }), T, 'merge before approval');
  const early = r.isError ? { error: textOf(r) } : JSON.parse(textOf(r));
  ok(early.merged !== true && /approv/.test(early.error || ''), 'a merge before approval is refused, saying why', early);
  ok(!existsSync(join(R, 'one.txt')), 'and the main checkout is untouched');

  await call('task_approve', { id: claim.id });
  r = await call('worktree_merge', { implementerId: 'ann', targetBranch: 'main' });
  ok(r.success === true && r.merged === true && r.base === 'main', 'after approval worktree_merge merges into main', r);
  ok(existsSync(join(R, 'one.txt')), 'the main checkout has the work');

  r = await call('implementer_list', {});
  ok(r.total === 0 && r.active === 0 && Array.isArray(r.implementers), 'implementer_list: {total, active, implementers}', r);
  await refused('launch_implementer', { type: 'no-such-agent' }, /no-such-agent/,
    'launching an agent command nobody configured is refused, naming it');

  r = await call('worktree_cleanup', {});
  ok(r.success === true && r.cleanedCount === 0 && r.kept.length === 1, 'cleanup keeps the worktree of an implementer still here', r);
  await ann.close();
  // the broker sees ann's session end when her baton mcp exits
  await until(async () => (await call('worktree_list', {})).worktrees.every((w) => !w.owner_here), 10000,
    "ann's session ends");
  r = await call('worktree_cleanup', {});
  is(r.cleanedCount, 1, 'once ann is gone cleanup removes her merged worktree', r);
  ok(!existsSync(path), 'its directory is gone');
  is(git(R, 'branch', '--list', 'baton/ann'), '', 'and its branch');
});
