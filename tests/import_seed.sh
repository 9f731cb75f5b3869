#!/bin/sh
# baton import --from lockstep|airlock (issue 19): fixture databases built
# with the seeds' schemas (Lockstep's CREATE TABLEs from its source;
# Airlock's from its README, its source being unavailable) are read into
# the project through the broker: tasks with their review state, notes,
# discussions, the project context; notes with TTLs, counters, events,
# queues and live locks; and the summary says what was not imported and
# why.  A file that is not such a database is refused cleanly.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
command -v python3 >/dev/null 2>&1 || { skip "import from the seeds" "python3 builds the fixtures"; done_testing; }
broker_dir
start_broker || bail_out "batond did not start"
D=$TEST_DIR
P=$BATON_PROJECT
NOW=$(date +%s)

# The Lockstep fixture: src/storage.ts's schema, a small project's state.
python3 - "$D/lockstep.db" "$P" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); root = sys.argv[2]
db.executescript("""
CREATE TABLE tasks (id TEXT PRIMARY KEY, title TEXT NOT NULL, description TEXT, status TEXT NOT NULL,
  complexity TEXT NOT NULL DEFAULT 'medium', isolation TEXT NOT NULL DEFAULT 'shared', owner TEXT,
  tags TEXT, metadata TEXT, review_notes TEXT, review_feedback TEXT, review_requested_at TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE locks (path TEXT PRIMARY KEY, owner TEXT, note TEXT, status TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE notes (id TEXT PRIMARY KEY, text TEXT NOT NULL, author TEXT, created_at TEXT NOT NULL);
CREATE TABLE project_contexts (project_root TEXT PRIMARY KEY, description TEXT NOT NULL,
  end_state TEXT NOT NULL, tech_stack TEXT, constraints TEXT, acceptance_criteria TEXT, tests TEXT,
  implementation_plan TEXT, status TEXT NOT NULL DEFAULT 'planning', created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL, preferred_implementer TEXT);
CREATE TABLE implementers (id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL,
  project_root TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active', pid INTEGER,
  isolation TEXT NOT NULL DEFAULT 'shared', worktree_path TEXT, branch_name TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE discussions (id TEXT PRIMARY KEY, topic TEXT NOT NULL, category TEXT NOT NULL DEFAULT 'other',
  priority TEXT NOT NULL DEFAULT 'medium', status TEXT NOT NULL DEFAULT 'open', project_root TEXT NOT NULL,
  created_by TEXT NOT NULL, waiting_on TEXT, decision TEXT, decision_reasoning TEXT, decided_by TEXT,
  linked_task_id TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, resolved_at TEXT, archived_at TEXT);
CREATE TABLE discussion_messages (id TEXT PRIMARY KEY, discussion_id TEXT NOT NULL, author TEXT NOT NULL,
  message TEXT NOT NULL, recommendation TEXT, created_at TEXT NOT NULL);
""")
t = lambda n: "2026-01-0%dT10:00:00.000Z" % n
db.execute("INSERT INTO project_contexts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (root, "a todo app",
  "tests pass", '["node","sqlite"]', '["no deps"]', '["it works"]', '["npm test"]',
  '["model","api"]', "in_progress", t(1), t(2), "codex"))
rows = [("u1", "model", "the model", "done", "simple", "impl-2", '["db"]', "did it", "good"),
        ("u2", "api", None, "review", "complex", "impl-1", None, "please look", None),
        ("u3", "ui", None, "in_progress", "medium", "impl-1", None, None, None),
        ("u4", "docs", None, "todo", "simple", None, None, None, None),
        ("u5", "deploy", None, "blocked", "critical", None, None, None, None)]
for i, r in enumerate(rows):
    db.execute("INSERT INTO tasks (id,title,description,status,complexity,owner,tags,review_notes,"
               "review_feedback,created_at,updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", r + (t(i+1), t(i+2)))
db.execute("INSERT INTO notes VALUES ('n1','started','planner',?)", (t(1),))
db.execute("INSERT INTO notes VALUES ('n2','model done','impl-2',?)", (t(2),))
db.execute("INSERT INTO locks VALUES ('src/a.js','impl-1',NULL,'active',?,?)", (t(3), t(3)))
db.execute("INSERT INTO locks VALUES ('src/b.js','impl-1',NULL,'resolved',?,?)", (t(3), t(3)))
db.execute("INSERT INTO implementers (id,name,type,project_root,created_at,updated_at) VALUES ('i1','impl-1','codex',?,?,?)", (root, t(1), t(1)))
db.execute("INSERT INTO discussions (id,topic,category,priority,status,project_root,created_by,decision,"
           "decision_reasoning,decided_by,created_at,updated_at) VALUES ('d1','db choice','architecture','high',"
           "'resolved',?,'impl-1','sqlite','simple','planner',?,?)", (root, t(1), t(2)))
db.execute("INSERT INTO discussion_messages VALUES ('m1','d1','impl-1','sqlite or pg?',NULL,?)", (t(1),))
db.execute("INSERT INTO discussion_messages VALUES ('m2','d1','planner','sqlite','sqlite',?)", (t(2),))
db.execute("INSERT INTO discussions (id,topic,status,project_root,created_by,waiting_on,created_at,updated_at)"
           " VALUES ('d2','naming','waiting',?,'impl-2','planner',?,?)", (root, t(3), t(3)))
db.execute("INSERT INTO discussion_messages VALUES ('m3','d2','impl-2','camelCase?',NULL,?)", (t(3),))
db.commit()
PY

baton_run import --from lockstep "$D/lockstep.db"
ok $RC "import --from lockstep exits 0" "$OUT"
like "$OUT" "5 tasks \\(2 reviewed or done" "the summary counts the tasks"
like "$OUT" "2 notes" "and the notes"
like "$OUT" "2 discussions with their threads \\(1 resolved\\)" "and the discussions"
like "$OUT" "1 active locks: a baton lock belongs to a live session" "it says why the active lock was not imported"
like "$OUT" "1 implementers" "nor the implementer"
like "$OUT" "1 in-progress claims" "and what became of the in-progress claim"
p=$(timeout 10 "$BATON" call project_get)
is "$(printf '%s' "$p" | jq -c '[.description, .end_state, .tech_stack, .plan, .status]')" \
    '["a todo app","tests pass","node\nsqlite","model\napi","in_progress"]' "the project context"
tl=$(timeout 10 "$BATON" call task_list '{"limit":50}')
is "$(printf '%s' "$tl" | jq -c '[.tasks[] | [.title, .status, .complexity]]')" \
    '[["model","done","simple"],["api","review","complex"],["ui","todo","medium"],["docs","todo","simple"],["deploy","blocked","critical"]]' \
    "the tasks, in order, with their status and complexity"
t1=$(printf '%s' "$tl" | jq -r '.tasks[0].id')
t2=$(printf '%s' "$tl" | jq -r '.tasks[1].id')
t3=$(printf '%s' "$tl" | jq -r '.tasks[2].id')
g=$(timeout 10 "$BATON" call task_get "{\"id\":\"$t1\"}")
is "$(printf '%s' "$g" | jq -c '[.notes, .feedback, .owner, .tags]')" '["did it","good","impl-2",["db"]]' \
    "a done task keeps its review notes, feedback, owner and tags"
like "$(printf '%s' "$g" | jq -r .description)" "imported from Lockstep task u1, created 2026-01-01" \
    "and says where it came from"
like "$(printf '%s' "$g" | jq -c '[.history[] | .actor]')" "impl-2" "its history shows the owner's moves"
is "$(timeout 10 "$BATON" call task_get "{\"id\":\"$t2\"}" | jq -r '.notes')" "please look" \
    "a task in review keeps its notes"
is "$(timeout 10 "$BATON" call task_get "{\"id\":\"$t3\"}" | jq -r '.assignee')" impl-1 \
    "the in-progress task waits for its owner (assignee)"
is "$(timeout 10 "$BATON" call note_get '{"key":"lockstep/notes/0000000002"}' | jq -c '.value | [.text, .author]')" \
    '["model done","impl-2"]' "the notes are the log --compat lockstep reads"
dl=$(timeout 10 "$BATON" call discussion_list '{"status":"all"}')
is "$(printf '%s' "$dl" | jq -c '[.discussions[] | [.topic, .status]] | sort')" \
    '[["db choice","resolved"],["naming","open"]]' "the discussions and their states"
d1=$(printf '%s' "$dl" | jq -r '.discussions[] | select(.topic=="db choice") | .id')
is "$(timeout 10 "$BATON" call discussion_get "{\"id\":\"$d1\"}" | jq -c '[(.replies | length), .resolution.decision]')" \
    '[2,"sqlite"]' "a thread with its replies and decision"

# The Airlock fixture: the schema its README implies.
python3 - "$D/airlock.db" "$NOW" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); now = int(sys.argv[2])
db.executescript("""
CREATE TABLE locks (name TEXT PRIMARY KEY, agent_id TEXT NOT NULL, token TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE notes (key TEXT PRIMARY KEY, value TEXT NOT NULL, author TEXT, expires_at INTEGER);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE events (name TEXT PRIMARY KEY, generation INTEGER NOT NULL);
CREATE TABLE agents (agent_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE tasks (id INTEGER PRIMARY KEY, queue TEXT NOT NULL, payload TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL, author TEXT, lease_agent TEXT, lease_token TEXT, lease_expires_at INTEGER, created_at INTEGER);
CREATE TABLE misc (x);
""")
db.execute("INSERT INTO locks VALUES ('npm-install','agent-a','tok1',?)", (now + 600,))
db.execute("INSERT INTO locks VALUES ('stale','agent-b','tok2',?)", (now - 10,))
db.execute("INSERT INTO notes VALUES ('api/base','http://x','agent-a',NULL)")
db.execute("INSERT INTO notes VALUES ('short','y','agent-a',?)", (now + 300,))
db.execute("INSERT INTO notes VALUES ('gone','z','agent-a',?)", (now - 5,))
db.execute("INSERT INTO counters VALUES ('migration', 41)")
db.execute("INSERT INTO events VALUES ('built', 3)")
db.execute("INSERT INTO agents VALUES ('agent-a', ?)", (now + 30,))
for r in [(1,'builds','low',0,'pending','planner'), (2,'builds','high',5,'pending','planner'),
          (3,'builds','old',0,'done','planner'), (4,'builds','claimed',0,'claimed','planner')]:
    db.execute("INSERT INTO tasks (id,queue,payload,priority,state,author) VALUES (?,?,?,?,?,?)", r)
db.commit()
PY
baton_run import --from airlock "$D/airlock.db"
ok $RC "import --from airlock exits 0" "$OUT"
like "$OUT" "2 notes" "notes imported, the expired one left out"
like "$OUT" "1 expired notes" "which it says"
like "$OUT" "1 live locks" "the live lock"
like "$OUT" "1 expired locks" "not the expired one"
like "$OUT" "1 agent registrations: presence is live" "presence is not imported, and why"
like "$OUT" "table misc: not part of Airlock" "an unknown table is named, not ignored"
like "$OUT" "1 leases" "a lease's consumer is not in baton: pending again"
is "$(timeout 10 "$BATON" call note_get '{"key":"api/base"}' | jq -c '[.value, .author]')" '["http://x","agent-a"]' \
    "a note, with its author"
ttl=$(timeout 10 "$BATON" call note_get '{"key":"short"}' | jq '.expires_in_seconds | floor')
ok $([ "$ttl" -gt 250 ] && [ "$ttl" -le 300 ]; echo $?) "a note keeps what is left of its TTL" "$ttl"
is "$(timeout 10 "$BATON" call counter_incr '{"name":"migration"}' | jq .value)" 42 "a counter continues from its value"
is "$(timeout 10 "$BATON" call event_wait '{"name":"built","wait_seconds":0}' | jq .generation)" 3 \
    "an event keeps its generation"
is "$(timeout 10 "$BATON" call queue_list '{"queue":"builds"}' | jq -c '[.items[] | [.payload, .state]]')" \
    '[["low","pending"],["high","pending"],["old","done"],["claimed","pending"]]' "the queue, states kept"
is "$(timeout 10 "$BATON" call lock_list | jq -c '[.locks[] | [.name, .holders[0].agent, (.holders[0].expires_in_seconds > 500)]]')" \
    '[["npm-install","agent-a",true]]' "the live lock, held by its agent for the rest of its TTL"

# bad input
printf 'not a database' >"$D/junk.db"
baton_run import --from lockstep "$D/junk.db"
ok $([ $RC -eq 65 ]; echo $?) "a file that is not SQLite: exit 65" "$ERR"
baton_run import --from lockstep "$D/airlock.db"
ok $([ $RC -eq 65 ] && printf '%s' "$OUT" | grep -q "is it a Lockstep database"; echo $?) \
    "an Airlock database read as Lockstep: exit 65, saying so" "$OUT"
baton_run import --from nosuch "$D/airlock.db"
ok $([ $RC -eq 64 ]; echo $?) "--from nosuch: exit 64" "$ERR"
baton_run import --from airlock "$D/missing.db"
ok $([ $RC -eq 65 ] && [ ! -e "$D/missing.db" ]; echo $?) "a missing file: exit 65, and it is not created" "$ERR"
ok $(broker_alive; echo $?) "the broker is alive"
done_testing
