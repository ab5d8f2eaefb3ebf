/* golden.h — what the network tests share: reading the TF.js goldens (tests/golden/NAME.hsw,
 * the reference's input and outputs stored as weight containers; tools/reference/) and the
 * two kernel sets every network is checked on. */
#ifndef GOLDEN_H
#define GOLDEN_H
#include "nn.h"

#include <stdint.h>
#include <stdio.h>

/* Tensor NAME of golden G (f32 or f16) as floats into out (n values); 0 if missing, of
 * another type or of another size. */
static int golden_get(const nn_model *g, const char *name, float *out, size_t n) {
    const nn_wtensor *t = nn_model_find(g, name);
    if (!t || (t->dtype != NN_F32 && t->dtype != NN_F16) ||
        (size_t)t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3] != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        out[i] = t->dtype == NN_F16 ? nn_half_to_float(((const uint16_t *)t->data)[i]) : ((const float *)t->data)[i];
    return 1;
}

/* Switches the process to kernel set k of the two a network is checked on: 0 the reference
 * loops, 1 the set the program started with (HEADSHOT_ISA or the best one), so a loop over
 * k = 0, 1 leaves the process as it found it. */
static int golden_isa(int k, char err[NN_ERR]) {
    static char start[16];
    if (!start[0]) snprintf(start, sizeof start, "%s", nn_isa());
    return nn_set_isa(k ? start : "reference", err);
}
#endif
