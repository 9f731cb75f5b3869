/*
 * `baton launch`: a whole team in tmux with one command (DESIGN 13).  A
 * session named after the project on baton's own tmux server (launch.c),
 * a window (or pane) per agent started with its name, role and initial
 * prompt, and a window with baton top.  --worktrees starts each
 * implementer in its own git worktree (worktree.c); --stop ends the
 * agents cleanly (SIGTERM, then the server once they are gone).  Agents
 * other than claude and codex are given after "--" as NAME=COMMAND
 * ARGS... (argument vectors: nothing goes through a shell).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define LAUNCH_TEAM_MAX 20       /* agents one baton launch starts */
#define LAUNCH_TYPE_COUNT_MAX 16 /* implementers of one type */
#define LAUNCH_CUSTOM_MAX 16     /* NAME=COMMAND definitions */
#define LAUNCH_WORDS_MAX 24      /* words of one NAME=COMMAND ARG... */
#define LAUNCH_STOP_WAIT 10.0    /* seconds --stop waits for agents to end */
#define LAUNCH_STOP_POLL_MS 50

static int launch_exec(const struct cmd_entry *, const struct client_opts *, int, char **);

const struct cmd_entry cmd_launch_entry = {
	.name = "launch",
	.usage = "launch [--planner TYPE] [--implementers TYPE:N,...] [--reviewer TYPE] "
		 "[--worktrees] [--layout windows|panes] [--attach] [--dry-run] "
		 "[-- NAME=COMMAND [ARG...]...]\n"
		 "launch --stop",
	.desc = "start the project's team in tmux, on a tmux server of baton's own: an agent "
		"per window (or pane) with its name, role and first prompt, and baton top "
		"(default: --planner claude --implementers codex:1); TYPE is claude, codex or "
		"a NAME given after --; --stop ends them",
	.exec = launch_exec,
};

struct team {
	struct launch_agent a[LAUNCH_TEAM_MAX];
	size_t n;
	cJSON *custom; /* NAME: [COMMAND, ARG...] */
	int worktrees, panes, attach, stop, dry;
	char server[128], session[64];
	char *dir;
	struct conn c;
	int open;
};

/* Is w NAME=... with NAME a word that may name an agent type? */
static int
launch_is_def(const char *w)
{
	const char *eq = strchr(w, '=');
	const char *p;

	if (eq == NULL || eq == w || eq - w > 32 || eq[1] == '\0')
		return (0);
	if (!((*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z')))
		return (0);
	for (p = w; p < eq; p++) {
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
			*p) == NULL)
			return (0);
	}
	return (1);
}

/* The words after "--": NAME=COMMAND [ARG...] definitions, into t->custom. */
static int
launch_defs(struct team *t, int argc, char **argv)
{
	cJSON *cur = NULL;
	char *name;
	int i;

	t->custom = cJSON_CreateObject();
	for (i = 0; i < argc; i++) {
		if (launch_is_def(argv[i])) {
			if (cJSON_GetArraySize(t->custom) == LAUNCH_CUSTOM_MAX)
				return (cli_usage_err("launch takes at most %d NAME=COMMAND",
				    LAUNCH_CUSTOM_MAX));
			name = xstrndup(argv[i], (size_t)(strchr(argv[i], '=') - argv[i]));
			cJSON_DeleteItemFromObjectCaseSensitive(t->custom, name);
			cur = cJSON_AddArrayToObject(t->custom, name);
			free(name);
			cJSON_AddItemToArray(cur, cJSON_CreateString(strchr(argv[i], '=') + 1));
		} else if (cur == NULL)
			return (
			    cli_usage_err("after --, give NAME=COMMAND [ARG...] (got '%s'), "
					  "e.g. -- aider=aider --yes",
				argv[i]));
		else if (cJSON_GetArraySize(cur) == LAUNCH_WORDS_MAX)
			return (cli_usage_err("a NAME=COMMAND has at most %d words, command "
					      "included",
			    LAUNCH_WORDS_MAX));
		else
			cJSON_AddItemToArray(cur, cJSON_CreateString(argv[i]));
	}
	return (0);
}

/* Is type one the team can run: built in or defined after --? */
static int
launch_known(const struct team *t, const char *type)
{
	char **argv = launch_argv(type, t->custom, "", "", "");
	int ok = argv != NULL;

	launch_argv_free(argv);
	return (ok);
}

/* Add one agent of type to the team. */
static int
launch_add(struct team *t, const char *type, const char *name, const char *role)
{
	struct launch_agent *a;
	char *types;

	if (!launch_known(t, type)) {
		types = launch_types(t->custom);
		cli_usage_err("unknown agent type '%s': give one of %s, or define it after --: "
			      "%s=COMMAND [ARG...]",
		    type, types, type);
		free(types);
		return (EXIT_USAGE);
	}
	if (t->n == LAUNCH_TEAM_MAX)
		return (cli_usage_err("launch starts at most %d agents", LAUNCH_TEAM_MAX));
	a = &t->a[t->n++];
	memset(a, 0, sizeof *a);
	a->type = xstrdup(type);
	a->name = xstrdup(name);
	a->role = xstrdup(role);
	return (0);
}

/* --implementers TYPE:N,...: TYPE-1, TYPE-2... */
static int
launch_implementers(struct team *t, const char *spec)
{
	char *copy = xstrdup(spec), *item, *save = NULL, *colon, *end, *name;
	long n, k;
	int r = 0;

	for (item = strtok_r(copy, ",", &save); item != NULL && r == 0;
	     item = strtok_r(NULL, ",", &save)) {
		n = 1;
		if ((colon = strchr(item, ':')) != NULL) {
			*colon = '\0';
			errno = 0;
			n = strtol(colon + 1, &end, 10);
			if (errno != 0 || *end != '\0' || n < 1 || n > LAUNCH_TYPE_COUNT_MAX) {
				r = cli_usage_err("--implementers %s: give TYPE:N with N from "
						  "1 to %d",
				    spec, LAUNCH_TYPE_COUNT_MAX);
				break;
			}
		}
		for (k = 1; k <= n && r == 0; k++) {
			xasprintf(&name, "%.50s-%ld", item, k);
			r = launch_add(t, item, name, "implementer");
			free(name);
		}
	}
	free(copy);
	return (r);
}

static void
launch_team_free(struct team *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->a[i].name);
		free(t->a[i].role);
		free(t->a[i].type);
		free(t->a[i].cwd);
		free(t->a[i].worktree);
		launch_argv_free(t->a[i].argv);
	}
	cJSON_Delete(t->custom);
	free(t->dir);
	if (t->open)
		conn_close(&t->c);
}

/* The options: 0, -1 for help, or an exit status. */
static int
launch_options(const struct cmd_entry *ce, struct team *t, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "planner", required_argument, NULL, 'p' },
		{ "implementers", required_argument, NULL, 'i' },
		{ "reviewer", required_argument, NULL, 'r' },
		{ "worktrees", no_argument, NULL, 'w' },
		{ "layout", required_argument, NULL, 'l' },
		{ "attach", no_argument, NULL, 'a' },
		{ "stop", no_argument, NULL, 's' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *planner = NULL, *impl = NULL, *reviewer = NULL;
	int ch, r;

	optind = 0; /* glibc: start afresh (cli.c already ran getopt) */
	while ((ch = getopt_long(argc, argv, "+:p:i:r:wl:asnh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': planner = optarg; break;
		case 'i': impl = optarg; break;
		case 'r': reviewer = optarg; break;
		case 'w': t->worktrees = 1; break;
		case 'l':
			if (strcmp(optarg, "windows") != 0 && strcmp(optarg, "panes") != 0)
				return (cli_usage_err("--layout takes windows or panes"));
			t->panes = strcmp(optarg, "panes") == 0;
			break;
		case 'a': t->attach = 1; break;
		case 's': t->stop = 1; break;
		case 'n': t->dry = 1; break;
		case 'h': help_command(stdout, ce); return (-1);
		default: return (cli_opt_err(ce, ch, argv));
		}
	}
	if ((r = launch_defs(t, argc - optind, argv + optind)) != 0)
		return (r);
	if (t->stop)
		return (planner != NULL || impl != NULL || reviewer != NULL || t->worktrees ||
			    t->attach || t->dry
			? cli_usage_err("--stop takes no other option")
			: 0);
	if (planner == NULL && impl == NULL && reviewer == NULL) {
		planner = "claude";
		impl = "codex:1";
	}
	if (planner != NULL && (r = launch_add(t, planner, "planner", "planner")) != 0)
		return (r);
	if (impl != NULL && (r = launch_implementers(t, impl)) != 0)
		return (r);
	if (reviewer != NULL && (r = launch_add(t, reviewer, "reviewer", "reviewer")) != 0)
		return (r);
	return (0);
}

/* Connect and learn the project, its directory and its tmux names. */
static int
launch_connect(struct team *t, const struct client_opts *o)
{
	struct op_error err;

	memset(&err, 0, sizeof err);
	if (conn_open(&t->c, o, &err) != 0)
		return (cli_fail(NULL, &err));
	t->open = 1;
	t->dir = launch_project_dir(t->c.project);
	launch_names(t->c.project, t->server, sizeof t->server, t->session, sizeof t->session);
	return (0);
}

/* A call of the broker over t's connection: 0 with *u holding *r, or a status said. */
static int
launch_call(struct team *t, const char *op, struct fbuf *fb, msgpack_unpacked *u,
    const msgpack_object **r)
{
	struct op_error err;

	memset(&err, 0, sizeof err);
	msgpack_unpacked_init(u);
	if (conn_call(&t->c, op, fb != NULL ? fb->sb.data + FRAME_HDR : NULL,
		fb != NULL ? fb->sb.size - FRAME_HDR : 0, u, r, &err) != 0) {
		msgpack_unpacked_destroy(u);
		return (cli_fail(op, &err));
	}
	return (0);
}

/* Each implementer's worktree (--worktrees): made or reused; its cwd. */
static int
launch_worktrees(struct team *t)
{
	struct launch_agent *a;
	const cJSON *v;
	cJSON *res;
	struct fbuf fb;
	size_t i;
	int status;

	for (i = 0; i < t->n; i++) {
		a = &t->a[i];
		if (strcmp(a->role, "implementer") != 0)
			continue;
		fbuf_init(&fb);
		pk_map_open(&fb);
		pk_kstr(&fb, "agent", a->name);
		pk_map_close(&fb);
		status = xop_cli(&ops[OP_worktree_create], fb.sb.data + FRAME_HDR,
		    fb.sb.size - FRAME_HDR, &t->c, &res);
		fbuf_free(&fb);
		if (status != 0)
			return (status);
		v = cJSON_GetObjectItemCaseSensitive(res, "path");
		a->cwd = xstrdup(cJSON_IsString(v) ? v->valuestring : t->dir);
		v = cJSON_GetObjectItemCaseSensitive(res, "branch");
		a->worktree = xstrdup(cJSON_IsString(v) ? v->valuestring : "");
		cJSON_Delete(res);
	}
	return (0);
}

/* The command of every agent: its type's, with its prompt. */
static void
launch_commands_for(struct team *t)
{
	struct launch_agent *a;
	char *prompt;
	size_t i;

	for (i = 0; i < t->n; i++) {
		a = &t->a[i];
		if (a->cwd == NULL)
			a->cwd = xstrdup(t->dir);
		prompt = launch_prompt(a->name, a->role, a->worktree);
		a->argv = launch_argv(a->type, t->custom, a->name, a->role, prompt);
		free(prompt);
	}
}

/* --dry-run: what would start, as JSON: names, roles, directories, commands. */
static int
launch_print_plan(struct team *t)
{
	cJSON *plan = cJSON_CreateObject(), *list, *o, *argv;
	char *text;
	size_t i, k;

	cJSON_AddStringToObject(plan, "server", t->server);
	cJSON_AddStringToObject(plan, "session", t->session);
	list = cJSON_AddArrayToObject(plan, "agents");
	for (i = 0; i < t->n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", t->a[i].name);
		cJSON_AddStringToObject(o, "role", t->a[i].role);
		cJSON_AddStringToObject(o, "type", t->a[i].type);
		cJSON_AddStringToObject(o, "cwd", t->a[i].cwd);
		cJSON_AddBoolToObject(o, "worktree",
		    t->worktrees && strcmp(t->a[i].role, "implementer") == 0);
		argv = cJSON_AddArrayToObject(o, "argv");
		for (k = 0; t->a[i].argv[k] != NULL; k++)
			cJSON_AddItemToArray(argv, cJSON_CreateString(t->a[i].argv[k]));
		cJSON_AddItemToArray(list, o);
	}
	if ((text = cJSON_PrintUnformatted(plan)) == NULL)
		fatalx("cannot print the plan");
	printf("%s\n", text);
	free(text);
	cJSON_Delete(plan);
	return (cli_flush(0));
}

/* Keep the team's commands in the server's environment for launch_implementer. */
static int
launch_keep_commands(struct team *t)
{
	const char *argv[] = { "set-environment", "-g", "BATON_LAUNCH_COMMANDS", NULL, NULL };
	struct run_out ro;
	char *json;
	int r;

	if ((json = cJSON_PrintUnformatted(t->custom)) == NULL)
		fatalx("cannot print the commands");
	argv[3] = json;
	r = launch_tmux(&ro, t->server, argv) == 0 && ro.status == 0 ? 0 : -1;
	if (r != 0)
		cli_err("tmux set-environment: %s", run_said(&ro));
	run_free(&ro);
	free(json);
	return (r);
}

/* Record agent a, started at at, in the broker. */
static int
launch_record_agent(struct team *t, const struct launch_agent *a, const struct launch_where *at)
{
	const msgpack_object *r;
	msgpack_unpacked u;
	struct fbuf fb;
	char *line = launch_command_line(a->argv);
	int status;

	fbuf_init(&fb);
	pk_map_open(&fb);
	pk_kstr(&fb, "name", a->name);
	pk_kstr(&fb, "type", a->type);
	pk_kstr(&fb, "role", a->role);
	pk_kstr(&fb, "server", t->server);
	pk_kstr(&fb, "window", at->window);
	pk_kstr(&fb, "pane", at->pane);
	pk_kstr(&fb, "cwd", a->cwd);
	pk_kstr(&fb, "worktree", a->worktree != NULL ? a->worktree : "");
	pk_kstr(&fb, "command", line);
	pk_kstr(&fb, "state", "running");
	pk_map_close(&fb);
	free(line);
	if ((status = launch_call(t, "launch_set", &fb, &u, &r)) == 0)
		msgpack_unpacked_destroy(&u);
	fbuf_free(&fb);
	return (status);
}

/* A pane as tmux targets it: "%N" of a recorded "PID%N". */
static const char *
launch_target(const char *pane)
{
	const char *p = strchr(pane, '%');

	return (p != NULL ? p : pane);
}

/* Start the team: baton top's window, then every agent; each recorded. */
static int
launch_start_team(struct team *t)
{
	struct launch_agent top;
	struct launch_where at, first;
	char *argv[3], *why, *self = setup_self();
	const char *tiled[] = { "select-layout", "-t", NULL, "tiled", NULL };
	struct run_out ro;
	size_t i;
	int status;

	memset(&top, 0, sizeof top);
	top.name = (char *)"top";
	top.role = (char *)"";
	top.cwd = t->dir;
	top.top = 1;
	argv[0] = self;
	argv[1] = (char *)"top";
	argv[2] = NULL;
	top.argv = argv;
	status = launch_start(&top, t->server, t->session, NULL, &at, &why);
	free(self);
	if (status != 0 || launch_keep_commands(t) != 0) {
		if (status != 0)
			cli_err("%s (is tmux installed?)", why);
		free(why);
		return (EXIT_UNAVAILABLE);
	}
	for (i = 0; i < t->n; i++) {
		t->a[i].wname = t->panes ? "agents" : NULL;
		if (launch_start(&t->a[i], t->server, t->session,
			t->panes && i > 0 ? launch_target(first.pane) : NULL, &at, &why) != 0) {
			cli_err("%s", why);
			free(why);
			return (EXIT_UNAVAILABLE);
		}
		if (i == 0)
			first = at;
		if ((status = launch_record_agent(t, &t->a[i], &at)) != 0)
			return (status);
		printf("%-16s %-11s %-8s %-10s %s\n", t->a[i].name, t->a[i].role, t->a[i].type,
		    at.window, t->a[i].cwd);
	}
	if (t->panes && t->n > 1) {
		tiled[2] = launch_target(first.pane);
		(void)launch_tmux(&ro, t->server, tiled); /* a layout only: best effort */
		run_free(&ro);
	}
	fprintf(stderr, "baton: the team runs in tmux session %s: tmux -L %s attach -t %s\n",
	    t->session, t->server, t->session);
	return (cli_flush(0));
}

/*
 * --stop: SIGTERM to every recorded agent whose pane runs, a wait (at
 * most LAUNCH_STOP_WAIT seconds) until they are gone, then the server
 * (SIGHUP to what is left); the records say exited.
 */
static int
launch_stop(struct team *t)
{
	static const char *const kill_server[] = { "kill-server", NULL };
	const msgpack_object *r, *list, *e, *rr;
	msgpack_unpacked u, u2;
	struct run_out ro;
	struct fbuf fb;
	cJSON *live, *pid, *running, *p;
	char *raw;
	double until;
	uint32_t i;
	char pane[32], name[AGENT_NAME_MAX_LEN * 4 + 1];
	int status, left;

	if ((status = launch_call(t, "launch_get", NULL, &u, &r)) != 0)
		return (status);
	list = mp_get(r, "agents");
	live = launch_live_panes(t->server);
	running = cJSON_CreateArray(); /* {name, shown, pane} of the agents signalled */
	for (i = 0;
	     list != NULL && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
	     i++) {
		e = &list->via.array.ptr[i];
		pid = cJSON_GetObjectItemCaseSensitive(live,
		    cli_field(e, "pane", pane, sizeof pane));
		if (pid == NULL || (raw = mp_get_strdup(e, "name")) == NULL)
			continue;
		cli_field(e, "name", name, sizeof name); /* shown escaped */
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", raw);
		cJSON_AddStringToObject(p, "shown", name);
		cJSON_AddStringToObject(p, "pane", pane);
		cJSON_AddItemToArray(running, p);
		free(raw);
		if (kill((pid_t)pid->valuedouble, SIGTERM) != 0 && errno != ESRCH)
			cli_err("could not signal %s's process %.0f: %s", name,
			    pid->valuedouble, strerror(errno));
	}
	msgpack_unpacked_destroy(&u);
	until = mono_now() + LAUNCH_STOP_WAIT;
	do { /* other processes' ends: nothing tells us, so look (bounded) */
		left = 0;
		cJSON_Delete(live);
		live = launch_live_panes(t->server);
		cJSON_ArrayForEach(p, running) {
			if (cJSON_GetObjectItemCaseSensitive(live,
				cJSON_GetObjectItemCaseSensitive(p, "pane")->valuestring) !=
			    NULL)
				left++;
		}
		if (left > 0)
			usleep(LAUNCH_STOP_POLL_MS * 1000);
	} while (left > 0 && mono_now() < until);
	cJSON_Delete(live);
	(void)launch_tmux(&ro, t->server, kill_server); /* gone already is fine */
	run_free(&ro);
	cJSON_ArrayForEach(p, running) {
		fbuf_init(&fb);
		pk_map_open(&fb);
		pk_kstr(&fb, "name", cJSON_GetObjectItemCaseSensitive(p, "name")->valuestring);
		pk_kstr(&fb, "state", "exited");
		pk_map_close(&fb);
		status = launch_call(t, "launch_set", &fb, &u2, &rr);
		fbuf_free(&fb);
		if (status != 0)
			break;
		msgpack_unpacked_destroy(&u2);
		printf("stopped %s\n",
		    cJSON_GetObjectItemCaseSensitive(p, "shown")->valuestring);
	}
	if (status == 0 && cJSON_GetArraySize(running) == 0)
		printf("no agent of the project runs\n");
	cJSON_Delete(running);
	if (status == 0 && left > 0)
		cli_err("%d agent%s did not end within %g s of SIGTERM: the tmux server was "
			"killed under them",
		    left, left == 1 ? "" : "s", LAUNCH_STOP_WAIT);
	return (status != 0 ? status : cli_flush(0));
}

/* `baton launch`: the options, then stop, plan, or start (and attach). */
static int
launch_exec(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	struct team t;
	char *tmux_argv[7], target[80];
	int status;

	memset(&t, 0, sizeof t);
	if ((status = launch_options(ce, &t, argc, argv)) != 0) {
		launch_team_free(&t);
		return (status == -1 ? cli_flush(0) : status);
	}
	if ((status = launch_connect(&t, o)) != 0)
		goto out;
	if (t.stop) {
		status = launch_stop(&t);
		goto out;
	}
	if (!t.dry && launch_has_session(t.server, t.session)) {
		cli_err("the project's team runs already: tmux -L %s attach -t %s (baton "
			"launch "
			"--stop ends it)",
		    t.server, t.session);
		status = EXIT_CONFLICT;
		goto out;
	}
	if (t.worktrees && !t.dry && (status = launch_worktrees(&t)) != 0)
		goto out;
	launch_commands_for(&t);
	if (t.dry) {
		status = launch_print_plan(&t);
		goto out;
	}
	if ((status = launch_start_team(&t)) != 0 || !t.attach)
		goto out;
	conn_close(&t.c); /* tmux attach must not keep this session open */
	t.open = 0;
	snprintf(target, sizeof target, "=%s", t.session);
	tmux_argv[0] = (char *)"tmux";
	tmux_argv[1] = (char *)"-L";
	tmux_argv[2] = t.server;
	tmux_argv[3] = (char *)"attach";
	tmux_argv[4] = (char *)"-t";
	tmux_argv[5] = target;
	tmux_argv[6] = NULL;
	execvp("tmux", tmux_argv);
	cli_syserr("cannot run tmux attach");
	status = EXIT_UNAVAILABLE;
out:
	launch_team_free(&t);
	return (status);
}
