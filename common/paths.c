/*
 * Where the socket and the state live (DESIGN §2).  Defaults depend on
 * the uid and its home in the password database alone, because agent
 * clients filter the environment and may set another HOME;
 * BATON_SOCKET and BATON_STATE_DIR override them.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* Files the broker makes (state, log, lock): private, or its group's (group_select). */
mode_t path_file_mode = 0600;

/* lstat dir into sb: a directory, not a symlink; -1 with cause. */
int
path_lstat_dir(const char *dir, struct stat *sb, char **cause)
{
	if (lstat(dir, sb) == -1) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(sb->st_mode)) {
		xasprintf(cause, "%s is not a directory (a symlink?)", dir);
		return (-1);
	}
	return (0);
}

/*
 * Check that dir is a directory we own, not a symlink, with no group or
 * other permission bits.  With create, make it 0700 first if missing.
 */
int
path_check_dir(const char *dir, int create, char **cause)
{
	struct stat sb;

	if (create && mkdir(dir, 0700) == -1 && errno != EEXIST) {
		xasprintf(cause, "cannot create %s: %s", dir, strerror(errno));
		return (-1);
	}
	if (path_lstat_dir(dir, &sb, cause) != 0)
		return (-1);
	if (sb.st_uid != getuid()) {
		xasprintf(cause, "%s is owned by uid %u, not by you (uid %u)", dir,
		    (unsigned)sb.st_uid, (unsigned)getuid());
		return (-1);
	}
	if ((sb.st_mode & 077) != 0) {
		xasprintf(cause, "%s has mode %03o; it must be 0700 (chmod 700 %s)", dir,
		    (unsigned)(sb.st_mode & 0777), dir);
		return (-1);
	}
	return (0);
}

/* The directory part of path, malloc'd ("." when it has none). */
char *
path_dirname(const char *path)
{
	char *dir, *slash;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) == NULL) {
		free(dir);
		dir = xstrdup(".");
	} else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return (dir);
}

/*
 * mkdir -p dir, every directory it makes 0700 (the state directory may
 * be the parent of the socket's, and must be private); the last
 * component is checked with path_check_dir.
 */
int
path_mkdirs(const char *dir, char **cause)
{
	char path[PATH_MAX], *p;

	if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
		xasprintf(cause, "path too long: %s", dir);
		return (-1);
	}
	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			xasprintf(cause, "cannot create %s: %s", path, strerror(errno));
			return (-1);
		}
		*p = '/';
	}
	return (path_check_dir(path, 1, cause));
}

/*
 * Check (and with create, make, parents included) the directory that
 * holds a socket path.  The cause says how to choose another.  With a
 * group selected, the directory is the group's (group_check_dir).
 */
int
path_check_socket_dir(const char *sock, int create, char **cause)
{
	char *dir = path_dirname(sock), *why;
	int r;

	if (group_selected() != NULL) {
		r = group_check_dir(dir, create, cause);
		free(dir);
		return (r);
	}
	r = create ? path_mkdirs(dir, &why) : path_check_dir(dir, 0, &why);
	free(dir);
	if (r != 0) {
		xasprintf(cause, "%s; or set BATON_SOCKET to a path in a directory of your own",
		    why);
		free(why);
	}
	return (r);
}

/*
 * The user's home directory from the password database, not $HOME: a
 * client started with another HOME (or none: agent clients filter the
 * environment) must find the same broker and state.  $HOME only when
 * the uid has no entry (a container's arbitrary uid).  NULL with cause.
 */
const char *
path_home(char **cause)
{
	struct passwd *pw;
	const char *home;

	if ((pw = getpwuid(getuid())) != NULL && pw->pw_dir != NULL && pw->pw_dir[0] == '/')
		return (pw->pw_dir);
	if ((home = getenv("HOME")) != NULL && home[0] == '/')
		return (home);
	xasprintf(cause, "no home directory for uid %u (no passwd entry, no HOME)",
	    (unsigned)getuid());
	return (NULL);
}

/* Is dir a directory owned by us with mode 0700 (as gpg-agent checks /run/user/UID)? */
static int
path_private_dir(const char *dir)
{
	struct stat sb;

	return (lstat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == getuid() &&
	    (sb.st_mode & 077) == 0);
}

/* Is dir a directory owned by us (following a symlink: a home may be one)? */
static int
path_own_dir(const char *dir)
{
	struct stat sb;

	return (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == getuid());
}

/*
 * The default socket path, given the runtime directory (/run/user/UID)
 * and the home (NULL: none): the runtime directory when it is private,
 * else PATH_HOME_SOCKET under a home of our own when the path fits in
 * sun_path (no other user can pre-empt it, as they can /tmp/baton-UID),
 * else /tmp/baton-UID/sock.  Split from path_socket for the tests.
 */
int
path_socket_default(char *buf, size_t len, const char *run, const char *home)
{
	struct sockaddr_un sa;
	int n;

	if (path_private_dir(run)) {
		n = snprintf(buf, len, "%s/baton/sock", run);
		if (n > 0 && (size_t)n < len && (size_t)n < sizeof sa.sun_path)
			return (0);
	}
	if (home != NULL && path_own_dir(home)) {
		n = snprintf(buf, len, "%s%s" PATH_HOME_SOCKET, home,
		    home[strlen(home) - 1] == '/' ? "" : "/");
		if (n > 0 && (size_t)n < len && (size_t)n < sizeof sa.sun_path)
			return (0);
	}
	n = snprintf(buf, len, "/tmp/baton-%u/sock", (unsigned)getuid());
	return (n > 0 && (size_t)n < len ? 0 : -1);
}

/*
 * The socket path: $BATON_SOCKET, else the default (DESIGN §2;
 * path_socket_default).
 */
int
path_socket(char *buf, size_t len, char **cause)
{
	struct sockaddr_un sa;
	const char *env, *home;
	char run[64], *why = NULL;
	int n;

	if ((env = getenv("BATON_SOCKET")) != NULL && *env != '\0') {
		n = snprintf(buf, len, "%s", env);
		if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof sa.sun_path) {
			xasprintf(cause,
			    "BATON_SOCKET is too long (the limit is %zu bytes); choose a "
			    "shorter path",
			    sizeof sa.sun_path - 1);
			return (-1);
		}
		return (0);
	}
	snprintf(run, sizeof run, "/run/user/%u", (unsigned)getuid());
	home = path_home(&why);
	free(why);
	if (path_socket_default(buf, len, run, home) != 0) {
		xasprintf(cause, "no socket path fits in %zu bytes; set BATON_SOCKET",
		    sizeof sa.sun_path - 1);
		return (-1);
	}
	return (0);
}

/* The state directory: $BATON_STATE_DIR, else .local/state/baton in the home (path_home). */
int
path_state_dir(char *buf, size_t len, char **cause)
{
	const char *env, *home;
	int n;

	if ((env = getenv("BATON_STATE_DIR")) != NULL && *env != '\0')
		n = snprintf(buf, len, "%s", env);
	else {
		if ((home = path_home(cause)) == NULL)
			return (-1);
		n = snprintf(buf, len, "%s/.local/state/baton",
		    strcmp(home, "/") == 0 ? "" : home);
	}
	if (n < 0 || (size_t)n >= len) {
		xasprintf(cause, "state directory path too long");
		return (-1);
	}
	return (0);
}

/*
 * The broker's socket, state directory and the making of the latter:
 * the selected group's (group.c), else the private broker's.
 */
int
path_broker_socket(char *buf, size_t len, char **cause)
{
	if (group_selected() != NULL)
		return (group_socket(buf, len, cause));
	return (path_socket(buf, len, cause));
}

int
path_broker_state_dir(char *buf, size_t len, char **cause)
{
	if (group_selected() != NULL)
		return (group_state_dir(buf, len, cause));
	return (path_state_dir(buf, len, cause));
}

int
path_broker_mkstate(const char *dir, char **cause)
{
	if (group_selected() != NULL)
		return (group_check_dir(dir, 1, cause));
	return (path_mkdirs(dir, cause));
}
