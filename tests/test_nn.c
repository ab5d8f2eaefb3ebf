/* test_nn.c — the runtime against itself: every optimised kernel against the reference loops
 * (ncnn style), on random shapes chosen to hit the awkward cases; bit-identity across thread
 * counts; fp16 and int8 round trips; the container loader on corrupted files; the planner. */
#include "test.h"
#include "nn.h"
#include "pool.h"
#include <stdint.h>
#include <time.h>

/* ------------------------------------------------------------ a container writer for tests */

typedef struct { const char *name; int dtype, ndim, shape[4]; const float *data; } spec;

static uint64_t fnv_words(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t w = 0;
        for (int k = 7; k >= 0; k--) w = w << 8 | p[i + k];
        h = (h ^ w) * 0x100000001b3ull;
    }
    return h;
}
static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = v >> (8 * i); }
static size_t up64(size_t x) { return (x + 63) / 64 * 64; }

/* Builds a valid .hsw in memory (f32 / f16 / i8 as asked); returns its size. */
static size_t build(unsigned char **out, const spec *t, int n) {
    size_t table = 64, poff = up64(table + 96 * (size_t)n), psize = 0;
    size_t off[16], soff[16];
    for (int i = 0; i < n; i++) {
        size_t cnt = 1, es = t[i].dtype == 0 ? 4 : t[i].dtype == 1 ? 2 : 1;
        for (int d = 0; d < 4; d++) cnt *= t[i].shape[d];
        off[i] = psize, psize = up64(psize + cnt * es);
        soff[i] = 0;
        if (t[i].dtype == 2) soff[i] = psize, psize = up64(psize + 4 * (size_t)t[i].shape[0]);
    }
    size_t size = poff + psize;
    unsigned char *b = aligned_alloc(64, size);
    memset(b, 0, size);
    memcpy(b, "HSNN", 4);
    put32(b + 4, 1), put32(b + 8, n), put32(b + 12, 96);
    put64(b + 16, table), put64(b + 24, poff), put64(b + 32, psize);
    memcpy(b + 48, "test", 4);
    for (int i = 0; i < n; i++) {
        unsigned char *e = b + table + 96 * i;
        strcpy((char *)e, t[i].name);
        e[48] = t[i].dtype, e[49] = t[i].ndim;
        size_t cnt = 1;
        for (int d = 0; d < 4; d++) put32(e + 52 + 4 * d, t[i].shape[d]), cnt *= t[i].shape[d];
        size_t es = t[i].dtype == 0 ? 4 : t[i].dtype == 1 ? 2 : 1;
        put64(e + 72, off[i]), put64(e + 80, cnt * es), put64(e + 88, soff[i]);
        unsigned char *d = b + poff + off[i];
        size_t row = cnt / t[i].shape[0];
        for (size_t k = 0; k < cnt; k++) {
            if (t[i].dtype == 0) memcpy(d + 4 * k, &t[i].data[k], 4);
            if (t[i].dtype == 1) { uint16_t h = nn_float_to_half(t[i].data[k]); memcpy(d + 2 * k, &h, 2); }
        }
        if (t[i].dtype == 2)
            for (int r = 0; r < t[i].shape[0]; r++) {
                float s = nn_quantize_row(t[i].data + r * row, (int)row, (int8_t *)d + r * row);
                memcpy(b + poff + soff[i] + 4 * r, &s, 4);
            }
    }
    put64(b + 40, fnv_words(b + 64, size - 64));
    *out = b;
    return size;
}

static uint32_t rng = 12345;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (rng >> 8) / 8388608.0f - 1.0f; }
static int irand(int n) { rng = rng * 1664525u + 1013904223u; return (int)((rng >> 8) % n); }

/* ------------------------------------------------------------ networks made of one op */

typedef struct { nn_layer l; int op, stride; nn_padding pad; nn_act act; } one_op;

static int fwd_one(nn_ctx *c, const void *net, nn_tensor x, nn_tensor *out) {
    const one_op *o = net;
    if (o->op == 0) out[0] = nn_conv2d(c, x, &o->l, o->stride, o->pad, o->act);
    else if (o->op == 1) out[0] = nn_dwconv2d(c, x, &o->l, o->stride, o->pad, o->act);
    else if (o->op == 2) out[0] = nn_dense(c, x, &o->l, o->act);
    else {                   /* conv + residual: the residual is the input seen through a 1x1 max pool */
        nn_tensor r = nn_conv2d(c, x, &o->l, o->stride, o->pad, nn_linear);
        nn_tensor s = nn_maxpool(c, r, 1, 1, NN_VALID);
        out[0] = nn_conv2d_add(c, x, &o->l, o->stride, o->pad, s, o->act);
    }
    return 1;
}

static float maxdiff(const float *a, const float *b, size_t n, float *maxabs) {
    float d = 0, m = 0;
    for (size_t i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i])), m = fmaxf(m, fabsf(a[i]));
    if (maxabs) *maxabs = m;
    return d;
}

static const char *act_name[] = {"linear", "relu", "relu6", "leaky", "prelu", "sigmoid", "tanh", "hardswish"};

/* Every kernel set; each case runs on those this CPU can run, the reference first. */
static const char *isas[] = {"reference", "portable", "avx2", "avx512", "neon"};
#define NSETS (int)(sizeof isas / sizeof isas[0])

/* One random conv/dwconv/dense case, run with every kernel set and thread count. */
static void kernel_case(int op, int trial, float *worst_rel, int *ident_fail, int *split, int *cases) {
    int kh = op == 2 ? 1 : 1 + 2 * irand(3), kw = op == 2 ? 1 : (irand(4) ? kh : 1 + 2 * irand(2));
    int h = 1 + irand(13), w = 1 + irand(13), cin = trial % 7 == 0 ? 3 : 1 + irand(40);   /* 3: first layers */
    int cout = op == 1 ? cin : 1 + irand(40);
    if (trial % 5 == 4 && op != 2)   /* a deep layer's small map: tasks split the channels */
        h = 1 + irand(4), w = 1 + irand(4), cin = 16 + irand(80), cout = op == 1 ? cin : 100 + irand(200);
    if (trial % 10 == 3 && op != 2)  /* big enough to be split across threads (NN__PAR_* in nn.c) */
        kh = kw = 5, h = 64 + irand(16), w = 64 + irand(16), cin = 48 + irand(16), cout = op == 1 ? cin : 16 + irand(24);
    if (trial % 10 == 3 && op == 2) h = w = 1, cin = 4096 + irand(1024), cout = 500 + irand(100);   /* split by channels */
    int stride = op == 2 ? 1 : 1 + irand(2);
    if (trial % 10 == 7 && (op == 0 || op == 3))   /* Winograd: 3x3, stride 1, channels in 16s, >= 8x8 tiles */
        kh = kw = 3, stride = 1, h = 16 + irand(20), w = 16 + irand(20), cin = 16 * (1 + irand(4)), cout = 16 * (1 + irand(4));
    if (op == 2) cin = h * w * cin, h = w = 1;
    nn_padding pad = irand(2) ? NN_SAME : NN_VALID;
    if (pad == NN_VALID && (h < kh || w < kw)) pad = NN_SAME;
    size_t nw = (size_t)cout * kh * kw * (op == 1 ? 1 : cin);
    float *wt = malloc(nw * 4), *bias = malloc(cout * 4), *slope = malloc(cout * 4 + 64);
    for (size_t i = 0; i < nw; i++) wt[i] = frand();
    for (int i = 0; i < cout; i++) bias[i] = frand(), slope[i] = frand() * 0.5f;
    spec sp[2] = {{"l.w", trial % 3 == 0 ? 2 : 0, 4, {cout, kh, kw, op == 1 ? 1 : cin}, wt},
                  {"l.b", 0, 1, {cout, 1, 1, 1}, bias}};
    unsigned char *buf;
    size_t size = build(&buf, sp, 2);
    nn_model *m;
    char err[NN_ERR];
    if (nn_model_parse(&m, buf, size, "case", err)) { CHECK(0, "parse: %s", err); return; }
    one_op o = {.op = op, .stride = stride, .pad = pad, .act = nn_linear};
    if (op == 1) nn_layer_dwconv(m, &o.l, "l", kh, kw, cin);
    else nn_layer_conv(m, &o.l, "l", kh, kw, cin, cout);
    nn_act_kind ak = (nn_act_kind)(trial % 8);
    o.act = (nn_act){ak, 0.1f, ak == NN_PRELU ? slope : NULL};
    int ih = h, iw = w, ic = cin;
    size_t nin = (size_t)ih * iw * ic;
    float *in = malloc(nin * 4);
    for (size_t i = 0; i < nin; i++) in[i] = frand();

    float *ref = NULL, *first = NULL;
    size_t nout = 0;
    for (int s = 0; s < NSETS; s++) {
        if (nn_set_isa(isas[s], err) != 0) continue;   /* a set this CPU cannot run */
        for (int threads = 1; threads <= 2; threads++) {
            if (s == 0 && threads == 2) continue;
            pool_set_threads(threads);
            nn_ctx *c = nn_ctx_new("case", err);
            nn_tensor out[NN_MAX_OUTPUTS];
            if (nn_run(c, fwd_one, &o, in, ih, iw, ic, out, err) != 1) { CHECK(0, "run: %s", err); nn_ctx_free(c); continue; }
            nout = nn_numel(out[0]);
            if (!ref) { ref = malloc(nout * 4); memcpy(ref, out[0].data, nout * 4); }
            else if (threads == 1) {
                free(first); first = malloc(nout * 4); memcpy(first, out[0].data, nout * 4);
                float mabs, d = maxdiff(out[0].data, ref, nout, &mabs);
                float rel = d / (mabs > 1 ? mabs : 1);
                if (rel > *worst_rel) *worst_rel = rel;
                if (rel > 1e-5f)
                    CHECK(0, "%s op%d %dx%dx%d k%dx%d s%d %s cout %d act %s: rel diff %g", isas[s], op, h, w, cin, kh, kw,
                          stride, pad == NN_SAME ? "same" : "valid", cout, act_name[ak], rel);
            } else {
                if (memcmp(first, out[0].data, nout * 4)) (*ident_fail)++;
                if (nn_ctx_stats(c).split_ops > 0) (*split)++;
            }
            nn_ctx_free(c);
        }
    }
    (*cases)++;
    nn_set_isa("auto", err);
    free(ref), free(first), free(in), free(wt), free(bias), free(slope), free(buf);
    nn_layer_free(&o.l);
    nn_model_close(m);
}

static void test_kernels(void) {
    const char *names[] = {"conv2d", "depthwise", "dense", "conv2d+residual"};
    char sets[64] = "", err[NN_ERR];
    for (int s = 1; s < NSETS; s++)
        if (nn_set_isa(isas[s], err) == 0) strcat(strcat(sets, sets[0] ? ", " : ""), isas[s]);
    nn_set_isa("auto", err);
    for (int op = 0; op < 4; op++) {
        float worst = 0;
        int ident = 0, split = 0, cases = 0;
        for (int trial = 0; trial < 60; trial++) kernel_case(op, trial, &worst, &ident, &split, &cases);
        CHECK(worst <= 1e-5f, "%s: %s kernels match the reference on %d random shapes, worst rel diff %.2g (tol 1e-5)",
              names[op], sets, cases, worst);
        CHECK(ident == 0 && split > 0, "%s: 1 and 2 threads bit-identical on %d shapes (%d differ; %d runs split across threads)",
              names[op], cases, ident, split);
    }
}

/* ------------------------------------------------------------ kernel-set dispatch */

/* 1 if the space-separated flag list LINE holds the word FLAG. */
static int has_flag(const char *line, const char *flag) {
    size_t n = strlen(flag);
    for (const char *p = strstr(line, flag); p; p = strstr(p + 1, flag))
        if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n' || !p[n])) return 1;
    return 0;
}

static void test_dispatch(void) {
    char err[NN_ERR] = "";
#if defined(__x86_64__)
    const char *foreign = "neon";
#else
    const char *foreign = "avx512";
#endif
    CHECK(nn_set_isa(foreign, err) == -1 && strstr(err, "not available"), "dispatch: %s refused here: %s", foreign, err);
#if defined(__x86_64__) && defined(__linux__)
    /* Linux lists a feature only when the CPU has it and the kernel saves its registers, the
     * same two conditions nn.c checks with CPUID and XGETBV. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    while (f && fgets(line, sizeof line, f) && strncmp(line, "flags", 5)) {}
    if (f && !strncmp(line, "flags", 5)) {
        int avx512 = has_flag(line, "avx512f") && has_flag(line, "avx512dq") && has_flag(line, "avx512bw") &&
                     has_flag(line, "avx512vl");
        int avx2 = has_flag(line, "avx2") && has_flag(line, "fma");
        const char *want = avx2 && avx512 ? "avx512" : avx2 ? "avx2" : "portable";
        CHECK(!strcmp(nn_isa_best(), want), "dispatch: best kernel set %s, /proc/cpuinfo flags say %s", nn_isa_best(), want);
    }
    if (f) fclose(f);
#endif
    nn_set_isa("auto", err);
}

/* ------------------------------------------------------------ numbers */

static void test_half(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;   /* NaN */
        if (nn_float_to_half(nn_half_to_float((uint16_t)h)) != h) bad++;
    }
    CHECK(bad == 0, "fp16: all 63488 non-NaN halves round-trip exactly (%d fail)", bad);
    CHECK(nn_float_to_half(1.0f + 1.0f / 2048) == 0x3c00 && nn_float_to_half(1.0f + 3.0f / 2048) == 0x3c02,
          "fp16: ties round to even");
    CHECK(nn_float_to_half(70000.0f) == 0x7c00 && nn_half_to_float(0x0001) == ldexpf(1, -24), "fp16: overflow and subnormals");
}

static void test_quant(void) {
    float x[257], worst = 0, scale;
    int8_t q[257];
    for (int i = 0; i < 257; i++) x[i] = frand() * 3;
    scale = nn_quantize_row(x, 257, q);
    int inrange = 1;
    for (int i = 0; i < 257; i++) worst = fmaxf(worst, fabsf(q[i] * scale - x[i])), inrange &= q[i] >= -127;
    CHECK(worst <= scale / 2 + 1e-7f && inrange, "int8: round trip error %.3g <= scale/2 = %.3g, values in [-127,127]", worst, scale / 2);
    float z[4] = {0};
    CHECK(nn_quantize_row(z, 4, q) == 0 && q[0] == 0, "int8: a zero row has scale 0");
}

/* ------------------------------------------------------------ container */

static void test_container(void) {
    float w[2 * 3] = {1, 2, 3, 4, 5, 6}, b[2] = {0.5f, -0.5f};
    spec sp[2] = {{"x.w", 2, 4, {2, 1, 1, 3}, w}, {"x.b", 0, 1, {2, 1, 1, 1}, b}};
    unsigned char *buf;
    size_t size = build(&buf, sp, 2);
    nn_model *m;
    char err[NN_ERR] = "";
    CHECK(nn_model_parse(&m, buf, size, "good", err) == 0, "container: a valid file parses (%s)", err);
    if (m) {
        const nn_wtensor *t = nn_model_find(m, "x.w");
        CHECK(t && t->dtype == NN_I8 && t->shape[0] == 2 && t->shape[3] == 3 && ((size_t)t->data % 64) == 0,
              "container: tensor table and 64-byte alignment");
        nn_layer l;
        nn_layer_conv(m, &l, "x", 1, 1, 4, 2);
        CHECK(nn_model_error(m) && strstr(nn_model_error(m), "shape"), "container: shape mismatch is reported: %s", nn_model_error(m));
        nn_layer_free(&l);
        nn_model_close(m);
    }
    struct { const char *what; size_t at; unsigned char val; size_t cut; const char *expect; } bad[] = {
        {"bad magic", 0, 'X', 0, "magic"},
        {"future version", 4, 9, 0, "version"},
        {"flipped payload byte", size - 70, 0xff, 0, "checksum"},
        {"truncated", 0, 0, 64, "truncated"},
        {"empty", 0, 0, size, "magic"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *c = malloc(size);
        memcpy(c, buf, size);
        if (!bad[i].cut) c[bad[i].at] ^= bad[i].val;
        int rc = nn_model_parse(&m, c, size - bad[i].cut, "bad", err);
        CHECK(rc == -1 && strstr(err, bad[i].expect), "container: %s refused: %s", bad[i].what, err);
        free(c);
    }
    /* A tensor pointing outside the payload, with a valid checksum: bounds, not checksum. */
    unsigned char *c = malloc(size);
    memcpy(c, buf, size);
    put64(c + 64 + 72, 1u << 20);
    put64(c + 40, fnv_words(c + 64, size - 64));
    CHECK(nn_model_parse(&m, c, size, "bad", err) == -1 && strstr(err, "bounds"), "container: out-of-bounds tensor refused: %s", err);
    free(c);
    free(buf);
    CHECK(nn_model_open(&m, "no-such-net", NULL, err) == -1 && strstr(err, "not embedded"), "container: unknown network: %s", err);
    CHECK(nn_model_open(&m, "x", "/nonexistent", err) == -1 && strstr(err, "/nonexistent/x.hsw"), "container: missing file: %s", err);
}

/* ------------------------------------------------------------ Huffman-coded int8 (dtype 3) */

/* A version-2 file with one tensor "c.w" of dtype 3 (or dtype, when asked), shape
 * [2, 1, 1, cols], scales {1, 0.5}; nbytes is the block's length unless nbytes != 0. */
static size_t build_coded(unsigned char **out, const unsigned char *blk, size_t blen, int cols,
                          uint64_t nbytes, int version, int dtype) {
    size_t poff = up64(64 + 96), psize = up64(blen) + 64, size = poff + psize;
    unsigned char *b = aligned_alloc(64, size);
    memset(b, 0, size);
    memcpy(b, "HSNN", 4);
    put32(b + 4, version), put32(b + 8, 1), put32(b + 12, 96);
    put64(b + 16, 64), put64(b + 24, poff), put64(b + 32, psize);
    memcpy(b + 48, "test", 4);
    unsigned char *e = b + 64;
    strcpy((char *)e, "c.w");
    e[48] = dtype, e[49] = 4;
    int shape[4] = {2, 1, 1, cols};
    for (int d = 0; d < 4; d++) put32(e + 52 + 4 * d, shape[d]);
    put64(e + 72, 0), put64(e + 80, nbytes ? nbytes : blen), put64(e + 88, up64(blen));
    memcpy(b + poff, blk, blen);
    float sc[2] = {1, 0.5f};
    memcpy(b + poff + up64(blen), sc, 8);
    put64(b + 40, fnv_words(b + 64, size - 64));
    *out = b;
    return size;
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
    return h;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void test_coded(void) {
    /* Values {0, 1, -1, 0, 0, 2}; lengths 0:1, 1:2, 2:3, -1 (0xff):3. Canonical codes, MSB
     * first: 0 = 0, 1 = 10, 2 = 110, -1 = 111. Four streams of n/4: {0} {1,-1} {0} {0,2},
     * written LSB-first: 0x00, 1+0+1+1+1 -> 0x1d, 0x00, 0+1+1+0 -> 0x06. */
    unsigned char blk[276] = {0};
    blk[0x00] = 1, blk[0x01] = 2, blk[0x02] = 3, blk[0xff] = 3;
    for (int k = 0; k < 4; k++) put32(blk + 256 + 4 * k, 1);
    blk[272] = 0x00, blk[273] = 0x1d, blk[274] = 0x00, blk[275] = 0x06;
    unsigned char *buf;
    size_t size = build_coded(&buf, blk, sizeof blk, 3, 0, 2, 3);
    nn_model *m = NULL;
    char err[NN_ERR] = "";
    CHECK(nn_model_parse(&m, buf, size, "coded", err) == 0, "coded: a hand-made Huffman tensor parses (%s)", err);
    if (m) {
        const nn_wtensor *t = nn_model_find(m, "c.w");
        const int8_t want[6] = {0, 1, -1, 0, 0, 2};
        CHECK(t && t->dtype == NN_I8 && !memcmp(t->data, want, 6) && t->scales[1] == 0.5f && (size_t)t->data % 64 == 0,
              "coded: decodes to {0, 1, -1, 0, 0, 2}, seen as plain i8 with its scales");
        nn_model_close(m);
    }
    free(buf);
    struct { const char *what; int at, val, cols, version, dtype; long dn; const char *expect; } bad[] = {
        {"oversubscribed lengths", 0x03, 1, 3, 2, 3, 0, "complete code"},
        {"code length 13", 0x02, 13, 3, 2, 3, 0, "> 12"},
        {"no code lengths", 0x00, 0, 3, 2, 3, 0, "complete code"},   /* blk[1,2,ff] cleared below */
        {"stream sizes past the block", 256 + 12, 9, 3, 2, 3, 0, "sizes"},
        {"truncated stream (last byte cut)", 256 + 12, 0, 3, 2, 3, -1, "ends before"},
        {"too few values in the streams", -1, 0, 6, 2, 3, 0, "ends before"},
        {"unused bytes after the values", 256 + 12, 2, 3, 2, 3, 1, "longer"},
        {"incomplete code (11 is no code)", 0x01, 0, 3, 2, 3, 0, "complete code"},
        {"more values than bits", -1, 0, 1 << 16, 2, 3, 0, "size does not match"},
        {"nbytes past the payload", -1, 0, 3, 2, 3, 4096, "bounds"},
        {"dtype 3 in a version-1 file", -1, 0, 3, 1, 3, 0, "dtype"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char c[277] = {0};
        memcpy(c, blk, sizeof blk);
        size_t blen = sizeof blk;
        if (bad[i].at >= 0) c[bad[i].at] = (unsigned char)bad[i].val;
        if (!strcmp(bad[i].what, "no code lengths")) c[1] = c[2] = c[0xff] = 0;
        if (!strcmp(bad[i].what, "too few values in the streams")) c[272] = c[273] = c[274] = c[275] = 0xff;
        if (!strcmp(bad[i].what, "incomplete code (11 is no code)")) c[0x01] = 2, c[0xff] = c[0x02] = 0;  /* 0, 10 */
        uint64_t nbytes = 0;
        if (bad[i].dn == -1) blen -= 1;                /* stream 3: 0 bytes, 2 values */
        else if (bad[i].dn == 1) blen += 1;             /* stream 3: 2 bytes, 1 needed */
        else if (bad[i].dn) nbytes = blen + bad[i].dn;
        size = build_coded(&buf, c, blen, bad[i].cols, nbytes, bad[i].version, bad[i].dtype);
        int rc = nn_model_parse(&m, buf, size, "bad", err);
        CHECK(rc == -1 && m == NULL && strstr(err, bad[i].expect), "coded: %s refused: %s", bad[i].what, err);
        free(buf);
    }

    /* The real thing: face_recognition's int8 values, decoded, are those of the version-1
     * file (5.6 MB of plain int8): FNV-1a 64 over the bytes of every i8 tensor, in table order,
     * recorded from weights/face_recognition.hsw version 1 before the coding was introduced. */
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now_ms();
        int rc = nn_model_open(&m, "face_recognition", NULL, err);
        best = fmin(best, now_ms() - t0);
        if (rc) { CHECK(0, "coded: embedded face_recognition opens: %s", err); return; }
        if (r < 4) nn_model_close(m);
    }
    uint64_t h = 0xcbf29ce484222325ull;
    size_t bytes = 0;
    int n8 = 0;
    for (int i = 0; i < nn_model_count(m); i++) {
        const nn_wtensor *t = nn_model_at(m, i);
        if (t->dtype != NN_I8) continue;
        size_t n = (size_t)t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3];
        h = fnv_bytes(h, t->data, n), bytes += n, n8++;
    }
    CHECK(h == 0x05d8a405c10c1547ull && n8 == 30 && bytes == 5603936,
          "coded: face_recognition's %d i8 tensors (%zu values) equal the version-1 ones: fnv %016llx; "
          "open (checksum + decode) %.2f ms, container %zu bytes", n8, bytes, (unsigned long long)h, best, nn_model_bytes(m));
    nn_model_close(m);
}

/* ------------------------------------------------------------ transposed convolution */

/* The scatter form, straight from TF's definition: every input pixel adds its kernel-sized
 * footprint at stride spacing; the runtime's gather form must agree with it. */
static int fwd_deconv(nn_ctx *c, const void *net, nn_tensor x, nn_tensor *out) {
    const one_op *o = net;
    out[0] = nn_deconv2d(c, x, &o->l, o->stride, o->pad, nn_linear);
    return 1;
}

static void test_deconv(void) {
    float worst = 0;
    int cases = 0;
    for (int trial = 0; trial < 24; trial++) {
        int k = 1 + irand(4), s = 1 + irand(3), h = 1 + irand(7), w = 1 + irand(7), cin = 1 + irand(9), cout = 1 + irand(5);
        nn_padding pad = irand(2) ? NN_SAME : NN_VALID;
        size_t nw = (size_t)cout * k * k * cin;
        float *wt = malloc(nw * 4), *bias = malloc(cout * 4), *in = malloc((size_t)h * w * cin * 4);
        for (size_t i = 0; i < nw; i++) wt[i] = frand();
        for (int i = 0; i < cout; i++) bias[i] = frand();
        for (int i = 0; i < h * w * cin; i++) in[i] = frand();
        spec sp[2] = {{"d.w", 0, 4, {cout, k, k, cin}, wt}, {"d.b", 0, 1, {cout, 1, 1, 1}, bias}};
        unsigned char *buf;
        size_t size = build(&buf, sp, 2);
        nn_model *m;
        char err[NN_ERR];
        nn_model_parse(&m, buf, size, "deconv", err);
        one_op o = {.op = 0, .stride = s, .pad = pad, .act = nn_linear};
        nn_layer_deconv(m, &o.l, "d", k, k, cin, cout);
        nn_ctx *c = nn_ctx_new("deconv", err);
        nn_tensor out[NN_MAX_OUTPUTS];
        if (nn_run(c, fwd_deconv, &o, in, h, w, cin, out, err) != 1) { CHECK(0, "deconv run: %s", err); continue; }
        int oh = out[0].h, ow = out[0].w, full = (h - 1) * s + k, fw = (w - 1) * s + k;
        int pt = pad == NN_SAME && full > oh ? (full - oh) / 2 : 0, pl = pad == NN_SAME && fw > ow ? (fw - ow) / 2 : 0;
        float *ref = calloc((size_t)oh * ow * cout, 4);
        for (int p = 0; p < oh * ow; p++)
            for (int q = 0; q < cout; q++) ref[p * cout + q] = bias[q];
        for (int iy = 0; iy < h; iy++)
            for (int ix = 0; ix < w; ix++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int oy = iy * s + ky - pt, ox = ix * s + kx - pl;
                        if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                        for (int q = 0; q < cout; q++)
                            for (int ci = 0; ci < cin; ci++)
                                ref[(oy * ow + ox) * cout + q] += in[(iy * w + ix) * cin + ci] * wt[((q * k + ky) * k + kx) * cin + ci];
                    }
        float d = maxdiff(out[0].data, ref, (size_t)oh * ow * cout, NULL);
        if (d > worst) worst = d;
        cases++;
        free(ref), free(wt), free(bias), free(in), free(buf);
        nn_ctx_free(c);
        nn_layer_free(&o.l);
        nn_model_close(m);
    }
    CHECK(worst < 1e-4f, "deconv: gather kernel equals the scatter definition on %d random shapes (k 1-4, stride 1-3, same/valid), max diff %.2g (tol 1e-4)",
          cases, worst);
}

/* ------------------------------------------------------------ planner */

typedef struct { nn_layer a, b; } chain;
static int fwd_chain(nn_ctx *c, const void *net, nn_tensor x, nn_tensor *out) {
    const chain *n = net;
    for (int i = 0; i < 6; i++) {   /* a residual chain: buffers must be reused, never clobbered */
        nn_tensor y = nn_conv2d(c, x, &n->a, 1, NN_SAME, nn_relu);
        nn_tensor z = nn_add(c, y, x, nn_linear);
        nn_free(c, y);
        if (i) nn_free(c, x);
        x = z;
    }
    out[0] = nn_global_avgpool(c, x);
    nn_free(c, x);
    return 1;
}

static void test_planner(void) {
    float w[8 * 8 * 9], zero[8] = {0};
    for (int i = 0; i < 8 * 8 * 9; i++) w[i] = frand() * 0.1f;
    spec sp[2] = {{"a.w", 0, 4, {8, 3, 3, 8}, w}, {"a.b", 0, 1, {8, 1, 1, 1}, zero}};
    unsigned char *buf;
    size_t size = build(&buf, sp, 2);
    nn_model *m;
    char err[NN_ERR];
    nn_model_parse(&m, buf, size, "chain", err);
    chain n;
    nn_layer_conv(m, &n.a, "a", 3, 3, 8, 8);
    float in[32 * 32 * 8];
    for (int i = 0; i < 32 * 32 * 8; i++) in[i] = frand();
    float res[2][8];
    for (int isa = 0; isa < 2; isa++) {
        nn_set_isa(isa ? "auto" : "reference", err);
        nn_ctx *c = nn_ctx_new("chain", err);
        nn_tensor out[NN_MAX_OUTPUTS];
        nn_run(c, fwd_chain, &n, in, 32, 32, 8, out, err);
        memcpy(res[isa], out[0].data, sizeof res[isa]);
        nn_stats st = nn_ctx_stats(c);
        size_t one = 32 * 32 * 8 * 4, ind = 32 * 32 * 9 * sizeof(void *);
        size_t live = 3 * one + ind;   /* most bytes alive at once: input, x, y, indirection */
        if (isa) CHECK(st.arena_bytes <= live * 5 / 4 && st.macs == 6ull * 32 * 32 * 8 * 8 * 9,
                       "planner: 19 buffers (%zu KB unplanned) in a %zu KB arena, within 1.25x of the %zu KB alive at once; %llu MACs",
                       (13 * one + 6 * ind) / 1024, st.arena_bytes / 1024, live / 1024, (unsigned long long)st.macs);
        nn_run(c, fwd_chain, &n, in, 32, 32, 8, out, err);   /* second run reuses the plan */
        CHECK(!memcmp(res[isa], out[0].data, sizeof res[isa]), "planner: a second run on the same plan gives the same result");
        nn_ctx_free(c);
    }
    CHECK(maxdiff(res[0], res[1], 8, NULL) < 1e-4f, "planner: residual chain equals the reference (diff %.2g)", maxdiff(res[0], res[1], 8, NULL));
    nn_set_isa("auto", err);
    nn_layer_free(&n.a);
    nn_model_close(m);
    free(buf);
}

/* ------------------------------------------------------------ depth to space */

static int fwd_d2s(nn_ctx *c, const void *net, nn_tensor x, nn_tensor *out) {
    out[0] = nn_depth_to_space(c, x, *(const int *)net);
    return 1;
}

/* TF's DCR order, from its definition: out[y*b + by][x*b + bx][k] = in[y][x][(by*b + bx)*oc + k]. */
static void test_depth_to_space(void) {
    int bad = 0, cases = 0;
    char err[NN_ERR];
    for (int trial = 0; trial < 12; trial++) {
        int b = 2 + trial % 3, oc = 1 + irand(4), h = 1 + irand(9), w = 1 + irand(9), c = b * b * oc;
        float *in = malloc(sizeof(float) * h * w * c);
        for (int i = 0; i < h * w * c; i++) in[i] = frand();
        nn_ctx *ctx = nn_ctx_new("d2s", err);
        nn_tensor out[NN_MAX_OUTPUTS];
        if (nn_run(ctx, fwd_d2s, &b, in, h, w, c, out, err) != 1 || out[0].h != h * b || out[0].w != w * b || out[0].c != oc) bad++;
        else
            for (int y = 0; y < h * b; y++)
                for (int x = 0; x < w * b; x++)
                    for (int k = 0; k < oc; k++)
                        bad += out[0].data[((size_t)y * w * b + x) * oc + k] !=
                               in[((size_t)(y / b) * w + x / b) * c + ((y % b) * b + x % b) * oc + k];
        cases++;
        nn_ctx_free(ctx), free(in);
    }
    CHECK(bad == 0, "depth_to_space: %d random shapes (block 2-4) equal the definition exactly (%d values differ)", cases, bad);
}

int main(void) {
    test_half();
    test_quant();
    test_container();
    test_coded();
    test_planner();
    test_deconv();
    test_depth_to_space();
    test_dispatch();
    test_kernels();
    return test_done();
}
