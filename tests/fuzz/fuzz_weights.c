/* fuzz_weights.c — the weight container parser (nn_model_parse): header, tensor table,
 * bounds, and the Huffman-coded int8 tensors.
 *
 * Weights are trusted but checked, and a checksum guards the parser: a random input never
 * gets past it. The fuzz build defines NN_FUZZ_NO_CHECKSUM, which skips that one comparison
 * in nn.c (the shipped binary keeps it). The regression build (FUZZ_REGRESS, normal compiler,
 * checksum on) writes the right checksum into a copy of the input instead, so a saved input
 * reaches the same code in `make test`. */
#include "fuzz.h"
#include "nn.h"

#include <string.h>

#ifndef NN_FUZZ_NO_CHECKSUM
/* The container's checksum (docs/WEIGHTS.md): FNV-1a 64 over the little-endian 64-bit words
 * after the 64-byte header, stored at byte 40. */
static void fuzz_fix_checksum(unsigned char *b, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 64; i + 8 <= n; i += 8) {
        uint64_t w = 0;
        for (int k = 7; k >= 0; k--) w = w << 8 | b[i + k];
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (int k = 0; k < 8; k++) b[40 + k] = (unsigned char)(h >> (8 * k));
}
#endif

static void fuzz_weights_parse(const unsigned char *b, size_t n) {
    nn_model *m = NULL;
    char err[NN_ERR] = "";
    if (nn_model_parse(&m, b, n, "fuzz", err) != 0) {
        FUZZ_ASSERT(!m && err[0] && memchr(err, 0, NN_ERR), "refusal without a reason");
        return;
    }
    FUZZ_ASSERT(m && nn_model_count(m) >= 0, "parsed model missing");
    /* Read every byte each tensor claims, so a bound the parser missed shows under ASan. */
    static const size_t dsize[] = {4, 2, 1};
    volatile unsigned sum = 0;
    for (int i = 0; i < nn_model_count(m); i++) {
        const nn_wtensor *t = nn_model_at(m, i);
        FUZZ_ASSERT(t->dtype >= NN_F32 && t->dtype <= NN_I8 && t->ndim >= 1 && t->ndim <= 4, "bad tensor kept");
        FUZZ_ASSERT(nn_model_find(m, t->name) == t, "tensor not found by its name");
        size_t count = 1;
        for (int d = 0; d < 4; d++) count *= (size_t)t->shape[d];
        const unsigned char *p = t->data;
        for (size_t k = 0; k < count * dsize[t->dtype]; k++) sum += p[k];
        const unsigned char *s = (const void *)t->scales;
        for (size_t k = 0; s && k < 4 * (size_t)t->shape[0]; k++) sum += s[k];
    }
    (void)sum;
    nn_model_close(m);
}

FUZZ_TARGET(weights) {
#ifdef NN_FUZZ_NO_CHECKSUM
    fuzz_weights_parse(data, size);
#else
    unsigned char *copy = malloc(size ? size : 1);
    FUZZ_ASSERT(copy, "out of memory");
    memcpy(copy, data, size);
    if (size >= 64) fuzz_fix_checksum(copy, size);
    fuzz_weights_parse(copy, size);
    free(copy);
#endif
    return 0;
}
