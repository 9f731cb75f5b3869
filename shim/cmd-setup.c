/*
 * Agent set-up: `baton install` / `uninstall` put baton's MCP server
 * entry into Claude Code's and Codex's configuration; `baton init` /
 * `enable` / `disable` keep the coordination instructions in CLAUDE.md
 * and AGENTS.md; and the set-up lines of `baton status`.  The edits are
 * exact-span (setup-json.c, setup-toml.c) and every write is atomic,
 * after a backup (setup-file.c).
 */
#include "config.h"

#include <sys/stat.h>

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define MD_BEGIN "<!-- baton:begin -->"
#define MD_END "<!-- baton:end -->"

extern char **environ;

static int setup_install_exec(const struct cmd_entry *, const struct client_opts *, int,
    char **);
static int setup_md_exec(const struct cmd_entry *, const struct client_opts *, int, char **);

const struct cmd_entry cmd_install_entry = {
	.name = "install",
	.usage =
	    "install [--claude] [--codex] [--all] [--scope project|user] [--tools PROFILE] "
	    "[--group NAME] [--compat lockstep|airlock [--roots DIR,...] "
	    "[--command-allow EXE,...] [--install-allow MANAGER,...]] [--http [ADDR:]PORT] "
	    "[--hooks [--reserve-on-edit] [--strict] [--stop]]",
	.desc =
	    "add baton to Claude Code (the project's .mcp.json, or ~/.claude.json with "
	    "--scope user) and to Codex (~/.codex/config.toml); default: both agents; "
	    "--tools writes BATON_TOOLS (core, planner, reviewer, full or tool names, "
	    "see baton help mcp) into the entry; --group writes BATON_GROUP (the team "
	    "broker of that Unix group: batond --group) into it and into the hooks; "
	    "--compat writes BATON_COMPAT (the tools "
	    "of Lockstep MCP or Airlock; with --roots, --command-allow and --install-allow "
	    "for Lockstep's file and command tools); --http writes an HTTP entry for `baton "
	    "mcp --http [ADDR:]PORT` with its bearer token instead; "
	    "--hooks also adds baton hook to .claude/settings.json (or "
	    "~/.claude/settings.json) and ~/.codex/hooks.json",
	.exec = setup_install_exec,
};
const struct cmd_entry cmd_uninstall_entry = {
	.name = "uninstall",
	.usage = "uninstall [--claude] [--codex] [--all] [--scope project|user] [--hooks]",
	.desc = "take out exactly what install added (--hooks: the hooks only)",
	.exec = setup_install_exec,
};
const struct cmd_entry cmd_init_entry = {
	.name = "init",
	.usage = "init [--force]",
	.desc = "write the coordination instructions into CLAUDE.md and AGENTS.md "
		"(--force: refresh them)",
	.exec = setup_md_exec,
};
const struct cmd_entry cmd_disable_entry = {
	.name = "disable",
	.usage = "disable",
	.desc = "take the instructions out of this project",
	.exec = setup_md_exec,
};
const struct cmd_entry cmd_enable_entry = {
	.name = "enable",
	.usage = "enable",
	.desc = "put them back",
	.exec = setup_md_exec,
};

/* Which agents and scope a command applies to. */
struct targets {
	int claude, codex;
	const char *scope; /* "project", "user" or NULL for the command's default */
	const char *tools; /* install --tools: the entry's BATON_TOOLS, or NULL */
	const char *group; /* install --group, else the global one: BATON_GROUP, or NULL */
	const char *compat, *roots, *cmd_allow, *inst_allow; /* BATON_COMPAT... */
	const char *http;                                    /* --http [ADDR:]PORT */
	int hooks; /* --hooks: baton hook's entries (setup-hooks.c) */
	int reserve, strict, stop;
};

/*
 * The entry to write: this baton, `mcp`, and the BATON_* overrides set
 * now (DESIGN §2: agents filter the environment of MCP servers).  Names
 * of one session or one lock (agent, role, project, fence, token) are
 * left out: every session would share them.  With a group, BATON_GROUP
 * names it and no BATON_SOCKET is written (a group's socket is its own).
 */
static void
setup_entry(struct entry *e, const struct client_opts *o, const struct targets *tg, char **vars)
{
	static const char *const skip[] = { "BATON_AGENT=", "BATON_ROLE=", "BATON_PROJECT=",
		"BATON_FENCE=", "BATON_LOCK_TOKEN=", "BATON_GROUP=" };
	static char sockvar[PATH_MAX + 16];
	const char *tools = tg->tools;
	char **ep;
	size_t i;
	int have_sock = tg->group != NULL;

	memset(e, 0, sizeof *e);
	e->command = setup_self();
	for (ep = environ; *ep != NULL && e->nenv < SETUP_ENV_MAX - 3; ep++) {
		if (strncmp(*ep, "BATON_", 6) != 0 || strchr(*ep, '=') == NULL ||
		    strchr(*ep, '=')[1] == '\0')
			continue;
		for (i = 0; i < nitems(skip); i++)
			if (strncmp(*ep, skip[i], strlen(skip[i])) == 0)
				break;
		if (i < nitems(skip))
			continue;
		if (tools != NULL && strncmp(*ep, "BATON_TOOLS=", 12) == 0)
			continue; /* --tools wins, below */
		if (strncmp(*ep, "BATON_SOCKET=", 13) == 0) {
			if (o->socket != NULL || tg->group != NULL)
				continue; /* -S wins, below; a group has its own */
			have_sock = 1;
		}
		e->env[e->nenv++] = *ep;
	}
	if (o->socket != NULL && !have_sock) {
		snprintf(sockvar, sizeof sockvar, "BATON_SOCKET=%s", o->socket);
		e->env[e->nenv++] = sockvar;
	}
	if (tools != NULL && e->nenv < SETUP_ENV_MAX) {
		xasprintf(&vars[0], "BATON_TOOLS=%s", tools);
		e->env[e->nenv++] = vars[0];
	}
	if (tg->group != NULL && e->nenv < SETUP_ENV_MAX) {
		xasprintf(&vars[1], "BATON_GROUP=%s", tg->group);
		e->env[e->nenv++] = vars[1];
	}
}

/*
 * install --compat, --roots, --command-allow, --install-allow: the
 * BATON_* variables that give baton mcp those options; --http: an HTTP
 * entry for `baton mcp --http` with its token instead.  -1 with *status
 * on a usage error.
 */
static int
setup_compat_entry(struct entry *e, const struct targets *tg, int *status)
{
	static char vars[4][PATH_MAX + 32];
	const char *const opts[][2] = { { "BATON_COMPAT", tg->compat },
		{ "BATON_ROOTS", tg->roots }, { "BATON_COMMAND_ALLOW", tg->cmd_allow },
		{ "BATON_INSTALL_ALLOW", tg->inst_allow } };
	char *cause = NULL;
	size_t i, k;

	if (tg->compat != NULL && compat_profile_find(tg->compat) == NULL) {
		*status = cli_usage_err("install: --compat is lockstep or airlock");
		return (-1);
	}
	if (tg->http != NULL) {
		if (tg->roots != NULL || tg->cmd_allow != NULL || tg->inst_allow != NULL ||
		    tg->compat != NULL || tg->tools != NULL) {
			*status =
			    cli_usage_err("install --http writes the URL of a running baton "
					  "mcp --http; give it its --compat and other "
					  "options instead");
			return (-1);
		}
		if (mcp_http_url(tg->http, &e->url, &e->bearer, &cause) != 0) {
			*status = cli_usage_err("install: %s", cause);
			free(cause);
			return (-1);
		}
		return (0);
	}
	for (i = 0; i < nitems(opts); i++) {
		if (opts[i][1] == NULL)
			continue;
		for (k = 0; k < e->nenv; k++) { /* the option wins over the environment */
			if (strncmp(e->env[k], opts[i][0], strlen(opts[i][0])) == 0 &&
			    e->env[k][strlen(opts[i][0])] == '=')
				e->env[k] = e->env[--e->nenv];
		}
		if (e->nenv == SETUP_ENV_MAX) {
			*status = cli_usage_err("install: too many BATON_* variables");
			return (-1);
		}
		snprintf(vars[i], sizeof vars[i], "%s=%s", opts[i][0], opts[i][1]);
		e->env[e->nenv++] = vars[i];
	}
	return (0);
}

/* install --tools: a profile baton mcp takes, else a usage error in *status. */
static int
setup_tools_check(const char *tools, int *status)
{
	struct mcp m;
	char *cause;

	memset(&m, 0, sizeof m);
	if (mcp_profile_parse(&m, tools, &cause) == 0) {
		free(m.profile);
		return (0);
	}
	*status = cli_usage_err("install: %s", cause);
	free(cause);
	return (-1);
}

/*
 * install's group: --group, else the global --group or BATON_GROUP; one
 * the group database knows, else a usage error in *status.
 */
static int
setup_group_check(const struct client_opts *o, struct targets *tg, int *status)
{
	char *cause;

	if (tg->group == NULL)
		tg->group = o->group;
	if (tg->group == NULL || group_select(tg->group, &cause) == 0)
		return (0);
	*status = cli_usage_err("install: %s", cause);
	free(cause);
	return (-1);
}

/* ~/.claude.json, or $CLAUDE_CONFIG_DIR/.claude.json as Claude Code reads it. */
static char *
setup_claude_user(void)
{
	return (setup_config_path("CLAUDE_CONFIG_DIR", ".claude.json", ".claude.json"));
}

/* ~/.codex/config.toml, or $CODEX_HOME/config.toml. */
static char *
setup_codex_config(void)
{
	return (setup_config_path("CODEX_HOME", "config.toml", ".codex/config.toml"));
}

/* The .mcp.json of the project at root. */
static char *
setup_claude_project(const char *root)
{
	char *p;

	xasprintf(&p, "%s/.mcp.json", root);
	return (p);
}

/* setup_edit adapters. */
static int
edit_js_install(const char *path, const struct text *t, const void *e, struct sbuf *out,
    struct edit_out *eo)
{
	return (js_install(path, t, e, out, eo));
}

static int
edit_js_uninstall(const char *path, const struct text *t, const void *e, struct sbuf *out,
    struct edit_out *eo)
{
	char *rec = setup_state_file("installed", path);
	struct text r;
	int status;

	/* no record (lost state): take out what would leave no trace */
	if (rec == NULL || setup_read(rec, &r) != 0) {
		r.s = xstrdup("");
		r.len = 0;
	}
	status = js_uninstall(path, t, r.s, out, eo);
	free(r.s);
	free(rec);
	return (status);
}

static int
edit_toml_install(const char *path, const struct text *t, const void *e, struct sbuf *out,
    struct edit_out *eo)
{
	return (toml_install(path, t, e, out));
}

static int
edit_toml_uninstall(const char *path, const struct text *t, const void *e, struct sbuf *out,
    struct edit_out *eo)
{
	int r = toml_uninstall(path, t, out);

	eo->gone = r == 1 && out->len == 0;
	return (r);
}

/* Claude Code's settings: the project's .claude/settings.json, or the user's. */
static char *
setup_claude_settings(const char *root)
{
	char *p;

	if (root == NULL)
		return (setup_config_path("CLAUDE_CONFIG_DIR", "settings.json",
		    ".claude/settings.json"));
	xasprintf(&p, "%s/.claude/settings.json", root);
	return (p);
}

/* Codex's hooks file: $CODEX_HOME/hooks.json or ~/.codex/hooks.json. */
static char *
setup_codex_hooks(void)
{
	return (setup_config_path("CODEX_HOME", "hooks.json", ".codex/hooks.json"));
}

static int
edit_hooks_install(const char *path, const struct text *t, const void *hs, struct sbuf *out,
    struct edit_out *eo)
{
	return (hooks_install(path, t, hs, out, eo));
}

static int
edit_hooks_uninstall(const char *path, const struct text *t, const void *hs, struct sbuf *out,
    struct edit_out *eo)
{
	char *rec = setup_state_file("installed", path);
	struct text r;
	int status;

	if (rec == NULL || setup_read(rec, &r) != 0 || !r.exists) {
		free(r.s);
		r.s = xstrdup("");
	}
	status = hooks_uninstall(path, t, r.s, out, eo);
	free(r.s);
	free(rec);
	return (status);
}

/* baton hook's entries for the agents of tg, in or out; the exit status. */
static int
setup_hooks(const struct client_opts *o, const struct targets *tg, int install, int proj,
    int user)
{
	struct hook_set hs = { NULL, tg->group, 0, tg->reserve, tg->strict, tg->stop };
	char *path, *root;
	int status = 0, r;

	hs.self = setup_self();
	hs.claude = 1;
	if (tg->claude && proj && (root = setup_project(o)) != NULL) {
		path = setup_claude_settings(root);
		if ((r = setup_edit("claude hooks (project)", path, 0644, install, &hs,
			 install ? edit_hooks_install : edit_hooks_uninstall)) != 0)
			status = r;
		free(path);
		free(root);
	} else if (tg->claude && proj)
		status = EXIT_USAGE;
	if (tg->claude && user) {
		path = setup_claude_settings(NULL);
		if ((r = setup_edit("claude hooks (user)", path, 0600, install, &hs,
			 install ? edit_hooks_install : edit_hooks_uninstall)) != 0)
			status = r;
		free(path);
	}
	hs.claude = 0;
	if (tg->codex) {
		path = setup_codex_hooks();
		if ((r = setup_edit("codex hooks", path, 0600, install, &hs,
			 install ? edit_hooks_install : edit_hooks_uninstall)) != 0)
			status = r;
		free(path);
	}
	if (status == 0 && install && tg->codex)
		printf("codex asks you to trust new hooks before it runs them: review them "
		       "with /hooks in codex\n");
	free((char *)hs.self);
	return (status);
}

/* Options of install and uninstall; the index of the first operand, or -1 with *status. */
static int
setup_targets(int argc, char **argv, struct targets *tg, int *status)
{
	static const struct option longopts[] = {
		{ "claude", no_argument, NULL, 'c' },
		{ "codex", no_argument, NULL, 'x' },
		{ "all", no_argument, NULL, 'a' },
		{ "scope", required_argument, NULL, 's' },
		{ "tools", required_argument, NULL, 't' },
		{ "group", required_argument, NULL, 'g' },
		{ "compat", required_argument, NULL, 'C' },
		{ "roots", required_argument, NULL, 'r' },
		{ "command-allow", required_argument, NULL, 'A' },
		{ "install-allow", required_argument, NULL, 'I' },
		{ "http", required_argument, NULL, 'h' },
		{ "hooks", no_argument, NULL, 'H' },
		{ "reserve-on-edit", no_argument, NULL, 'R' },
		{ "strict", no_argument, NULL, 'S' },
		{ "stop", no_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(tg, 0, sizeof *tg);
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': tg->claude = 1; break;
		case 'x': tg->codex = 1; break;
		case 'a': tg->claude = tg->codex = 1; break;
		case 'H': tg->hooks = 1; break;
		case 'R': tg->reserve = tg->hooks = 1; break;
		case 'S': tg->strict = tg->hooks = 1; break;
		case 'T': tg->stop = tg->hooks = 1; break;
		case 's':
			if (strcmp(optarg, "project") != 0 && strcmp(optarg, "user") != 0) {
				*status =
				    cli_usage_err("%s: --scope is project or user", argv[0]);
				return (-1);
			}
			tg->scope = optarg;
			break;
		case 't': tg->tools = optarg; break;
		case 'g': tg->group = optarg; break;
		case 'C': tg->compat = optarg; break;
		case 'r': tg->roots = optarg; break;
		case 'A': tg->cmd_allow = optarg; break;
		case 'I': tg->inst_allow = optarg; break;
		case 'h': tg->http = optarg; break;
		default:
			*status =
			    cli_usage_err("%s: unknown option '%s'", argv[0], argv[optind - 1]);
			return (-1);
		}
	}
	if (!tg->claude && !tg->codex)
		tg->claude = tg->codex = 1;
	return (optind);
}

/* `baton install` and `baton uninstall`. */
static int
setup_install(const struct client_opts *o, int argc, char **argv, int install)
{
	struct targets tg;
	struct entry e;
	char *path, *root, *vars[2] = { NULL, NULL };
	int status = 0, r, i, proj, user;

	if ((i = setup_targets(argc, argv, &tg, &status)) == -1)
		return (status);
	if (i < argc)
		return (cli_usage_err("%s takes options only", argv[0]));
	if (tg.tools != NULL && (!install || setup_tools_check(tg.tools, &status) != 0))
		return (install ? status : cli_usage_err("uninstall takes no --tools"));
	if (tg.group != NULL && !install)
		return (cli_usage_err("uninstall takes no --group"));
	if (install && setup_group_check(o, &tg, &status) != 0)
		return (status);
	/* install defaults to the project; uninstall to both scopes */
	proj = tg.scope == NULL || strcmp(tg.scope, "project") == 0;
	user = tg.scope != NULL ? strcmp(tg.scope, "user") == 0 : !install;
	if (tg.hooks && !install) /* uninstall --hooks: the hooks only */
		return (cli_flush(setup_hooks(o, &tg, 0, proj, user)));
	setup_entry(&e, o, &tg, vars);
	if (install && setup_compat_entry(&e, &tg, &status) != 0) {
		free(e.command);
		free(vars[0]);
		free(vars[1]);
		return (status);
	}
	if (tg.claude && proj) {
		if ((root = setup_project(o)) == NULL)
			status = EXIT_USAGE;
		else {
			path = setup_claude_project(root);
			if ((r = setup_edit("claude (project)", path, 0644, install, &e,
				 install ? edit_js_install : edit_js_uninstall)) != 0)
				status = r;
			free(path);
			free(root);
		}
	}
	if (tg.claude && user) {
		path = setup_claude_user();
		if ((r = setup_edit("claude (user)", path, 0600, install, &e,
			 install ? edit_js_install : edit_js_uninstall)) != 0)
			status = r;
		free(path);
	}
	if (tg.codex) {
		path = setup_codex_config();
		if ((r = setup_edit("codex", path, 0600, install, &e,
			 install ? edit_toml_install : edit_toml_uninstall)) != 0)
			status = r;
		free(path);
	}
	free(e.command);
	free(e.url);
	free(e.bearer);
	free(vars[0]);
	free(vars[1]);
	if (tg.hooks && (r = setup_hooks(o, &tg, 1, proj, user)) != 0)
		status = r;
	if (status == 0 && install)
		printf("check with: claude mcp list; codex mcp list\n");
	return (cli_flush(status));
}

/* `baton install` and `baton uninstall [--claude] [--codex] [--all] [--scope project|user]`. */
static int
setup_install_exec(const struct cmd_entry *ce, const struct client_opts *o, int argc,
    char **argv)
{
	return (setup_install(o, argc, argv, ce == &cmd_install_entry));
}

static const char *const setup_md_files[] = { "CLAUDE.md", "AGENTS.md" };

/* What a markdown edit does; MD_UNDUP takes a block out of a CLAUDE.md that imports AGENTS.md. */
enum md_action { MD_INIT, MD_FORCE, MD_DISABLE, MD_ENABLE, MD_UNDUP };

struct md_edit {
	enum md_action action;
	const char *block; /* the text to write, markers included */
	const char *saved; /* STATE/disabled/... file for disable and enable */
};

/* The markdown editor for init, disable and enable. */
static int
edit_md(const char *path, const struct text *t, const void *arg, struct sbuf *out,
    struct edit_out *eo)
{
	const struct md_edit *m = arg;
	struct text saved;
	size_t a, b;
	int r;

	if ((r = blk_find(path, t->s, t->len, MD_BEGIN, MD_END, &a, &b)) == -1)
		return (-1);
	switch (m->action) {
	case MD_INIT:
	case MD_FORCE:
		if (r == 1) {
			if (m->action == MD_INIT ||
			    (b - a == strlen(m->block) &&
				memcmp(t->s + a, m->block, b - a) == 0))
				return (0);
			sb_splice(out, t->s, t->len, a, b, m->block);
			return (1);
		}
		blk_append(out, t->s, t->len, m->block);
		return (1);
	case MD_DISABLE:
	case MD_UNDUP:
		if (r == 0)
			return (0);
		if (m->action == MD_DISABLE &&
		    setup_write_file(m->saved, t->s + a, b - a, 0600) != 0)
			return (-1);
		blk_cut(out, t->s, t->len, a, b);
		eo->gone = out->len == 0;
		return (1);
	case MD_ENABLE:
		if (r == 1)
			return (0);
		if (setup_read(m->saved, &saved) != 0 || !saved.exists ||
		    blk_find(m->saved, saved.s, saved.len, MD_BEGIN, MD_END, &a, &b) != 1)
			blk_append(out, t->s, t->len, m->block);
		else
			blk_append(out, t->s, t->len, saved.s);
		free(saved.s);
		return (1);
	}
	return (-1);
}

/*
 * Does the project's CLAUDE.md bring in AGENTS.md, so that a block in
 * both would be read twice: an import (`@AGENTS.md` as a word of its own,
 * as Claude Code reads them), or CLAUDE.md a link to AGENTS.md?  *held
 * says whether it holds a block nonetheless (an init from before).
 */
static int
setup_md_imports(const char *root, int *held)
{
	char *claude, *agents, rc[PATH_MAX], ra[PATH_MAX];
	const char *p, *w;
	struct text t;
	size_t a, b, n;
	int imports = 0;

	*held = 0;
	xasprintf(&claude, "%s/CLAUDE.md", root);
	xasprintf(&agents, "%s/AGENTS.md", root);
	if (realpath(claude, rc) != NULL && realpath(agents, ra) != NULL && strcmp(rc, ra) == 0)
		imports = 1; /* one file: nothing to add twice */
	else if (setup_read(claude, &t) == 0) {
		for (p = t.s; !imports && *p != '\0'; p = w + n) {
			w = p + strspn(p, " \t\r\n");
			n = strcspn(w, " \t\r\n");
			imports = (n == 10 && strncmp(w, "@AGENTS.md", n) == 0) ||
			    (n == 12 && strncmp(w, "@./AGENTS.md", n) == 0);
		}
		*held = imports && blk_find(claude, t.s, t.len, MD_BEGIN, MD_END, &a, &b) == 1;
		free(t.s);
	}
	free(claude);
	free(agents);
	return (imports);
}

/* Run one markdown action on CLAUDE.md and AGENTS.md of the project. */
static int
setup_md(const struct client_opts *o, enum md_action action)
{
	struct sbuf block = { NULL, 0, 0 };
	struct md_edit m;
	char *root, *path, *text;
	size_t i;
	int r, status = 0, imports, held;

	if ((root = setup_project(o)) == NULL)
		return (EXIT_USAGE);
	text = guide_rules(GUIDE_MARKDOWN, NULL);
	sb_addf(&block, MD_BEGIN "\n%s" MD_END "\n", text);
	free(text);
	imports = action != MD_DISABLE && setup_md_imports(root, &held);
	for (i = 0; i < nitems(setup_md_files); i++) {
		xasprintf(&path, "%s/%s", root, setup_md_files[i]);
		memset(&m, 0, sizeof m);
		m.action = action;
		m.block = block.s;
		if (imports && i == 0) {
			printf("instructions: %s brings in AGENTS.md; they go into AGENTS.md "
			       "only\n",
			    path);
			if (!held) {
				free(path);
				continue;
			}
			m.action = MD_UNDUP; /* and the copy an earlier init wrote goes */
		}
		if (action == MD_DISABLE || action == MD_ENABLE)
			m.saved = setup_state_file("disabled", path);
		if ((action == MD_DISABLE || action == MD_ENABLE) && m.saved == NULL)
			r = EXIT_SOFTWARE;
		else
			r = setup_edit("instructions", path, 0644,
			    m.action != MD_DISABLE && m.action != MD_UNDUP, &m, edit_md);
		if (r == 0 && action == MD_ENABLE)
			unlink(m.saved);
		if (r != 0)
			status = r;
		free((char *)m.saved);
		free(path);
	}
	free(block.s);
	free(root);
	return (cli_flush(status));
}

/* `baton init [--force]`, `baton disable`, `baton enable`: only init takes an option. */
static int
setup_md_exec(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	int i, force = 0;

	for (i = 1; i < argc; i++) {
		if (ce == &cmd_init_entry &&
		    (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0))
			force = 1;
		else
			return (cli_usage_err("%s: unknown argument '%s'", argv[0], argv[i]));
	}
	if (ce == &cmd_disable_entry)
		return (setup_md(o, MD_DISABLE));
	if (ce == &cmd_enable_entry)
		return (setup_md(o, MD_ENABLE));
	return (setup_md(o, force ? MD_FORCE : MD_INIT));
}

/* Where one JSON config has baton, for status. */
static void
setup_status_json(FILE *fp, const char *path, const char *scope, const char *self, int *n)
{
	char *cmd;

	if ((cmd = js_installed(path)) == NULL)
		return;
	fprintf(fp, "%s%s (%s)", (*n)++ > 0 ? ", " : "", path, scope);
	if (strcmp(cmd, self) != 0)
		fprintf(fp, " runs %s", cmd);
	free(cmd);
}

/* The agents present in the project, but for ourselves (cli-PID), on one line. */
static void
setup_status_agents(const msgpack_object *r, const char *self)
{
	const msgpack_object *list = mp_get(r, "agents"), *a;
	const char *s;
	size_t n, i, shown = 0;
	int64_t pid;

	fputs("agents    ", stdout);
	for (i = 0;
	     list != NULL && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
	     i++) {
		a = &list->via.array.ptr[i];
		if (mp_streq(mp_get(a, "agent"), self) ||
		    (mp_int(mp_get(a, "pid"), &pid) == 0 && pid == (int64_t)getpid()))
			continue;
		if (shown++ == 8) {
			fputs(", ...", stdout);
			break;
		}
		if (mp_str(mp_get(a, "agent"), &s, &n) == 0)
			printf("%s%.*s", shown > 1 ? ", " : "", (int)n, s);
		if (mp_str(mp_get(a, "role"), &s, &n) == 0 && n > 0)
			printf(" (%.*s)", (int)n, s);
	}
	puts(shown == 0 ? "none but you" : "");
}

/* The project's tasks by status, from task_list's summary. */
static void
setup_status_tasks(const msgpack_object *r)
{
	const msgpack_object *sum = mp_get(r, "summary"), *k;
	const char *s;
	size_t n, i, shown = 0;
	int64_t v;

	fputs("tasks     ", stdout);
	for (i = 0; sum != NULL && sum->type == MSGPACK_OBJECT_MAP && i < sum->via.map.size;
	     i++) {
		k = &sum->via.map.ptr[i].key;
		if (mp_str(k, &s, &n) != 0 || mp_int(&sum->via.map.ptr[i].val, &v) != 0 ||
		    v == 0 || mp_streq(k, "total") || mp_streq(k, "ready") ||
		    mp_streq(k, "percent_done"))
			continue;
		printf("%s%lld %.*s", shown++ > 0 ? ", " : "", (long long)v, (int)n, s);
	}
	puts(shown == 0 ? "none" : "");
}

#define SETUP_STATUS_LIST 8 /* worktrees, launched agents named on their line */

/* The items of list r[key] and how many to name; 0 when there are none. */
static size_t
setup_status_list(const msgpack_object *r, const char *key, const msgpack_object **items)
{
	const msgpack_object *list = mp_get(r, key);

	if (list == NULL || list->type != MSGPACK_OBJECT_ARRAY || list->via.array.size == 0)
		return (0);
	*items = list->via.array.ptr;
	return (list->via.array.size);
}

/* After the last item named: how many more there are, and the line's end. */
static void
setup_status_more(size_t n)
{
	if (n > SETUP_STATUS_LIST)
		printf(", and %zu more", n - SETUP_STATUS_LIST);
	puts("");
}

/*
 * The project's worktrees (worktree_get), when it has any: name, branch,
 * state, whether the owner is here, and when it is gone with the work
 * not merged, that it waits on the user.
 */
static void
setup_status_worktrees(const msgpack_object *r)
{
	const msgpack_object *w;
	char name[128], agent[128], branch[512], state[32], task[64];
	size_t n, i;
	int here;

	if ((n = setup_status_list(r, "worktrees", &w)) == 0)
		return;
	fputs("worktrees ", stdout);
	for (i = 0; i < n && i < SETUP_STATUS_LIST; i++, w++) {
		cli_field(w, "name", name, sizeof name);
		cli_field(w, "agent", agent, sizeof agent);
		cli_field(w, "branch", branch, sizeof branch);
		if (mp_get(w, "state") != NULL)
			cli_field(w, "state", state, sizeof state);
		else
			snprintf(state, sizeof state, "active"); /* as the broker takes it */
		here = mp_get_bool(w, "owner_here", 0);
		printf("%s%s (%s, %s", i > 0 ? ", " : "", name, branch, state);
		if (mp_get(w, "task") != NULL)
			printf(", task %s", cli_field(w, "task", task, sizeof task));
		if (mp_get(w, "agent") == NULL)
			fputs(", no owner", stdout);
		else
			printf(", owner %s%s%s", strcmp(agent, name) != 0 ? agent : "",
			    strcmp(agent, name) != 0 ? " " : "", here ? "here" : "gone");
		if (!here && strcmp(state, "merged") != 0)
			fputs(": not merged, needs you", stdout);
		fputs(")", stdout);
	}
	setup_status_more(n);
}

/* The agents baton launch started (launch_get), when there are any: role, type, state. */
static void
setup_status_launched(const msgpack_object *r)
{
	const msgpack_object *a;
	char name[128], role[64], type[128], state[32];
	size_t n, i;

	if ((n = setup_status_list(r, "agents", &a)) == 0)
		return;
	fputs("launched  ", stdout);
	for (i = 0; i < n && i < SETUP_STATUS_LIST; i++, a++) {
		cli_field(a, "state", state, sizeof state);
		printf("%s%s (%s, %s, %s)", i > 0 ? ", " : "",
		    cli_field(a, "name", name, sizeof name),
		    cli_field(a, "role", role, sizeof role),
		    cli_field(a, "type", type, sizeof type),
		    view_launch_state(state, mp_get_bool(a, "joined", 0)));
	}
	setup_status_more(n);
}

/*
 * The project's agents, tasks, worktrees and launched agents, over a
 * connection of its own (the caller's is busy with status).
 */
static void
setup_status_project(const struct client_opts *o)
{
	struct conn c;
	struct op_error err;
	msgpack_unpacked u;
	const msgpack_object *r;
	struct client_opts mine = *o;

	mine.autostart = 0;
	memset(&err, 0, sizeof err);
	if (conn_open(&c, &mine, &err) != 0)
		return;
	msgpack_unpacked_init(&u);
	if (conn_call(&c, "agent_list", NULL, 0, &u, &r, &err) == 0)
		setup_status_agents(r, c.agent);
	msgpack_unpacked_destroy(&u);
	msgpack_unpacked_init(&u);
	if (conn_call(&c, "task_list", NULL, 0, &u, &r, &err) == 0)
		setup_status_tasks(r);
	msgpack_unpacked_destroy(&u);
	msgpack_unpacked_init(&u);
	if (conn_call(&c, "worktree_get", NULL, 0, &u, &r, &err) == 0)
		setup_status_worktrees(r);
	msgpack_unpacked_destroy(&u);
	msgpack_unpacked_init(&u);
	if (conn_call(&c, "launch_get", NULL, 0, &u, &r, &err) == 0)
		setup_status_launched(r);
	msgpack_unpacked_destroy(&u);
	conn_close(&c);
}

/* The init line of `baton status`: which of the project's files hold the instructions. */
static void
setup_status_init(FILE *fp, const char *root)
{
	struct text t;
	char *p;
	size_t a, b, i;
	int have = 0, held;

	fputs("init      ", fp);
	for (i = 0; i < nitems(setup_md_files); i++) {
		xasprintf(&p, "%s/%s", root, setup_md_files[i]);
		if (setup_read(p, &t) == 0 &&
		    blk_find(p, t.s, t.len, MD_BEGIN, MD_END, &a, &b) == 1)
			fprintf(fp, "%s%s", have++ > 0 ? ", " : "instructions in ",
			    setup_md_files[i]);
		free(t.s);
		free(p);
	}
	if (have == 0)
		fputs("no instructions in CLAUDE.md, AGENTS.md (baton init)", fp);
	if (setup_md_imports(root, &held))
		fputs(" (CLAUDE.md brings in AGENTS.md)", fp);
	fputs("\n", fp);
}

/* Where baton hook is installed, for status: files and events. */
static void
setup_status_hooks(FILE *fp, const char *root)
{
	struct sbuf ev = { NULL, 0, 0 };
	char *paths[3];
	size_t i, n = 0;

	paths[0] = root != NULL ? setup_claude_settings(root) : NULL;
	paths[1] = setup_claude_settings(NULL);
	paths[2] = setup_codex_hooks();
	fputs("hooks     ", fp);
	for (i = 0; i < nitems(paths); i++) {
		if (paths[i] != NULL && hooks_installed(paths[i], &ev) > 0) {
			fprintf(fp, "%s%s (%s)", n++ > 0 ? ", " : "", paths[i], ev.s);
			ev.len = 0;
		}
		free(paths[i]);
	}
	fputs(n > 0 ? "\n" : "not set up (baton install --hooks)\n", fp);
	free(ev.s);
}

/*
 * The set-up lines of `baton status`: which agents have baton,
 * instructions.  A project that is not a directory (--project /nonexistent:
 * a namespace needs none) has no files to look at, and says so once.
 */
void
setup_status(const struct client_opts *o)
{
	FILE *fp = stdout;
	char *self = setup_self(), *p, *root, *real;
	struct stat sb;
	int n = 0, dir;

	setup_status_project(o);

	root = o->project != NULL ? xstrdup(o->project) : project_default();
	dir = stat(root, &sb) == 0 && S_ISDIR(sb.st_mode);
	/* the real path, as install and init write it */
	if (dir && o->project != NULL && (real = setup_project(o)) != NULL) {
		free(root);
		root = real;
	}
	fputs("claude    ", fp);
	if (dir) {
		p = setup_claude_project(root);
		setup_status_json(fp, p, "project", self, &n);
		free(p);
	}
	p = setup_claude_user();
	setup_status_json(fp, p, "user", self, &n);
	free(p);
	fputs(n > 0 ? "\n" : "not set up (baton install --claude)\n", fp);
	p = setup_codex_config();
	fprintf(fp, "codex     %s%s\n", toml_installed(p) ? p : "not set up",
	    toml_installed(p) ? "" : " (baton install --codex)");
	free(p);
	setup_status_hooks(fp, dir ? root : NULL);
	if (dir)
		setup_status_init(fp, root);
	else
		fprintf(fp,
		    "init      the project %s is not a directory: install and init need "
		    "one\n",
		    root);
	free(root);
	free(self);
}
