/*
 * The dashboard's page, embedded in the binary: shim/dashboard/index.html,
 * app.js and app.css, as they are in the source tree (no build step, no
 * CDN).  The assembler's .incbin puts each file's bytes in the binary;
 * Makefile.am makes this object depend on the files.
 */
#include "config.h"

#include <string.h>

#include "shim.h"

#define DASH_INCBIN(sym, file) \
	__asm__(".section .rodata\n" \
		".global " #sym "\n" \
		".type " #sym ", @object\n" \
		".balign 16\n" #sym ":\n" \
		".incbin \"" DASH_ASSET_DIR "/" file "\"\n" \
		".global " #sym "_end\n" #sym "_end:\n" \
		".byte 0\n" \
		".previous\n")

DASH_INCBIN(dash_index_html, "index.html");
DASH_INCBIN(dash_app_js, "app.js");
DASH_INCBIN(dash_app_css, "app.css");

extern const unsigned char dash_index_html[], dash_index_html_end[];
extern const unsigned char dash_app_js[], dash_app_js_end[];
extern const unsigned char dash_app_css[], dash_app_css_end[];

/* The embedded file served at path, or NULL. */
const struct dash_asset *
dash_asset_find(const char *path)
{
	static struct dash_asset assets[] = {
		{ "/", "text/html; charset=utf-8", NULL, 0 },
		{ "/app.js", "text/javascript; charset=utf-8", NULL, 0 },
		{ "/app.css", "text/css; charset=utf-8", NULL, 0 },
	};
	size_t i;

	if (assets[0].data == NULL) {
		assets[0].data = dash_index_html;
		assets[0].len = (size_t)(dash_index_html_end - dash_index_html);
		assets[1].data = dash_app_js;
		assets[1].len = (size_t)(dash_app_js_end - dash_app_js);
		assets[2].data = dash_app_css;
		assets[2].len = (size_t)(dash_app_css_end - dash_app_css);
	}
	for (i = 0; i < nitems(assets); i++) {
		if (strcmp(assets[i].path, path) == 0)
			return (&assets[i]);
	}
	return (NULL);
}
