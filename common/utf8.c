/*
 * UTF-8: decoding, the rules for names and text, and showing a string
 * safely on a terminal.  Names (locks, note keys, agents...) are valid
 * UTF-8 without control characters, so that they print as they are;
 * text (reasons, bodies, descriptions) is valid UTF-8 without NUL and
 * may hold anything else, so the CLI shows it escaped (utf8_vis).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/*
 * Decode the UTF-8 sequence at s (n > 0 bytes left) into *cp: its length,
 * or 0 when it is not valid UTF-8 (a stray or truncated byte, an overlong
 * form, a surrogate, past U+10FFFF).
 */
size_t
utf8_next(const char *p, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t len, k;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return (1);
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07;
	else
		return (0);
	if (n < len)
		return (0);
	for (k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return (0);
		c = c << 6 | (s[k] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return (0);
	*cp = c;
	return (len);
}

/* Is cp a control character (C0, DEL, C1)? */
static int
utf8_control(uint32_t cp)
{
	return (cp < 0x20 || (cp >= 0x7f && cp < 0xa0));
}

/*
 * Check s (n bytes) as a name (flags 0: valid UTF-8, no control
 * character) or as text (UTF8_TEXT: valid UTF-8, no NUL).  0, or -1 with
 * why (what is wrong and where) in buf.
 */
int
utf8_check(const char *s, size_t n, int flags, char *why, size_t len)
{
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		if ((k = utf8_next(s + i, n - i, &cp)) == 0) {
			snprintf(why, len, "is not valid UTF-8 (byte 0x%02x at offset %zu)",
			    (unsigned char)s[i], i);
			return (-1);
		}
		if (cp == 0) {
			snprintf(why, len, "must not contain NUL (at offset %zu)", i);
			return (-1);
		}
		if (!(flags & UTF8_TEXT) && utf8_control(cp)) {
			snprintf(why, len,
			    "must not contain control characters (U+%04X at offset %zu)",
			    (unsigned)cp, i);
			return (-1);
		}
		i += k;
	}
	return (0);
}

/*
 * s (n bytes) for a terminal, malloc'd: control characters as C escapes
 * (\e, \r, \x7f, \u009b...) and bytes that are not UTF-8 as \xHH, so that
 * nothing a peer wrote can move the cursor or clear the screen.  With
 * UTF8_VIS_LINES newlines and tabs stay (multi-line text).
 */
char *
utf8_vis(const char *s, size_t n, int flags)
{
	char *out = xmalloc(6 * n + 1), *o = out;
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		if ((k = utf8_next(s + i, n - i, &cp)) == 0) {
			o += sprintf(o, "\\x%02x", (unsigned char)s[i]);
			i++;
			continue;
		}
		if (!utf8_control(cp) ||
		    ((flags & UTF8_VIS_LINES) && (cp == '\n' || cp == '\t'))) {
			memcpy(o, s + i, k);
			o += k;
		} else if (cp == '\n')
			o += sprintf(o, "\\n");
		else if (cp == '\t')
			o += sprintf(o, "\\t");
		else if (cp == '\r')
			o += sprintf(o, "\\r");
		else if (cp == 0x1b)
			o += sprintf(o, "\\e");
		else if (cp < 0x80)
			o += sprintf(o, "\\x%02x", (unsigned)cp);
		else
			o += sprintf(o, "\\u%04x", (unsigned)cp);
		i += k;
	}
	*o = '\0';
	return (out);
}

/*
 * Copy src into dst (size > 0 bytes, NUL included) as one line of a name:
 * a control character becomes a space, an invalid byte '?', and the copy
 * stops before a character that would not fit whole.  dst.
 */
char *
utf8_line(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src), o = 0, k;
	uint32_t cp;

	while (n > 0) {
		if ((k = utf8_next(src, n, &cp)) == 0 || utf8_control(cp)) {
			if (o + 1 >= size)
				break;
			dst[o++] = k == 0 ? '?' : ' ';
			k = k == 0 ? 1 : k;
		} else {
			if (o + k >= size)
				break;
			memcpy(dst + o, src, k);
			o += k;
		}
		src += k;
		n -= k;
	}
	dst[o] = '\0';
	return (dst);
}
