/*
 * What the fuzz targets share: libFuzzer's entry points (replay.c calls
 * them without libFuzzer) and the writing of seeds (seed.c).
 */
#ifndef BATON_FUZZ_H
#define BATON_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *, char ***) __attribute__((weak));
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Write len bytes of buf to dir/name (a seed of the corpus); quietly. */
void fuzz_seed_write(const char *, const char *, const void *, size_t);

#endif /* BATON_FUZZ_H */
