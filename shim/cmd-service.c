/*
 * `baton service install|uninstall`: systemd user units that start
 * batond on demand through socket activation (baton.socket listens on
 * the socket baton uses, baton.service runs batond on it).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define UNIT_MARK "# Written by `baton service install`"

static int service_exec(const struct cmd_entry *, const struct client_opts *, int, char **);

const struct cmd_entry cmd_service_entry = {
	.name = "service",
	.usage = "service install|uninstall",
	.desc = "systemd user units that start batond on demand",
	.exec = service_exec,
};

/* ~/.config/systemd/user, or under $XDG_CONFIG_HOME as systemd reads it. */
static char *
setup_unit_dir(void)
{
	return (setup_config_path("XDG_CONFIG_HOME", "systemd/user", ".config/systemd/user"));
}

/* batond: next to this baton, else $BATON_BROKER, else on PATH. */
static char *
setup_batond(void)
{
	char *self = setup_self(), *slash, *p, *path, *dir, *save = NULL;
	const char *env;

	if ((slash = strrchr(self, '/')) != NULL) {
		*slash = '\0';
		xasprintf(&p, "%s/batond", self);
		if (access(p, X_OK) == 0) {
			free(self);
			return (p);
		}
		free(p);
	}
	free(self);
	if ((env = getenv("BATON_BROKER")) != NULL && *env == '/')
		return (xstrdup(env));
	path = xstrdup(getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin:/bin");
	for (dir = strtok_r(path, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
		xasprintf(&p, "%s/batond", dir);
		if (*dir == '/' && access(p, X_OK) == 0) {
			free(path);
			return (p);
		}
		free(p);
	}
	free(path);
	return (xstrdup("/usr/local/bin/batond"));
}

/* s for a unit file: % doubled; quoted (for ExecStart) with \ and " escaped. */
static void
setup_unit_quote(struct sbuf *b, const char *s, int quote)
{
	if (quote)
		sb_adds(b, "\"");
	for (; *s != '\0'; s++) {
		if (*s == '%')
			sb_adds(b, "%%");
		else if (quote && (*s == '"' || *s == '\\'))
			sb_addf(b, "\\%c", *s);
		else
			sb_add(b, s, 1);
	}
	if (quote)
		sb_adds(b, "\"");
}

/* The two units: baton.socket listens, baton.service runs batond on it. */
static void
setup_units(struct sbuf *sock, struct sbuf *svc, const char *path)
{
	const char *state = getenv("BATON_STATE_DIR");
	char *batond = setup_batond();

	sb_adds(sock,
	    UNIT_MARK "; `baton service uninstall` removes it.\n"
		      "[Unit]\n"
		      "Description=baton coordination broker (socket)\n"
		      "Documentation=man:batond(8) man:baton(1)\n"
		      "\n"
		      "[Socket]\n"
		      "ListenStream=");
	setup_unit_quote(sock, path, 0);
	sb_adds(sock,
	    "\n"
	    "SocketMode=0600\n"
	    "DirectoryMode=0700\n"
	    "RemoveOnStop=yes\n"
	    "\n"
	    "[Install]\n"
	    "WantedBy=sockets.target\n");

	sb_adds(svc,
	    UNIT_MARK "; `baton service uninstall` removes it.\n"
		      "[Unit]\n"
		      "Description=baton coordination broker\n"
		      "Documentation=man:batond(8)\n"
		      "Requires=baton.socket\n"
		      "After=baton.socket\n"
		      "\n"
		      "[Service]\n"
		      "ExecStart=");
	setup_unit_quote(svc, batond, 1);
	sb_adds(svc, " -f -S ");
	setup_unit_quote(svc, path, 1);
	if (state != NULL && *state != '\0') {
		sb_adds(svc, " -D ");
		setup_unit_quote(svc, state, 1);
	}
	sb_adds(svc, "\n");
	free(batond);
}

/* Write (or, with data NULL, remove) one unit file that is ours. */
static int
setup_unit(const char *path, const struct sbuf *data)
{
	struct text t;
	int r;

	if ((r = setup_read(path, &t)) != 0)
		goto done;
	if (t.exists && strncmp(t.s, UNIT_MARK, strlen(UNIT_MARK)) != 0) {
		cli_err("%s was not written by baton; move it away first", path);
		r = EXIT_DATAERR;
	} else if (data == NULL
		? !t.exists
		: t.exists && t.len == data->len && memcmp(t.s, data->s, t.len) == 0)
		printf("%s: %s\n", path, data == NULL ? "not there" : "already up to date");
	else if ((r = setup_commit(path, &t, data != NULL ? data->s : NULL,
		      data != NULL ? data->len : 0, 0644)) == 0)
		printf("%s: %s\n", path, data == NULL ? "removed" : "written");
done:
	free(t.s);
	return (r);
}

/* `baton service install|uninstall`. */
static int
service_exec(const struct cmd_entry *ce, const struct client_opts *o, int argc, char **argv)
{
	struct sbuf sock = { NULL, 0, 0 }, svc = { NULL, 0, 0 };
	char buf[PATH_MAX], *dir, *psock, *psvc;
	int install, r;

	if (argc != 2 || (strcmp(argv[1], "install") != 0 && strcmp(argv[1], "uninstall") != 0))
		return (cli_usage_err("service takes install or uninstall"));
	install = strcmp(argv[1], "install") == 0;
	if (o->group != NULL)
		return (cli_usage_err("service sets up the private broker; a team broker "
				      "(batond --group %s) is started by a unit of the "
				      "system's or a member's own",
		    o->group));
	if (cli_socket(o, buf, sizeof buf) != 0)
		return (EXIT_SOFTWARE);
	if (buf[0] != '/')
		return (cli_usage_err("service needs an absolute socket path, not '%s'", buf));
	dir = setup_unit_dir();
	xasprintf(&psock, "%s/baton.socket", dir);
	xasprintf(&psvc, "%s/baton.service", dir);
	setup_units(&sock, &svc, buf);
	if (install && (r = setup_mkdirs(dir, 0755)) != 0)
		goto done;
	if ((r = setup_unit(psvc, install ? &svc : NULL)) != 0 ||
	    (r = setup_unit(psock, install ? &sock : NULL)) != 0)
		goto done;
	if (install)
		printf("Socket activation is set up for %s.  Turn it on with:\n"
		       "  systemctl --user daemon-reload\n"
		       "  systemctl --user enable --now baton.socket\n"
		       "(stop a broker that runs now first: baton status shows its pid).\n",
		    buf);
	else
		printf("If it was on, turn it off with:\n"
		       "  systemctl --user disable --now baton.socket baton.service\n"
		       "  systemctl --user daemon-reload\n");
done:
	free(sock.s);
	free(svc.s);
	free(psock);
	free(psvc);
	free(dir);
	return (cli_flush(r));
}
