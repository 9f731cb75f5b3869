/*
 * Who may use this broker, and under which name (DESIGN 3 and 15).  A
 * private broker serves its own uid (root too with --allow-root), and
 * every peer may run every operation.  A team broker (batond --group
 * NAME) serves the members of the group, asked of the group database
 * when each peer connects (common/group.c); the operations marked
 * OP_OWNER (lock_break, state_export) are its owner's (the uid that
 * runs it), root's and those of the users --admin names; and a session
 * goes by its user and agent name, "alice/claude-3f2a", so that what
 * one user's agents hold is never shown as another's.  Capabilities stay
 * per session: the user in a name is a label, never a key.
 */
#include "config.h"

#include <sys/stat.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"

#define TEAM_ADMINS_MAX 32

static uid_t team_admins[TEAM_ADMINS_MAX];
static size_t team_nadmins;

/* Add the users of list (USER,USER...) to the admins; -1 with cause. */
static int
team_admin_add(const char *list, char **cause)
{
	char *copy = xstrdup(list), *name, *save;
	struct passwd *pw;
	int r = 0;

	for (name = strtok_r(copy, ",", &save); name != NULL && r == 0;
	     name = strtok_r(NULL, ",", &save)) {
		if ((pw = getpwnam(name)) == NULL) {
			xasprintf(cause, "--admin: no user '%s' in the password database",
			    name);
			r = -1;
		} else if (team_nadmins == TEAM_ADMINS_MAX) {
			xasprintf(cause, "--admin names at most %d users", TEAM_ADMINS_MAX);
			r = -1;
		} else
			team_admins[team_nadmins++] = pw->pw_uid;
	}
	free(copy);
	return (r);
}

/*
 * Serve group (NULL: be a private broker) with the admins listed in
 * admins (NULL: none but the owner and root).  The owner must be a member
 * (or root): it runs the broker for the group.  From here on files are
 * made for the group (umask 007).  -1 with cause.
 */
int
team_init(const char *group, const char *admins, char **cause)
{
	char user[64];

	if (group == NULL) {
		if (admins != NULL) {
			xasprintf(cause,
			    "--admin goes with --group (a private broker's "
			    "only user is its admin)");
			return (-1);
		}
		return (0);
	}
	if (group_select(group, cause) != 0)
		return (-1);
	if (getuid() != 0 && !group_member(getuid())) {
		xasprintf(cause,
		    "you (%s) are not a member of group %s; only a member runs "
		    "its broker",
		    group_user(getuid(), user, sizeof user), group);
		return (-1);
	}
	if (admins != NULL && team_admin_add(admins, cause) != 0)
		return (-1);
	umask(007);
	return (0);
}

/*
 * May a peer of uid use this broker?  Its own uid, root with
 * --allow-root, and on a team broker the group's members.  A refusal is
 * logged, with the peer's pid.
 */
int
team_peer_ok(uid_t uid, pid_t pid)
{
	const char *group = group_selected();
	char user[64];

	if (uid == getuid() || (cfg.allow_root && uid == 0))
		return (1);
	if (group == NULL) {
		log_warnx("refused a peer: uid %u pid %ld is not uid %u", (unsigned)uid,
		    (long)pid, (unsigned)getuid());
		return (0);
	}
	if (uid != 0 && group_member(uid))
		return (1);
	log_warnx("refused a peer: %s (uid %u) pid %ld is not a member of group %s%s",
	    group_user(uid, user, sizeof user), (unsigned)uid, (long)pid, group,
	    uid == 0 ? " (root needs --allow-root)" : "");
	return (0);
}

/* May a peer of uid run what is its owner's (OP_OWNER)? */
int
team_admin(uid_t uid)
{
	size_t i;

	if (group_selected() == NULL || uid == getuid() || uid == 0)
		return (1);
	for (i = 0; i < team_nadmins; i++) {
		if (team_admins[i] == uid)
			return (1);
	}
	return (0);
}

/* Why a peer may not run an OP_OWNER operation, for its error. */
const char *
team_admin_why(void)
{
	static char why[160];
	char user[64];

	snprintf(why, sizeof why,
	    "on the team broker of group %s this is for its owner (%s), root and the users "
	    "batond --admin names",
	    group_selected(), group_user(getuid(), user, sizeof user));
	return (why);
}

/*
 * The name a session of uid goes by for the name it asked for (len
 * bytes): on a team broker "USER/name" (a name that starts with the
 * user's own "USER/" already is one), else the name.  NULL with cause
 * when it would pass AGENT_NAME_MAX_LEN.
 */
char *
team_agent_name(uid_t uid, const char *name, size_t len, char **cause)
{
	char user[64], *full;
	size_t ulen;

	if (group_selected() == NULL)
		return (xstrndup(name, len));
	group_user(uid, user, sizeof user);
	ulen = strlen(user);
	if (len > ulen + 1 && memcmp(name, user, ulen) == 0 && name[ulen] == '/') {
		name += ulen + 1;
		len -= ulen + 1;
	}
	if (ulen + 1 + len > AGENT_NAME_MAX_LEN) {
		xasprintf(cause,
		    "agent name '%s/%.*s' is too long: with the user name in front, names "
		    "have at most %d bytes",
		    user, (int)(len > 80 ? 80 : len), name, AGENT_NAME_MAX_LEN);
		return (NULL);
	}
	xasprintf(&full, "%s/%.*s", user, (int)len, name);
	return (full);
}

/*
 * An agent a session of uid names as an address (a message's to, a
 * discussion's waiting_on, a task's assignee), len bytes: on a team
 * broker a name without a user ("planner-9") is one of the sender's own
 * agents ("alice/planner-9"), as its agents' names are; a name with a
 * user ("bob/planner-9"), role:ROLE and all stay as they are.  The
 * caller checks the length of the result.
 */
char *
team_agent_addr(uid_t uid, const char *name, size_t len)
{
	char user[64], *full;

	if (group_selected() == NULL || len == 0 || memchr(name, '/', len) != NULL ||
	    (len >= 5 && memcmp(name, "role:", 5) == 0) ||
	    (len == 3 && memcmp(name, "all", 3) == 0))
		return (xstrndup(name, len));
	xasprintf(&full, "%s/%.*s", group_user(uid, user, sizeof user), (int)len, name);
	return (full);
}
