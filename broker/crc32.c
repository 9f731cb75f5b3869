/*
 * CRC-32 (IEEE 802.3, the polynomial of zlib and of the journal's groups).
 *
 * Portable: eight bytes a step ("slicing by 8", tables made once by
 * crc32_init).  A group is a few hundred bytes to a few KiB and its CRC
 * was the commit's largest cost: by the byte 6.5 k instructions per
 * commit, by eight ~1.6 k (callgrind, a lock acquire and release).
 *
 * The same CRC as before this file (the journal's groups replay across
 * the change); tests/unit_crc32 sets it against the CRC taken bit by
 * bit over every length and alignment up to a KiB.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "broker.h"

static uint32_t crc_tab[8][256];

/* Make the tables (once, before any thread). */
void
crc32_init(void)
{
	uint32_t c;
	size_t i, t;
	int k;

	if (crc_tab[0][1] != 0)
		return;
	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_tab[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		for (t = 1; t < 8; t++)
			crc_tab[t][i] =
			    crc_tab[0][crc_tab[t - 1][i] & 0xff] ^ (crc_tab[t - 1][i] >> 8);
	}
}

/* The CRC register (not inverted) over n bytes at p, eight a step. */
static uint32_t
crc32_slices(uint32_t crc, const unsigned char *p, size_t n)
{
	uint32_t a, b;

	for (; n >= 8; n -= 8, p += 8) {
		a = crc ^
		    ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			(uint32_t)p[3] << 24);
		b = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
		    (uint32_t)p[7] << 24;
		crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
		    crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^ crc_tab[3][b & 0xff] ^
		    crc_tab[2][(b >> 8) & 0xff] ^ crc_tab[1][(b >> 16) & 0xff] ^
		    crc_tab[0][b >> 24];
	}
	while (n-- > 0)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return (crc);
}

/* crc (0 to start) carried over the n bytes at p. */
uint32_t
crc32_update(uint32_t crc, const void *p, size_t n)
{
	return (~crc32_slices(~crc, p, n));
}
