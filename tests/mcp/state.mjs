// Notes, counters and events through `baton mcp` with the official SDK
// client: a round trip of every tool, structuredContent checked against
// the tool's outputSchema (the SDK validates it too once it has listed
// the tools) and the same JSON as text, a blocked note_wait and
// event_wait in one client woken by another client, bounds as errors.
import {
  main, ok, is, cmpOk, diag, loadSdk, privateBroker, sdkClient, textOf, withTimeout, callChecked,
} from './lib.mjs';

const TOOLS = ['note_set', 'note_get', 'note_delete', 'note_list', 'note_wait',
  'counter_incr', 'event_signal', 'event_wait'];

await main(async () => {
  const sdk = await loadSdk();
  const b = privateBroker();
  const a = await sdkClient(sdk, b, 'state-a');
  const c = await sdkClient(sdk, b, 'state-c');

  const { tools } = await withTimeout(a.listTools(), 5000, 'tools/list a');
  await withTimeout(c.listTools(), 5000, 'tools/list c'); // so c's SDK validates too
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  ok(TOOLS.every((n) => byName[n] && byName[n].outputSchema), 'every note/counter/event tool is listed with an outputSchema',
    TOOLS.filter((n) => !byName[n]));
  ok(['note_wait', 'event_wait', 'note_get', 'note_list'].every((n) => byName[n].annotations.readOnlyHint === true),
    'note_get, note_list and the waits are read-only (clients run them in parallel)',
    ['note_wait', 'event_wait', 'note_get', 'note_list'].map((n) => [n, byName[n].annotations]));
  ok(['note_set', 'note_delete', 'counter_incr', 'event_signal'].every((n) => byName[n].annotations.readOnlyHint !== true),
    'the writers are not read-only',
    ['note_set', 'note_delete', 'counter_incr', 'event_signal'].map((n) => [n, byName[n].annotations]));
  ok(!('type' in byName.note_get.outputSchema.properties.value),
    'note_get value may be any JSON value (no type in the schema)', byName.note_get.outputSchema);
  const pid = (await a.callTool({ name: 'status', arguments: {} })).structuredContent.pid;
  if (Number.isInteger(pid)) b.pids.add(pid);

  // call: run a tool, check it ran, its schema, its required fields and its text.
  const call = (client, name, args, what, ms) => callChecked(client, byName, name, args, what, ms);

  // ---- notes ----
  let r = await call(a, 'note_set', { key: 'api/url', value: 'http://localhost:8080' }, 'a string');
  ok(r.written === true && Number.isInteger(r.version) && r.version > 0, 'note_set writes and gives a version', r);
  const v1 = r.version;
  r = await call(c, 'note_get', { key: 'api/url' }, 'read back');
  ok(r.found === true && r.value === 'http://localhost:8080' && r.version === v1 && r.author === 'state-a' ||
    (r.found === true && r.value === 'http://localhost:8080' && r.version === v1 && /^state-a/.test(r.author)),
  'another client reads the value, its version and its author', r);
  const obj = { list: [1, 2.5, 'x', null, true], nested: { k: 'é' } };
  await call(a, 'note_set', { key: 'cfg', value: obj }, 'an object');
  r = await call(c, 'note_get', { key: 'cfg' }, 'an object back');
  is(JSON.stringify(r.value), JSON.stringify(obj), 'an object value round trips');
  await call(a, 'note_set', { key: 'n', value: 42 }, 'a number');
  r = await call(c, 'note_get', { key: 'n' }, 'a number back');
  ok(r.value === 42, 'a number value stays a number', r);

  r = await call(c, 'note_set', { key: 'api/url', value: 'stale', if_version: v1 - 1 }, 'a failed CAS');
  ok(r.written === false && r.version === v1 && r.current && r.current.value === 'http://localhost:8080' &&
    r.current.version === v1 && typeof r.hint === 'string',
  'a failed compare-and-set is written:false with current {value, version} and a hint, not an error', r);
  r = await call(c, 'note_set', { key: 'fresh', value: 1, if_version: 0 }, 'CAS create');
  ok(r.written === true, 'if_version 0 creates an absent note', r);
  r = await call(a, 'note_set', { key: 'fresh', value: 2, if_version: 0 }, 'CAS create again');
  ok(r.written === false && r.current.value === 1, 'if_version 0 on an existing note is refused', r);
  r = await call(a, 'note_set', { key: 'nope', value: 2, if_version: 5 }, 'CAS on absent');
  ok(r.written === false && r.version === 0 && r.current.version === 0 && r.current.value === null,
    'a CAS on an absent note reports version 0, value null', r);

  r = await call(a, 'note_list', { prefix: 'api/' }, 'list');
  ok(r.count === 1 && r.more === false && r.notes[0].key === 'api/url' &&
    r.notes[0].size_bytes > 0 && r.notes[0].version === v1, 'note_list by prefix', r);

  r = await call(a, 'note_wait', { key: 'api/url', after_version: 0, wait_seconds: 5 }, 'wait at once');
  ok(r.changed === true && r.value === 'http://localhost:8080' && r.version === v1,
    'note_wait returns at once when the version is already past after_version', r);

  // a blocked note_wait in a, woken by c's note_set
  let seen; // the last status.blocked, for the diagnostics
  const blocked = async (n) => {
    for (let i = 0; i < 200; i++) {
      const st = (await c.callTool({ name: 'status', arguments: {} })).structuredContent;
      seen = st.blocked;
      if (st.blocked === n) return true;
      await new Promise((res) => setTimeout(res, 25));
    }
    return false;
  };
  let waiting = call(a, 'note_wait', { key: 'api/url', after_version: v1, wait_seconds: 30 }, 'blocked wait', 20000);
  ok(await blocked(1), 'note_wait blocks while the note does not change', { blocked: seen });
  let t0 = Date.now();
  r = await call(c, 'note_set', { key: 'api/url', value: 'http://localhost:9090' }, 'the write');
  const v2 = r.version;
  r = await waiting;
  const ms = Date.now() - t0;
  diag(`note_set in one client to note_wait answered in the other: ${ms} ms`);
  ok(r.changed === true && r.found === true && r.value === 'http://localhost:9090' && r.version === v2 &&
    /^state-c/.test(r.author), "a blocked note_wait in one client is woken by another client's note_set", r);
  cmpOk(ms, '<', 1000, `promptly (${ms} ms)`);

  waiting = call(a, 'note_wait', { key: 'api/url', after_version: v2, wait_seconds: 30 }, 'wait for delete', 20000);
  ok(await blocked(1), 'a second note_wait blocks', { blocked: seen });
  r = await call(c, 'note_delete', { key: 'api/url' }, 'delete');
  ok(r.deleted === true && r.version > v2, 'note_delete deletes at a new version', r);
  const dv = r.version;
  r = await waiting;
  ok(r.changed === true && r.found === false && r.version === dv, 'a delete wakes note_wait (found:false)', r);
  r = await call(a, 'note_delete', { key: 'api/url' }, 'delete again');
  ok(r.deleted === false && typeof r.hint === 'string', 'deleting an absent note: deleted:false with a hint', r);
  r = await call(a, 'note_wait', { key: 'api/url', after_version: dv, wait_seconds: 0.2 }, 'timeout');
  ok(r.changed === false && r.found === false && typeof r.hint === 'string', 'a note_wait that times out: changed:false with a hint', r);
  r = await call(a, 'note_get', { key: 'api/url' }, 'absent');
  ok(r.found === false && r.version === 0 && r.value === null, 'an absent note: found:false, version 0, value null', r);

  // ---- counters ----
  const vals = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    call(i % 2 ? a : c, 'counter_incr', { name: 'mig' }, `increment ${i}`)));
  const got = vals.map((x) => x.value).sort((x, y) => x - y);
  is(JSON.stringify(got), JSON.stringify(Array.from({ length: 20 }, (_, i) => i + 1)),
    '20 concurrent counter_incr from two clients get 1..20, each once');
  r = await call(a, 'counter_incr', { name: 'mig', by: 0 }, 'read');
  is(r.value, 20, 'by:0 reads');
  const MAX = 9007199254740991;
  let overflow = null;
  for (let i = 0; i < 1100 && overflow === null; i++) {
    const res = await a.callTool({ name: 'counter_incr', arguments: { name: 'huge', by: MAX } });
    if (res.isError) overflow = textOf(res);
  }
  ok(overflow !== null && /overflow/.test(overflow) && /64 bits/.test(overflow),
    'a counter that would pass 64 bits is refused with a clear error', overflow);

  // ---- events ----
  r = await call(a, 'event_signal', { name: 'built', payload: { sha: 'abc' } }, 'signal');
  is(r.generation, 1, 'the first signal is generation 1');
  r = await call(c, 'event_wait', { name: 'built', after: 0, wait_seconds: 5 }, 'wait after signal');
  ok(r.fired === true && r.generation === 1 && r.payload && r.payload.sha === 'abc',
    'event_wait after a signal returns at once with the payload', r);
  waiting = call(c, 'event_wait', { name: 'built', after: 1, wait_seconds: 30 }, 'blocked event wait', 20000);
  ok(await blocked(1), 'event_wait blocks until the next signal', { blocked: seen });
  t0 = Date.now();
  await call(a, 'event_signal', { name: 'built' }, 'signal again');
  r = await waiting;
  ok(r.fired === true && r.generation === 2 && !('payload' in r),
    "a blocked event_wait is woken by another client's signal (no payload this time)", r);
  diag(`event_signal to event_wait answered: ${Date.now() - t0} ms`);
  r = await call(c, 'event_wait', { name: 'built', after: 2, wait_seconds: 0.2 }, 'event timeout');
  ok(r.fired === false && r.generation === 2 && typeof r.hint === 'string', 'event_wait times out with fired:false', r);

  // ---- bounds: invalid arguments name the field (2025-11-25: an isError result) ----
  let res = await a.callTool({ name: 'note_set', arguments: { key: 'big', value: 'x'.repeat(70000) } });
  ok(res.isError === true && /value is larger than 65536 bytes/.test(textOf(res) || ''),
    'a value over 64 KiB is refused naming value and the bound', res.content);
  res = await a.callTool({ name: 'note_get', arguments: { key: '' } });
  ok(res.isError === true && /key must be 1 to 256 bytes long \(got 0\)/.test(textOf(res) || ''),
    'an empty key is refused naming key and its bounds', res.content);
}, { timeoutMs: 90000 });
