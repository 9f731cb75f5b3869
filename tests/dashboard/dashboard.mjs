// baton dashboard (DESIGN 11), first with plain HTTP requests (who may
// in, and what is refused and changes nothing), then in a real browser:
// Debian's chromium driven by puppeteer-core (pinned in package.json, no
// browser download), headless and kept off the network.  The page loads
// with the token; a lock taken by another client shows within 1 s
// without a reload; approve and break from the page move the task and
// the lock; a worktree made with baton worktree create and a launched
// agent's record show, live, in the Worktrees and Agents views, and the
// worktree whose owner is gone in Needs you; the banner says when the
// broker is gone.  A screenshot of
// each view goes to the build tree (tests/dashboard-shots/, not in git).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BATON, bailOut, brokerPid, cmpOk, diag, is, killBroker, main, ok, privateBroker,
  withTimeout,
} from '../mcp/lib.mjs';

const TOP_SRCDIR = process.env.TOP_SRCDIR;
const TOP_BUILDDIR = process.env.TOP_BUILDDIR;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const VIEWS = ['needs', 'agents', 'locks', 'tasks', 'messages', 'timeline', 'health', 'worktrees'];

// `baton ARGS` as agent, in the broker's environment; its stdout.
function baton(b, agent, args) {
  const r = spawnSync(BATON, args, {
    env: { ...b.env, BATON_AGENT: agent }, encoding: 'utf8', timeout: 15000,
  });
  if (r.status !== 0) diag(`baton ${args.join(' ')}: ${r.status} ${r.stderr}`);
  return r.stdout;
}
function batonJSON(b, agent, args) {
  try { return JSON.parse(baton(b, agent, args)); } catch { return {}; }
}

// Start a dashboard; resolves with {proc, url, port, origin} once it prints its URL.
function dashboard(b, extra = []) {
  const proc = spawn(BATON, ['dashboard', '-p', '0', ...extra], {
    env: b.env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const started = new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^baton dashboard: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=[0-9a-f]+)/m);
      if (m) resolve({ proc, url: m[1], port: Number(m[2]), origin: `http://127.0.0.1:${m[2]}` });
    });
    proc.on('exit', (code) => reject(new Error(`baton dashboard exited ${code}: ${err}`)));
  });
  return withTimeout(started, 10000, 'baton dashboard to print its URL');
}

// One plain HTTP request to the dashboard: {status, headers, body}.
function http(d, method, path, { headers = {}, body } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: d.port, method, path, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  }), 10000, `${method} ${path}`);
}

function holders(b, name) {
  const l = batonJSON(b, 'check', ['locks', '--json', name]);
  return ((l.locks || [])[0] || {}).holders || [];
}

async function security(b, d, ro) {
  const host = { Host: `127.0.0.1:${d.port}` };
  let r = await http(d, 'GET', '/', { headers: host });
  is(r.status, 401, 'the page without the token or the cookie: 401');
  r = await http(d, 'GET', '/api/state', { headers: host });
  is(r.status, 401, 'the API without the cookie: 401');
  r = await http(d, 'GET', '/?token=0123456789abcdef0123456789abcdef', { headers: host });
  is(r.status, 401, 'a wrong token: 401');
  r = await http(d, 'GET', new URL(d.url).pathname + new URL(d.url).search, { headers: host });
  const setCookie = String(r.headers['set-cookie'] || '');
  ok(r.status === 303 && r.headers.location === '/' &&
    /HttpOnly/.test(setCookie) && /SameSite=Strict/.test(setCookie),
  'the token is exchanged for an HttpOnly, SameSite=Strict cookie and a redirect to /',
  `${r.status} ${JSON.stringify(r.headers)}`);
  const cookie = setCookie.split(';')[0];
  r = await http(d, 'GET', '/api/session', { headers: { ...host, Cookie: cookie } });
  const csrf = JSON.parse(r.body).csrf;
  ok(r.status === 200 && /^[0-9a-f]{32}$/.test(csrf), 'with the cookie, /api/session gives the CSRF token');
  r = await http(d, 'GET', '/api/state', { headers: { Host: 'evil.example', Cookie: cookie } });
  is(r.status, 403, 'Host: evil.example (DNS rebinding) is refused, cookie or not');
  r = await http(d, 'GET', '/api/state', { headers: { Host: `127.0.0.1:${d.port + 1}`, Cookie: cookie } });
  is(r.status, 403, 'a Host naming another port is refused');

  baton(b, 'holder', ['acquire', '--ttl', '120', 'guarded']);
  const act = JSON.stringify({ action: 'break', name: 'guarded', reason: 'attack' });
  const json = { 'Content-Type': 'application/json' };
  const tries = [
    ['a foreign Origin', { ...host, Cookie: cookie, ...json, Origin: 'http://evil.example', 'X-CSRF-Token': csrf }, act, 403],
    ['a text/plain cross-site POST', { ...host, Cookie: cookie, 'Content-Type': 'text/plain', Origin: 'http://evil.example' }, act, 403],
    ['a same-origin POST that is not JSON', { ...host, Cookie: cookie, 'Content-Type': 'text/plain', Origin: d.origin, 'X-CSRF-Token': csrf }, act, 415],
    ['a POST without the CSRF token', { ...host, Cookie: cookie, ...json, Origin: d.origin }, act, 403],
    ['a POST with a wrong CSRF token', { ...host, Cookie: cookie, ...json, Origin: d.origin, 'X-CSRF-Token': '0'.repeat(32) }, act, 403],
    ['a POST without the cookie', { ...host, ...json, Origin: d.origin, 'X-CSRF-Token': csrf }, act, 401],
    ['a POST without an Origin', { ...host, Cookie: cookie, ...json, 'X-CSRF-Token': csrf }, act, 403],
  ];
  for (const [what, headers, body, want] of tries) {
    r = await http(d, 'POST', '/api/action', { headers, body });
    ok(r.status === want && holders(b, 'guarded').length === 1,
      `${what} is refused (${want}) and the lock is still held`, `${r.status} ${r.body}`);
  }
  r = await http(d, 'DELETE', '/api/action', { headers: { ...host, Cookie: cookie } });
  is(r.status, 405, 'other methods: 405');
  const log = batonJSON(b, 'check', ['call', 'log_list', '{"kinds":["lock"],"object":"guarded"}']);
  ok((log.entries || []).every((e) => e.op !== 'lock_break'), 'no refused request reached the broker');

  // read-only refuses every action
  const cookieRo = String((await http(ro, 'GET', new URL(ro.url).pathname + new URL(ro.url).search,
    { headers: { Host: `127.0.0.1:${ro.port}` } })).headers['set-cookie']).split(';')[0];
  const roHost = { Host: `127.0.0.1:${ro.port}` };
  const csrfRo = JSON.parse((await http(ro, 'GET', '/api/session', { headers: { ...roHost, Cookie: cookieRo } })).body).csrf;
  for (const a of [act, '{"action":"approve","id":"T1"}', '{"action":"message","to":"x","body":"y"}',
    '{"action":"project_status","status":"stopped"}', '{"action":"request_changes","id":"T1","feedback":"f"}']) {
    r = await http(ro, 'POST', '/api/action', {
      headers: { ...roHost, Cookie: cookieRo, ...json, Origin: ro.origin, 'X-CSRF-Token': csrfRo }, body: a,
    });
    ok(r.status === 403 && /read-only/.test(r.body), `read-only refuses ${JSON.parse(a).action}`, `${r.status} ${r.body}`);
  }
  ok(holders(b, 'guarded').length === 1, 'and nothing changed');

  // a good action works, and is the operator's in the audit log
  r = await http(d, 'POST', '/api/action', {
    headers: { ...host, Cookie: cookie, ...json, Origin: d.origin, 'X-CSRF-Token': csrf }, body: act,
  });
  ok(r.status === 200 && holders(b, 'guarded').length === 0, 'a same-origin JSON action with the token breaks the lock',
    `${r.status} ${r.body}`);
  const e = (batonJSON(b, 'check', ['call', 'log_list', '{"object":"guarded","kinds":["lock"]}']).entries || []).pop() || {};
  ok(e.op === 'lock_break' && e.agent === 'operator' && /attack/.test(e.summary),
    'the audit log says the operator broke it, with the reason', e);
  const inbox = batonJSON(b, 'holder', ['msg', 'inbox', '--json']);
  ok((inbox.messages || []).some((m) => m.from === 'operator' && /guarded/.test(m.subject || '')),
    "and the holder's inbox says so", inbox);
}

// git ARGS in dir, with an identity of its own; true when it succeeded.
function git(dir, args) {
  const r = spawnSync('git', ['-C', dir, ...args], {
    encoding: 'utf8', timeout: 15000,
    env: {
      ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'tester', GIT_AUTHOR_EMAIL: 't@example.org',
      GIT_COMMITTER_NAME: 'tester', GIT_COMMITTER_EMAIL: 't@example.org',
    },
  });
  if (r.status !== 0) diag(`git ${args.join(' ')}: ${r.status} ${r.stderr}`);
  return r.status === 0;
}

// The text of the first element matching sel, once it includes every word (or '' after 5 s).
async function textOnceHas(page, sel, words) {
  return page.waitForFunction((s, w) => {
    const el = document.querySelector(s);
    return el && w.every((x) => el.textContent.includes(x)) ? el.textContent : '';
  }, { timeout: 5000 }, sel, words).then((h) => h.jsonValue(), () => page.evaluate((s) => {
    const el = document.querySelector(s);
    return el ? el.textContent : `(no ${s})`;
  }, sel));
}

// A worktree made by baton worktree create and a launched agent's record appear, live.
async function worktrees(b, page) {
  const proj = b.env.BATON_PROJECT;
  if (!git(proj, ['init', '-q', '-b', 'main']) || !git(proj, ['commit', '-q', '--allow-empty', '-m', 'init']))
    bailOut('git init failed in the project');
  await page.keyboard.press('8');
  const path = baton(b, 'check', ['worktree', 'create', '-a', 'wt-owner']).trim();
  is(path, join(proj, '.baton', 'worktrees', 'wt-owner'), 'baton worktree create makes a worktree for wt-owner');
  let text = await textOnceHas(page, '#view-worktrees tr[data-worktree="wt-owner"]', ['baton/wt-owner', 'active', 'gone']);
  ok(/baton\/wt-owner/.test(text) && /active/.test(text) && /gone/.test(text) && text.includes(path),
    'the Worktrees view shows it without a reload: branch, state, owner gone, path', text);
  is(await page.evaluate(() => document.getElementById('count-worktrees').textContent), '(1)', 'its tab counts it');
  await page.screenshot({ path: join(TOP_BUILDDIR, 'tests', 'dashboard-shots', 'worktrees-made.png') });
  await page.keyboard.press('1');
  text = await textOnceHas(page, '#view-needs', ['worktree wt-owner']);
  ok(/worktree wt-owner \(branch baton\/wt-owner\) is not merged and its owner wt-owner is gone/.test(text),
    'Needs you says the worktree whose owner is gone is not merged', text);

  baton(b, 'check', ['call', 'launch_set', JSON.stringify({
    name: 'codex-1', type: 'codex', role: 'implementer', window: 'proj:2', cwd: path,
    worktree: 'wt-owner', state: 'running',
  })]);
  await page.keyboard.press('2');
  text = await textOnceHas(page, '#view-agents tr[data-launched="codex-1"]', ['implementer', 'started', 'codex', 'proj:2']);
  ok(['implementer', 'started', 'codex', 'proj:2', 'worktree wt-owner'].every((w) => text.includes(w)),
    'the Agents view shows the launched agent: role, started (not joined), type, window, worktree', text);
  // it joins (a registration that outlives the CLI's connection): joined, live
  baton(b, 'codex-1', ['call', 'agent_join', '{"role":"implementer","ttl_seconds":120}']);
  text = await textOnceHas(page, '#view-agents tr[data-launched="codex-1"]', ['joined']);
  ok(text.includes('joined'), 'and says joined once it joins', text);
  baton(b, 'check', ['call', 'launch_set', '{"name":"codex-1","state":"exited"}']);
  text = await textOnceHas(page, '#view-agents tr[data-launched="codex-1"]', ['exited']);
  ok(text.includes('exited'), 'and exited once its record says so', text);
}

// The browser: puppeteer-core from tests/dashboard/node_modules, the system chromium.
async function loadPuppeteer() {
  const rel = 'tests/dashboard/node_modules/puppeteer-core/lib/esm/puppeteer/puppeteer-core.js';
  const f = [join(TOP_SRCDIR, rel), join(TOP_BUILDDIR, rel)].find((p) => existsSync(p));
  if (!f) bailOut('puppeteer-core is not installed: run ./bootstrap, or npm ci in tests/dashboard');
  if (!existsSync(CHROMIUM)) bailOut(`no browser at ${CHROMIUM}: ./bootstrap installs Debian's chromium`);
  return (await import(pathToFileURL(f).href)).default;
}

async function browser(b, d) {
  const puppeteer = await loadPuppeteer();
  const profile = mkdtempSync(join(tmpdir(), 'baton-chromium-'));
  const shots = join(TOP_BUILDDIR, 'tests', 'dashboard-shots');
  mkdirSync(shots, { recursive: true });
  const br = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions', '--disable-domain-reliability',
      '--metrics-recording-only', '--no-pings', '--disable-breakpad',
      // nothing leaves the machine: every name resolves nowhere but 127.0.0.1
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--proxy-server=http://127.0.0.1:9', '--proxy-bypass-list=127.0.0.1;localhost'],
  });
  try {
    const page = await br.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const refusals = []; // what the page's Content-Security-Policy refused
    page.on('console', (m) => { if (/Content Security Policy/.test(m.text())) refusals.push(m.text()); });
    await page.goto(d.url, { waitUntil: 'domcontentloaded', timeout: 15000 });
    ok(page.url() === `${d.origin}/`, 'the page loads with the token, which leaves the address bar', page.url());
    await page.waitForFunction(() => document.getElementById('live').textContent === 'live', { timeout: 10000 });
    ok(true, 'the event stream is live');
    is(await page.evaluate(() => document.cookie.includes('baton_dashboard')), false,
      'the session cookie is out of reach of scripts (HttpOnly)');
    await page.evaluate(() => { window.notReloaded = true; });

    // a lock taken by another client shows within 1 s, no reload
    await page.keyboard.press('3');
    baton(b, 'other', ['acquire', '--ttl', '120', '--reason', 'migrating', 'db-migrate']);
    const t0 = Date.now();
    await page.waitForFunction(() => document.getElementById('view-locks').textContent.includes('db-migrate'),
      { timeout: 5000 }).catch(() => {});
    const ms = Date.now() - t0;
    cmpOk(ms, '<=', 1000, `a lock taken by another client shows within 1 s (${ms} ms)`);
    is(await page.evaluate(() => window.notReloaded === true), true, 'without a reload');
    await page.screenshot({ path: join(shots, 'locks.png') });

    // approve from the page moves the task to done
    const t = batonJSON(b, 'planner', ['task', 'create', '--json', 'Add the login endpoint']);
    const claim = batonJSON(b, 'impl', ['task', 'claim', '--json', t.id]);
    baton(b, 'impl', ['task', 'submit', '--token', claim.token, t.id, 'done, tested with make check']);
    await page.keyboard.press('4');
    await page.waitForSelector(`#view-tasks button[data-act="approve"][data-id="${t.id}"]`, { timeout: 5000 });
    await page.screenshot({ path: join(shots, 'tasks.png') });
    await page.click(`#view-tasks button[data-act="approve"][data-id="${t.id}"]`);
    await page.waitForSelector('#dialog[open]', { timeout: 5000 });
    await page.type('#f-feedback', 'looks good');
    await page.click('#dialog-ok');
    let st = '';
    for (let i = 0; i < 50 && st !== 'done'; i++) {
      st = batonJSON(b, 'check', ['task', 'get', '--json', t.id]).status;
      if (st !== 'done') await new Promise((r) => setTimeout(r, 100));
    }
    is(st, 'done', `approve from the page moves ${t.id} to done`);
    await page.waitForFunction((id) => !document.querySelector(`#view-tasks button[data-act="approve"][data-id="${id}"]`),
      { timeout: 3000 }, t.id).catch(() => {});
    ok(!(await page.$(`#view-tasks button[data-act="approve"][data-id="${t.id}"]`)), 'and the review queue no longer offers it');

    await worktrees(b, page);

    // keyboard: Tab reaches the tabs; every view has its screenshot
    for (const [i, v] of VIEWS.entries()) {
      await page.keyboard.press(String(i + 1));
      await page.waitForFunction((id) => !document.getElementById(id).hidden, { timeout: 3000 }, `view-${v}`);
      await page.screenshot({ path: join(shots, `${v}.png`) });
    }
    ok(VIEWS.every((v) => existsSync(join(shots, `${v}.png`))), `a screenshot of each view in ${shots}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    cmpOk(overflow, '<=', 0, 'nothing overflows a 1280x800 window sideways');
    is(errors.join('; '), '', 'no script error on the page');
    is(refusals.join('; '), '', "nothing on the page is refused by its Content-Security-Policy");
    // the tables' columns have the widths the page gives them (the locks view: name 22%, mode 8%)
    await page.keyboard.press('3');
    const ths = await page.evaluate(() => [...document.querySelectorAll('#view-locks th')]
      .map((th) => th.getBoundingClientRect().width));
    ok(ths.length > 2 && ths[0] > 2 * ths[1], 'table columns take their widths, not equal shares', ths);

    // the broker goes: the banner says so
    killBroker(brokerPid(b));
    await page.waitForFunction(() => document.getElementById('banner').classList.contains('on') &&
      /unreachable|disconnected|failed/.test(document.getElementById('banner-text').textContent), { timeout: 5000 })
      .then(() => ok(true, 'with the broker gone, the page shows the stale banner'),
        () => ok(false, 'with the broker gone, the page shows the stale banner'));
    await page.screenshot({ path: join(shots, 'stale.png') });
  } finally {
    await br.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

await main(async () => {
  const b = privateBroker('dash');
  spawnSync(BATON, ['status'], { env: b.env, timeout: 10000 }); // starts the broker
  const d = await dashboard(b);
  const ro = await dashboard(b, ['--read-only']);
  try {
    await security(b, d, ro);
    await browser(b, d);
  } finally {
    d.proc.kill('SIGTERM');
    ro.proc.kill('SIGTERM');
  }
}, { timeoutMs: 120000 });
