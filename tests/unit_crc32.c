/*
 * Unit tests of the journal's CRC-32 (broker/crc32.c): eight bytes a
 * step gives the CRC taken bit by bit, over every length to past a KiB,
 * at every alignment, carried over a split, and the standard check value.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "tap.h"

#define BUF 4200

/* The CRC-32 of the definition, a bit at a time. */
static uint32_t
crc_bits(const unsigned char *p, size_t n)
{
	uint32_t crc = ~0u;
	int k;

	while (n-- > 0) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = crc & 1 ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
	}
	return (~crc);
}

int
main(void)
{
	static unsigned char buf[BUF];
	uint32_t x = 2463534242u, fast, slow;
	size_t len, off, cut, bad = 0;

	crc32_init();
	ok(crc32_update(0, "123456789", 9) == 0xcbf43926u,
	    "the check value of \"123456789\" is cbf43926 (got %08x)",
	    crc32_update(0, "123456789", 9));
	for (len = 0; len < BUF; len++) {
		x ^= x << 13; /* xorshift: the same bytes every run */
		x ^= x >> 17;
		x ^= x << 5;
		buf[len] = (unsigned char)x;
	}
	for (off = 0; off < 16; off++) {
		for (len = 0; len + off <= 1100 && bad < 5; len++) {
			fast = crc32_update(0, buf + off, len);
			slow = crc_bits(buf + off, len);
			if (fast != slow) {
				diag("offset %zu, %zu bytes: %08x, bit by bit %08x", off, len,
				    fast, slow);
				bad++;
			}
		}
	}
	ok(bad == 0, "every length to 1100 bytes at 16 alignments: the CRC bit by bit");
	fast = crc32_update(0, buf, BUF);
	ok(fast == crc_bits(buf, BUF), "%d bytes: the CRC bit by bit", BUF);
	for (bad = 0, cut = 0; cut <= 300; cut++) {
		if (crc32_update(crc32_update(0, buf, cut), buf + cut, 1000 - cut) !=
		    crc_bits(buf, 1000))
			bad++;
	}
	ok(bad == 0, "carried over a split anywhere in the first 300 bytes: the same CRC");
	buf[500] ^= 1;
	ok(crc32_update(0, buf, BUF) != fast, "one bit changed changes the CRC");
	return (done_testing());
}
