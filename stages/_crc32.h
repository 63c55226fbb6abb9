/* CRC-32 as zlib computes it (reflected polynomial 0xEDB88320): whole 16-byte
 * blocks by carry-less multiplication (PCLMULQDQ folding, Gopal et al., "Fast CRC
 * Computation for Generic Polynomials Using PCLMULQDQ Instruction", Intel 2009,
 * with the reflected constants of its appendix) where the CPU has it, the rest
 * slice-by-8. Python checks the same records with zlib.crc32 (stages/dump.py);
 * tests/robust/test_dump_integrity.py checks they agree. Included by each C file
 * that frames or reads dump records; the tables are made on first use (under the
 * GIL). */
#ifndef GODI_CRC32_H
#define GODI_CRC32_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static uint32_t godi_crc_table[8][256];
static int godi_crc_ready;
static int godi_crc_clmul; /* the CPU has PCLMULQDQ and SSE4.1 */

static void godi_crc32_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		godi_crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			godi_crc_table[t][i] = (godi_crc_table[t - 1][i] >> 8) ^
					       godi_crc_table[0][godi_crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
	__builtin_cpu_init();
	godi_crc_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
	godi_crc_ready = 1;
}

#if defined(__x86_64__)
/* The CRC register (inverted, as slice-by-8 keeps it) after `len` bytes at `p`,
 * len a multiple of 16 and at least 64: four 128-bit lanes folded 64 bytes at a
 * time, folded into one, then 16 bytes at a time, reduced to 64 then 32 bits
 * (Barrett). */
__attribute__((target("pclmul,sse4.1"))) static uint32_t
godi_crc32_fold(uint32_t crc, const unsigned char *p, size_t len)
{
	/* x^(4*128+64) and x^(4*128) mod P, x^(128+64) and x^128 mod P, x^64 mod P
	 * (bit-reflected, shifted by one), then P and floor(x^64 / P) */
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596LL, 0x0154442bd4LL);
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009eLL, 0x01751997d0LL);
	const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124LL);
	const __m128i poly = _mm_set_epi64x(0x01f7011641LL, 0x01db710641LL);
	const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);
	__m128i a = _mm_loadu_si128((const __m128i *)p);
	__m128i b = _mm_loadu_si128((const __m128i *)(p + 16));
	__m128i c = _mm_loadu_si128((const __m128i *)(p + 32));
	__m128i d = _mm_loadu_si128((const __m128i *)(p + 48));
	a = _mm_xor_si128(a, _mm_cvtsi32_si128((int)crc));
	p += 64;
	len -= 64;
#define GODI_FOLD(x, k, next)                                                             \
	_mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),                      \
				    _mm_clmulepi64_si128(x, k, 0x11)),                     \
		      next)
	while (len >= 64) {
		a = GODI_FOLD(a, k1k2, _mm_loadu_si128((const __m128i *)p));
		b = GODI_FOLD(b, k1k2, _mm_loadu_si128((const __m128i *)(p + 16)));
		c = GODI_FOLD(c, k1k2, _mm_loadu_si128((const __m128i *)(p + 32)));
		d = GODI_FOLD(d, k1k2, _mm_loadu_si128((const __m128i *)(p + 48)));
		p += 64;
		len -= 64;
	}
	a = GODI_FOLD(a, k3k4, b);
	a = GODI_FOLD(a, k3k4, c);
	a = GODI_FOLD(a, k3k4, d);
	while (len >= 16) {
		a = GODI_FOLD(a, k3k4, _mm_loadu_si128((const __m128i *)p));
		p += 16;
		len -= 16;
	}
#undef GODI_FOLD
	/* 128 bits to 64 */
	__m128i t = _mm_clmulepi64_si128(a, k3k4, 0x10);
	a = _mm_xor_si128(_mm_srli_si128(a, 8), t);
	t = _mm_srli_si128(a, 4);
	a = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(a, low32), k5, 0x00), t);
	/* Barrett reduction to 32 bits */
	t = _mm_clmulepi64_si128(_mm_and_si128(a, low32), poly, 0x10);
	t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), poly, 0x00);
	return (uint32_t)_mm_extract_epi32(_mm_xor_si128(a, t), 1);
}
#endif

/* The CRC-32 of `len` bytes at `p`, continuing `crc` (0 to start), as
 * zlib.crc32(data, crc). Little-endian hosts only (x86-64). */
static inline uint32_t godi_crc32(uint32_t crc, const unsigned char *p, size_t len)
{
	if (!godi_crc_ready)
		godi_crc32_init();
	crc = ~crc;
#if defined(__x86_64__)
	if (len >= 64 && godi_crc_clmul) {
		size_t whole = len & ~(size_t)15;
		crc = godi_crc32_fold(crc, p, whole);
		p += whole;
		len -= whole;
	}
#endif
	while (len >= 8) {
		uint32_t lo, hi;
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= crc;
		crc = godi_crc_table[7][lo & 0xff] ^ godi_crc_table[6][(lo >> 8) & 0xff] ^
		      godi_crc_table[5][(lo >> 16) & 0xff] ^ godi_crc_table[4][lo >> 24] ^
		      godi_crc_table[3][hi & 0xff] ^ godi_crc_table[2][(hi >> 8) & 0xff] ^
		      godi_crc_table[1][(hi >> 16) & 0xff] ^ godi_crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = godi_crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#endif /* GODI_CRC32_H */
