// Waits as tasks with the 1.x SDK negotiating 2025-11-25, whose tasks are
// the experimental ones of that revision (the client asks with
// params.task): the capability and the tools' execution.taskSupport, a
// lock wait as a task granted after the holder releases (tasks/get,
// tasks/result), a cancelled one that holds nothing, a free lock (a task
// completed at once), tasks/list.
import {
  main, ok, is, loadSdk, privateBroker, sdkClient, withTimeout, lockState, until,
} from './lib.mjs';

// Drive callToolStream to its end; the messages it yielded.
async function drain(stream, seen) {
  for await (const msg of stream) seen.push(msg);
  return seen;
}

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();
  const holder = await sdkClient(sdk, b, 'holder');
  const c = await sdkClient(sdk, b, 'tasks-1x', { capabilities: { tasks: { list: {}, cancel: {} } } });

  const caps = c.getServerCapabilities() || {};
  ok(caps.tasks && caps.tasks.requests && caps.tasks.requests.tools && caps.tasks.requests.tools.call,
    'initialize 2025-11-25: the server offers tasks for tools/call', caps);
  const { tools } = await withTimeout(c.listTools(), 5000, 'tools/list');
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  ok(['lock_acquire', 'task_claim', 'message_inbox', 'note_wait', 'event_wait'].every((n) =>
    byName[n].execution && byName[n].execution.taskSupport === 'optional') &&
    byName.lock_release.execution === undefined,
  'the five waits say taskSupport optional, nothing else does');

  // granted after the release
  await withTimeout(holder.callTool({ name: 'lock_acquire', arguments: { name: 'v1' } }), 10000, 'hold v1');
  const seen = [];
  const done = drain(c.experimental.tasks.callToolStream({ name: 'lock_acquire',
    arguments: { name: 'v1', wait_seconds: 30 } }, undefined, { task: {} }), seen);
  await withTimeout(until(() => seen.length > 0, 5000, 'taskCreated'), 6000, 'taskCreated');
  ok(seen[0].type === 'taskCreated' && seen[0].task.status === 'working' && seen[0].task.taskId.length >= 32,
    'callToolStream: the task is created at once, working', seen[0]);
  await withTimeout(until(async () => (await lockState(holder, 'v1')).waiters === 1, 5000, 'waiter'), 6000, 'waiter');
  const got = await withTimeout(c.experimental.tasks.getTask(seen[0].task.taskId), 5000, 'tasks/get');
  is(got.status, 'working', 'tasks/get: working while it waits');
  await withTimeout(holder.callTool({ name: 'lock_release', arguments: { name: 'v1' } }), 10000, 'release v1');
  await withTimeout(done, 10000, 'the stream ends');
  const last = seen[seen.length - 1];
  ok(last.type === 'result' && last.result.structuredContent && last.result.structuredContent.acquired === true,
    'released: tasks/result gives acquired:true', last);
  const v1 = await lockState(holder, 'v1');
  ok(v1.holders.length === 1 && /^tasks-1x-/.test(v1.holders[0]), 'and the task\'s client holds v1', v1);

  // cancelled: holds nothing
  await withTimeout(holder.callTool({ name: 'lock_acquire', arguments: { name: 'v1c' } }), 10000, 'hold v1c');
  const seen2 = [];
  const done2 = drain(c.experimental.tasks.callToolStream({ name: 'lock_acquire',
    arguments: { name: 'v1c', wait_seconds: 30 } }, undefined, { task: {} }), seen2);
  await withTimeout(until(() => seen2.length > 0, 5000, 'taskCreated'), 6000, 'taskCreated 2');
  await withTimeout(until(async () => (await lockState(holder, 'v1c')).waiters === 1, 5000, 'waiter'), 6000, 'w');
  const cancelled = await withTimeout(c.experimental.tasks.cancelTask(seen2[0].task.taskId), 5000, 'tasks/cancel');
  is(cancelled.status, 'cancelled', 'tasks/cancel answers the task, cancelled');
  await withTimeout(done2, 10000, 'the cancelled stream ends');
  ok(seen2[seen2.length - 1].type === 'error' && /cancelled/.test(seen2[seen2.length - 1].error.message),
    'the stream ends saying the task was cancelled', seen2[seen2.length - 1]);
  await withTimeout(until(async () => (await lockState(holder, 'v1c')).waiters === 0, 5000, 'no waiter'), 6000,
    'no waiter');
  await withTimeout(holder.callTool({ name: 'lock_release', arguments: { name: 'v1c' } }), 10000, 'release v1c');
  const v1c = await lockState(holder, 'v1c');
  ok(v1c.holders.length === 0, 'the holder releases: the cancelled task was not granted v1c', v1c);

  // a free lock: the task is done at once
  const seen3 = await withTimeout(drain(c.experimental.tasks.callToolStream({ name: 'lock_acquire',
    arguments: { name: 'v1free', wait_seconds: 30 } }, undefined, { task: {} }), []), 10000, 'free');
  ok(seen3[0].type === 'taskCreated' && seen3[0].task.status === 'completed' &&
    seen3[seen3.length - 1].type === 'result' && seen3[seen3.length - 1].result.structuredContent.acquired === true,
  'a wait that needs no waiting is a task completed at once', seen3);

  const list = await withTimeout(c.request({ method: 'tasks/list', params: {} },
    sdk.types.ListTasksResultSchema), 5000, 'tasks/list');
  ok(list.tasks.length === 3 && list.tasks.some((t) => t.status === 'cancelled'),
    'tasks/list: the three tasks, one cancelled', list.tasks.map((t) => t.status));
});
