/*
 * Agents in tmux (DESIGN 13): a project's team runs in one tmux session
 * on a tmux server of baton's own (tmux -L baton-NAME-HASH), so it never
 * meets the user's sessions or another project's.  Each agent gets a
 * window (or a pane), its own name and role in BATON_AGENT and
 * BATON_ROLE, the project's directory or its worktree as its cwd, and
 * an initial prompt that tells it who it is.  tmux runs from argument
 * vectors and runs each agent's command as an argument vector: no shell
 * anywhere.  Every agent is recorded in the broker (launch_set); tmux
 * says whether its process still runs, the broker whether it joined.
 *
 * Agent commands: claude and codex are built in; baton launch takes
 * others as NAME=COMMAND ARGS... and keeps them in the tmux server's
 * environment (BATON_LAUNCH_COMMANDS), where launch_implementer finds
 * them: an agent can start only what the user configured.
 */
#include "config.h"

#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define LAUNCH_TIMEOUT 20.0          /* seconds one tmux command may take */
#define LAUNCH_OUT_MAX (1024 * 1024) /* bytes of its output kept */
#define LAUNCH_ARGS_MAX 64           /* words of one tmux command */

/* The built-in agent commands: the prompt is their last word. */
static const char *const launch_claude[] = { "claude", "-n", "{name}", "{prompt}", NULL };
static const char *const launch_codex[] = { "codex", "{prompt}", NULL };
static const struct {
	const char *type;
	const char *const *argv;
} launch_builtin[] = {
	{ "claude", launch_claude },
	{ "codex", launch_codex },
};

/* The tmux server and session of project: names tmux accepts, the same for every client. */
void
launch_names(const char *project, char *server, size_t ssize, char *session, size_t sesize)
{
	const char *base = strrchr(project, '/');
	uint32_t h = 2166136261u; /* FNV-1a of the project: one server per project */
	const char *p;
	char clean[32];
	size_t n = 0;

	base = base != NULL && base[1] != '\0' ? base + 1 : project;
	for (p = base; *p != '\0' && n + 1 < sizeof clean && n < 20; p++)
		clean[n++] = (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "0123456789_-",
				  *p) != NULL &&
				 *p != '\0')
		    ? *p
		    : '-';
	clean[n] = '\0';
	if (n == 0)
		snprintf(clean, sizeof clean, "project");
	for (p = project; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(server, ssize, "baton-%s-%08x", clean, h);
	snprintf(session, sesize, "%s", clean);
}

/*
 * tmux -L server with the words of argv (NULL-terminated): 0 when it ran
 * (its status in ro), -1 when it could not.
 */
int
launch_tmux(struct run_out *ro, const char *server, const char *const *argv)
{
	const char *words[LAUNCH_ARGS_MAX + 4];
	size_t n = 0, i;

	words[n++] = "tmux";
	words[n++] = "-L";
	words[n++] = server;
	for (i = 0; argv[i] != NULL; i++) {
		if (n == LAUNCH_ARGS_MAX + 3)
			fatalx("launch_tmux: too many words");
		words[n++] = argv[i];
	}
	words[n] = NULL;
	return (run_argv(words, NULL, LAUNCH_TIMEOUT, LAUNCH_OUT_MAX, ro));
}

/* Does the server have session?  1, 0 (no server, or no such session). */
int
launch_has_session(const char *server, const char *session)
{
	const char *argv[] = { "has-session", "-t", session, NULL };
	struct run_out ro;
	char *target;
	int r;

	xasprintf(&target, "=%s", session);
	argv[2] = target;
	r = launch_tmux(&ro, server, argv) == 0 && ro.status == 0;
	run_free(&ro);
	free(target);
	return (r);
}

/* The commands the user gave baton launch, from the server's environment, or NULL. */
cJSON *
launch_commands(const char *server)
{
	static const char *const argv[] = { "show-environment", "-g", "BATON_LAUNCH_COMMANDS",
		NULL };
	struct run_out ro;
	cJSON *j = NULL;
	char *eq;

	if (launch_tmux(&ro, server, argv) == 0 && ro.status == 0 &&
	    (eq = strchr(ro.out.s, '=')) != NULL) {
		eq[1 + strcspn(eq + 1, "\n")] = '\0';
		j = cJSON_Parse(eq + 1);
		if (!cJSON_IsObject(j)) {
			cJSON_Delete(j);
			j = NULL;
		}
	}
	run_free(&ro);
	return (j);
}

/*
 * The argument vector of an agent of type (built in, or in custom: a
 * JSON object of arrays), words "{name}", "{role}" and "{prompt}"
 * replaced; NULL-terminated, malloc'd (words too).  NULL when type is
 * none of them.
 */
char **
launch_argv(const char *type, const cJSON *custom, const char *name, const char *role,
    const char *prompt)
{
	const char *const *builtin = NULL;
	const cJSON *list = NULL, *w;
	const char *word;
	char **argv;
	size_t i, n = 0;

	list = cJSON_GetObjectItemCaseSensitive(custom, type);
	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
		list = NULL;
		for (i = 0; i < nitems(launch_builtin); i++) {
			if (strcmp(launch_builtin[i].type, type) == 0)
				builtin = launch_builtin[i].argv;
		}
		if (builtin == NULL)
			return (NULL);
		while (builtin[n] != NULL)
			n++;
	} else
		n = (size_t)cJSON_GetArraySize(list);
	argv = xcalloc(n + 1, sizeof *argv);
	for (i = 0; i < n; i++) {
		if (builtin != NULL)
			word = builtin[i];
		else {
			w = cJSON_GetArrayItem(list, (int)i);
			word = cJSON_IsString(w) ? w->valuestring : "";
		}
		if (strcmp(word, "{name}") == 0)
			word = name;
		else if (strcmp(word, "{role}") == 0)
			word = role;
		else if (strcmp(word, "{prompt}") == 0)
			word = prompt;
		argv[i] = xstrdup(word);
	}
	return (argv);
}

void
launch_argv_free(char **argv)
{
	size_t i;

	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* The types an agent may be, for a message: built in and configured. */
char *
launch_types(const cJSON *custom)
{
	struct sbuf sb = { NULL, 0, 0 };
	const cJSON *c;
	size_t i;

	sb_adds(&sb, "");
	for (i = 0; i < nitems(launch_builtin); i++)
		sb_addf(&sb, "%s%s", i > 0 ? ", " : "", launch_builtin[i].type);
	cJSON_ArrayForEach(c, custom) {
		sb_addf(&sb, ", %s", c->string);
	}
	return (sb.s);
}

/* The initial prompt of an agent: who it is, its role, where it works. */
char *
launch_prompt(const char *name, const char *role, const char *worktree)
{
	const struct guide_role *g = guide_role(role);
	char *p;

	xasprintf(&p,
	    "You are %s, the %s of a team of AI agents coordinated through baton (its MCP "
	    "tools). %s First call agent_join {name: \"%s\", role: \"%s\"}: it tells you "
	    "what to do next.%s%s%s",
	    name, role, g->summary, name, role,
	    worktree != NULL ? " You work in your own git worktree (this directory, branch "
			     : "",
	    worktree != NULL ? worktree : "",
	    worktree != NULL ? "): commit your work there." : "");
	return (p);
}

/* argv as one line for people (words with spaces or quotes in quotes). */
char *
launch_command_line(char *const *argv)
{
	struct sbuf sb = { NULL, 0, 0 };
	size_t i;

	sb_adds(&sb, "");
	for (i = 0; argv[i] != NULL; i++) {
		if (i > 0)
			sb_adds(&sb, " ");
		if (argv[i][0] != '\0' &&
		    strpbrk(argv[i], " \t\n'\"\\$`;&|<>()*?[]{}~#") == NULL)
			sb_adds(&sb, argv[i]);
		else
			sb_shquote(&sb, argv[i]);
	}
	if (sb.len > PATH_ARG_MAX - 4) {
		sb.len = PATH_ARG_MAX - 4;
		sb_adds(&sb, "...");
	}
	return (sb.s);
}

/*
 * Where an agent's BATON_* variables come from: BATON_AGENT and
 * BATON_ROLE its own, the overrides this client runs with (socket,
 * state directory, project...) as they are, so that it finds the same
 * broker and project.  "-e VAR=VALUE" pairs appended to words (from
 * *n), malloc'd values in keep.
 */
static void
launch_env(const char **words, size_t *n, char **keep, size_t *nkeep, const char *name,
    const char *role)
{
	static const char *const skip[] = { "BATON_AGENT=", "BATON_ROLE=", "BATON_FENCE=",
		"BATON_LOCK_TOKEN=", "BATON_LAUNCH_COMMANDS=" };
	extern char **environ;
	char **ep;
	size_t i;

	xasprintf(&keep[(*nkeep)++], "BATON_AGENT=%s", name);
	xasprintf(&keep[(*nkeep)++], "BATON_ROLE=%s", role);
	words[(*n)++] = "-e";
	words[(*n)++] = keep[*nkeep - 2];
	words[(*n)++] = "-e";
	words[(*n)++] = keep[*nkeep - 1];
	for (ep = environ; *ep != NULL && *n < LAUNCH_ARGS_MAX - 24; ep++) {
		if (strncmp(*ep, "BATON_", 6) != 0 || strchr(*ep, '=') == NULL)
			continue;
		for (i = 0; i < nitems(skip); i++) {
			if (strncmp(*ep, skip[i], strlen(skip[i])) == 0)
				break;
		}
		if (i < nitems(skip))
			continue;
		words[(*n)++] = "-e";
		words[(*n)++] = *ep;
	}
}

/*
 * Start one agent: a window of its own in session (made, detached, when
 * the server has none), or a pane split from target_pane when that is
 * given (--layout panes).  The window's name is the agent's.  0 with
 * window ("session:index") and pane ("PID%N": the server's pid and the
 * pane's id, which a later server reuses) filled, or -1 with *why.
 */
int
launch_start(const struct launch_agent *a, const char *server, const char *session,
    const char *target_pane, struct launch_where *at, char **why)
{
	const char *words[LAUNCH_ARGS_MAX + 8];
	char *keep[8], *target = NULL, *top;
	size_t n = 0, nkeep = 0, i;
	struct run_out ro;
	int r, fresh = !launch_has_session(server, session);

	*why = NULL;
	if (fresh) {
		/* the session, with remain-on-exit so an agent that fails shows why */
		words[n++] = "start-server";
		words[n++] = ";";
		words[n++] = "set-option";
		words[n++] = "-g";
		words[n++] = "remain-on-exit";
		words[n++] = "on";
		words[n++] = ";";
		words[n++] = "new-session";
		words[n++] = "-d";
		words[n++] = "-s";
		words[n++] = session;
		words[n++] = "-x";
		words[n++] = "200";
		words[n++] = "-y";
		words[n++] = "50";
		words[n++] = "-n";
		words[n++] = a->wname != NULL ? a->wname : a->top ? "top" : a->name;
	} else if (target_pane != NULL) {
		words[n++] = "split-window";
		words[n++] = "-d";
		words[n++] = "-t";
		words[n++] = target_pane;
	} else {
		xasprintf(&target, "=%s:", session);
		words[n++] = "new-window";
		words[n++] = "-d";
		words[n++] = "-t";
		words[n++] = target;
		words[n++] = "-n";
		words[n++] = a->wname != NULL ? a->wname : a->top ? "top" : a->name;
	}
	words[n++] = "-P";
	words[n++] = "-F";
	words[n++] = "#{session_name}:#{window_index} #{pid}#{pane_id}";
	words[n++] = "-c";
	words[n++] = a->cwd;
	launch_env(words, &n, keep, &nkeep, a->name, a->role);
	words[n++] = "--";
	for (i = 0; a->argv[i] != NULL && n < LAUNCH_ARGS_MAX; i++)
		words[n++] = a->argv[i];
	words[n] = NULL;
	if (a->argv[i] != NULL) {
		xasprintf(why,
		    "the command of %s has too many words for tmux (%d at most, "
		    "with its environment)",
		    a->name, LAUNCH_ARGS_MAX);
		r = -1;
		memset(&ro, 0, sizeof ro);
	} else
		r = launch_tmux(&ro, server, words);
	if (r == 0 && ro.status == 0 && (top = strchr(ro.out.s, ' ')) != NULL) {
		snprintf(at->window, sizeof at->window, "%.*s", (int)(top - ro.out.s),
		    ro.out.s);
		snprintf(at->pane, sizeof at->pane, "%.*s", (int)strcspn(top + 1, "\n"),
		    top + 1);
	} else if (*why == NULL && fresh && r == 0 && ro.err.len > 0 &&
	    strstr(run_said(&ro), "duplicate session") != NULL) {
		/* another baton made the session in between: a window in it, then */
		r = launch_start(a, server, session, target_pane, at, why);
	} else if (*why == NULL) {
		xasprintf(why, "tmux could not start %s: %s", a->name,
		    ro.err.len > 0 ? run_said(&ro) : "no answer");
		r = -1;
	}
	run_free(&ro);
	for (i = 0; i < nkeep; i++)
		free(keep[i]);
	free(target);
	return (r);
}

/* The directory agents work in: the project's when it is a directory, else the cwd's checkout. */
char *
launch_project_dir(const char *project)
{
	struct stat sb;
	char cwd[PATH_MAX], *repo;

	if (project != NULL && project[0] == '/' && stat(project, &sb) == 0 &&
	    S_ISDIR(sb.st_mode))
		return (xstrdup(project));
	if (getcwd(cwd, sizeof cwd) == NULL)
		return (xstrdup("/"));
	if ((repo = project_repository(cwd, NULL)) != NULL)
		return (repo);
	return (xstrdup(cwd));
}

/* The live panes of server: "%N" ids whose process runs, as a JSON object of trues. */
cJSON *
launch_live_panes(const char *server)
{
	static const char *const argv[] = { "list-panes", "-a", "-F",
		"#{pid}#{pane_id} #{pane_pid} #{pane_dead}", NULL };
	struct run_out ro;
	cJSON *live = cJSON_CreateObject();
	char *line, *save = NULL, id[32];
	long pid;
	int dead;

	if (launch_tmux(&ro, server, argv) == 0 && ro.status == 0) {
		for (line = strtok_r(ro.out.s, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			if (sscanf(line, "%31s %ld %d", id, &pid, &dead) == 3 && !dead)
				cJSON_AddNumberToObject(live, id, (double)pid);
		}
	}
	run_free(&ro);
	return (live);
}

/* ---- launch_implementer, implementer_list ---- */

struct launch_st {
	char server[128], session[64];
	char *dir;     /* the project's directory */
	cJSON *custom; /* the commands baton launch was given */
	char *name, *cwd, *worktree, *command;
	struct launch_where at;
	char **argv;
};

static void
launch_st_free(void *arg)
{
	struct launch_st *st = arg;

	free(st->dir);
	cJSON_Delete(st->custom);
	free(st->name);
	free(st->cwd);
	free(st->worktree);
	free(st->command);
	launch_argv_free(st->argv);
	free(st);
}

static struct launch_st *
launch_st(struct xop *x)
{
	struct launch_st *st;

	if ((st = x->st) == NULL) {
		st = x->st = xcalloc(1, sizeof *st);
		x->st_free = launch_st_free;
		st->dir = launch_project_dir(x->project);
		launch_names(x->project, st->server, sizeof st->server, st->session,
		    sizeof st->session);
	}
	return (st);
}

/* A string member of a JSON object, or NULL. */
static const char *
launch_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return (cJSON_IsString(v) ? v->valuestring : NULL);
}

/* The record named name in a launch_get answer, or NULL. */
static cJSON *
launch_rec(const cJSON *answer, const char *name)
{
	cJSON *a;

	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(answer, "agents")) {
		if (launch_str(a, "name") != NULL && strcmp(launch_str(a, "name"), name) == 0)
			return (a);
	}
	return (NULL);
}

/* Ask the broker to record agent a, started at st->at. */
static int
launch_record(struct xop *x, const char *name, const char *type, const char *role)
{
	struct launch_st *st = launch_st(x);
	struct fbuf *fb = xop_call(x, OP_launch_set);

	pk_kstr(fb, "name", name);
	pk_kstr(fb, "type", type);
	pk_kstr(fb, "role", role);
	pk_kstr(fb, "server", st->server);
	pk_kstr(fb, "window", st->at.window);
	pk_kstr(fb, "pane", st->at.pane);
	pk_kstr(fb, "cwd", st->cwd);
	pk_kstr(fb, "worktree", st->worktree != NULL ? st->worktree : "");
	pk_kstr(fb, "command", st->command);
	pk_kstr(fb, "state", "running");
	return (XOP_CALL);
}

/* The name of a new agent of type: given, else TYPE-N, the first N not recorded. */
static char *
launch_new_name(struct xop *x, const char *type)
{
	const char *name = xop_arg(x, "name");
	char *n;
	int k;

	if (name != NULL)
		return (xstrdup(name));
	for (k = 1;; k++) {
		xasprintf(&n, "%.*s-%d", AGENT_NAME_MAX_LEN - 8, type, k);
		if (launch_rec(x->answer, n) == NULL)
			return (n);
		free(n);
	}
}

/* launch_implementer: a new window in the project's session, running a configured agent. */
int
launch_implementer_step(struct xop *x)
{
	struct launch_st *st = launch_st(x);
	const char *type = xop_arg(x, "type"), *pane;
	cJSON *rec, *live, *out;
	struct launch_agent a;
	struct fbuf *fb;
	char *types, *why, *prompt;

	switch (x->n) {
	case 0: xop_call(x, OP_launch_get); return (XOP_CALL);
	case 1:
		st->custom = launch_commands(st->server);
		st->name = launch_new_name(x, type);
		if ((st->argv = launch_argv(type, st->custom, "", "", "")) == NULL) {
			types = launch_types(st->custom);
			xop_fail(x, ERR_INVALID,
			    "type %s is no agent command baton knows: give one of %s (the user "
			    "adds "
			    "others with baton launch ... -- NAME=COMMAND ARGS...)",
			    type, types);
			free(types);
			return (XOP_FAIL);
		}
		launch_argv_free(st->argv);
		st->argv = NULL;
		if ((rec = launch_rec(x->answer, st->name)) != NULL &&
		    (pane = launch_str(rec, "pane")) != NULL) {
			live = launch_live_panes(st->server);
			if (cJSON_GetObjectItemCaseSensitive(live, pane) != NULL) {
				cJSON_Delete(live);
				return (xop_fail(x, ERR_CONFLICT,
				    "%s runs already (tmux window %s): pick another name",
				    st->name,
				    launch_str(rec, "window") != NULL
					? launch_str(rec, "window")
					: "?"));
			}
			cJSON_Delete(live);
		}
		if (strcmp(xop_arg(x, "isolation"), "worktree") != 0)
			return (XOP_NEXT);
		fb = xcalloc(1, sizeof *fb);
		fbuf_init(fb);
		pk_map_open(fb);
		pk_kstr(fb, "agent", st->name);
		{
			int r = xop_sub(x, OP_worktree_create, fb);

			free(fb);
			return (r);
		}
	case 2:
		if (x->sub_result != NULL) {
			st->cwd = xstrdup(launch_str(x->sub_result, "path"));
			st->worktree = xstrdup(launch_str(x->sub_result, "name"));
		} else
			st->cwd = xstrdup(st->dir);
		prompt = launch_prompt(st->name, "implementer",
		    x->sub_result != NULL ? launch_str(x->sub_result, "branch") : NULL);
		st->argv = launch_argv(type, st->custom, st->name, "implementer", prompt);
		free(prompt);
		st->command = launch_command_line(st->argv);
		memset(&a, 0, sizeof a);
		a.name = st->name;
		a.role = (char *)"implementer";
		a.type = (char *)type;
		a.cwd = st->cwd;
		a.argv = st->argv;
		if (launch_start(&a, st->server, st->session, NULL, &st->at, &why) != 0) {
			xop_fail(x, ERR_UNAVAILABLE, "%s (is tmux installed?)", why);
			free(why);
			return (XOP_FAIL);
		}
		return (launch_record(x, st->name, type, "implementer"));
	default:
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "name", st->name);
		cJSON_AddStringToObject(out, "type", type);
		cJSON_AddStringToObject(out, "window", st->at.window);
		cJSON_AddStringToObject(out, "cwd", st->cwd);
		xasprintf(&why,
		    "started; it joins as %s (implementer_list shows when); the user watches "
		    "with tmux -L %s attach -t %s",
		    st->name, st->server, st->session);
		cJSON_AddStringToObject(out, "hint", why);
		free(why);
		return (xop_done(x, out));
	}
}

/* What an agent is now: exited (its process ended), joined (it called agent_join) or running. */
const char *
launch_state(const cJSON *rec, const cJSON *live)
{
	const char *pane = launch_str(rec, "pane");

	if (pane == NULL || cJSON_GetObjectItemCaseSensitive(live, pane) == NULL)
		return ("exited");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "joined")))
		return ("joined");
	return ("running");
}

/* implementer_list: every agent launched in the project, its state and task. */
int
launch_list_step(struct xop *x)
{
	struct launch_st *st = launch_st(x);
	cJSON *out, *list, *a, *o, *live, *tasks;
	const char *s;

	if (x->n == 0) {
		xop_call(x, OP_launch_get);
		return (XOP_CALL);
	}
	live = launch_live_panes(st->server);
	out = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(out, "agents");
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(x->answer, "agents")) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", launch_str(a, "name"));
		cJSON_AddStringToObject(o, "type",
		    (s = launch_str(a, "type")) != NULL ? s : "");
		cJSON_AddStringToObject(o, "role",
		    (s = launch_str(a, "role")) != NULL ? s : "");
		cJSON_AddStringToObject(o, "state", launch_state(a, live));
		tasks = cJSON_GetObjectItemCaseSensitive(a, "tasks");
		if (cJSON_GetArraySize(tasks) > 0 &&
		    cJSON_IsString(cJSON_GetArrayItem(tasks, 0)))
			cJSON_AddStringToObject(o, "task",
			    cJSON_GetArrayItem(tasks, 0)->valuestring);
		cJSON_AddStringToObject(o, "window",
		    (s = launch_str(a, "window")) != NULL ? s : "");
		cJSON_AddStringToObject(o, "cwd", (s = launch_str(a, "cwd")) != NULL ? s : "");
		cJSON_AddItemToArray(list, o);
	}
	if (launch_has_session(st->server, st->session))
		cJSON_AddStringToObject(out, "session", st->session);
	if (cJSON_GetArraySize(list) == 0)
		cJSON_AddStringToObject(out, "hint",
		    "nobody launched yet: launch_implementer {type} starts one");
	cJSON_Delete(live);
	return (xop_done(x, out));
}
