/* fuzz.h — what the fuzz targets share (see docs/SECURITY.md, "Fuzzing").
 *
 * Each tests/fuzz/fuzz_NAME.c is one target. Under `make fuzz` it is built with clang's
 * libFuzzer (and AddressSanitizer + UndefinedBehaviorSanitizer) and FUZZ_TARGET(NAME) is
 * LLVMFuzzerTestOneInput. tests/test_fuzz.c includes every target with FUZZ_REGRESS defined,
 * where FUZZ_TARGET(NAME) is the plain function fuzz_NAME, and feeds it the saved inputs of
 * tests/fuzz/regress/NAME/ with the normal compiler: `make test` runs them without clang.
 *
 * A target checks the contract on every input, not only "no crash": a refusal must come with
 * a reason, a success must hold what it promises. A broken promise aborts (FUZZ_ASSERT), which
 * libFuzzer reports like a crash.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef FUZZ_REGRESS
#define FUZZ_TARGET(name) int fuzz_##name(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name) int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

#define FUZZ_ASSERT(cond, what) \
    ((cond) ? (void)0 : (fprintf(stderr, "fuzz: %s:%d: %s (%s)\n", __FILE__, __LINE__, what, #cond), abort()))

#endif
