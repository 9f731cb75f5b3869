/*
 * Unit tests of where the socket and the state live (common/paths.c,
 * DESIGN 2, issue 12 items 9 and 11): the home comes from the password
 * database, not $HOME; the socket goes to /run/user/UID when it is
 * private, else under the home when the path fits, else /tmp.  A team
 * broker's group (common/group.c): the names it takes, its directories
 * and their checks.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "tap.h"

static char top[512];

/* The test's own set-up failed: stop the run. */
static void
bail(const char *what, const char *arg)
{
	printf("Bail out! %s %s\n", what, arg);
	exit(99);
}

/* top/name into buf, made with mode (0: not made). */
static const char *
dir(const char *name, mode_t mode, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", top, name);
	if (mode != 0) {
		if (mkdir(buf, mode) != 0)
			bail("mkdir", buf);
		chmod(buf, mode);
	}
	return (buf);
}

/* path_socket_default(run, home) is want. */
static void
socket_is(const char *run, const char *home, const char *want, const char *what)
{
	char buf[PATH_MAX];

	if (path_socket_default(buf, sizeof buf, run, home) != 0) {
		ok(0, "%s: no path", what);
		return;
	}
	if (!ok(strcmp(buf, want) == 0, "%s", what))
		diag("got %s, want %s", buf, want);
}

static void
test_state_dir(void)
{
	struct passwd *pw = getpwuid(getuid());
	char buf[PATH_MAX], want[PATH_MAX], *cause = NULL;
	const char *home;

	if (pw == NULL) {
		ok(1, "the home from passwd # SKIP uid %u has no passwd entry",
		    (unsigned)getuid());
		return;
	}
	unsetenv("BATON_STATE_DIR");
	setenv("HOME", "/nonexistent/other-home", 1);
	home = path_home(&cause);
	if (!ok(home != NULL && strcmp(home, pw->pw_dir) == 0,
		"the home is the passwd entry's, not $HOME"))
		diag("got %s, want %s", home != NULL ? home : cause, pw->pw_dir);
	snprintf(want, sizeof want, "%s/.local/state/baton",
	    strcmp(pw->pw_dir, "/") == 0 ? "" : pw->pw_dir);
	if (path_state_dir(buf, sizeof buf, &cause) != 0) {
		ok(0, "path_state_dir: %s", cause);
		free(cause);
	} else if (!ok(strcmp(buf, want) == 0,
		       "the state directory ignores $HOME (issue 12, item 9)"))
		diag("got %s, want %s", buf, want);
	setenv("BATON_STATE_DIR", "/x/state", 1);
	ok(path_state_dir(buf, sizeof buf, &cause) == 0 && strcmp(buf, "/x/state") == 0,
	    "BATON_STATE_DIR still wins");
	unsetenv("BATON_STATE_DIR");
}

static void
test_socket(void)
{
	char run[PATH_MAX], home[PATH_MAX], want[2 * PATH_MAX], tmp[64], deep[PATH_MAX];
	char lnk[PATH_MAX], *cause = NULL;
	struct sockaddr_un sa;
	size_t i;

	snprintf(tmp, sizeof tmp, "/tmp/baton-%u/sock", (unsigned)getuid());
	dir("home", 0755, home, sizeof home);
	dir("run", 0700, run, sizeof run);
	snprintf(want, sizeof want, "%s/baton/sock", run);
	socket_is(run, home, want, "a private /run/user/UID comes first");

	snprintf(want, sizeof want, "%s/" PATH_HOME_SOCKET, home);
	socket_is("/nonexistent/run", home, want,
	    "no /run/user/UID: under the home, which nobody else can pre-empt");
	chmod(run, 0755);
	socket_is(run, home, want, "a /run/user/UID open to others is not used");
	chmod(run, 0700);
	dir("runlink", 0, lnk, sizeof lnk);
	if (symlink(run, lnk) != 0)
		bail("symlink", lnk);
	socket_is(lnk, home, want, "a /run/user/UID that is a symlink is not used");

	/* a home whose socket path would not fit in sun_path */
	dir("h", 0755, deep, sizeof deep);
	for (i = 0; strlen(deep) + strlen(PATH_HOME_SOCKET) + 2 < sizeof sa.sun_path + 8; i++) {
		strcat(deep, "/dddddddddd");
		if (mkdir(deep, 0755) != 0)
			bail("mkdir", deep);
	}
	socket_is("/nonexistent/run", deep, tmp,
	    "a home too deep for sun_path: /tmp/baton-UID");
	socket_is("/nonexistent/run", NULL, tmp, "no home: /tmp/baton-UID");
	socket_is("/nonexistent/run", "/nonexistent/home", tmp,
	    "a home that does not exist: /tmp/baton-UID");
	if (getuid() == 0) {
		dir("theirs", 0755, deep, sizeof deep);
		if (chown(deep, 65534, 65534) != 0)
			bail("chown", deep);
		socket_is("/nonexistent/run", deep, tmp,
		    "a home owned by another user: /tmp/baton-UID");
	} else
		ok(1, "a home owned by another user # SKIP chown needs root");

	/* the errors say how to choose another socket */
	memset(deep, 'x', sizeof sa.sun_path + 10);
	deep[0] = '/';
	deep[sizeof sa.sun_path + 10] = '\0';
	setenv("BATON_SOCKET", deep, 1);
	ok(path_socket(want, sizeof want, &cause) != 0 && strstr(cause, "BATON_SOCKET") != NULL,
	    "a BATON_SOCKET too long for sun_path is an error naming it");
	free(cause);
	unsetenv("BATON_SOCKET");
	chmod(run, 0755);
	snprintf(want, sizeof want, "%s/sock", run);
	cause = NULL;
	if (!ok(path_check_socket_dir(want, 0, &cause) != 0 && cause != NULL &&
		    strstr(cause, "BATON_SOCKET") != NULL,
		"a socket directory open to others is refused, naming BATON_SOCKET"))
		diag("%s", cause != NULL ? cause : "accepted");
	free(cause);
	chmod(run, 0700);

	/* made with its parents, each 0700 */
	snprintf(want, sizeof want, "%s/" PATH_HOME_SOCKET, home);
	cause = NULL;
	if (!ok(path_check_socket_dir(want, 1, &cause) == 0,
		"the home's socket directory is made"))
		diag("%s", cause);
	free(cause);
	snprintf(want, sizeof want, "%s/.local/state/baton", home);
	cause = NULL;
	if (!ok(path_check_dir(want, 0, &cause) == 0, "its parents are private too"))
		diag("%s", cause);
	free(cause);
}

/* n tests that cannot run here, and why. */
static void
skip_n(int n, const char *why)
{
	while (n-- > 0)
		printf("ok %d - # SKIP %s\n", ++tap_run, why);
}

/* Which group names are usable (they become part of paths). */
static void
test_group_names(void)
{
	static const struct {
		const char *name;
		int good;
	} t[] = {
		{ "dev", 1 },
		{ "team-a_1.x", 1 },
		{ "", 0 },
		{ ".hidden", 0 },
		{ "..", 0 },
		{ "-opt", 0 },
		{ "a/b", 0 },
		{ "a b", 0 },
		{ "x:y", 0 },
		{ "0123456789012345678901234567890", 1 },
		{ "012345678901234567890123456789012", 0 },
	};
	size_t i;

	for (i = 0; i < nitems(t); i++) {
		ok((group_name_bad(t[i].name) == NULL) == t[i].good, "group name '%s' is %s",
		    t[i].name, t[i].good ? "usable" : "refused");
	}
}

/* mode of path is want; diag otherwise. */
static int
mode_is(const char *path, mode_t want)
{
	struct stat sb;

	if (lstat(path, &sb) != 0 || (sb.st_mode & 07777) != want) {
		diag("%s: mode %04o, want %04o", path, (unsigned)(sb.st_mode & 07777),
		    (unsigned)want);
		return (0);
	}
	return (1);
}

/* group_check_dir says no to path, naming what (a word of its cause). */
static void
group_refuses(const char *path, const char *what, const char *desc)
{
	char *cause = NULL;

	if (!ok(group_check_dir(path, 0, &cause) != 0 && strstr(cause, what) != NULL, "%s",
		desc))
		diag("%s", cause != NULL ? cause : "accepted");
	free(cause);
}

/* The group's directories, with our own primary group as the team's. */
static void
test_group_dirs(void)
{
	char buf[PATH_MAX], link[PATH_MAX], *cause = NULL;
	struct group *gr = getgrgid(getgid());
	struct stat sb;

	ok(group_selected() == NULL && path_file_mode == 0600,
	    "no group selected: the private broker, files 0600");
	if (gr == NULL) {
		skip_n(9, "our gid has no group entry");
		return;
	}
	if (!ok(group_select(gr->gr_name, &cause) == 0, "our own group is selected"))
		diag("%s", cause);
	free(cause);
	cause = NULL;
	ok(path_file_mode == 0660 && strcmp(group_selected(), gr->gr_name) == 0,
	    "with a group, the broker's files are 0660");
	ok(group_member(getuid()), "we are a member by our primary group");
	ok(group_select("no-such-group-baton-test", &cause) != 0 && cause != NULL &&
		strstr(cause, "no group") != NULL,
	    "an unknown group is refused, said so");
	free(cause);
	cause = NULL;
	group_socket(buf, sizeof buf, &cause);
	snprintf(link, sizeof link, "/tmp/baton-group-%s/sock", gr->gr_name);
	if (stat("/run/baton-group", &sb) != 0)
		ok(strcmp(buf, link) == 0, "the socket goes to %s", link);
	else
		skip_n(1, "/run/baton-group exists here");
	dir("team", 0, buf, sizeof buf);
	if (!ok(group_check_dir(buf, 1, &cause) == 0 && mode_is(buf, 02770),
		"a group directory is made 2770"))
		diag("%s", cause != NULL ? cause : "");
	free(cause);
	chmod(buf, 02775);
	group_refuses(buf, "2775", "one others may read is refused");
	chmod(buf, 0770);
	group_refuses(buf, "0770", "one without setgid is refused");
	chmod(buf, 02770);
	dir("team-link", 0, link, sizeof link);
	if (symlink(buf, link) != 0)
		bail("symlink", link);
	group_refuses(link, "symlink", "a symlink to one is refused");
}

int
main(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(top, sizeof top, "%s/baton-paths.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(top) == NULL)
		bail("mkdtemp", top);
	test_state_dir();
	test_socket();
	test_group_names();
	test_group_dirs(); /* selects a group: last */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
	if (system(cmd) != 0)
		diag("could not remove %s", top);
	return (done_testing());
}
