/*
 * Unit tests of the journal's CRC-32 (broker/crc32.c): the fast way
 * (PCLMULQDQ folding, where the CPU has it) gives the CRC the tables
 * give, over every length to past a KiB, at every alignment, carried
 * over a split, and both give the standard check value.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "broker.h"
#include "tap.h"

#define BUF 4200

int
main(void)
{
	static unsigned char buf[BUF];
	uint32_t x = 2463534242u, fast, slow;
	size_t len, off, cut, bad = 0;

	crc32_init();
#if defined(__x86_64__) && defined(__GNUC__)
	diag("this CPU %s PCLMULQDQ",
	    __builtin_cpu_supports("pclmul") ? "has" : "has no (only the tables are tested)");
#endif
	ok(crc32_update(0, "123456789", 9) == 0xcbf43926u &&
		crc32_update_slices(0, "123456789", 9) == 0xcbf43926u,
	    "the check value of \"123456789\" is cbf43926 (got %08x, %08x)",
	    crc32_update(0, "123456789", 9), crc32_update_slices(0, "123456789", 9));
	for (len = 0; len < BUF; len++) {
		x ^= x << 13; /* xorshift: the same bytes every run */
		x ^= x >> 17;
		x ^= x << 5;
		buf[len] = (unsigned char)x;
	}
	for (off = 0; off < 16; off++) {
		for (len = 0; len + off <= 1100 && bad < 5; len++) {
			fast = crc32_update(0, buf + off, len);
			slow = crc32_update_slices(0, buf + off, len);
			if (fast != slow) {
				diag("offset %zu, %zu bytes: %08x, the tables say %08x", off,
				    len, fast, slow);
				bad++;
			}
		}
	}
	ok(bad == 0, "every length to 1100 bytes at 16 alignments: the same CRC both ways");
	fast = crc32_update(0, buf, BUF);
	ok(fast == crc32_update_slices(0, buf, BUF), "%d bytes: the same CRC both ways", BUF);
	for (bad = 0, cut = 0; cut <= 300; cut++) {
		if (crc32_update(crc32_update(0, buf, cut), buf + cut, 1000 - cut) !=
		    crc32_update_slices(0, buf, 1000))
			bad++;
	}
	ok(bad == 0, "carried over a split anywhere in the first 300 bytes: the same CRC");
	buf[500] ^= 1;
	ok(crc32_update(0, buf, BUF) != fast, "one bit changed changes the CRC");
	return (done_testing());
}
