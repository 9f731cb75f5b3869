#!/bin/sh
# baton guard (issue 18), with real git: the pre-commit hook refuses a
# commit of files another agent reserved (exact, directory, glob; a
# rename counts as both paths), naming the holder, from a terminal and
# from an agent's own process (tests/hooks/agent.sh: its own
# reservations are its own); BATON_GUARD=off goes ahead and the broker's
# log says so; pre-push refuses a push of commits that touch them; the
# user's own hooks are chained (stdin and arguments too) and uninstall
# restores the hooks directory byte for byte; core.hooksPath and linked
# worktrees; without a broker the guard lets commits through unless
# --strict.

. "${TOP_SRCDIR:-..}/tests/lib.sh"
need_jq
if ! command -v git >/dev/null 2>&1; then
	echo "1..0 # SKIP git is not installed"
	exit 0
fi
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_CONFIG_GLOBAL
GIT_CONFIG_NOSYSTEM=1
GIT_AUTHOR_NAME=tester GIT_AUTHOR_EMAIL=tester@example.org
GIT_COMMITTER_NAME=tester GIT_COMMITTER_EMAIL=tester@example.org
export GIT_CONFIG_NOSYSTEM GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

broker_dir
start_broker || bail_out "batond did not start"
P=$BATON_PROJECT
HOOKS=$TOP_SRCDIR/tests/hooks
. "$HOOKS/agent-lib.sh"
LOG=$BATON_STATE_DIR/batond.log

cd "$P" || bail_out "no project directory"
git init -q -b main . || bail_out "git init failed"
git config commit.gpgsign false
mkdir -p src lib/x docs
for f in src/a.c src/b.c lib/x/y.c docs/guide.md docs/notes.txt; do
	echo "$f" >"$f"
done
git add . && git commit -qm "the start" || bail_out "the first commit failed"
H=$P/.git/hooks

# the user's own hooks: pre-commit leaves a mark, pre-push keeps its
# arguments and stdin
cat >"$H/pre-commit" <<EOF
#!/bin/sh
echo ran >>"$TEST_DIR/user-pre-commit"
EOF
cat >"$H/pre-push" <<EOF
#!/bin/sh
echo "\$@" >"$TEST_DIR/user-pre-push.args"
cat >"$TEST_DIR/user-pre-push.in"
EOF
chmod 755 "$H/pre-commit"
chmod 750 "$H/pre-push"
cp "$H/pre-commit" "$TEST_DIR/user-pre-commit.sh"
# what the hooks directory holds: names, types, modes, sizes, contents
snapshot() {
	(cd "$1" && find . \( -type d -printf 'd %m %p\n' \) -o \( -type f -printf 'f %m %s %p\n' \) \
	    -o -printf '%y %p -> %l\n' | sort && find . -type f | sort | xargs cat)
}
snapshot "$H" >"$TEST_DIR/hooks.before"

# commit_shell MESSAGE: git commit -qm MESSAGE from this shell (a
# terminal: no agent); sets RC, OUT, ERR
commit_shell() {
	baton_git commit -qm "$1"
}
# baton_git ARGS: git from this shell, bounded; sets RC, OUT, ERR
baton_git() {
	timeout 60 git "$@" >"$TEST_DIR/out" 2>"$TEST_DIR/err"
	RC=$?
	OUT=$(cat "$TEST_DIR/out")
	ERR=$(cat "$TEST_DIR/err")
	_saw="git $* exited $RC
stdout: $OUT
stderr: $ERR"
}
head_is() {
	is "$(git rev-parse HEAD)" "$1" "$2"
}

# --- install ----------------------------------------------------------------

baton_run guard install
ok $RC "baton guard install exits 0"
like "$OUT" "$H/pre-commit: installed; the hook that was there runs after the check" \
    "it installs pre-commit, keeping the user's hook"
like "$OUT" "$H/pre-push: installed" "and pre-push"
same_file "$H/pre-commit.baton-chained" "$TEST_DIR/user-pre-commit.sh" \
    "the user's pre-commit is kept, byte for byte"
test -x "$H/pre-commit" && grep -q "baton guard" "$H/pre-commit"
ok $? "pre-commit is now baton's guard, executable"
baton_run guard install
like "$OUT" "pre-commit: already installed" "a second install changes nothing"

# --- pre-commit -------------------------------------------------------------

agent_start a
A=$AGENT_NAME
is "$(agent_call a 10 lock_acquire '{"name":"file:src/a.c","reason":"refactoring"}' | jq -r .acquired)" \
    true "agent A reserves file:src/a.c"

start=$(git rev-parse HEAD)
echo more >>src/a.c
git add src/a.c
commit_shell "touch a"
cmp_ok "$RC" -ne 0 "a commit of src/a.c from a terminal is refused"
like "$ERR" "src/a.c is reserved by $A \\(file:src/a.c, exclusive, for [0-9]+s: refactoring\\)" \
    "naming the holder, the reservation and its reason"
like "$ERR" "baton could not tell which agent this is" \
    "and saying every agent's reservation counts from a terminal"
like "$ERR" "BATON_GUARD=off" "and how to go ahead anyway"
head_is "$start" "no commit was made"
test ! -e "$TEST_DIR/user-pre-commit"
ok $? "the user's pre-commit did not run for a refused commit"
grep -q "guard pre-commit in project $P: refused for an agent baton could not tell .*: src/a.c (file:src/a.c, held by $A)" "$LOG"
ok $? "the broker's log records the refusal" "$(cat "$LOG")"

git reset -q
echo more >>src/b.c
git add src/b.c
commit_shell "touch b"
ok $RC "a commit of the free src/b.c goes ahead"
is "$(cat "$TEST_DIR/user-pre-commit" 2>/dev/null)" ran "and the user's pre-commit ran after the check"

# from the agent's own process: its own reservation is its own
agent_run a "cd '$P' && git commit -qm 'A changes a' src/a.c"
is "$AGENT_RC" 0 "A's own commit of src/a.c goes ahead (the guard acts as A's session)"
is "$(git log -1 --format=%s)" "A changes a" "and the commit is made"

# another agent: refused naming A, and not as an unknown agent
agent_start b
B=$AGENT_NAME
echo again >>src/a.c
agent_run b "cd '$P' && git commit -qm 'B changes a' src/a.c"
cmp_ok "$AGENT_RC" -ne 0 "agent B's commit of src/a.c is refused"
like "$AGENT_ERR" "src/a.c is reserved by $A" "naming A"
case $AGENT_ERR in *"could not tell"*) fail "B is known to the guard" "$AGENT_ERR" ;;
*) pass "B is known to the guard (it says nothing about an unknown agent)" ;; esac
grep -q "refused for agent $B (session s[0-9]*): src/a.c (file:src/a.c, held by $A)" "$LOG"
ok $? "the log names B as the one refused" "$(tail -n 3 "$LOG")"
git checkout -q src/a.c

# a reserved directory and a glob; a rename counts as both of its paths
agent_call a 11 lock_acquire '{"names":["file:lib","file:docs/*.md"]}' >/dev/null
for f in lib/x/y.c docs/guide.md; do
	echo more >>"$f"
	git add "$f"
	commit_shell "touch $f"
	cmp_ok "$RC" -ne 0 "a commit of $f (under A's file:lib / file:docs/*.md) is refused"
	git reset -q
	git checkout -q "$f"
done
like "$ERR" "docs/guide.md is reserved by $A \\(file:docs/\\*\\.md" "the glob reservation is named"
echo more >>docs/notes.txt
git add docs/notes.txt
commit_shell "notes"
ok $RC "a commit of docs/notes.txt (outside the glob) goes ahead"
git mv src/a.c src/moved.c
commit_shell "move a"
cmp_ok "$RC" -ne 0 "a commit renaming src/a.c is refused"
like "$ERR" "src/a.c is reserved by $A" "naming the old path"
git mv src/moved.c src/a.c

# --- the bypass -------------------------------------------------------------

echo bypass >>src/a.c
git add src/a.c
before=$(git rev-parse HEAD)
BATON_GUARD=off commit_shell "bypass"
ok $RC "BATON_GUARD=off: the commit of src/a.c goes ahead"
like "$ERR" "BATON_GUARD=off: it goes ahead anyway; the broker logged that" "saying it was logged"
cmp_ok "$(git rev-list --count "$before..HEAD")" -eq 1 "the commit is made"
grep -q "guard pre-commit in project $P: an agent baton could not tell .* went ahead with BATON_GUARD=off: 1 paths, 1 reservations of other agents in the way: src/a.c (file:src/a.c, held by $A)" "$LOG"
ok $? "the broker's log says who went ahead with BATON_GUARD=off, past what" "$(tail -n 3 "$LOG")"

# --- pre-push ---------------------------------------------------------------

git init -q --bare "$TEST_DIR/remote.git"
git remote add origin "$TEST_DIR/remote.git"
baton_git push -q origin main
cmp_ok "$RC" -ne 0 "a push of commits touching src/a.c is refused"
like "$ERR" "this push sends commits that touch files another agent reserved" "by pre-push"
like "$ERR" "src/a.c is reserved by $A" "naming the holder"
test -z "$(git --git-dir="$TEST_DIR/remote.git" branch --list main)"
ok $? "nothing was pushed"
BATON_GUARD=off baton_git push -q origin main
ok $RC "BATON_GUARD=off: the push goes ahead"
grep -q "guard pre-push in project $P: .* went ahead with BATON_GUARD=off: .*src/a.c (file:src/a.c, held by $A)" "$LOG"
ok $? "the broker's log says so" "$(tail -n 3 "$LOG")"
is "$(cat "$TEST_DIR/user-pre-push.args")" "origin $TEST_DIR/remote.git" \
    "the user's pre-push ran with git's arguments"
is "$(cat "$TEST_DIR/user-pre-push.in")" "refs/heads/main $(git rev-parse main) refs/heads/main $(printf '%040d' 0)" \
    "and git's refs on its stdin"
echo more >>src/b.c
git commit -qam "b again"
baton_git push -q origin main
ok $RC "a push of a commit touching only src/b.c goes ahead (what the remote has is not checked again)"
is "$(git --git-dir="$TEST_DIR/remote.git" rev-parse main)" "$(git rev-parse main)" "the remote has it"

# --- a linked worktree shares the hooks -------------------------------------

git worktree add -q "$TEST_DIR/wt" -b side
echo wt >>"$TEST_DIR/wt/src/a.c"
(cd "$TEST_DIR/wt" && git add src/a.c && timeout 60 git commit -qm "wt" >"$TEST_DIR/out" 2>"$TEST_DIR/err")
RC=$?
ERR=$(cat "$TEST_DIR/err")
cmp_ok "$RC" -ne 0 "a commit of src/a.c in a linked worktree is refused"
like "$ERR" "src/a.c is reserved by $A" "naming the holder"

# --- uninstall --------------------------------------------------------------

# the user changed the guard's pre-push: uninstall leaves it alone
cp "$H/pre-push" "$TEST_DIR/guard-pre-push"
echo "# mine now" >>"$H/pre-push"
sed -i 's/# baton guard: /# was baton guard: /' "$H/pre-push"
baton_run guard uninstall
is "$RC" 65 "uninstall with a pre-push that is no longer baton's exits 65"
like "$ERR" "pre-push is not baton's guard .*: left alone; the hook it replaced is $H/pre-push.baton-chained" \
    "saying it left it alone and where the user's hook is"
cp "$TEST_DIR/guard-pre-push" "$H/pre-push"
baton_run guard install
baton_run guard uninstall
ok $RC "baton guard uninstall exits 0"
like "$OUT" "pre-commit: removed; the hook that was there is back" "it puts the user's pre-commit back"
snapshot "$H" >"$TEST_DIR/hooks.after"
same_file "$TEST_DIR/hooks.after" "$TEST_DIR/hooks.before" \
    "the hooks directory is as it was, byte for byte (names, modes, contents)"
baton_run guard uninstall
like "$OUT" "pre-commit: not installed" "a second uninstall changes nothing"

# --- core.hooksPath ---------------------------------------------------------

git config core.hooksPath .githooks
baton_run guard install
ok $RC "install with core.hooksPath exits 0"
test -x "$P/.githooks/pre-commit" && test -x "$P/.githooks/pre-push"
ok $? "the hooks go to core.hooksPath" "$(ls -la "$P/.githooks" 2>&1)"
echo hp >>src/a.c
git add src/a.c
commit_shell "hooks path"
cmp_ok "$RC" -ne 0 "git runs them: the commit of src/a.c is refused"
baton_run guard uninstall
test ! -e "$P/.githooks"
ok $? "uninstall removes the directory install made" "$OUT"
git config --unset core.hooksPath

# --- no broker ------------------------------------------------------------

baton_run guard install
stop_broker
commit_shell "no broker"
ok $RC "without a broker the commit goes ahead"
like "$ERR" "the broker is unreachable .*: the pre-commit goes ahead unchecked" "saying it was not checked"
echo strict >>src/a.c
git add src/a.c
baton_run guard install --strict
like "$OUT" "pre-commit: updated" "install --strict updates the hooks"
commit_shell "strict"
is "$RC" 1 "--strict: without a broker the commit is refused" # git exits 1 when a hook refuses
like "$ERR" "the broker is unreachable .* --strict" "saying why"
BATON_GUARD=off commit_shell "strict bypass"
ok $RC "BATON_GUARD=off still goes ahead"
like "$ERR" "unchecked and unlogged" "saying nothing could be logged"
baton_run guard uninstall
ok $RC "uninstall exits 0"

# --- usage ------------------------------------------------------------------

baton_run guard
is "$RC" 64 "baton guard without a subcommand: exit 64"
baton_run guard check pre-merge
is "$RC" 64 "guard check of an unknown hook: exit 64"
(cd "$TEST_DIR" && GIT_CEILING_DIRECTORIES=$(dirname "$TEST_DIR") timeout 20 "$BATON" guard install \
    >"$TEST_DIR/out" 2>"$TEST_DIR/err")
is "$?" 65 "guard install outside a repository: exit 65"
like "$(cat "$TEST_DIR/err")" "run baton guard in a git repository" "with one line saying so"
baton_run guard --help
like "$OUT" "guard install \\[--strict\\]" "baton guard --help shows its usage"

done_testing
