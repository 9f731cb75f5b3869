#!/bin/sh
# Worktrees (DESIGN 13, issue 17) with real git: baton worktree create,
# list, status, merge, remove, prune; the records in the broker; the
# merge's refusals, each of which changes nothing anywhere and loses no
# uncommitted work; a claim of an isolation:worktree task giving the
# claimant its worktree; names and bases that would mean something to a
# shell mean nothing to baton.
. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
command -v git >/dev/null 2>&1 || bail_out "git is not installed: run ./bootstrap (or apt-get install git)"
broker_dir
start_broker || bail_out "batond did not start"

R=$BATON_PROJECT
export GIT_AUTHOR_NAME=tester GIT_AUTHOR_EMAIL=t@example.org
export GIT_COMMITTER_NAME=tester GIT_COMMITTER_EMAIL=t@example.org
export GIT_CONFIG_NOSYSTEM=1
git -C "$R" init -q -b main || bail_out "git init failed"
printf 'one\n' >"$R/a.txt"
printf 'two\n' >"$R/b.txt"
git -C "$R" add a.txt b.txt && git -C "$R" commit -qm init || bail_out "git commit failed"
cd "$R" || bail_out "no repository"

# head DIR: the commit checked out in DIR.
tip() {
	git -C "$1" rev-parse HEAD
}
# commit_in DIR FILE TEXT: write FILE and commit it in DIR.
commit_in() {
	printf '%s\n' "$3" >"$1/$2" && git -C "$1" add "$2" && git -C "$1" commit -qm "$2: $3"
}

# --- create ---
baton_run status
! printf '%s\n' "$OUT" | grep -Eq '^(worktrees|launched) '
ok $? "status has no worktrees line while there are none" "$OUT"
baton_run --agent alice worktree create
is "$RC" 0 "worktree create makes the caller's worktree"
WA=$R/.baton/worktrees/alice
is "$OUT" "$WA" "its path on stdout: .baton/worktrees/NAME in the main checkout"
is "$(git -C "$WA" symbolic-ref --short HEAD)" "baton/alice" "on branch baton/NAME"
is "$(tip "$WA")" "$(tip "$R")" "from the main checkout's branch"
is "$(git -C "$R" status --porcelain)" "" ".baton/ is not in git status (info/exclude)"
grep -qx '/.baton/' "$(git -C "$R" rev-parse --git-common-dir)/info/exclude"
ok $? "through a line in info/exclude"
baton_run --agent alice worktree create --json
is "$(printf '%s' "$OUT" | json '.created')" "false" "a second create reuses it"
is "$(grep -c '^/.baton/$' "$(git -C "$R" rev-parse --git-common-dir)/info/exclude")" 1 \
    "and adds no second exclude line"
baton_run worktree create -a bob
is "$RC" 0 "create for another agent (-a)"
WB=$R/.baton/worktrees/bob

# --- list, the records ---
baton_run worktree list --json
is "$(printf '%s' "$OUT" | json '[.worktrees[].name] | join(",")')" "alice,bob" "list shows both"
is "$(printf '%s' "$OUT" | json '.worktrees[1] | [.agent, (.task // "-"), .branch, .state, (.exists|tostring)] | join(" ")')" \
    "bob - baton/bob active true" "with owner, task, branch, state, and git still has it"
baton_run call worktree_get '{"name":"bob"}'
is "$(printf '%s' "$OUT" | json '.worktrees[0] | [.path, .base, (.owner_here|tostring)] | join(" ")')" \
    "$WB main false" "the broker's record: path, base, whether the owner is here"
wire_run call worktree_merge agent=bob
like "$WIRE_ERROR$WIRE_RES" "runs git or tmux, which the broker never does" \
    "the broker refuses to run a client operation itself"

# --- status ---
commit_in "$WA" new.txt "from alice"
printf 'draft\n' >"$WA/draft.txt"
baton_run worktree status --json alice
is "$RC" 0 "worktree status"
is "$(printf '%s' "$OUT" | json '[.ahead, .behind] | map(tostring) | join(" ")')" "1 0" "commits ahead and behind"
is "$(printf '%s' "$OUT" | json '[.files[] | .status + " " + .path] | join(",")')" "A new.txt" "files changed"
is "$(printf '%s' "$OUT" | json '.uncommitted | join(",")')" "draft.txt" "uncommitted changes"
is "$(printf '%s' "$OUT" | json '.clean_merge')" "true" "merges cleanly"

# --- refusals: nothing changes anywhere, no work is lost ---
main0=$(tip "$R")
baton_run worktree merge alice
is "$RC" 1 "merge refuses while the worktree has uncommitted work"
like "$ERR" "uncommitted changes" "saying why"
like "$OUT" "draft.txt" "and naming the file"
is "$(cat "$WA/draft.txt")" "draft" "the uncommitted file is still there"
is "$(tip "$R")" "$main0" "the base did not move"
rm "$WA/draft.txt"

printf 'mine\n' >"$R/new.txt"
baton_run worktree merge alice --json
is "$RC" 1 "merge refuses when the main checkout has uncommitted changes in a file the merge touches"
is "$(printf '%s' "$OUT" | json '.files | join(",")')" "new.txt" "naming the file (--json, exit 1 too)"
is "$(cat "$R/new.txt")" "mine" "the uncommitted file in the main checkout is untouched"
is "$(tip "$R")" "$main0" "the base did not move"
rm "$R/new.txt"

git -C "$R" switch -q -c elsewhere
baton_run worktree merge alice
is "$RC" 1 "merge refuses when the main checkout has another branch checked out"
like "$ERR" "has branch elsewhere checked out, not main" "saying which"
is "$(git -C "$R" symbolic-ref --short HEAD)" "elsewhere" "and leaves it checked out"
git -C "$R" switch -q main

commit_in "$WB" a.txt "bob's one"
commit_in "$R" a.txt "main's one"
main1=$(tip "$R")
bob1=$(tip "$WB")
printf 'keep me\n' >>"$R/b.txt"
baton_run worktree status --json bob
is "$(printf '%s' "$OUT" | json '.clean_merge')" "false" "status says a conflicting branch would not merge cleanly"
is "$(printf '%s' "$OUT" | json '.conflicts | join(",")')" "a.txt" "and lists the conflict"
baton_run worktree merge --json bob
is "$RC" 1 "merge refuses a conflict"
is "$(printf '%s' "$OUT" | json '.files | join(",")')" "a.txt" "listing the conflicting files"
like "$(printf '%s' "$OUT" | json .reason)" "conflicts" "saying it conflicts"
is "$(tip "$R") $(tip "$WB")" "$main1 $bob1" "neither branch moved"
is "$(git -C "$R" status --porcelain)" " M b.txt" "the main checkout's uncommitted change is as it was"
is "$(git -C "$R" ls-files -u)" "" "and no conflict was left in any index"

# --- merges ---
baton_run worktree merge alice --json
is "$RC" 0 "merge: with the base ahead, a merge commit"
is "$(printf '%s' "$OUT" | json '[.merged, .how] | map(tostring) | join(" ")')" "true merge commit" \
    "merged by a merge commit"
is "$(git -C "$R" rev-parse HEAD^2)" "$(tip "$WA")" "whose second parent is the worktree's branch"
is "$(cat "$R/new.txt")" "from alice" "the main checkout has the change"
is "$(git -C "$R" status --porcelain)" " M b.txt" "and kept its uncommitted change to an untouched file"
like "$(git -C "$R" log -1 --format=%s)" "Merge branch 'baton/alice' into main" "the merge commit says what it merged"
is "$(git -C "$WA" status --porcelain)" "" "no tree of the worktree was touched"
baton_run call worktree_get '{"name":"alice"}'
is "$(printf '%s' "$OUT" | json '.worktrees[0] | .state + " " + (.commit == "'"$(tip "$R")"'" | tostring)')" \
    "merged true" "the record says merged, with the commit"

baton_run --agent carol worktree create
WC=$R/.baton/worktrees/carol
commit_in "$WC" c.txt "from carol"
baton_run worktree merge carol --json
is "$(printf '%s' "$OUT" | json '.how')" "fast-forward" "a branch ahead of its base fast-forwards"
is "$(tip "$R")" "$(tip "$WC")" "the base is at the worktree's commit"
baton_run worktree merge carol --json
is "$(printf '%s' "$OUT" | json '.how')" "nothing to merge" "merging again has nothing to merge"
git -C "$R" checkout -q -- b.txt

# --- baton status lists them ---
baton_run status
like "$OUT" "^worktrees alice \\(baton/alice, merged, owner gone\\), bob \\(baton/bob, active, owner gone: not merged, needs you\\), carol \\(baton/carol, merged, owner gone\\)\$" \
    "status lists the worktrees: branch, state, owner here or gone, and the one that needs the user"
WIRE_AGENT=bob hold_start 1 hold
baton_run status
like "$OUT" "bob \\(baton/bob, active, owner here\\)" "an owner who is here: here"
hold_stop 1
"$BATON" call worktree_set "{\"name\":\"noone\",\"branch\":\"baton/noone\",\"path\":\"$R/.baton/worktrees/noone\"}" >/dev/null
baton_run status
like "$OUT" "noone \\(baton/noone, active, no owner: not merged, needs you\\)" \
    "a record without an owner (or a state: active) says so"
"$BATON" call worktree_set '{"name":"noone","remove":true}' >/dev/null

# --- a merge waits for approval ---
tid=$("$BATON" --agent planner task create --json --complexity simple --isolation worktree "Add d.txt" | json .id)
baton_run --agent dave task claim --json "$tid"
is "$RC" 0 "claiming an isolation:worktree task"
WD=$(printf '%s' "$OUT" | json '.worktree.path')
is "$WD" "$R/.baton/worktrees/dave" "gives the claimant its worktree, in the claim's answer"
is "$(git -C "$WD" symbolic-ref --short HEAD)" "baton/dave" "made now, on its branch"
like "$(printf '%s' "$OUT" | json .hint)" "cd $WD" "the hint says where to work"
ctok=$(printf '%s' "$OUT" | json .token)
commit_in "$WD" d.txt "from dave"
baton_run worktree merge dave
is "$RC" 1 "merge refuses a task in progress"
like "$ERR" "$tid is in_progress, not approved" "saying it waits for approval"
"$BATON" --agent dave task submit --token "$ctok" "$tid" "added d.txt" >/dev/null 2>&1
"$BATON" --agent planner task approve "$tid" >/dev/null 2>&1
baton_run worktree merge dave
is "$RC" 0 "once approved, it merges"
is "$(cat "$R/d.txt")" "from dave" "and the main checkout has the change"

# --- remove and prune ---
WIRE_AGENT=bob hold_start 1 hold
baton_run worktree remove bob
is "$RC" 1 "remove refuses a worktree whose owner is here"
like "$OUT" "kept bob: its owner bob is here" "saying so"
hold_stop 1
baton_run worktree remove bob
is "$RC" 1 "remove refuses a worktree whose commits are not merged"
like "$OUT" "1 commit not merged into main" "saying how many"
like "$OUT" "bob's one" "and which would be lost"
is "$(tip "$WB")" "$bob1" "the worktree is still there"
printf 'wip\n' >"$WB/wip.txt"
baton_run worktree remove -f bob
is "$RC" 0 "remove -f removes it anyway"
like "$OUT" "commits lost:" "saying what was lost"
like "$OUT" "wip.txt" "uncommitted files included"
[ ! -d "$WB" ] && ! git -C "$R" rev-parse -q --verify refs/heads/baton/bob >/dev/null
ok $? "the worktree and its branch are gone"
baton_run call worktree_get '{"name":"bob"}'
is "$(printf '%s' "$OUT" | json .count)" 0 "and its record"

# an orphan: a worktree nobody recorded
git -C "$R" worktree add -q -b baton/ghost "$R/.baton/worktrees/ghost" main
baton_run worktree list --json
is "$(printf '%s' "$OUT" | json '[.worktrees[] | select(.name == "ghost") | .state] | join(",")')" "orphan" \
    "list shows a worktree nobody recorded as an orphan"
baton_run worktree prune --json
is "$RC" 0 "prune"
is "$(printf '%s' "$OUT" | json '[.removed[].name] | sort | join(",")')" "alice,carol,dave,ghost" \
    "removes every merged worktree whose owner is gone, orphans too"
is "$(git -C "$R" worktree list --porcelain | grep -c '^worktree ')" 1 "only the main checkout is left"
is "$(git -C "$R" branch --list 'baton/*')" "" "and no baton/ branch"
is "$(git -C "$R" status --porcelain)" "" "the main checkout is clean"

# --- the records survive a restart ---
baton_run --agent erin worktree create
stop_broker
start_broker || bail_out "batond did not restart"
baton_run worktree list --json
is "$(printf '%s' "$OUT" | json '[.worktrees[] | .name + ":" + (.exists|tostring)] | join(",")')" "erin:true" \
    "the worktree records survive a restart of the broker"

# --- merged on approval: git config baton.autoMerge ---
git -C "$R" config baton.autoMerge true
# claim_commit AGENT FILE TEXT: create a worktree task, AGENT claims it, commits FILE, submits; sets tid, WT.
claim_commit() {
	tid=$("$BATON" --agent planner task create --json -c simple --isolation worktree "Add $2" | json .id)
	baton_run --agent "$1" task claim --json "$tid"
	WT=$(printf '%s' "$OUT" | json '.worktree.path')
	_tok=$(printf '%s' "$OUT" | json .token)
	commit_in "$WT" "$2" "$3"
	"$BATON" --agent "$1" task submit --token "$_tok" "$tid" "added $2" >/dev/null 2>&1
}
claim_commit gil g.txt "from gil"
baton_run --agent planner task approve "$tid"
is "$RC" 0 "with baton.autoMerge, approving a worktree task"
like "$ERR" "$tid: its worktree is merged into main \(fast-forward" "merges its worktree, saying so"
is "$(cat "$R/g.txt")" "from gil" "the main checkout has the change"
claim_commit gil h.txt "from gil again"
printf 'draft\n' >"$WT/draft.txt"
baton_run --agent planner task approve --json "$tid"
is "$RC" 0 "a merge refused on approval leaves the approval"
is "$(printf '%s' "$OUT" | json '.merges[0] | [.task, (.merged|tostring)] | join(" ")')" "$tid false" \
    "the answer's merges say it was not merged"
like "$(printf '%s' "$OUT" | json '.merges[0].reason')" "uncommitted changes" "and why"
is "$("$BATON" task get --json "$tid" | json .status)" "done" "the task is done all the same"
[ ! -e "$R/h.txt" ] && [ -e "$WT/draft.txt" ]
ok $? "nothing was merged and the uncommitted file is still there"
tid=$("$BATON" --agent planner task create --json -c simple "no worktree" | json .id)
baton_run --agent hal task claim --json "$tid"
"$BATON" --agent hal task submit --token "$(printf '%s' "$OUT" | json .token)" "$tid" "done" >/dev/null 2>&1
baton_run --agent planner task approve --json "$tid"
is "$(printf '%s' "$OUT" | json '.merges | length')" 0 "a task without a worktree has nothing merged"
rm "$WT/draft.txt"
git -C "$R" config --unset baton.autoMerge

# --- bad input ---
baton_run worktree merge
is "$RC" 64 "merge without an agent is a usage error"
baton_run worktree status --json nobody
is "$RC" 65 "status of an agent without a worktree: exit 65"
like "$ERR" "nobody has no worktree" "saying so"
baton_run --agent frank worktree create -b '$(touch pwned)'
is "$RC" 65 "a base that is no branch is refused"
[ ! -e pwned ] && [ ! -e "$TEST_DIR/pwned" ]
ok $? "and nothing ran it through a shell"
baton_run --agent 'x; touch pwned2 #' worktree create
is "$RC" 0 "an agent name with shell characters gets a worktree"
like "$OUT" "/.baton/worktrees/x--touch-pwned2--?$" "under a name made of safe characters"
[ ! -e pwned2 ]
ok $? "and nothing ran"
mkdir "$TEST_DIR/plain"
BATON_PROJECT=$TEST_DIR/plain baton_run worktree list
is "$RC" 65 "outside a git repository: exit 65"
like "$ERR" "not in a git repository" "saying so"

# --- many claims at once, in a fresh repository: a worktree each, one exclude line ---
C=$TEST_DIR/many
git init -q -b main "$C" && git -C "$C" commit -q --allow-empty -m init || bail_out "git init failed"
N=8
i=1
while [ $i -le $N ]; do
	BATON_PROJECT=$C "$BATON" --agent planner task create --isolation worktree -c simple "job $i" \
	    >/dev/null 2>&1
	i=$((i + 1))
done
i=1
pids=
while [ $i -le $N ]; do
	BATON_PROJECT=$C timeout 60 "$BATON" --agent "w$i" task claim --json >"$TEST_DIR/claim$i" \
	    2>"$TEST_DIR/claim$i.err" &
	pids="$pids $!"
	i=$((i + 1))
done
bad=0
for p in $pids; do
	wait "$p" || bad=$((bad + 1))
done
is "$bad" 0 "$N agents claim isolation:worktree tasks at once: every claim succeeds" \
    "$(cat "$TEST_DIR"/claim*.err)"
paths=$(cat "$TEST_DIR"/claim[0-9] "$TEST_DIR"/claim[0-9][0-9] 2>/dev/null | json '.worktree.path' | sort -u)
is "$(lines "$paths")" "$N" "each gets a worktree of its own"
is "$(git -C "$C" worktree list --porcelain | grep -c '^worktree ')" $((N + 1)) "git has them all"
is "$(grep -c '^/.baton/$' "$C/.git/info/exclude")" 1 "and info/exclude one line for .baton/"
is "$(git -C "$C" status --porcelain)" "" "the main checkout is clean"

# --- a forged record names the user's own branch and directory: baton touches neither ---
mkdir "$TEST_DIR/mine"
baton_run call worktree_set "{\"name\":\"forged\",\"agent\":\"gone\",\"branch\":\"main\",\"path\":\"$TEST_DIR/mine\",\"base\":\"--output=$TEST_DIR/out.log\",\"state\":\"merged\"}"
is "$RC" 0 "any client may write a record (worktree_set)"
baton_run worktree merge gone
is "$RC" 65 "but merge refuses one that names no worktree of baton's"
like "$ERR" "not one baton works on: its path is not a directory of .baton/worktrees" "saying why"
baton_run worktree prune --json
is "$(printf '%s' "$OUT" | json '.kept[] | select(.name == "forged") | .why')" \
    "not baton's to remove: its path is not a directory of .baton/worktrees in the main checkout" \
    "prune keeps it, saying why"
[ -d "$TEST_DIR/mine" ] && git -C "$R" rev-parse -q --verify refs/heads/main >/dev/null && [ ! -e "$TEST_DIR/out.log" ]
ok $? "the directory and the branch main are still there, and no option reached git"
"$BATON" call worktree_set '{"name":"forged","remove":true}' >/dev/null 2>&1

# --- the records' bounds (baton(1) WORKTREES) ---
baton_run call worktree_set '{"name":"rel","path":"relative/dir"}'
is "$RC" 65 "a record's path must be absolute"
like "$ERR" "path must be an absolute path" "saying so"
have=$("$BATON" call worktree_get | json .count)
i=$have
while [ "$i" -lt 256 ]; do
	"$BATON" call worktree_set "{\"name\":\"r$i\",\"path\":\"/nowhere/$i\"}" >/dev/null 2>&1 || break
	i=$((i + 1))
done
is "$i" 256 "a project holds 256 worktree records"
baton_run call worktree_set '{"name":"one-more","path":"/nowhere/x"}'
is "$RC" 65 "the 257th is refused (limit: exit 65)"
like "$ERR" "at most 256 worktrees per project" "naming the limit"
baton_run call worktree_set '{"name":"r255","state":"merged"}'
is "$RC" 0 "a record at the limit can still change"

done_testing
