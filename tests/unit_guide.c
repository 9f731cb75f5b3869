/*
 * Unit tests of the guidance texts (common/guide.c): the rules fit the
 * MCP limit, name only what this build has, and render without markup
 * as text; every role's steps name only operations and fields of the
 * table, and some of them apply in every state a project can be in.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "tap.h"

#define MCP_TEXT_MAX 2048 /* Claude Code cuts instructions here */

/* Is the n bytes at s one of the choices "a|b|c"? */
static int
choice_has(const char *choices, const char *s, size_t n)
{
	const char *p = choices, *bar;
	size_t len;

	while (p != NULL) {
		bar = strchr(p, '|');
		len = bar != NULL ? (size_t)(bar - p) : strlen(p);
		if (len == n && memcmp(p, s, n) == 0)
			return (1);
		p = bar != NULL ? bar + 1 : NULL;
	}
	return (0);
}

/* Is the n bytes at s an operation, an argument or result of one, or a value it takes? */
static int
table_has(const char *s, size_t n)
{
	const struct op_arg *a;
	size_t i, j;

	if (op_find(s, n) != NULL)
		return (1);
	for (i = 0; i < OP_COUNT; i++) {
		for (j = 0; j < ops[i].nargs; j++) {
			a = &ops[i].args[j];
			if ((strlen(a->name) == n && memcmp(a->name, s, n) == 0) ||
			    (a->choices != NULL && choice_has(a->choices, s, n)))
				return (1);
		}
		for (j = 0; j < ops[i].nresults; j++) {
			if (strlen(ops[i].results[j].name) == n &&
			    memcmp(ops[i].results[j].name, s, n) == 0)
				return (1);
		}
	}
	return (0);
}

/*
 * The first word of text like an operation or a field (lower case and
 * digits with an underscore) that the table lacks, in buf; NULL when
 * there is none.
 */
static const char *
unknown_name(const char *text, char *buf, size_t len)
{
	const char *p = text, *w;
	size_t n;

	while (*p != '\0') {
		if (!islower((unsigned char)*p)) {
			p++;
			continue;
		}
		for (w = p;
		     islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'; p++)
			;
		n = (size_t)(p - w);
		if (memchr(w, '_', n) != NULL && !table_has(w, n)) {
			snprintf(buf, len, "%.*s", (int)n, w);
			return (buf);
		}
	}
	return (NULL);
}

/* Does some step of g apply in state? */
static int
some_step(const struct guide_role *g, unsigned state)
{
	const struct guide_step *st;

	for (st = g->steps; st->text != NULL; st++) {
		if (guide_step_applies(st, state))
			return (1);
	}
	return (0);
}

static void
test_rules(void)
{
	char *text = guide_rules(GUIDE_TEXT, "agent-1"),
	     *md = guide_rules(GUIDE_MARKDOWN, NULL);
	char buf[64];
	const char *bad;

	ok(strlen(text) < MCP_TEXT_MAX, "the instructions fit in %d characters (%zu)",
	    MCP_TEXT_MAX, strlen(text));
	ok(strchr(text, '`') == NULL, "the instructions carry no markdown marks");
	ok(strstr(text, "lock_acquire") != NULL && strstr(text, "lock_release") != NULL &&
		strstr(text, "task_claim") != NULL,
	    "the instructions explain locks and tasks");
	ok(strstr(text, "as agent-1.") != NULL && text[strlen(text) - 1] != '\n',
	    "the instructions end with the reader's name, no newline");
	ok(strstr(md, "\n- Before editing a file") != NULL && md[strlen(md) - 1] == '\n',
	    "the markdown block is a list of lines, each ending in a newline");
	ok(strstr(md, "`message_inbox`") != NULL, "the markdown block marks names as code");
	bad = unknown_name(text, buf, sizeof buf);
	ok(bad == NULL, "the rules name only operations and fields of the table%s%s",
	    bad != NULL ? ": not " : "", bad != NULL ? bad : "");
	free(text);
	free(md);
}

static void
test_roles(void)
{
	const struct guide_role *g;
	const struct guide_step *st;
	const char *bad = NULL;
	char buf[64];
	size_t n = 0;
	unsigned stage, rest;
	int always = 1;

	for (g = guide_roles; g->name != NULL; g++, n++) {
		ok(guide_role(g->name) == g && guide_role_find(g->name) == g,
		    "%s is found by name", g->name);
		ok(strstr(g->summary, g->name) != NULL, "the %s summary names the role",
		    g->name);
		for (st = g->steps; st->text != NULL && bad == NULL; st++)
			bad = unknown_name(st->text, buf, sizeof buf);
		if (bad == NULL)
			bad = unknown_name(g->summary, buf, sizeof buf);
		/* a planner's stage, and any other state on top of it */
		for (stage = GUIDE_NO_CONTEXT; stage <= GUIDE_WORKING; stage <<= 1) {
			for (rest = 0; rest < 0x200; rest += GUIDE_IN_REVIEW)
				always &= some_step(g,
				    stage | rest |
					((rest & GUIDE_ALL_DONE) ? 0 : GUIDE_NOT_DONE));
		}
	}
	ok(n == 3, "three roles: planner, implementer, reviewer");
	ok(bad == NULL, "the roles name only operations and fields of the table%s%s",
	    bad != NULL ? ": not " : "", bad != NULL ? bad : "");
	ok(always, "every role has something to do in every state");
	ok(guide_role(NULL) == &guide_no_role && guide_role("tester") == &guide_no_role &&
		guide_role_find("none") == NULL,
	    "no role, or another one, gets the general text");
	ok(unknown_name(guide_no_role.steps[0].text, buf, sizeof buf) == NULL &&
		unknown_name(guide_over, buf, sizeof buf) == NULL,
	    "the texts for no role and for a finished project name only the table's names");
}

int
main(void)
{
	test_rules();
	test_roles();
	return (done_testing());
}
