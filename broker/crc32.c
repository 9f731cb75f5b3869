/*
 * CRC-32 (IEEE 802.3, the polynomial of zlib and of the journal's groups).
 *
 * Portable: eight bytes a step ("slicing by 8", tables made once by
 * crc32_init).  A group is a few hundred bytes to a few KiB and its CRC
 * was the commit's largest cost: by the byte 6.5 k instructions per
 * commit, by eight ~1.6 k (callgrind, a lock acquire and release).
 *
 * On x86-64 CPUs with PCLMULQDQ (and SSE4.1), 64 bytes a step by carry-
 * less multiplication: the folding of Intel's paper "Fast CRC Computation
 * for Generic Polynomials Using PCLMULQDQ Instruction" (Gopal et al.,
 * 2009), with its constants for this polynomial, bit-reflected, as zlib
 * (Chromium's crc32_simd.c) uses them.  The result is the same CRC:
 * tests/unit_crc32 compares both ways over every length and alignment up
 * to a few KiB.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "broker.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CRC32_CLMUL 1
#endif

static uint32_t crc_tab[8][256];
static int crc_clmul; /* the CPU has PCLMULQDQ and SSE4.1 */

/* Make the tables and see what the CPU has (once, before any thread). */
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
#ifdef CRC32_CLMUL
	__builtin_cpu_init();
	crc_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
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

#ifdef CRC32_CLMUL
/*
 * The CRC register over n bytes at p, n a multiple of 16 and at least
 * 64: four 128-bit lanes folded 64 bytes a step, folded into one, then
 * 16 bytes a step, then reduced to 32 bits (Barrett).
 */
__attribute__((target("pclmul,sse4.1"))) static uint32_t
crc32_clmul_fold(uint32_t crc, const unsigned char *p, size_t n)
{
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
	const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
	const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
	const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);
	__m128i x1, x2, x3, x4, t1, t2, t3, t4;

	x1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 0x00));
	x2 = _mm_loadu_si128((const __m128i *)(const void *)(p + 0x10));
	x3 = _mm_loadu_si128((const __m128i *)(const void *)(p + 0x20));
	x4 = _mm_loadu_si128((const __m128i *)(const void *)(p + 0x30));
	x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
	for (p += 64, n -= 64; n >= 64; p += 64, n -= 64) {
		t1 = _mm_clmulepi64_si128(x1, k1k2, 0x00);
		t2 = _mm_clmulepi64_si128(x2, k1k2, 0x00);
		t3 = _mm_clmulepi64_si128(x3, k1k2, 0x00);
		t4 = _mm_clmulepi64_si128(x4, k1k2, 0x00);
		x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
		x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
		x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
		x4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
		x1 = _mm_xor_si128(_mm_xor_si128(x1, t1),
		    _mm_loadu_si128((const __m128i *)(const void *)(p + 0x00)));
		x2 = _mm_xor_si128(_mm_xor_si128(x2, t2),
		    _mm_loadu_si128((const __m128i *)(const void *)(p + 0x10)));
		x3 = _mm_xor_si128(_mm_xor_si128(x3, t3),
		    _mm_loadu_si128((const __m128i *)(const void *)(p + 0x20)));
		x4 = _mm_xor_si128(_mm_xor_si128(x4, t4),
		    _mm_loadu_si128((const __m128i *)(const void *)(p + 0x30)));
	}
	/* four lanes into one */
	t1 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
	x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x2), t1);
	t1 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
	x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x3), t1);
	t1 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
	x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x4), t1);
	for (; n >= 16; p += 16, n -= 16) {
		t1 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
		x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11),
				       _mm_loadu_si128((const __m128i *)(const void *)p)),
		    t1);
	}
	/* 128 bits to 64 */
	t1 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
	x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t1);
	t1 = _mm_srli_si128(x1, 4);
	x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, low32), k5k0, 0x00), t1);
	/* Barrett reduction to 32 */
	t1 = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), poly, 0x10);
	t1 = _mm_clmulepi64_si128(_mm_and_si128(t1, low32), poly, 0x00);
	x1 = _mm_xor_si128(x1, t1);
	return ((uint32_t)_mm_extract_epi32(x1, 1));
}
#endif

/* crc (0 to start) carried over the n bytes at p, eight bytes a step. */
uint32_t
crc32_update_slices(uint32_t crc, const void *p, size_t n)
{
	return (~crc32_slices(~crc, p, n));
}

/* crc (0 to start) carried over the n bytes at p, the fastest way the CPU has. */
uint32_t
crc32_update(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t fold;

	crc = ~crc;
#ifdef CRC32_CLMUL
	if (crc_clmul && n >= 64) {
		fold = n & ~(size_t)15;
		crc = crc32_clmul_fold(crc, b, fold);
		b += fold;
		n -= fold;
	}
#else
	(void)fold;
#endif
	return (~crc32_slices(crc, b, n));
}
