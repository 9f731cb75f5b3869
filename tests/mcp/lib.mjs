// Shared helpers of the MCP tests: TAP output, a private broker per test,
// the official SDK client, and a raw JSON-RPC driver of `baton mcp`.
//
// Every wait has a timeout; the whole test has one too, and the broker
// and the temporary directory are removed on every way out.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const BATON = process.env.BATON;
const TOP_SRCDIR = process.env.TOP_SRCDIR;
const TOP_BUILDDIR = process.env.TOP_BUILDDIR;

// ---- TAP ----
let n = 0;
let failed = 0;
const cleanups = [];

export function ok(cond, what, diag) {
  n++;
  if (cond) {
    console.log(`ok ${n} - ${what}`);
  } else {
    failed++;
    console.log(`not ok ${n} - ${what}`);
    if (diag !== undefined)
      for (const l of String(typeof diag === 'string' ? diag : JSON.stringify(diag)).split('\n'))
        console.log(`# ${l}`);
  }
  return cond;
}

export function is(got, want, what) {
  return ok(got === want, what, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// A numeric comparison (op one of < <= > >=) that prints both sides on failure.
export function cmpOk(got, op, want, what) {
  const f = { '<': (a, b) => a < b, '<=': (a, b) => a <= b, '>': (a, b) => a > b, '>=': (a, b) => a >= b }[op];
  if (f === undefined) throw new Error(`cmpOk: unknown operator ${op}`);
  return ok(typeof got === 'number' && f(got, want), what, `got ${JSON.stringify(got)}, want ${op} ${want}`);
}

export function diag(s) {
  for (const l of String(s).split('\n')) console.log(`# ${l}`);
}

// Run cleanups once, newest first (synchronous, so also usable on exit).
function cleanupAll() {
  while (cleanups.length > 0) {
    const f = cleanups.pop();
    try { f(); } catch (e) { diag(`cleanup: ${e.message}`); }
  }
}
process.on('exit', cleanupAll);

export function bailOut(why) {
  console.log(`Bail out! ${why}`);
  cleanupAll();
  process.exit(1);
}

// Run the test body with an overall deadline; print the plan at the end.
export async function main(body, { timeoutMs = 60000 } = {}) {
  const timer = setTimeout(() => bailOut(`test timed out after ${timeoutMs} ms`), timeoutMs);
  if (!BATON || !TOP_SRCDIR || !TOP_BUILDDIR)
    bailOut('BATON, TOP_SRCDIR and TOP_BUILDDIR must be set (run through make check)');
  try {
    await body();
  } catch (e) {
    ok(false, 'test body finished without an exception', e && e.stack ? e.stack : String(e));
  } finally {
    clearTimeout(timer);
    await closeAll();
    cleanupAll();
  }
  console.log(`1..${n}`);
  process.exit(failed > 0 ? 1 : 0);
}

// Reject after ms unless p settles first.
export function withTimeout(p, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

// ---- the SDK ----
// The source dir's node_modules (./bootstrap, npm ci) or, in a VPATH build
// and under distcheck, the build dir's (the Makefile's npm ci stamp).
export async function loadSdk() {
  const rel = 'tests/mcp/node_modules/@modelcontextprotocol/sdk/dist/esm';
  const dirs = [join(TOP_SRCDIR, rel), join(TOP_BUILDDIR, rel)];
  const dir = dirs.find((d) => existsSync(join(d, 'client/index.js')));
  if (!dir)
    bailOut('the MCP SDK is not installed: run ./bootstrap, or `npm ci` in tests/mcp ' +
      `(looked in ${dirs.join(' and ')})`);
  const client = await import(pathToFileURL(join(dir, 'client/index.js')).href);
  const stdio = await import(pathToFileURL(join(dir, 'client/stdio.js')).href);
  const types = await import(pathToFileURL(join(dir, 'types.js')).href);
  return { Client: client.Client, StdioClientTransport: stdio.StdioClientTransport, types };
}

// The 2.x client (@modelcontextprotocol/client, 2026-07-28) and the tasks
// extension's requester (@modelcontextprotocol/ext-tasks), pinned beside it.
export async function loadSdk2() {
  const base = 'tests/mcp/node_modules/@modelcontextprotocol';
  const dirs = [join(TOP_SRCDIR, base), join(TOP_BUILDDIR, base)];
  const dir = dirs.find((d) => existsSync(join(d, 'client/dist/index.mjs')) &&
    existsSync(join(d, 'ext-tasks/dist/client/index.js')));
  if (!dir)
    bailOut('@modelcontextprotocol/client 2.x is not installed: run ./bootstrap, or `npm ci` in tests/mcp');
  const url = (f) => pathToFileURL(join(dir, f)).href;
  const client = await import(url('client/dist/index.mjs'));
  const stdio = await import(url('client/dist/stdio.mjs'));
  const tasks = await import(url('ext-tasks/dist/client/index.js'));
  return { Client: client.Client, StdioClientTransport: stdio.StdioClientTransport, tasks };
}

// A transport around the 2.x stdio transport that also sends requests of
// its own on the same pipe (ids "raw-N") and hands their answers back:
// the host's raw dispatch that ext-tasks needs for task wire shapes the
// SDK's codec does not know (resultType "task", tasks/*).
export class RawTap {
  constructor(inner) {
    this.inner = inner;
    this.pending = new Map();
    this.n = 0;
    inner.onmessage = (msg, extra) => {
      const p = msg && typeof msg.id === 'string' && !('method' in msg) && this.pending.get(msg.id);
      if (p) {
        this.pending.delete(msg.id);
        p(msg);
      } else if (this.onmessage) {
        this.onmessage(msg, extra);
      }
    };
    inner.onclose = () => { if (this.onclose) this.onclose(); };
    inner.onerror = (e) => { if (this.onerror) this.onerror(e); };
  }
  start() { return this.inner.start(); }
  send(msg, opts) { return this.inner.send(msg, opts); }
  close() { return this.inner.close(); }
  setProtocolVersion(v) { if (this.inner.setProtocolVersion) this.inner.setProtocolVersion(v); }
  get pid() { return this.inner.pid; }
  // ext-tasks' rawDispatch: one request, its answer as {kind, result|error}
  dispatch(request) {
    const id = `raw-${++this.n}`;
    return new Promise((resolve) => {
      this.pending.set(id, (msg) => resolve('error' in msg ? { kind: 'error', error: msg.error }
        : { kind: 'result', result: msg.result }));
      this.inner.send({ ...request, jsonrpc: '2.0', id });
    });
  }
}

// Spawn `baton mcp` and connect a 2.x client pinned to 2026-07-28.
export async function sdk2Client(sdk2, b, name, { extraEnv = {}, args = [], capabilities = {} } = {}) {
  const inner = new sdk2.StdioClientTransport({
    command: BATON,
    args: ['mcp', ...args],
    env: { ...b.env, ...extraEnv },
    stderr: 'inherit',
  });
  const tap = new RawTap(inner);
  const client = new sdk2.Client({ name, version: '2.0.0' },
    { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await withTimeout(client.connect(tap), 10000, `${name}: connect (2026-07-28)`);
  closers.push(client);
  return { client, tap };
}

// ---- a private broker ----
// A fresh socket directory (0700) and state directory; the broker itself is
// started by the first `baton` that needs it and killed at the end.
export function privateBroker(project = 'mcp-test') {
  const dir = mkdtempSync(join(tmpdir(), 'baton-mcp-'));
  mkdirSync(join(dir, 'run'), { mode: 0o700 });
  const env = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('BATON_') && k !== 'CLAUDE_PROJECT_DIR') env[k] = v;
  env.BATON_SOCKET = join(dir, 'run', 'sock');
  env.BATON_STATE_DIR = join(dir, 'state');
  env.BATON_PROJECT = join(dir, project);
  mkdirSync(env.BATON_PROJECT);
  const b = { dir, env, pids: new Set() };
  cleanups.push(() => {
    for (const pid of b.pids) killBroker(pid);
    const pid = brokerPid(b);
    if (pid) killBroker(pid);
    rmSync(dir, { recursive: true, force: true });
  });
  return b;
}

// The running broker's pid from `baton status --json`, or 0.
export function brokerPid(b) {
  const r = spawnSync(BATON, ['--no-autostart', 'status', '--json'],
    { env: b.env, encoding: 'utf8', timeout: 5000 });
  try {
    return r.status === 0 ? JSON.parse(r.stdout).pid | 0 : 0;
  } catch {
    return 0;
  }
}

// SIGTERM a broker, SIGKILL if it outlives a short grace.
export function killBroker(pid) {
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const end = Date.now() + 2000;
  while (Date.now() < end) {
    try { process.kill(pid, 0); } catch { return; }
    spawnSync('sleep', ['0.02']);
  }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

// Where a process's fd points (for "the broker's stdout is /dev/null").
export function fdTarget(pid, fd) {
  try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return null; }
}

// ---- SDK clients ----
const closers = [];
async function closeAll() {
  while (closers.length > 0) {
    const c = closers.pop();
    try { await withTimeout(c.close(), 5000, 'client close'); } catch (e) { diag(`close: ${e.message}`); }
  }
}

// Spawn `baton mcp` and connect an SDK client to it.
export async function sdkClient(sdk, b, name, { extraEnv = {}, args = [], capabilities = {} } = {}) {
  const transport = new sdk.StdioClientTransport({
    command: BATON,
    args: ['mcp', ...args],
    env: { ...b.env, ...extraEnv }, // the SDK's default env would drop BATON_*
    stderr: 'inherit',
  });
  const client = new sdk.Client({ name, version: '1.0.0' }, { capabilities });
  await withTimeout(client.connect(transport), 10000, `${name}: connect`);
  closers.push(client);
  return client;
}

// The parsed JSON of a tool result's first text content.
export function textOf(res) {
  const t = res && res.content && res.content.find((c) => c.type === 'text');
  return t ? t.text : undefined;
}

// Check value against the subset of JSON Schema our outputSchemas use.
export function schemaErrors(schema, value) {
  const errs = [];
  const typeOk = (t, v) => {
    switch (t) {
      case 'string': return typeof v === 'string';
      case 'integer': return Number.isInteger(v);
      case 'number': return typeof v === 'number';
      case 'boolean': return typeof v === 'boolean';
      case 'array': return Array.isArray(v);
      case 'object': return v !== null && typeof v === 'object' && !Array.isArray(v);
      default: return true;
    }
  };
  if (!typeOk(schema.type, value)) return [`not ${schema.type}`];
  for (const r of schema.required || [])
    if (!(r in value)) errs.push(`missing required ${r}`);
  for (const [k, v] of Object.entries(value)) {
    const p = schema.properties && schema.properties[k];
    if (p && p.type && !typeOk(p.type, v)) errs.push(`${k}: not ${p.type}`);
  }
  return errs;
}

// The agents holding lock name and how many wait for it, through client c.
export async function lockState(c, name) {
  const res = await withTimeout(c.callTool({ name: 'lock_list', arguments: { prefix: name } }), 10000, 'lock_list');
  const l = ((res.structuredContent && res.structuredContent.locks) || []).find((x) => x.name === name);
  return { holders: l ? l.holders.map((h) => h.agent) : [], waiters: l ? l.waiters.length : 0 };
}

// Wait until f() holds, polling every 20 ms, at most ms.
export async function until(f, ms, what) {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- a raw JSON-RPC driver ----
// Spawns `baton mcp` with pipes, records every stdout line, and waits for
// answers by id.
export function rawServer(b, { args = [] } = {}) {
  const child = spawn(BATON, ['mcp', ...args], { env: b.env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  let buf = '';
  let exited = null;
  const exitWaiters = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      let msg;
      try { msg = JSON.parse(line); } catch { continue; }
      for (let k = 0; k < waiters.length; k++) {
        if (waiters[k].match(msg)) {
          waiters[k].resolve(msg);
          waiters.splice(k, 1);
          break;
        }
      }
    }
  });
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    for (const w of exitWaiters) w(exited);
  });
  cleanups.push(() => { if (exited === null) child.kill('SIGKILL'); });
  const r = {
    child,
    lines,
    // Trailing bytes written without a newline (must be none).
    rest: () => buf,
    send(obj) {
      child.stdin.write((typeof obj === 'string' ? obj : JSON.stringify(obj)) + '\n');
    },
    // The next message to arrive for which match() holds.
    next(match, what, ms = 5000) {
      return withTimeout(new Promise((resolve) => waiters.push({ match, resolve })), ms, what);
    },
    // Send a request and wait for the answer with the same id.
    async request(id, method, params, ms = 5000) {
      const p = r.next((m) => m.id === id && !('method' in m), `answer to ${method} (id ${JSON.stringify(id)})`, ms);
      r.send({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) });
      return p;
    },
    closeStdin() { child.stdin.end(); },
    waitExit(ms = 5000) {
      if (exited !== null) return Promise.resolve(exited);
      return withTimeout(new Promise((res) => exitWaiters.push(res)), ms, 'baton mcp exit');
    },
  };
  return r;
}

// Run a tool that must succeed: structuredContent matches the tool's
// outputSchema (tools: name -> tool from tools/list) and the text content
// is the same JSON.  Records one TAP result; returns structuredContent.
export async function callChecked(client, tools, name, args, what, ms = 10000) {
  const res = await withTimeout(client.callTool({ name, arguments: args }, undefined, { timeout: ms + 5000 }),
    ms, `${name} ${JSON.stringify(args)}`);
  const sc = res.structuredContent;
  const errs = res.isError ? ['isError: ' + textOf(res)] : schemaErrors(tools[name].outputSchema, sc);
  let same = false;
  try { same = JSON.stringify(JSON.parse(textOf(res))) === JSON.stringify(sc); } catch { /* no */ }
  ok(errs.length === 0 && same, `${what}: ${name} matches its outputSchema, text = structuredContent`,
    { errs, res });
  return sc || {};
}

// ---- git, for the worktree tests ----
export const GIT_ENV = {
  GIT_AUTHOR_NAME: 'tester', GIT_AUTHOR_EMAIL: 't@example.org', GIT_COMMITTER_NAME: 'tester',
  GIT_COMMITTER_EMAIL: 't@example.org', GIT_CONFIG_NOSYSTEM: '1',
};

// git with an argument vector in dir; its stdout, trimmed (throws on failure).
export function git(dir, ...args) {
  const r = spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8', env: { ...process.env, ...GIT_ENV } });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

// A private broker whose project is a git repository on main with one commit.
export function gitBroker(project) {
  const b = privateBroker(project);
  Object.assign(b.env, GIT_ENV);
  const R = b.env.BATON_PROJECT;
  git(R, 'init', '-q', '-b', 'main');
  writeFileSync(join(R, 'README'), 'hello\n');
  git(R, 'add', 'README');
  git(R, 'commit', '-qm', 'init');
  return b;
}
