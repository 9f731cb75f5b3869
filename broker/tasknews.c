/*
 * What is news about tasks for one agent, for baton hook (notice.c):
 * the reviews it may do and the changes requested on its own tasks.
 * Each item says since when it stands, so that the reader can tell one
 * it was told about from a new one (a task resubmitted after changes is
 * a new review).
 */
#include "config.h"

#include <string.h>

#include "task.h"

/* When t last entered review (its latest "submitted"), or 0. */
static int64_t
tasknews_submitted(const struct task *t, const char **who, const char **notes)
{
	size_t i = t->nhist;

	while (i-- > 0) {
		if (strcmp(t->hist[i].action, "submitted") == 0) {
			*who = t->hist[i].actor;
			*notes = t->hist[i].note;
			return (t->hist[i].at);
		}
	}
	return (0);
}

/* Is t the agent's own (claimed by it, or assigned to it)? */
static int
tasknews_mine(const struct task *t, const char *agent)
{
	return ((t->claim_s != NULL && strcmp(t->claim_s->agent, agent) == 0) ||
	    (t->assignee != NULL && strcmp(t->assignee, agent) == 0));
}

/*
 * May agent in role review t?  Reviewers and planners review every task,
 * anyone else the tasks it created; nobody its own.
 */
static int
tasknews_reviews(const struct task *t, const char *agent, const char *role)
{
	if (tasknews_mine(t, agent))
		return (0);
	if (role != NULL && (strcmp(role, "reviewer") == 0 || strcmp(role, "planner") == 0))
		return (1);
	return (t->owner != NULL && strcmp(t->owner, agent) == 0);
}

/*
 * The task news of agent in role in project: tasks in review it may
 * review, and its own tasks sent back with changes requested; fn gets
 * each.
 */
void
task_foreach_news(const char *project, const char *agent, const char *role,
    void (*fn)(const struct task_view *, void *), void *arg)
{
	struct project *p = project_find(project);
	struct task_view v;
	struct task *t;
	size_t i;

	for (i = 0; p != NULL && i < p->ntasks; i++) {
		if ((t = p->tasks[i]) == NULL)
			continue;
		memset(&v, 0, sizeof v);
		v.id = t->id;
		v.num = t->num;
		v.title = t->title;
		if (t->status == TS_REVIEW && tasknews_reviews(t, agent, role)) {
			v.kind = "review";
			v.since_ms = tasknews_submitted(t, &v.who, &v.text);
		} else if (t->status == TS_IN_PROGRESS && t->changes_pending &&
		    tasknews_mine(t, agent)) {
			v.kind = "changes";
			v.who = t->reviewer;
			v.text = t->feedback;
			v.since_ms = t->reviewed_at;
		} else
			continue;
		fn(&v, arg);
	}
}

/* The wait key that wakes on every task change in project. */
const char *
task_news_key(const char *project)
{
	return (project_ensure(project)->wkey);
}
