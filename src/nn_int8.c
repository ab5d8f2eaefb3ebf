/* nn_int8.c — convolutions computed in int8: int8 layers (packing the
 * stored int8 weights as they are), quantising a layer's input, the convolution driver and
 * the C kernels every other int8 kernel is tested against. Read nn_int8.h first.
 */
#include "nn_int8.h"
#include "buffer.h"
#include "pool.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================ layers === */

#define NN__Q8_SPAN_MAX 32   /* kw * cin at most this: a kernel row is one tap (as nn.c's stems) */
#define NN__Q8_CP(n) (((size_t)(n) + 31) / 32 * 32)

void nn_q8_free(struct nn_q8_layer *q) {
    if (!q) return;
    free(q->w);
    free(q->wscale);
    free(q->wsum);
    free(q->bias);
    free(q);
}

/* The stored int8 tensor [cout][kh][kw][cin] into panels (nn_int8.h), with its scales, the
 * weight sums and the bias. NULL when out of memory. */
static struct nn_q8_layer *nn__q8_pack(const nn_wtensor *t, const float *bias, int kh, int kw, int cin, int cout) {
    struct nn_q8_layer *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->span = kw > 1 && kw * cin <= NN__Q8_SPAN_MAX;
    q->taps = q->span ? kh : kh * kw;
    int k = q->span ? kw * cin : cin;
    q->kc = (k + 3) / 4 * 4;
    q->panel = (size_t)q->taps * q->kc * 16;
    size_t panels = (cout + 15) / 16, cp = NN__Q8_CP(cout);
    q->w = buffer_alloc(panels * q->panel);
    q->wscale = buffer_alloc(cp * sizeof(float));
    q->wsum = buffer_alloc(cp * sizeof(int32_t));
    q->bias = buffer_alloc(cp * sizeof(float));
    if (!q->w || !q->wscale || !q->wsum || !q->bias) return nn_q8_free(q), NULL;
    memset(q->w, 0, panels * q->panel);
    memset(q->wscale, 0, cp * sizeof(float));
    memset(q->wsum, 0, cp * sizeof(int32_t));
    memset(q->bias, 0, cp * sizeof(float));
    size_t row = (size_t)q->taps * k;   /* one output channel's weights, stored contiguously */
    for (int o = 0; o < cout; o++) {
        const int8_t *s = (const int8_t *)t->data + o * row;
        int32_t sum = 0;
        for (size_t i = 0; i < row; i++) sum += s[i];
        int8_t *p = q->w + (size_t)(o / 16) * q->panel + (o % 16) * 4;
        for (int tap = 0; tap < q->taps; tap++, s += k)   /* 4 bytes at a time: channel o's slot of a group */
            for (int g = 0; g < k; g += 4) {
                int8_t *d = p + ((size_t)tap * q->kc + g) * 16;
                if (g + 4 <= k) memcpy(d, s + g, 4);
                else memcpy(d, s + g, k - g);
            }
        q->wsum[o] = sum;
        q->wscale[o] = t->scales[o];
        q->bias[o] = bias ? bias[o] : 0;
    }
    return q;
}

/* As nn_layer_conv, but when the model's runtime has the precision int8 and NAME.w is stored as int8 the layer
 * keeps those weights and computes in int8. Anything else (fp32 precision, fp16 weights, an
 * unexpected shape, no memory) goes through nn_layer_conv, which also reports the errors. */
void nn_layer_conv_int8(nn_model *m, nn_layer *l, const char *name, int kh, int kw, int cin, int cout) {
    char wname[64], bname[64];
    snprintf(wname, sizeof wname, "%s.w", name);
    snprintf(bname, sizeof bname, "%s.b", name);
    const nn_wtensor *w = nn_model_find(m, wname), *b = nn_model_find(m, bname);
    int ok = nn_model_runtime_of(m)->int8 && !nn_model_error(m) && w && w->dtype == NN_I8 && kh * kw <= 256 &&
             w->shape[0] == cout && w->shape[1] == kh && w->shape[2] == kw && w->shape[3] == cin &&
             (!b || (b->dtype == NN_F32 && b->ndim == 1 && b->shape[0] == cout));
    struct nn_q8_layer *q = ok ? nn__q8_pack(w, b ? b->data : NULL, kh, kw, cin, cout) : NULL;
    if (!q) {
        nn_layer_conv(m, l, name, kh, kw, cin, cout);
        return;
    }
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->kind = NN_CONV;
    l->kh = kh, l->kw = kw, l->cin = cin, l->cout = cout;
    l->q8 = q;
}

/* ============================================================ quantising === */

void nn_q8_params(const nn_q8_kernel_set *k, const float *x, size_t n, float *sa, int32_t *zp) {
    float mn = 0, mx = 0;
    k->minmax(x, n, &mn, &mx);
    float s = (mx - mn) / 255;
    if (!(s > 0 && s < 1e30f)) {           /* all zeros, or not finite: everything maps to 0 */
        *sa = 1, *zp = 0;
        return;
    }
    float z = -mn / s + 0.5f;
    *sa = s, *zp = z < 0 ? 0 : z > 255 ? 255 : (int32_t)z;
}

/* The C versions of the per-set helpers (the SIMD ones compute the same values). NaN never
 * wins a comparison and quantises to 0. */
void nn_q8_minmax_c(const float *x, size_t n, float *mn, float *mx) {
    float lo = *mn, hi = *mx;
    for (size_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    *mn = lo, *mx = hi;
}

void nn_q8_quantize_c(const float *x, size_t n, float inv, float zph, uint8_t *q) {
    for (size_t i = 0; i < n; i++) {
        float f = x[i] * inv + zph;
        q[i] = (uint8_t)(!(f >= 0) ? 0 : f > 255 ? 255 : (int)f);
    }
}

/* ============================================================ the C kernel === */

/* The tile of nn_q8_igemm_fn, one panel (nr = 16), in plain loops: the oracle. */
static void nn__q8_igemm_c(int mr, int nc, int taps, int kc, const uint8_t *const *a, const int8_t *w, size_t panel,
                           float *c, size_t ldc, const nn_q8_epilogue *e) {
    (void)panel;
    for (int r = 0; r < mr; r++) {
        int32_t acc[16] = {0};
        for (int t = 0; t < taps; t++) {
            const uint8_t *x = a[r * taps + t];
            const int8_t *wt = w + (size_t)t * kc * 16;
            for (int k = 0; k < kc; k += 4, wt += 64)
                for (int j = 0; j < 16; j++)
                    acc[j] += x[k] * wt[4 * j] + x[k + 1] * wt[4 * j + 1] + x[k + 2] * wt[4 * j + 2] + x[k + 3] * wt[4 * j + 3];
        }
        for (int j = 0; j < nc; j++)
            c[r * ldc + j] = nn_q8_out(acc[j], e, j, e->e.residual ? e->e.residual + r * ldc + j : NULL);
    }
}

const nn_q8_kernel_set nn_q8_kernels_c = {"c", 4, 16, nn__q8_igemm_c, nn_q8_minmax_c, nn_q8_quantize_c};

#if defined(__x86_64__)
#include <cpuid.h>
/* CPUID bits, asked once: in a VM every CPUID traps to the hypervisor (13% of
 * face_recognition's time when it was asked per layer). 1: AVX512_VNNI (leaf 7.0 ECX bit
 * 11), 2: AVX-VNNI (leaf 7.1 EAX bit 4). Their registers are those of the float sets they go
 * with, whose OS support nn.c checks (XGETBV). */
static int nn__vnni_bits(void) {
    static atomic_int known = -1;
    int v = atomic_load(&known);
    if (v < 0) {
        unsigned a, b, c, d;
        v = 0;
        if (__get_cpuid_max(0, NULL) >= 7) {
            __cpuid_count(7, 0, a, b, c, d);
            v |= (c >> 11) & 1;
            __cpuid_count(7, 1, a, b, c, d);
            v |= ((a >> 4) & 1) << 1;
        }
        atomic_store(&known, v);
    }
    return v;
}
#endif

/* The avx512 and avx2 float sets are only ever chosen on CPUs that run them (nn.c checks
 * CPUID and XGETBV), so their int8 twins are safe to use with them. */
const nn_q8_kernel_set *nn_q8_kernels_for(const char *isa) {
#if defined(__x86_64__)
    int avx512 = !strcmp(isa, "avx512");
    if (avx512 && (nn__vnni_bits() & 1)) return &nn_q8_kernels_vnni;
    if ((avx512 || !strcmp(isa, "avx2")) && (nn__vnni_bits() & 2)) return &nn_q8_kernels_avxvnni;
    if (avx512 || !strcmp(isa, "avx2")) return &nn_q8_kernels_avx2;
#endif
#if defined(__aarch64__)
    if (!strcmp(isa, "neon")) return &nn_q8_kernels_neon;
#endif
    (void)isa;
    return &nn_q8_kernels_c;
}

const nn_q8_kernel_set *nn_q8_kernels_at(int i) {
    const nn_q8_kernel_set *sets[4] = {&nn_q8_kernels_c, NULL, NULL, NULL};
#if defined(__x86_64__)
    int n = 1, level = 0;
    for (int k = 0; nn_isa_built(k, NULL); k++) {
        int runs = 0;
        const char *name = nn_isa_built(k, &runs);
        if (runs && !strcmp(name, "avx2")) level = level > 1 ? level : 1;
        if (runs && !strcmp(name, "avx512")) level = 2;
    }
    if (level >= 1) sets[n++] = &nn_q8_kernels_avx2;
    if (level >= 1 && (nn__vnni_bits() & 2)) sets[n++] = &nn_q8_kernels_avxvnni;
    if (level >= 2 && (nn__vnni_bits() & 1)) sets[n++] = &nn_q8_kernels_vnni;
#endif
#if defined(__aarch64__)
    sets[1] = &nn_q8_kernels_neon;   /* NEON is mandatory on aarch64 */
#endif
    return i >= 0 && i < 4 ? sets[i] : NULL;
}

/* ============================================================ the convolution === */

typedef struct {
    const struct nn_q8_layer *q;
    const nn_q8_kernel_set *k;
    const uint8_t **ind;     /* [M][taps] */
    int M, cout;
    float *y;
    nn_q8_epilogue e;
    const float *slope;      /* PReLU slopes of the whole layer, or NULL */
    const float *residual;   /* of the whole output, or NULL */
    int rows_per_task, groups;
} nn__q8_job;

/* Task: a band of output pixels times a share of the channel panels (as nn.c's tasks). */
static void nn__q8_task(void *arg, int task) {
    const nn__q8_job *j = arg;
    const nn_q8_kernel_set *k = j->k;
    int band = task / j->groups, group = task % j->groups, taps = j->q->taps;
    int p0 = band * j->rows_per_task, p1 = p0 + j->rows_per_task < j->M ? p0 + j->rows_per_task : j->M;
    int per_group = ((j->cout + k->nr - 1) / k->nr + j->groups - 1) / j->groups * k->nr;
    int n_lo = group * per_group, n_hi = n_lo + per_group < j->cout ? n_lo + per_group : j->cout;
    nn_q8_epilogue e = j->e;
    for (int n0 = n_lo; n0 < n_hi; n0 += k->nr) {
        int nc = n_hi - n0 < k->nr ? n_hi - n0 : k->nr;
        e.wscale = j->q->wscale + n0, e.wsum = j->q->wsum + n0, e.bias = j->q->bias + n0;
        e.e.prelu = j->slope ? j->slope + n0 : NULL;
        for (int p = p0; p < p1; p += k->mr) {
            int mr = p1 - p < k->mr ? p1 - p : k->mr;
            e.e.residual = j->residual ? j->residual + (size_t)p * j->cout + n0 : NULL;
            k->igemm(mr, nc, taps, j->q->kc, j->ind + (size_t)p * taps, j->q->w + (size_t)(n0 / 16) * j->q->panel,
                     j->q->panel, j->y + (size_t)p * j->cout + n0, j->cout, &e);
        }
    }
}

/* The quantised input is stored with its padding (rows above and below, columns left and
 * right, all the byte zp, i.e. 0.0), so every tap of every output pixel is an address inside
 * it: the indirection buffer is then a base pointer per pixel plus a fixed offset per tap, no
 * bounds checks (building it with checks took 13% of face_recognition). 64 bytes of slack
 * follow for the reads past a row's end. */
typedef struct { int top, bottom, left, right; } nn__q8_pad;

static nn__q8_pad nn__q8_padding(const nn_layer *l, int h, int w, int oh, int ow, int stride, int pt, int pl) {
    int pb = (oh - 1) * stride + l->kh - pt - h, pr = (ow - 1) * stride + l->kw - pl - w;
    return (nn__q8_pad){pt, pb > 0 ? pb : 0, pl, pr > 0 ? pr : 0};
}

static size_t nn__up64(size_t n) { return (n + 63) / 64 * 64; }

size_t nn_q8_conv_scratch(const nn_layer *l, int h, int w, int oh, int ow, int stride, int pt, int pl) {
    nn__q8_pad p = nn__q8_padding(l, h, w, oh, ow, stride, pt, pl);
    size_t qx = nn__up64((size_t)(p.top + h + p.bottom) * (p.left + w + p.right) * l->cin + 64);
    return qx + (size_t)oh * ow * l->q8->taps * sizeof(void *);
}

/* x quantised into qx with the padding p, rows wp pixels wide. */
static void nn__q8_input(const nn_q8_kernel_set *k, nn_tensor x, nn__q8_pad p, int wp, float inv, float zph, int zp, uint8_t *qx) {
    size_t row = (size_t)wp * x.c;
    memset(qx, zp, p.top * row);
    if (wp == x.w) k->quantize(x.data, nn_numel(x), inv, zph, qx + p.top * row);   /* no side padding: one run */
    for (int r = 0; wp != x.w && r < x.h; r++) {
        uint8_t *d = qx + (p.top + r) * row;
        memset(d, zp, (size_t)p.left * x.c);
        k->quantize(x.data + (size_t)r * x.w * x.c, (size_t)x.w * x.c, inv, zph, d + (size_t)p.left * x.c);
        memset(d + (size_t)(p.left + x.w) * x.c, zp, (size_t)p.right * x.c);
    }
    memset(qx + (p.top + x.h) * row, zp, p.bottom * row + 64);
}

void nn_q8_conv(const nn_layer *l, nn_tensor x, nn_tensor y, int stride, int pt, int pl, nn_epilogue e,
                void *scratch, pool *pool, int threads, const char *isa) {
    const struct nn_q8_layer *q = l->q8;
    const nn_q8_kernel_set *k = nn_q8_kernels_for(isa);
    nn__q8_pad pad = nn__q8_padding(l, x.h, x.w, y.h, y.w, stride, pt, pl);
    int wp = pad.left + x.w + pad.right, hp = pad.top + x.h + pad.bottom, M = y.h * y.w, taps = q->taps;
    uint8_t *qx = scratch;
    const uint8_t **ind = (const uint8_t **)(void *)(qx + nn__up64((size_t)hp * wp * x.c + 64));
    float sa;
    int32_t zp;
    nn_q8_params(k, x.data, nn_numel(x), &sa, &zp);
    nn__q8_input(k, x, pad, wp, 1 / sa, zp + 0.5f, zp, qx);
    /* a span layer's tap is a whole kernel row (kw pixels), the others one pixel */
    size_t off[256];
    int kw = q->span ? 1 : l->kw;
    for (int ky = 0; ky < l->kh; ky++)
        for (int kx = 0; kx < kw; kx++) off[ky * kw + kx] = ((size_t)ky * wp + kx) * x.c;
    const uint8_t **ip = ind;
    for (int oy = 0; oy < y.h; oy++)
        for (int ox = 0; ox < y.w; ox++) {
            const uint8_t *base = qx + ((size_t)oy * stride * wp + (size_t)ox * stride) * x.c;
            for (int t = 0; t < taps; t++) *ip++ = base + off[t];
        }
    nn__q8_job j = {q, k, ind, M, l->cout, y.data, {sa, zp, NULL, NULL, NULL, e}, e.prelu, e.residual, 0, 1};
    int tiles = (M + k->mr - 1) / k->mr, want = threads * 4, panels = (l->cout + k->nr - 1) / k->nr, per = tiles;
    if (threads > 1 && tiles > want) per = (tiles + want - 1) / want;
    else if (threads > 1) j.groups = panels < want ? panels : want;
    j.rows_per_task = per * k->mr;
    int tasks = (M + j.rows_per_task - 1) / j.rows_per_task * j.groups;
    if (tasks == 1) nn__q8_task(&j, 0);
    else pool_for(pool, tasks, nn__q8_task, &j);
}
