/*
 * A team broker's Unix group (DESIGN 15: batond --group NAME, baton
 * --group NAME or BATON_GROUP).  Who is a member is asked of the group
 * database each time (a user added or removed counts from the next
 * connection); the group's socket and state live at well-known paths,
 * the same for every member whatever their environment; and those
 * directories are checked as path_check_dir checks a private one, for a
 * group: a directory (never a symlink) owned by a member or root and by
 * the group, mode 2770 (setgid: what is made in it belongs to the group
 * whichever member makes it).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* Where a team broker's socket and state go, unless root made these (group_base). */
#define GROUP_RUN_BASE "/run/baton-group"
#define GROUP_STATE_BASE "/var/lib/baton-group"

static char group_name[GROUP_NAME_MAX + 1]; /* empty: the private broker */
static gid_t group_id;

/*
 * Is name usable as a group here?  Letters, digits, '.', '_' and '-', not
 * starting with '.' or '-' (it becomes part of a path), at most
 * GROUP_NAME_MAX bytes; NULL when it is, else why not.
 */
const char *
group_name_bad(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > GROUP_NAME_MAX)
		return ("a group name has 1 to 32 bytes");
	if (name[0] == '.' || name[0] == '-')
		return ("a group name cannot start with '.' or '-'");
	for (i = 0; i < n; i++) {
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
			(name[i] >= 'A' && name[i] <= 'Z') ||
			(name[i] >= '0' && name[i] <= '9') || name[i] == '.' ||
			name[i] == '_' || name[i] == '-'))
			return ("a group name holds letters, digits, '.', '_' and '-' only");
	}
	return (NULL);
}

/*
 * Serve or reach the team broker of group name from now on: it must be
 * in the group database.  Files made for it are 0660 (path_file_mode).
 */
int
group_select(const char *name, char **cause)
{
	const char *why;
	struct group *gr;

	if ((why = group_name_bad(name)) != NULL) {
		xasprintf(cause, "bad group '%s': %s", name, why);
		return (-1);
	}
	errno = 0;
	if ((gr = getgrnam(name)) == NULL) {
		xasprintf(cause, "no group '%s' in the group database%s%s", name,
		    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		return (-1);
	}
	snprintf(group_name, sizeof group_name, "%s", name);
	group_id = gr->gr_gid;
	path_file_mode = 0660;
	return (0);
}

/* The selected group's name, or NULL for the private broker. */
const char *
group_selected(void)
{
	return (group_name[0] != '\0' ? group_name : NULL);
}

/*
 * Is uid a member of the selected group, by the group database now: its
 * primary group in the password database, or listed among the group's
 * members?  A uid without a password entry is nobody's member.
 */
int
group_member(uid_t uid)
{
	struct passwd *pw;
	struct group *gr;
	char *user;
	size_t i;
	int member = 0;

	if ((pw = getpwuid(uid)) == NULL)
		return (0);
	if (pw->pw_gid == group_id)
		return (1);
	user = xstrdup(pw->pw_name);
	if ((gr = getgrgid(group_id)) != NULL) {
		for (i = 0; gr->gr_mem != NULL && gr->gr_mem[i] != NULL && !member; i++)
			member = strcmp(gr->gr_mem[i], user) == 0;
	}
	free(user);
	return (member);
}

/* The user name of uid into buf ("uid1234" when it has none); buf. */
const char *
group_user(uid_t uid, char *buf, size_t len)
{
	struct passwd *pw;

	if ((pw = getpwuid(uid)) != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "uid%u", (unsigned)uid);
	return (buf);
}

/* Did root make base, a directory (not a symlink), for the groups' directories? */
static int
group_base(const char *base)
{
	struct stat sb;

	return (lstat(base, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == 0);
}

/*
 * The selected group's directory for what: base/NAME when root made base,
 * else fallback-NAME (in /tmp or /var/tmp, sticky, as the private broker's
 * /tmp/baton-UID), then tail.
 */
static int
group_path(char *buf, size_t len, const char *base, const char *fallback, const char *tail,
    char **cause)
{
	int n;

	if (group_base(base))
		n = snprintf(buf, len, "%s/%s%s", base, group_name, tail);
	else
		n = snprintf(buf, len, "%s-%s%s", fallback, group_name, tail);
	if (n < 0 || (size_t)n >= len) {
		xasprintf(cause, "the path of group %s's broker is too long", group_name);
		return (-1);
	}
	return (0);
}

/* The selected group's socket: /run/baton-group/NAME/sock, else /tmp/baton-group-NAME/sock. */
int
group_socket(char *buf, size_t len, char **cause)
{
	struct sockaddr_un sa;

	if (len > sizeof sa.sun_path)
		len = sizeof sa.sun_path;
	return (group_path(buf, len, GROUP_RUN_BASE, "/tmp/baton-group", "/sock", cause));
}

/* The selected group's state: /var/lib/baton-group/NAME, else /var/tmp/baton-group-NAME. */
int
group_state_dir(char *buf, size_t len, char **cause)
{
	return (group_path(buf, len, GROUP_STATE_BASE, "/var/tmp/baton-group", "", cause));
}

/* Make dir the selected group's, 2770; -1 with cause. */
static int
group_make_dir(const char *dir, char **cause)
{
	if (mkdir(dir, 0770) == -1) {
		if (errno == EEXIST)
			return (0);
		xasprintf(cause, "cannot create %s: %s", dir, strerror(errno));
		return (-1);
	}
	/* in a sticky directory (/tmp) nobody else can move it away in between */
	if (chown(dir, (uid_t)-1, group_id) == -1 || chmod(dir, 02770) == -1) {
		xasprintf(cause, "cannot give %s to group %s (mode 2770): %s", dir, group_name,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * Check that dir is a directory, not a symlink, of the selected group,
 * owned by a member or root, mode 2770 (no permission for others; the
 * group's read, write and search; setgid).  With create, make it first
 * when missing (its parent must exist).
 */
int
group_check_dir(const char *dir, int create, char **cause)
{
	struct stat sb;
	char user[64];

	if ((create && group_make_dir(dir, cause) != 0) || path_lstat_dir(dir, &sb, cause) != 0)
		return (-1);
	if (sb.st_gid != group_id) {
		xasprintf(cause, "%s belongs to gid %u, not to group %s (chgrp %s %s)", dir,
		    (unsigned)sb.st_gid, group_name, group_name, dir);
		return (-1);
	}
	if (sb.st_uid != 0 && sb.st_uid != getuid() && !group_member(sb.st_uid)) {
		xasprintf(cause, "%s is owned by %s, who is not a member of group %s", dir,
		    group_user(sb.st_uid, user, sizeof user), group_name);
		return (-1);
	}
	if ((sb.st_mode & 07777) != 02770) {
		xasprintf(cause,
		    "%s has mode %04o; a team broker's must be 2770 (chmod 2770 %s)", dir,
		    (unsigned)(sb.st_mode & 07777), dir);
		return (-1);
	}
	return (0);
}
