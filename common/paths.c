/*
 * Where the socket and the state live (DESIGN §2).  Defaults depend on
 * the uid and HOME alone, because agent clients filter the environment;
 * BATON_SOCKET and BATON_STATE_DIR override them.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

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
	if (lstat(dir, &sb) == -1) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "%s is not a directory (a symlink?)", dir);
		return (-1);
	}
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

/* Check (and with create, make) the directory that holds a socket path. */
int
path_check_socket_dir(const char *sock, int create, char **cause)
{
	char *dir = path_dirname(sock);
	int r;

	r = path_check_dir(dir, create, cause);
	free(dir);
	return (r);
}

/* The socket path: $BATON_SOCKET, else /run/user/UID/baton/sock, else /tmp/baton-UID/sock. */
int
path_socket(char *buf, size_t len, char **cause)
{
	struct sockaddr_un sa;
	struct stat sb;
	const char *env;
	char run[64];
	uid_t uid = getuid();
	int n;

	if ((env = getenv("BATON_SOCKET")) != NULL && *env != '\0')
		n = snprintf(buf, len, "%s", env);
	else {
		snprintf(run, sizeof run, "/run/user/%u", (unsigned)uid);
		if (lstat(run, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == uid &&
		    (sb.st_mode & 077) == 0)
			n = snprintf(buf, len, "%s/baton/sock", run);
		else
			n = snprintf(buf, len, "/tmp/baton-%u/sock", (unsigned)uid);
	}
	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof sa.sun_path) {
		xasprintf(cause, "socket path too long (the limit is %zu bytes)",
		    sizeof sa.sun_path - 1);
		return (-1);
	}
	return (0);
}

/* The state directory: $BATON_STATE_DIR, else ~/.local/state/baton. */
int
path_state_dir(char *buf, size_t len, char **cause)
{
	const char *env, *home;
	struct passwd *pw;
	int n;

	if ((env = getenv("BATON_STATE_DIR")) != NULL && *env != '\0')
		n = snprintf(buf, len, "%s", env);
	else {
		home = getenv("HOME");
		if (home == NULL || *home == '\0') {
			if ((pw = getpwuid(getuid())) == NULL) {
				xasprintf(cause, "no HOME and no passwd entry for uid %u",
				    (unsigned)getuid());
				return (-1);
			}
			home = pw->pw_dir;
		}
		n = snprintf(buf, len, "%s/.local/state/baton", home);
	}
	if (n < 0 || (size_t)n >= len) {
		xasprintf(cause, "state directory path too long");
		return (-1);
	}
	return (0);
}
