// Worktrees through `baton mcp` with the official SDK client and real git
// (issue 17): stand-ins for a planner (--tools planner) and two
// implementers (the default profile, which has no worktree tool).  The
// planner creates two isolation:worktree tasks; each implementer's
// task_claim gives it its own worktree; they commit there and submit; the
// planner sees the worktrees, is refused a merge before approval,
// approves, merges both (a fast-forward, then a merge commit); the main
// checkout has both changes; with git config baton.autoMerge true an
// approval merges by itself; once the implementers are gone,
// worktree_cleanup removes the worktrees and their branches.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { main, ok, is, loadSdk, gitBroker, git, sdkClient, withTimeout, textOf, callChecked, until } from './lib.mjs';

await main(async () => {
  const sdk = await loadSdk();
  const b = gitBroker('wt-project');
  const R = b.env.BATON_PROJECT;

  const planner = await sdkClient(sdk, b, 'planner', { args: ['--tools', 'planner'] });
  const tools = Object.fromEntries((await planner.listTools()).tools.map((t) => [t.name, t]));
  await callChecked(planner, tools, 'agent_join', { name: 'plan', role: 'planner' }, 'the planner joins');
  const ids = [];
  for (const f of ['one.txt', 'two.txt']) {
    const t = await callChecked(planner, tools, 'task_create', {
      title: `Add ${f}`, complexity: 'medium', isolation: 'worktree', files: [f],
    }, `a worktree task for ${f}`);
    ids.push(t.id);
  }

  const impl = {};
  for (const name of ['ann', 'ben']) {
    impl[name] = await sdkClient(sdk, b, name);
    const c = impl[name];
    const itools = Object.fromEntries((await c.listTools()).tools.map((t) => [t.name, t]));
    ok(!itools.worktree_create, `${name}'s default profile has no worktree tool: it needs none`);
    await callChecked(c, itools, 'agent_join', { name, role: 'implementer' }, `${name} joins`);
    const r = await callChecked(c, itools, 'task_claim', {}, `${name} claims`);
    const wt = r.worktree || {};
    is(wt.path, join(R, '.baton', 'worktrees', name), `${name}'s claim says where to work: its worktree`);
    is(git(wt.path, 'symbolic-ref', '--short', 'HEAD'), `baton/${name}`, `on branch baton/${name}`);
    ok(r.hint && r.hint.includes(wt.path), `the hint tells ${name} to work there`, r.hint);
    impl[name].task = r.id;
    impl[name].path = wt.path;
    impl[name].tools = itools;
  }
  is(git(R, 'status', '--porcelain'), '', 'the main checkout stays clean (.baton/ excluded)');

  // each commits in its own worktree and submits
  for (const name of ['ann', 'ben']) {
    const { path, task } = impl[name];
    const file = task === ids[0] ? 'one.txt' : 'two.txt';
    writeFileSync(join(path, file), `${name} was here\n`);
    git(path, 'add', file);
    git(path, 'commit', '-qm', `${file} by ${name}`);
    ok(!existsSync(join(R, file)), `${name}'s commit is not in the main checkout yet`);
    await callChecked(impl[name], impl[name].tools, 'task_submit', { id: task, notes: `added ${file}` },
      `${name} submits`);
  }

  const list = await callChecked(planner, tools, 'worktree_list', {}, 'the planner lists worktrees');
  is(list.worktrees.map((w) => `${w.name}:${w.agent}:${w.task}:${w.owner_here}`).sort().join(' '),
    [`ann:ann:${impl.ann.task}:true`, `ben:ben:${impl.ben.task}:true`].sort().join(' '),
    'worktree_list: each with its owner, task, and that the owner is here');
  const st = await callChecked(planner, tools, 'worktree_status', { agent: 'ann' }, 'status of ann\'s');
  is(`${st.ahead} ${st.behind} ${st.clean_merge} ${st.uncommitted.length}`, '1 0 true 0',
    'worktree_status: one commit ahead, none behind, merges cleanly, nothing uncommitted');

  // a merge before approval is refused, changing nothing
  const head0 = git(R, 'rev-parse', 'HEAD');
  const early = await withTimeout(planner.callTool({ name: 'worktree_merge', arguments: { agent: 'ann' } }),
    15000, 'early merge');
  const why = early.isError ? textOf(early) : JSON.stringify(early.structuredContent);
  ok((early.isError || early.structuredContent.merged === false) && /review, not approved/.test(why),
    'worktree_merge before approval is refused, saying the task is not approved', early);
  is(git(R, 'rev-parse', 'HEAD'), head0, 'and the base did not move');

  await callChecked(planner, tools, 'task_approve', { ids: [impl.ann.task, impl.ben.task] }, 'the planner approves');
  const m1 = await callChecked(planner, tools, 'worktree_merge', { agent: 'ann' }, 'merge ann\'s', 15000);
  is(`${m1.merged} ${m1.how}`, 'true fast-forward', 'the first merge fast-forwards');
  const m2 = await callChecked(planner, tools, 'worktree_merge', { agent: 'ben' }, 'merge ben\'s', 15000);
  is(`${m2.merged} ${m2.how}`, 'true merge commit', 'the second makes a merge commit');
  is(m2.commit, git(R, 'rev-parse', 'HEAD'), 'the answer names the base branch\'s new commit');
  is(readFileSync(join(R, 'one.txt'), 'utf8') + readFileSync(join(R, 'two.txt'), 'utf8'),
    'ann was here\nben was here\n', 'the main checkout has both changes');
  is(git(R, 'status', '--porcelain'), '', 'and is clean');

  // git config baton.autoMerge true: the approval merges (ann's third task, in a fresh worktree)
  git(R, 'config', 'baton.autoMerge', 'true');
  const t3 = await callChecked(planner, tools, 'task_create', { title: 'Add three.txt', complexity: 'simple',
    isolation: 'worktree' }, 'a third worktree task');
  const c3 = await callChecked(impl.ann, impl.ann.tools, 'task_claim', { id: t3.id }, 'ann claims it');
  const p3 = c3.worktree && c3.worktree.path;
  is(p3, join(R, '.baton', 'worktrees', 'ann-2'), 'her merged worktree is done with: a fresh one, from main as it is now');
  is(git(p3, 'rev-parse', 'HEAD'), git(R, 'rev-parse', 'HEAD'), 'which starts at main\'s commit');
  writeFileSync(join(p3, 'three.txt'), 'three\n');
  git(p3, 'add', 'three.txt');
  git(p3, 'commit', '-qm', 'three');
  await callChecked(impl.ann, impl.ann.tools, 'task_submit', { id: t3.id, notes: 'three' }, 'ann submits it');
  const ap = await callChecked(planner, tools, 'task_approve', { id: t3.id }, 'the approval, auto-merging', 15000);
  is(JSON.stringify((ap.merges || []).map((x) => [x.task, x.merged, x.how])),
    JSON.stringify([[t3.id, true, 'fast-forward']]), 'task_approve merged the task\'s worktree and says so in merges');
  is(readFileSync(join(R, 'three.txt'), 'utf8'), 'three\n', 'the main checkout has it');
  git(R, 'config', '--unset', 'baton.autoMerge');

  // cleanup keeps worktrees whose owner is here, then removes them once gone
  let cl = await callChecked(planner, tools, 'worktree_cleanup', {}, 'cleanup with the owners here');
  is(cl.removed.length, 0, 'worktree_cleanup keeps worktrees whose owner is here');
  for (const name of ['ann', 'ben']) await withTimeout(impl[name].close(), 5000, `${name} leaves`);
  await until(async () => {
    const l = (await planner.callTool({ name: 'agent_list', arguments: {} })).structuredContent;
    return !l.agents.some((a) => a.name === 'ann' || a.name === 'ben');
  }, 10000, 'the implementers are gone');
  cl = await callChecked(planner, tools, 'worktree_cleanup', {}, 'cleanup once they are gone', 15000);
  is(cl.removed.map((r) => r.name).sort().join(','), 'ann,ann-2,ben', 'then removes all three worktrees');
  is(git(R, 'worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree ')).length, 1,
    'only the main checkout is left');
  is(git(R, 'branch', '--list', 'baton/*'), '', 'and their branches are gone');
  const after = await callChecked(planner, tools, 'worktree_list', {}, 'the list after cleanup');
  is(after.worktrees.length, 0, 'and their records');
}, { timeoutMs: 120000 });
