/*
 * Unit tests of names, text and escaping (common/utf8.c) and of the
 * search for "\u0000" in JSON text (json_find_nul, common/json.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "tap.h"

static const struct {
	const char *s;
	int flags, want; /* 0 accepted, -1 refused */
} check_cases[] = {
	{ "npm", 0, 0 },
	{ "file:src/a.c", 0, 0 },
	{ "verrou-\xc3\xa9-\xe6\x97\xa5-\xf0\x9f\x94\x92", 0, 0 },
	{ "a b", 0, 0 },
	{ "x\x1b[2J", 0, -1 },
	{ "a\nb", 0, -1 },
	{ "a\tb", 0, -1 },
	{ "del\x7f", 0, -1 },
	{ "c1 \xc2\x9b", 0, -1 },
	{ "nbsp \xc2\xa0", 0, 0 },
	{ "stray \xff", 0, -1 },
	{ "overlong \xc0\xaf", 0, -1 },
	{ "surrogate \xed\xa0\x80", 0, -1 },
	{ "truncated \xe6\x97", 0, -1 },
	{ "past U+10FFFF \xf4\x90\x80\x80", 0, -1 },
	{ "text\x1b[2J\n\tok", UTF8_TEXT, 0 },
	{ "text \xc2\x9b ok", UTF8_TEXT, 0 },
	{ "text \xff", UTF8_TEXT, -1 },
};

static const struct {
	const char *s;
	int flags;
	const char *want;
} vis_cases[] = {
	{ "plain", 0, "plain" },
	{ "x\x1b[2Jy", 0, "x\\e[2Jy" },
	{ "a\r\nb\tc", 0, "a\\r\\nb\\tc" },
	{ "a\nb\tc\rd", UTF8_VIS_LINES, "a\nb\tc\\rd" },
	{ "bel\x07 del\x7f", 0, "bel\\x07 del\\x7f" },
	{ "csi\xc2\x9b", 0, "csi\\u009b" },
	{ "\xe6\x97\xa5\xff!", 0, "\xe6\x97\xa5\\xff!" },
	{ "back\\slash", 0, "back\\slash" },
};

static const struct {
	const char *json;
	int want;
	const char *field;
} nul_cases[] = {
	{ "{\"key\":\"a\\u0000b\"}", 1, "key" },
	{ "{\"key\":\"ab\",\"value\":\"x\\u0000\"}", 1, "value" },
	{ "{\"a\\u0000\":1}", 1, "a" },
	{ "{\"names\":[\"ok\",\"b\\u0000\"]}", 1, "names" },
	{ "{\"params\":{\"arguments\":{\"k\":\"\\u0000\"}}}", 1, "k" },
	{ "{\"o\":{\"k\":1},\"v\":[\"\\u0000\"]}", 1, "v" },
	{ "[\"\\u0000\"]", 1, "" },
	{ "{\"key\":\"a\\\\u0000b\"}", 0, NULL }, /* an escaped backslash, then text */
	{ "{\"key\":\"\\u00001\"}", 1, "key" },
	{ "{\"key\":\"\\u0001\"}", 0, NULL },
	{ "{\"key\":\"plain\",\"n\":0}", 0, NULL },
	{ "{\"key\":\"unterminated", 0, NULL },
};

int
main(void)
{
	char why[96], field[64], *v;
	size_t i;
	int r;

	for (i = 0; i < nitems(check_cases); i++) {
		why[0] = '\0';
		r = utf8_check(check_cases[i].s, strlen(check_cases[i].s), check_cases[i].flags,
		    why, sizeof why);
		v = utf8_vis(check_cases[i].s, strlen(check_cases[i].s), 0);
		if (!ok(r == check_cases[i].want, "%s %s: %s",
			check_cases[i].flags & UTF8_TEXT ? "text" : "name", v,
			check_cases[i].want == 0 ? "accepted" : "refused"))
			diag("got %d (%s)", r, why);
		free(v);
	}
	why[0] = '\0';
	ok(utf8_check("a\0b", 3, UTF8_TEXT, why, sizeof why) != 0 && strstr(why, "NUL") != NULL,
	    "text with a NUL is refused, and the reason says NUL");
	ok(utf8_check("ab\x1b", 3, 0, why, sizeof why) != 0 &&
		strstr(why, "U+001B at offset 2") != NULL,
	    "the reason names the character and its offset");
	for (i = 0; i < nitems(vis_cases); i++) {
		char *shown;

		v = utf8_vis(vis_cases[i].s, strlen(vis_cases[i].s), vis_cases[i].flags);
		shown = utf8_vis(vis_cases[i].want, strlen(vis_cases[i].want), 0);
		if (!ok(strcmp(v, vis_cases[i].want) == 0, "vis gives %s", shown))
			diag("got %s", v);
		free(shown);
		free(v);
	}
	v = utf8_vis("a\0b", 3, 0);
	ok(strcmp(v, "a\\x00b") == 0, "vis shows a NUL as \\x00, and goes on");
	free(v);
	for (i = 0; i < nitems(nul_cases); i++) {
		field[0] = '\0';
		r = json_find_nul(nul_cases[i].json, strlen(nul_cases[i].json), field,
		    sizeof field);
		if (!ok(r == nul_cases[i].want &&
			    (r == 0 || strcmp(field, nul_cases[i].field) == 0),
			"json_find_nul %s: %s", nul_cases[i].json,
			nul_cases[i].want ? nul_cases[i].field : "none"))
			diag("got %d, field '%s'", r, field);
	}
	ok(json_find_nul("{\"k\":\"a\0b\"}", 11, field, sizeof field) == 1 &&
		strcmp(field, "k") == 0,
	    "a raw NUL byte in a string is found too");
	{
		char line[8];

		utf8_line(line, sizeof line, "a\nb\tc");
		ok(strcmp(line, "a b c") == 0, "line: controls become spaces");
		utf8_line(line, sizeof line, "abcde\xc3\xa9\xc3\xa9");
		ok(strcmp(line, "abcde\xc3\xa9") == 0,
		    "line: clipped before a character that does not fit whole");
		utf8_line(line, sizeof line, "abcdef\xc3\xa9");
		ok(strcmp(line, "abcdef") == 0, "line: never half a character");
		utf8_line(line, sizeof line, "x\xffy");
		ok(strcmp(line, "x?y") == 0, "line: an invalid byte becomes ?");
		utf8_line(line, 1, "abc");
		ok(line[0] == '\0', "line: a size of 1 gives the empty string");
	}
	return (done_testing());
}
