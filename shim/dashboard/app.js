// baton dashboard: one snapshot of the project (GET /api/state), refreshed
// when the audit log says something changed (Server-Sent Events from
// /api/events, resumed with Last-Event-ID) and every 15 s as a safety net.
// The operator's actions are POST /api/action with the page's CSRF token.
'use strict';

const S = {
  csrf: '', operator: 'operator', readOnly: false, project: '', projects: [],
  snap: null, fetchedAt: 0, rev: 0, es: null, streamOk: false, broker: true,
  lastOk: 0, lastErr: '', fetching: false, again: false, timer: null,
  view: 'needs', live: [], waitWarn: 300,
};
const VIEWS = ['needs', 'agents', 'locks', 'tasks', 'messages', 'timeline', 'health', 'worktrees'];
const STATUSES = ['todo', 'in_progress', 'review', 'blocked', 'done', 'cancelled'];
const STALE_MS = 30000;
const $ = (id) => document.getElementById(id);

function esc(v) {
  return String(v == null ? '' : v).replace(/[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// Times: <time data-ms> says "3 min ago" (or "in 40 s"), the absolute time on hover.
function rel(ms) {
  const d = Math.round((Date.now() - ms) / 1000), a = Math.abs(d);
  let t;
  if (a < 60) t = a + ' s';
  else if (a < 3600) t = Math.floor(a / 60) + ' min';
  else if (a < 86400) t = Math.floor(a / 3600) + ' h ' + Math.floor((a % 3600) / 60) + ' min';
  else t = Math.floor(a / 86400) + ' d';
  return d >= 0 ? t + ' ago' : 'in ' + t;
}
function tm(ms) {
  if (ms == null || isNaN(ms)) return '';
  const abs = new Date(ms).toLocaleString();
  return `<time data-ms="${ms}" title="${esc(abs)}">${esc(rel(ms))}</time>`;
}
// A duration in seconds as of the snapshot: when it started.
function since(secs) { return secs == null ? null : S.fetchedAt - secs * 1000; }
function until(secs) { return secs == null ? null : S.fetchedAt + secs * 1000; }
function tick() {
  for (const t of document.querySelectorAll('time[data-ms]')) {
    const s = rel(Number(t.dataset.ms));
    if (t.textContent !== s) t.textContent = s;
  }
  banner();
}

function toast(text, bad) {
  const t = $('toast');
  t.textContent = text;
  t.className = 'toast on' + (bad ? ' bad' : '');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = 'toast'; }, 4000);
}

// ---- talking to the dashboard ----

async function getJSON(path) {
  const r = await fetch(path, { credentials: 'same-origin' });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((j.error && j.error.message) || r.status + ' ' + r.statusText);
  return j;
}

async function act(body) {
  body.project = S.project;
  const r = await fetch('/api/action', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': S.csrf },
    body: JSON.stringify(body),
  });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((j.error && j.error.message) || r.status + ' ' + r.statusText);
  return j.result;
}

async function refresh() {
  if (S.fetching) { S.again = true; return; }
  S.fetching = true;
  try {
    const snap = await getJSON('/api/state?project=' + encodeURIComponent(S.project));
    S.snap = snap;
    S.fetchedAt = Date.now();
    S.lastOk = S.fetchedAt;
    S.lastErr = '';
    if (snap.revision > S.rev) S.rev = snap.revision;
    S.live = S.live.filter((e) => e.rev > snap.revision);
    S.broker = true;
    render();
  } catch (e) {
    S.lastErr = e.message;
  } finally {
    S.fetching = false;
    banner();
    if (S.again) { S.again = false; refresh(); }
  }
}

// Something changed: refresh soon, once for a burst.
function soon() {
  if (S.timer) return;
  S.timer = setTimeout(() => { S.timer = null; refresh(); }, 80);
}

function stream() {
  if (S.es) S.es.close();
  S.streamOk = false;
  const es = new EventSource('/api/events?project=' + encodeURIComponent(S.project) +
    '&after=' + S.rev);
  S.es = es;
  es.onopen = () => { S.streamOk = true; banner(); };
  es.onerror = () => { S.streamOk = false; banner(); };
  es.addEventListener('log', (ev) => {
    const e = JSON.parse(ev.data);
    if (e.rev > S.rev) S.rev = e.rev;
    S.live.push(e);
    if (S.live.length > 500) S.live.shift();
    if (S.view === 'timeline') renderTimeline();
    $('rev').textContent = 'revision ' + S.rev;
    soon();
  });
  es.addEventListener('resync', () => refresh());
  es.addEventListener('broker', (ev) => {
    S.broker = JSON.parse(ev.data).connected;
    banner();
    if (S.broker) refresh();
  });
}

// The banner: live updates down, broker gone, or data older than it should be.
function banner() {
  let text = '';
  const age = Date.now() - S.lastOk;
  if (!S.broker) text = 'The broker is unreachable: what is shown may be stale; reconnecting…';
  else if (!S.streamOk && S.es) text = 'Live updates are disconnected: reconnecting… (data may be stale)';
  else if (S.lastErr) text = 'Refresh failed: ' + S.lastErr + ' (data may be stale)';
  else if (S.lastOk && age > STALE_MS) text = 'Stale: last refreshed ' + rel(S.lastOk);
  $('banner-text').textContent = text;
  $('banner').className = 'banner' + (text ? ' on' : '');
  const live = $('live');
  const ok = S.streamOk && S.broker && !S.lastErr;
  live.textContent = ok ? 'live' : 'disconnected';
  live.className = 'live ' + (ok ? 'ok' : 'bad');
}

// ---- rendering ----

function table(heads, rows, empty) {
  if (!rows.length) return `<p class="empty">${esc(empty)}</p>`;
  return '<table><thead><tr>' + heads.map((h) => {
    // a width is a class of app.css (w16: 16%): the page's policy allows no inline style
    const [label, w, cls] = h;
    const c = [w ? `w${parseInt(w, 10)}` : '', cls || ''].filter(Boolean).join(' ');
    return `<th${c ? ` class="${c}"` : ''}>${esc(label)}</th>`;
  }).join('') + '</tr></thead><tbody>' + rows.join('') + '</tbody></table>';
}

function btn(label, action, data, cls) {
  const dis = S.readOnly ? ' disabled title="read-only"' : '';
  const attrs = Object.entries(data).map(([k, v]) => ` data-${k}="${esc(v)}"`).join('');
  return `<button type="button" class="${cls || ''}" data-act="${action}"${attrs}` +
    ` data-focus="${esc(action + ':' + Object.values(data).join(':'))}"${dis}>${esc(label)}</button>`;
}

function agentsOf(snap) { return (snap.agents || []).filter((a) => a.kind !== 'dashboard' && a.kind !== 'top'); }

function renderNeeds(snap) {
  const needs = snap.needs || [];
  $('count-needs').textContent = needs.length ? '(' + needs.length + ')' : '';
  if (!needs.length) return '<p class="empty">Nothing needs you right now.</p>';
  return '<div class="needs">' + needs.map((n) => {
    const acts = (n.actions || []).map((a) => {
      if (a === 'break') return btn('Break lock', 'break', { name: n.key }, 'danger');
      if (a === 'approve') return btn('Approve', 'approve', { id: n.key }, 'primary');
      if (a === 'request_changes') return btn('Request changes', 'request_changes', { id: n.key });
      if (a === 'message') return btn('Message', 'message', { to: discStarter(snap, n.key) });
      return '';
    }).join('');
    return `<div class="need ${esc(n.severity)}"><span class="sev">${esc(n.severity)}</span>` +
      `<span>${esc(n.text)}</span><span class="acts">${acts}</span></div>`;
  }).join('') + '</div>';
}

function discStarter(snap, id) {
  const d = (snap.discussions || []).find((x) => x.id === id);
  return d ? d.started_by : '';
}

function renderAgents(snap) {
  const agents = agentsOf(snap);
  $('count-agents').textContent = '(' + agents.length + ')';
  return table([['agent', '16%'], ['role', '10%'], ['state', '10%'], ['task', '10%'],
    ['locks', '22%'], ['last activity', '12%'], ['connected', '10%'], ['client', '10%']],
  agents.map((a) => `<tr><td>${esc(a.agent)}<div class="sub">${esc(a.session)} · pid ${esc(a.pid)}</div></td>` +
    `<td>${esc(a.role || '')}</td><td>${esc(a.state || (a.connected ? 'connected' : 'gone'))}</td>` +
    `<td>${esc((a.tasks || []).join(', '))}</td><td>${esc((a.locks || []).join(', '))}</td>` +
    `<td>${tm(since(a.idle_seconds))}</td><td>${tm(since(a.connected_seconds))}</td>` +
    `<td>${esc(a.client || a.kind || '')}</td></tr>`),
  'No agent is present in this project.') + renderLaunched(snap);
}

// The agents baton launch (or launch_implementer) started in tmux.
function renderLaunched(snap) {
  const list = snap.launched || [];
  return '<h2 id="launched">Launched in tmux</h2>' + table([['agent', '16%'], ['role', '10%'],
    ['state', '10%'], ['task', '10%'], ['type', '10%'], ['window', '12%'], ['directory', '32%']],
  list.map((a) => `<tr data-launched="${esc(a.name)}"><td>${esc(a.name)}</td><td>${esc(a.role || '')}</td>` +
    `<td>${esc(a.now || a.state || '')}</td><td>${esc((a.tasks || []).join(', '))}</td>` +
    `<td>${esc(a.type || '')}</td><td>${esc(a.window || '')}</td>` +
    `<td>${esc(a.cwd || '')}${a.worktree ? `<div class="sub">worktree ${esc(a.worktree)}</div>` : ''}</td></tr>`),
  'No agent was started by baton launch.');
}

// The project's git worktrees (baton worktree), as the broker recorded them.
function renderWorktrees(snap) {
  const list = snap.worktrees || [];
  $('count-worktrees').textContent = '(' + list.length + ')';
  return '<h2>Worktrees</h2>' + table([['worktree', '14%'], ['owner', '14%'], ['task', '7%'],
    ['branch', '17%'], ['state', '8%'], ['owner is', '12%'], ['path', '28%']],
  list.map((w) => {
    const gone = !w.owner_here, stuck = gone && w.state !== 'merged';
    return `<tr data-worktree="${esc(w.name)}"${stuck ? ' class="warn"' : ''}><td>${esc(w.name)}</td>` +
      `<td>${esc(w.agent || '')}</td><td>${esc(w.task || '')}</td><td>${esc(w.branch || '')}` +
      `<div class="sub">from ${esc(w.base || '?')}</div></td><td>${esc(w.state || '')}</td>` +
      `<td>${gone ? 'gone' : 'here'}${stuck ? '<div class="sub">not merged: needs you</div>' : ''}</td>` +
      `<td>${esc(w.path || '')}<div class="sub">updated ${tm(Date.parse(w.updated_at))}</div></td></tr>`;
  }), 'No worktree: baton worktree create, or claiming an isolation: worktree task, makes one.');
}

function lockRows(locks) {
  return locks.map((l) => {
    const holders = (l.holders || []).map((h) =>
      `<div>${esc(h.agent)} <span class="sub">${esc(h.mode)} · fence ${esc(h.fence)} · held ` +
      `${tm(since(h.age_seconds))}${h.expires_in_seconds != null ? ' · expires ' + tm(until(h.expires_in_seconds)) : ''}` +
      `${h.reason ? ' · ' + esc(h.reason) : ''}</span></div>`).join('');
    const queue = (l.waiters || []).map((w, i) =>
      `<div>${i + 1}. ${esc(w.agent)} <span class="sub">${esc(w.mode)} · waiting since ` +
      `${tm(since(w.waited_seconds))}${w.active ? '' : ' · between calls'}</span></div>`).join('');
    return `<tr><td>${esc(l.name)}</td><td>${esc(l.mode)}</td><td>${holders || '<span class="sub">free</span>'}</td>` +
      `<td>${queue || '<span class="sub">nobody</span>'}</td>` +
      `<td>${(l.holders || []).length ? btn('Break', 'break', { name: l.name }, 'danger') : ''}</td></tr>`;
  });
}

function renderLocks(snap) {
  const locks = snap.locks || [];
  const files = locks.filter((l) => l.name.startsWith('file:'));
  const others = locks.filter((l) => !l.name.startsWith('file:'));
  $('count-locks').textContent = '(' + locks.length + ')';
  const heads = [['name', '22%'], ['mode', '8%'], ['holders', '35%'], ['queue', '27%'], ['', '8%']];
  return '<h2>Locks</h2>' + table(heads, lockRows(others), 'No lock is held or waited for.') +
    '<h2>File reservations</h2>' + table(heads, lockRows(files), 'No file is reserved.');
}

function renderTasks(snap) {
  const tasks = snap.tasks || [], reviews = snap.reviews || [];
  const sum = snap.task_summary || {};
  $('count-tasks').textContent = '(' + tasks.length + ')';
  let h = `<h2>Review queue</h2>`;
  h += reviews.length ? reviews.map((t) => `<div class="review"><strong>${esc(t.id)}</strong> ${esc(t.title)}` +
    ` <span class="sub">by ${esc(t.owner || '?')} · ${tm(Date.parse(t.updated_at))}</span>` +
    `<div class="notes">${esc(t.notes || '(no notes)')}</div><div class="acts">` +
    btn('Approve', 'approve', { id: t.id }, 'primary') + btn('Request changes', 'request_changes', { id: t.id }) +
    '</div></div>').join('') : '<p class="empty">No task waits for review.</p>';
  h += `<h2>Board <span class="sub">${esc(sum.percent_done != null ? sum.percent_done + '% done' : '')}` +
    ` · project ${esc((snap.project_info || {}).status || '')}</span></h2><div class="board">`;
  for (const st of STATUSES) {
    const col = tasks.filter((t) => t.status === st);
    h += `<div class="col"><h3>${esc(st.replace('_', ' '))} (${col.length})</h3>` + col.map((t) =>
      `<div class="card"><span class="id">${esc(t.id)}</span>${esc(t.title)}<div class="meta">` +
      `${esc(t.priority)}${t.owner ? ' · ' + esc(t.owner) : ''}` +
      `${(t.depends_on || []).length ? ' · after ' + esc(t.depends_on.join(', ')) : ''}` +
      `${t.ready ? ' · ready' : ''}</div></div>`).join('') + '</div>';
  }
  return h + '</div>';
}

function entries() {
  const snapLog = (S.snap && S.snap.log) || [];
  const seen = new Set(snapLog.map((e) => e.rev));
  return snapLog.concat(S.live.filter((e) => !seen.has(e.rev) &&
    (e.project === S.project || e.project === 'global'))).sort((a, b) => b.rev - a.rev);
}

function renderMessages(snap) {
  const ds = snap.discussions || [];
  const msgs = entries().filter((e) => e.kind === 'message' && e.op === 'message_send').slice(0, 50);
  let h = '<h2>Discussions</h2>' + table([['id', '6%'], ['topic', '30%'], ['status', '9%'],
    ['waiting on', '12%'], ['started by', '12%'], ['replies', '7%', 'num'], ['updated', '12%'], ['', '12%']],
  ds.map((d) => `<tr><td>${esc(d.id)}</td><td>${esc(d.topic)}${d.decision ? `<div class="sub">decided: ${esc(d.decision)}</div>` : ''}</td>` +
    `<td>${esc(d.status)}</td><td>${esc(d.waiting_on || '')}</td><td>${esc(d.started_by)}</td>` +
    `<td class="num">${esc(d.replies)}</td><td>${tm(Date.parse(d.updated_at))}</td>` +
    `<td>${btn('Message ' + d.started_by, 'message', { to: d.started_by })}</td></tr>`),
  'No discussion in this project.');
  h += '<h2>Recent messages</h2>' + table([['when', '12%'], ['from', '14%'], ['to', '14%'], ['', '60%']],
    msgs.map((e) => `<tr><td>${tm(Date.parse(e.at))}</td><td>${esc(e.agent)}</td><td>${esc(e.key)}</td>` +
      `<td>${esc(e.summary)}</td></tr>`), 'No message in the audit log.');
  h += '<h2>Send a message as ' + esc(S.operator) + '</h2><form class="compose" id="compose">' +
    '<label for="c-to">to</label><input id="c-to" required placeholder="an agent, role:ROLE or all">' +
    '<label for="c-subject">subject</label><input id="c-subject">' +
    '<label for="c-body">message</label><textarea id="c-body" required></textarea>' +
    `<span></span><div><button type="submit" class="primary"${S.readOnly ? ' disabled' : ''}>Send</button></div></form>`;
  return h;
}

function renderTimeline() {
  const kind = $('tl-kind').value, text = $('tl-text').value.toLowerCase();
  const list = entries().filter((e) => (!kind || e.kind === kind) && (!text ||
    [e.agent, e.op, e.key, e.summary, e.kind].join(' ').toLowerCase().includes(text))).slice(0, 300);
  $('timeline-list').innerHTML = table([['when', '11%'], ['rev', '7%', 'num'], ['agent', '13%'],
    ['operation', '14%'], ['object', '20%'], ['what', '35%']],
  list.map((e) => `<tr><td>${tm(Date.parse(e.at))}</td><td class="num">${esc(e.rev)}</td>` +
    `<td>${esc(e.agent)}</td><td>${esc(e.op)}</td><td>${esc(e.kind)} ${esc(e.key)}</td><td>${esc(e.summary)}</td></tr>`),
  'No entry matches.');
}

function renderHealth(snap) {
  const st = snap.status || {}, pi = snap.project_info || {};
  const mb = snap.db_bytes >= 0 ? (snap.db_bytes / 1048576).toFixed(1) + ' MB' : 'unknown';
  const dash = (snap.agents || []).filter((a) => a.kind === 'dashboard').length;
  const kv = [
    ['broker', `batond ${st.version || '?'} (protocol ${st.protocol || '?'}), pid ${st.pid || '?'}`],
    ['up since', tm(since(st.uptime_seconds))],
    ['durability', esc(st.durability || '?')],
    ['saving', st.store_error ? `<strong>NOT SAVING</strong>: ${esc(st.store_error)}`
      : st.fold_error ? `<strong>NOT FOLDED</strong>: ${esc(st.fold_error)} (changes are safe in the journal)` : 'yes'],
    ['database', esc(mb)],
    ['revision', esc(st.revision)],
    ['sessions', `${esc(st.sessions)} connected, ${esc(st.project_sessions)} in this project (${dash} dashboards)`],
    ['locks', `${esc(st.locks)} held, ${esc(st.waiters)} waiting; ${esc(st.blocked)} other calls waiting`],
    ['live feed', snap.feed ? 'connected' : 'down'],
    ['this page', `${esc(snap.streams)} event streams open; refreshed ${tm(S.fetchedAt)}`],
  ];
  let h = '<h2>Broker</h2><dl class="kv">' + kv.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('') + '</dl>';
  h += '<h2>Project</h2><dl class="kv"><dt>project</dt><dd>' + esc(snap.project) + '</dd>' +
    `<dt>status</dt><dd><select id="p-status" aria-label="project status">` +
    ['planning', 'ready', 'in_progress', 'complete', 'stopped'].map((s) =>
      `<option${s === pi.status ? ' selected' : ''}>${s}</option>`).join('') + '</select> ' +
    `<button type="button" id="p-set" data-focus="p-set"${S.readOnly ? ' disabled' : ''}>Set status</button></dd>` +
    `<dt>description</dt><dd>${esc(pi.description || '')}</dd></dl>`;
  return h;
}

function render() {
  const snap = S.snap;
  if (!snap) return;
  const focus = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.focus : null;
  const keep = {};
  for (const id of ['c-to', 'c-subject', 'c-body']) if ($(id)) keep[id] = $(id).value;
  $('rev').textContent = 'revision ' + S.rev;
  $('view-needs').innerHTML = '<h2>Needs you</h2>' + renderNeeds(snap);
  $('view-agents').innerHTML = '<h2>Agents</h2>' + renderAgents(snap);
  $('view-locks').innerHTML = renderLocks(snap);
  $('view-tasks').innerHTML = renderTasks(snap);
  $('view-messages').innerHTML = renderMessages(snap);
  $('view-health').innerHTML = renderHealth(snap);
  $('view-worktrees').innerHTML = renderWorktrees(snap);
  renderTimeline();
  for (const [id, v] of Object.entries(keep)) if ($(id)) $(id).value = v;
  projects(snap.projects || []);
  if (focus) {
    const el = document.querySelector(`[data-focus="${CSS.escape(focus)}"]`);
    if (el) el.focus();
  }
  tick();
}

function projects(list) {
  const sel = $('project');
  const all = Array.from(new Set([S.project].concat(S.projects, list))).filter(Boolean).sort();
  if (sel.options.length === all.length && Array.from(sel.options).every((o, i) => o.value === all[i])) return;
  sel.innerHTML = all.map((p) => `<option${p === S.project ? ' selected' : ''}>${esc(p)}</option>`).join('');
}

function show(view) {
  S.view = view;
  for (const v of VIEWS) {
    $('view-' + v).hidden = v !== view;
    $('tab-' + v).setAttribute('aria-selected', String(v === view));
    $('tab-' + v).tabIndex = v === view ? 0 : -1;
  }
  if (view === 'timeline') renderTimeline();
}

// ---- actions ----

function ask(title, text, fields) {
  return new Promise((resolve) => {
    const dlg = $('dialog');
    $('dialog-title').textContent = title;
    $('dialog-text').textContent = text;
    $('dialog-fields').innerHTML = fields.map((f) => `<label for="f-${f.name}">${esc(f.label)}</label>` +
      (f.multi ? `<textarea id="f-${f.name}"${f.required ? ' required' : ''}>${esc(f.value || '')}</textarea>`
        : `<input id="f-${f.name}" value="${esc(f.value || '')}"${f.required ? ' required' : ''}>`)).join('');
    const done = (ok) => {
      dlg.close();
      $('dialog-form').onsubmit = null;
      if (!ok) return resolve(null);
      const out = {};
      for (const f of fields) out[f.name] = $('f-' + f.name).value;
      resolve(out);
    };
    $('dialog-form').onsubmit = (ev) => { ev.preventDefault(); done(true); };
    $('dialog-cancel').onclick = () => done(false);
    dlg.oncancel = () => done(false);
    dlg.showModal();
    const first = dlg.querySelector('input, textarea');
    if (first) first.focus();
  });
}

async function run(body, what) {
  try {
    await act(body);
    toast(what);
    refresh();
  } catch (e) {
    toast(e.message, true);
  }
}

async function onAction(b) {
  const a = b.dataset.act;
  let f;
  if (a === 'break') {
    f = await ask('Break lock ' + b.dataset.name, 'Its holders lose it now and are told in their inbox.',
      [{ name: 'reason', label: 'reason (told to the holders)', required: true }]);
    if (f) run({ action: 'break', name: b.dataset.name, reason: f.reason }, 'Broke ' + b.dataset.name);
  } else if (a === 'approve') {
    f = await ask('Approve ' + b.dataset.id, 'The task moves to done.', [{ name: 'feedback', label: 'feedback (optional)', multi: true }]);
    if (f) run({ action: 'approve', id: b.dataset.id, feedback: f.feedback }, 'Approved ' + b.dataset.id);
  } else if (a === 'request_changes') {
    f = await ask('Request changes on ' + b.dataset.id, 'The task goes back to its claimant with your feedback.',
      [{ name: 'feedback', label: 'what to change', required: true, multi: true }]);
    if (f) run({ action: 'request_changes', id: b.dataset.id, feedback: f.feedback }, 'Sent ' + b.dataset.id + ' back');
  } else if (a === 'message') {
    f = await ask('Message', 'From ' + S.operator + '.', [{ name: 'to', label: 'to', value: b.dataset.to, required: true },
      { name: 'body', label: 'message', required: true, multi: true }]);
    if (f) run({ action: 'message', to: f.to, body: f.body }, 'Sent to ' + f.to);
  }
}

function setProject(p) {
  if (!p || p === S.project && S.es) return;
  S.project = p;
  S.rev = 0;
  S.live = [];
  S.snap = null;
  refresh().then(stream);
}

function onKey(ev) {
  const t = ev.target;
  if (ev.altKey || ev.ctrlKey || ev.metaKey || $('dialog').open) return;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT')) return;
  const n = Number(ev.key);
  if (n >= 1 && n <= VIEWS.length) { show(VIEWS[n - 1]); $('tab-' + VIEWS[n - 1]).focus(); }
  else if (ev.key === 'r') refresh();
  else if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
    if (!t || t.getAttribute('role') !== 'tab') return;
    const i = VIEWS.indexOf(S.view) + (ev.key === 'ArrowRight' ? 1 : VIEWS.length - 1);
    show(VIEWS[i % VIEWS.length]);
    $('tab-' + S.view).focus();
  }
}

async function start() {
  for (const v of VIEWS) $('tab-' + v).addEventListener('click', () => show(v));
  document.addEventListener('keydown', onKey);
  document.addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-act]');
    if (b && !b.disabled) onAction(b);
    if (ev.target.id === 'p-set') {
      const s = $('p-status').value;
      run({ action: 'project_status', status: s }, 'Project status: ' + s);
    }
  });
  document.addEventListener('submit', (ev) => {
    if (ev.target.id !== 'compose') return;
    ev.preventDefault();
    run({ action: 'message', to: $('c-to').value, subject: $('c-subject').value, body: $('c-body').value },
      'Sent to ' + $('c-to').value).then(() => { $('c-body').value = ''; });
  });
  $('refresh').addEventListener('click', refresh);
  $('project').addEventListener('change', (ev) => setProject(ev.target.value));
  $('tl-kind').addEventListener('change', renderTimeline);
  $('tl-text').addEventListener('input', renderTimeline);
  show('needs');
  try {
    const s = await getJSON('/api/session');
    S.csrf = s.csrf;
    S.operator = s.operator;
    S.readOnly = s.read_only;
    S.projects = s.projects || [];
    S.waitWarn = s.wait_warn;
    $('ro').hidden = !S.readOnly;
    setProject(s.project);
  } catch (e) {
    S.lastErr = e.message;
    banner();
  }
  setInterval(refresh, 15000);
  setInterval(tick, 1000);
}

document.addEventListener('DOMContentLoaded', start);
