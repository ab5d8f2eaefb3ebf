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
        nn_runtime rt;
        if (nn_runtime_init(&rt, isas[s], NULL, err) != 0) continue;   /* a set this CPU cannot run */
        for (int threads = 1; threads <= 2; threads++) {
            if (s == 0 && threads == 2) continue;
            static pool *two;            /* the second thread count's pool */
            if (!two) two = pool_new(2);
            rt.pool = threads > 1 ? two : NULL;
            nn_ctx *c = nn_ctx_new("case", err);
            nn_ctx_runtime(c, &rt);
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
    free(ref), free(first), free(in), free(wt), free(bias), free(slope), free(buf);
    nn_layer_free(&o.l);
    nn_model_close(m);
}

static void test_kernels(void) {
    const char *names[] = {"conv2d", "depthwise", "dense", "conv2d+residual"};
    char sets[64] = "", err[NN_ERR];
    nn_runtime rt;
    for (int s = 1; s < NSETS; s++)
        if (nn_runtime_init(&rt, isas[s], NULL, err) == 0) strcat(strcat(sets, sets[0] ? ", " : ""), isas[s]);
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

/* A random layer "l" (l.w [cout][k][k][wc], l.b [cout]) in a parsed container and a random
 * h x w x cin input: what the layer tests below start from. */
typedef struct { float *wt, *bias, *in; unsigned char *buf; nn_model *m; } rand_layer;

static int rand_layer_make(rand_layer *r, int cout, int k, int wc, int h, int w, int cin, char err[NN_ERR]) {
    size_t nw = (size_t)cout * k * k * wc;
    r->wt = malloc(nw * 4), r->bias = malloc(cout * 4), r->in = malloc((size_t)h * w * cin * 4);
    for (size_t i = 0; i < nw; i++) r->wt[i] = frand();
    for (int i = 0; i < cout; i++) r->bias[i] = frand();
    for (int i = 0; i < h * w * cin; i++) r->in[i] = frand();
    spec sp[2] = {{"l.w", 0, 4, {cout, k, k, wc}, r->wt}, {"l.b", 0, 1, {cout, 1, 1, 1}, r->bias}};
    size_t size = build(&r->buf, sp, 2);
    return nn_model_parse(&r->m, r->buf, size, "random", err);
}

static void rand_layer_free(rand_layer *r) {
    nn_model_close(r->m);
    free(r->buf), free(r->wt), free(r->bias), free(r->in);
}

static void test_deconv(void) {
    float worst = 0;
    int cases = 0;
    for (int trial = 0; trial < 24; trial++) {
        int k = 1 + irand(4), s = 1 + irand(3), h = 1 + irand(7), w = 1 + irand(7), cin = 1 + irand(9), cout = 1 + irand(5);
        nn_padding pad = irand(2) ? NN_SAME : NN_VALID;
        char err[NN_ERR];
        rand_layer r;
        if (rand_layer_make(&r, cout, k, cin, h, w, cin, err)) { CHECK(0, "parse: %s", err); return; }
        const float *wt = r.wt, *bias = r.bias, *in = r.in;
        one_op o = {.op = 0, .stride = s, .pad = pad, .act = nn_linear};
        nn_layer_deconv(r.m, &o.l, "l", k, k, cin, cout);
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
        free(ref);
        nn_ctx_free(c);
        nn_layer_free(&o.l);
        rand_layer_free(&r);
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
        nn_runtime rt;
        nn_runtime_init(&rt, isa ? "auto" : "reference", NULL, err);
        nn_ctx *c = nn_ctx_new("chain", err);
        nn_ctx_runtime(c, &rt);
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

/* ------------------------------------------------------------ the small ops, one at a time */

/* One op on x (and a second operand b for the binary ops, filled from the host array bh). */
typedef struct {
    int op;                  /* 0 mul, 1 add, 2 concat, 3 pad, 4 affine, 5 avgpool, 6 maxpool, 7 resize */
    int bh, bw, bc;          /* b's shape */
    const float *b;
    int p[6];                /* pad: t, l, b, r, c before, c after; pool: k, stride, same; resize: h, w, mode */
    const float *scale, *shift;
    nn_act act;
} small_op;

static int fwd_small(nn_ctx *c, const void *net, nn_tensor x, nn_tensor *out) {
    const small_op *o = net;
    nn_tensor b = {0, 0, 0, NULL, -1};
    if (o->op <= 2) {
        b = nn_new(c, o->bh, o->bw, o->bc);
        if (b.data) memcpy(b.data, o->b, nn_numel(b) * sizeof(float));
    }
    const int *p = o->p;
    nn_padding pad = p[2] ? NN_SAME : NN_VALID;
    switch (o->op) {
    case 0: out[0] = nn_mul(c, x, b); break;
    case 1: out[0] = nn_add(c, x, b, o->act); break;
    case 2: out[0] = nn_concat(c, x, b); break;
    case 3: out[0] = nn_pad(c, x, p[0], p[1], p[2], p[3], p[4], p[5]); break;
    case 4: out[0] = nn_affine(c, x, o->scale, o->shift, o->act); break;
    case 5: out[0] = nn_avgpool(c, x, p[0], p[1], pad); break;
    case 6: out[0] = nn_maxpool(c, x, p[0], p[1], pad); break;
    default: out[0] = nn_resize_bilinear(c, x, p[0], p[1], p[2] == 1, p[2] == 2); break;
    }
    return 1;
}

static double act_d(double v, nn_act a, int ch) {
    if (a.kind == NN_RELU) return v > 0 ? v : 0;
    if (a.kind == NN_LEAKY) return v >= 0 ? v : v * a.leak;
    if (a.kind == NN_PRELU) return v >= 0 ? v : v * a.slope[ch];
    return v;
}

/* TF's pooling window: out = ceil(in / stride) with SAME (odd pixel at the end), else
 * (in - k) / stride + 1; avgpool divides by the taps inside the image. */
static double pool_d(const float *x, int h, int w, int c, const int *p, int oy, int ox, int ch, int *oh, int *ow) {
    int k = p[0], st = p[1], same = p[2], pt = 0, pl = 0;
    *oh = same ? (h + st - 1) / st : (h - k) / st + 1, *ow = same ? (w + st - 1) / st : (w - k) / st + 1;
    if (same) {
        int th = (*oh - 1) * st + k - h, tw = (*ow - 1) * st + k - w;
        pt = th > 0 ? th / 2 : 0, pl = tw > 0 ? tw / 2 : 0;
    }
    double sum = 0, mx = -1e30;
    int n = 0;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            int iy = oy * st - pt + ky, ix = ox * st - pl + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            double v = x[((size_t)iy * w + ix) * c + ch];
            sum += v, mx = v > mx ? v : mx, n++;
        }
    return p[5] ? mx : sum / n;
}

/* Bilinear, from TF's definition: the source coordinate of output o, clamped below at 0,
 * between its floor and the next pixel (the last one at the edge). */
static double resize_d(const float *x, int h, int w, int c, int oh, int ow, int mode, int oy, int ox, int ch) {
    double sy = mode == 1 ? (oh > 1 ? oy * (double)(h - 1) / (oh - 1) : 0) : mode == 2 ? (oy + 0.5) * h / oh - 0.5 : oy * (double)h / oh;
    double sx = mode == 1 ? (ow > 1 ? ox * (double)(w - 1) / (ow - 1) : 0) : mode == 2 ? (ox + 0.5) * w / ow - 0.5 : ox * (double)w / ow;
    sy = sy < 0 ? 0 : sy, sx = sx < 0 ? 0 : sx;
    int y0 = (int)sy, x0 = (int)sx, y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
    double fy = sy - y0, fx = sx - x0;
#define AT(yy, xx) (double)x[((size_t)(yy) * w + (xx)) * c + ch]
    double top = AT(y0, x0) + (AT(y0, x1) - AT(y0, x0)) * fx, bot = AT(y1, x0) + (AT(y1, x1) - AT(y1, x0)) * fx;
#undef AT
    return top + (bot - top) * fy;
}

/* The expected value of output (oy, ox, ch) of op o on x (h x w x c); *oh, *ow, *oc its shape. */
static double small_expect(const small_op *o, const float *x, int h, int w, int c, int oy, int ox, int ch, int *oh, int *ow, int *oc) {
    const int *p = o->p;
    *oh = h, *ow = w, *oc = c;
    size_t at = ((size_t)oy * w + ox) * c + ch;
    int same = o->bh == h && o->bw == w && o->bc == c;
    size_t bi = same ? at : o->bc > 1 ? (size_t)ch : 0;   /* b: same shape, per channel or scalar */
    switch (o->op) {
    case 0: return (double)x[at] * o->b[bi];
    case 1: return act_d((double)x[at] + o->b[bi], o->act, ch);
    case 2:
        *oc = c + o->bc;
        return ch < c ? x[((size_t)oy * w + ox) * c + ch] : o->b[((size_t)oy * w + ox) * o->bc + ch - c];
    case 3: {
        *oh = h + p[0] + p[2], *ow = w + p[1] + p[3], *oc = c + p[4] + p[5];
        int iy = oy - p[0], ix = ox - p[1], k = ch - p[4];
        return iy < 0 || iy >= h || ix < 0 || ix >= w || k < 0 || k >= c ? 0 : x[((size_t)iy * w + ix) * c + k];
    }
    case 4: return act_d(x[at] * (o->scale ? o->scale[ch] : 1.0) + (o->shift ? o->shift[ch] : 0.0), o->act, ch);
    case 5: case 6: return pool_d(x, h, w, c, p, oy, ox, ch, oh, ow);
    default: *oh = p[0], *ow = p[1]; return resize_d(x, h, w, c, p[0], p[1], p[2], oy, ox, ch);
    }
}

/* A random case of op: shapes, broadcasts, paddings, windows, resize modes. */
static small_op small_case(int op, int trial, int h, int w, int c, float *bbuf, float *vec, float *vec2) {
    small_op o = {op, h, w, c, bbuf, {0}, NULL, NULL, nn_linear};
    if (op <= 1 && trial % 3) o.bh = o.bw = 1, o.bc = trial % 3 == 1 ? c : 1;   /* per channel, scalar */
    if (op == 2) o.bc = 1 + irand(20);
    if (op == 1 || op == 4) o.act = trial % 3 == 0 ? nn_relu : trial % 3 == 1 ? nn_leaky(0.2f) : nn_prelu(vec2);
    if (op == 3) for (int i = 0; i < 6; i++) o.p[i] = irand(3);
    if (op == 4) o.scale = trial % 4 == 1 ? NULL : vec, o.shift = trial % 4 == 2 ? NULL : vec2;
    if (op == 5 || op == 6) {
        o.p[0] = 1 + irand(3), o.p[1] = 1 + irand(2), o.p[2] = irand(2), o.p[5] = op == 6;
        if (!o.p[2] && (h < o.p[0] || w < o.p[0])) o.p[2] = 1;
    }
    if (op == 7) o.p[0] = 1 + irand(24), o.p[1] = 1 + irand(24), o.p[2] = trial % 3;
    return o;
}

/* The reference set reads the packed weights (the fp32 copy is freed once packed): a conv and
 * a depthwise layer loaded from a container equal, bit for bit, the loop nest over the weights
 * as stored, summed in the same order (bias, then ky, kx, input channel). */
static void test_packed_reference(void) {
    char err[NN_ERR];
    nn_runtime ref;
    int bad = 0, kept = 0, cases = 0;
    nn_runtime_init(&ref, "reference", NULL, err);
    for (int trial = 0; trial < 16; trial++) {
        int dw = trial % 2, k = 1 + 2 * irand(3), h = 1 + irand(12), w = 1 + irand(12), cin = 1 + irand(40);
        int cout = dw ? cin : 1 + irand(40), wc = dw ? 1 : cin;
        rand_layer r;
        if (rand_layer_make(&r, cout, k, wc, h, w, cin, err)) { CHECK(0, "parse: %s", err); return; }
        const float *wt = r.wt, *bias = r.bias, *in = r.in;
        one_op o = {.op = dw, .stride = 1, .pad = NN_SAME, .act = nn_linear};
        if (dw) nn_layer_dwconv(r.m, &o.l, "l", k, k, cin);
        else nn_layer_conv(r.m, &o.l, "l", k, k, cin, cout);
        kept += o.l.weights != NULL;
        nn_ctx *c = nn_ctx_new("packed", err);
        nn_ctx_runtime(c, &ref);
        nn_tensor out[NN_MAX_OUTPUTS];
        if (nn_run(c, fwd_one, &o, in, h, w, cin, out, err) != 1) bad++;
        else
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int j = 0; j < cout; j++) {
                        float sum = bias[j];
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = y - (k - 1) / 2 + ky, ix = x - (k - 1) / 2 + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                for (int q = dw ? j : 0; q < (dw ? j + 1 : cin); q++)
                                    sum += in[((size_t)iy * w + ix) * cin + q] * wt[(((size_t)j * k + ky) * k + kx) * wc + (dw ? 0 : q)];
                            }
                        bad += out[0].data[((size_t)y * w + x) * cout + j] != sum;
                    }
        cases++;
        nn_ctx_free(c), nn_layer_free(&o.l), rand_layer_free(&r);
    }
    CHECK(bad == 0 && kept == 0, "reference set on packed weights: %d conv / depthwise layers equal the loops over the stored "
          "weights exactly (%d values differ); fp32 copies kept: %d", cases, bad, kept);
}

/* Each op against the naive loops above on random shapes: mul and add with their
 * broadcasts, concat, pad, affine, avg- and maxpool (SAME / VALID), bilinear resize in its
 * three coordinate modes. These ops were checked only through whole networks before. */
static void test_small_ops(void) {
    const char *names[] = {"mul", "add", "concat", "pad", "affine", "avgpool", "maxpool", "resize_bilinear"};
    char err[NN_ERR];
    for (int op = 0; op < 8; op++) {
        int cases = 0, bad_shape = 0;
        double worst = 0;
        for (int trial = 0; trial < 30; trial++) {
            int h = 1 + irand(17), w = 1 + irand(17), c = 1 + irand(35);
            if (trial == 29 && op <= 2) h = w = 180, c = 33;   /* > 2^20 values: split across the threads */
            size_t n = (size_t)h * w * c;
            float *x = malloc(n * 4), *bbuf = malloc((n + (size_t)h * w * 20) * 4), *vec = malloc(c * 4), *vec2 = malloc(c * 4);
            for (size_t i = 0; i < n; i++) x[i] = frand() * 4;
            for (size_t i = 0; i < n + (size_t)h * w * 20; i++) bbuf[i] = frand() * 4;
            for (int i = 0; i < c; i++) vec[i] = frand(), vec2[i] = frand();
            small_op o = small_case(op, trial, h, w, c, bbuf, vec, vec2);
            nn_ctx *ctx = nn_ctx_new(names[op], err);
            nn_tensor out[NN_MAX_OUTPUTS];
            int oh, ow, oc;
            small_expect(&o, x, h, w, c, 0, 0, 0, &oh, &ow, &oc);
            if (nn_run(ctx, fwd_small, &o, x, h, w, c, out, err) != 1 || out[0].h != oh || out[0].w != ow || out[0].c != oc) bad_shape++;
            else
                for (int y = 0; y < oh; y++)
                    for (int xx = 0; xx < ow; xx++)
                        for (int k = 0; k < oc; k++) {
                            double want = small_expect(&o, x, h, w, c, y, xx, k, &oh, &ow, &oc);
                            double d = fabs(out[0].data[((size_t)y * ow + xx) * oc + k] - want) / (fabs(want) + 1);
                            worst = d > worst ? d : worst;
                        }
            cases++;
            nn_ctx_free(ctx), free(x), free(bbuf), free(vec), free(vec2);
        }
        /* 1e-5: the op computes resize coordinates in float, the loops above in double */
        CHECK(bad_shape == 0 && worst <= 1e-5, "%s: %d random cases match the naive loops, worst rel diff %.2g (tol 1e-5); %d wrong shapes",
              names[op], cases, worst, bad_shape);
    }
}

int main(void) {
    test_half();
    test_quant();
    test_container();
    test_coded();
    test_planner();
    test_deconv();
    test_depth_to_space();
    test_small_ops();
    test_packed_reference();
    test_dispatch();
    test_kernels();
    return test_done();
}
