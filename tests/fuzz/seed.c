/* Seeds: the targets write their starting corpus when FUZZ_SEED_DIR is set. */
#include "config.h"

#include <stdio.h>

#include "fuzz.h"

void
fuzz_seed_write(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		return;
	fwrite(buf, 1, len, f);
	fclose(f);
}
