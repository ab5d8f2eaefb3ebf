/* upscale.c — super-resolution: UpscalerJS ESRGAN-slim / -medium (RDN networks), tiled.
 *
 * The networks (tools/convert/net-esrgan.mjs has the Keras file's own layer list). Input
 * h x w x 3 RGB in [0, 255], output (s h) x (s w) x 3 RGB in about [0, 255]; D dense blocks
 * of growth G (slim: D = 2, G = 4; medium: D = 10, G = 64), s = 2, 3, 4 or 8:
 *
 *   layer      op                              shape (h x w x channels)
 *   F_m1       conv 3x3                        3      -> 64
 *   F_0        conv 3x3                        64     -> 64
 *   block k = 1..D, x = F_0 or LRL_k-1:
 *     F_k_1    conv 3x3, relu                  64     -> G
 *     LFF_k    conv 1x1 of concat(x, F_k_1)    64 + G -> 64
 *     LRL_k    LFF_k + x                       64
 *   GFF_1      conv 1x1 of concat(LRL_1..D)    64 D   -> 64    (summed block by block)
 *   GFF_2      conv 3x3                        64     -> 64
 *   FDF        GFF_2 + F_m1                    64
 *   UPN1       conv 5x5, relu                  64     -> 64
 *   UPN2       conv 3x3, relu                  64     -> 32
 *   UPN3       conv 3x3                        32     -> 3 s^2
 *   SR         nearest upsampling x s, conv 3x3 -> 3: stored folded as a conv 3x3
 *              3 s^2 -> 3 s^2 at the low resolution, then depth_to_space -> (s h) x (s w) x 3
 *
 * The converter reshapes GFF_1 and SR (exact rewrites, see net-esrgan.mjs) so that only a few
 * feature maps of at most 64 + G (or 3 s^2) channels are alive at once and nothing runs at the
 * high resolution except the final depth_to_space (arena for a 192x192 tile, x4: slim 48 MB,
 * medium 66 MB; 128x128: 21 and 29 MB).
 *
 * Tiling: an output pixel depends on the input pixels within the receptive-field radius R
 * (sum of the kernel radii: 1 + 1 + D + 1 + 2 + 1 + 1 + 1 = D + 8). Tiles of one fixed size
 * overlap by at least 2 R; each output pixel is taken from a tile in which it lies at least R
 * from every tile edge that is not an image edge, where the tile saw exactly what the whole
 * image would show it (zero padding included). So the tiled result equals the whole-image
 * result, with no seams to blend, and all tiles share one plan and one arena.
 */
#include "upscale.h"
#include "buffer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UP_G0 64             /* feature channels */
#define UP_MAX_D 16          /* most dense blocks we accept */

struct up_model {
    nn_ctx *ctx;             /* activation arena, planned for the tile shape */
    int d, g, scale;         /* dense blocks, growth channels, upscale factor s */
    nn_layer f_m1, f_0;      /* 3x3: 3 -> 64, 64 -> 64 */
    nn_layer f[UP_MAX_D];    /* [d] F_k_1 3x3: 64 -> G, relu */
    nn_layer lff[UP_MAX_D];  /* [d] LFF_k 1x1: 64 + G -> 64 */
    nn_layer gff1[UP_MAX_D]; /* [d] GFF_1_k 1x1: 64 -> 64, the rows of GFF_1 that read LRL_k */
    nn_layer gff2;           /* 3x3: 64 -> 64 */
    nn_layer upn1, upn2, upn3; /* 5x5 64 -> 64, 3x3 64 -> 32, 3x3 32 -> 3 s^2 */
    nn_layer sr;             /* 3x3: 3 s^2 -> 3 s^2 (upsampling + SR folded) */
};

/* ============================================================================ network === */

static int up_forward(nn_ctx *c, const void *net, nn_tensor x, nn_tensor *out) {
    const up_model *n = net;
    nn_tensor f_m1 = nn_conv2d(c, x, &n->f_m1, 1, NN_SAME, nn_linear);     /* h x w x 3 -> 64 */
    nn_free(c, x);
    nn_tensor t = nn_conv2d(c, f_m1, &n->f_0, 1, NN_SAME, nn_linear);      /* F_0: 64 */
    nn_tensor gff = {0, 0, 0, NULL, -1};                                     /* GFF_1 so far */
    for (int k = 0; k < n->d; k++) {
        nn_tensor f = nn_conv2d(c, t, &n->f[k], 1, NN_SAME, nn_relu);       /* 64 -> G */
        nn_tensor cat = nn_concat(c, t, f);                                  /* 64 + G */
        nn_free(c, f);
        nn_tensor lrl = nn_conv2d_add(c, cat, &n->lff[k], 1, NN_SAME, t, nn_linear);   /* LRL_k = LFF_k + t */
        nn_free(c, cat);
        nn_free(c, t);
        nn_tensor part = k == 0 ? nn_conv2d(c, lrl, &n->gff1[k], 1, NN_SAME, nn_linear)   /* GFF_1 share */
                                : nn_conv2d_add(c, lrl, &n->gff1[k], 1, NN_SAME, gff, nn_linear);
        if (k > 0) nn_free(c, gff);
        gff = part;
        t = lrl;
    }
    nn_free(c, t);
    nn_tensor fdf = nn_conv2d_add(c, gff, &n->gff2, 1, NN_SAME, f_m1, nn_linear);   /* FDF = GFF_2 + F_-1 */
    nn_free(c, gff);
    nn_free(c, f_m1);
    nn_tensor u1 = nn_conv2d(c, fdf, &n->upn1, 1, NN_SAME, nn_relu);       /* 64 -> 64 */
    nn_free(c, fdf);
    nn_tensor u2 = nn_conv2d(c, u1, &n->upn2, 1, NN_SAME, nn_relu);        /* 64 -> 32 */
    nn_free(c, u1);
    nn_tensor u3 = nn_conv2d(c, u2, &n->upn3, 1, NN_SAME, nn_linear);      /* 32 -> 3 s^2 */
    nn_free(c, u2);
    nn_tensor sr = nn_conv2d(c, u3, &n->sr, 1, NN_SAME, nn_linear);        /* 3 s^2 -> 3 s^2 */
    nn_free(c, u3);
    out[0] = nn_depth_to_space(c, sr, n->scale);                           /* s h x s w x 3 */
    nn_free(c, sr);
    return 1;
}

/* ============================================================================ loading === */

/* D, G and s are read off the container: it holds D blocks F_k_1, and SR has 3 s^2 outputs. */
static int up_shape(const nn_model *w, up_model *m, char err[NN_ERR]) {
    char name[48];
    m->d = 0;
    for (;;) {
        snprintf(name, sizeof name, "F_%d_1.w", m->d + 1);
        if (!nn_model_find(w, name)) break;
        m->d++;
    }
    const nn_wtensor *f = nn_model_find(w, "F_1_1.w"), *sr = nn_model_find(w, "SR.w");
    if (m->d < 1 || m->d > UP_MAX_D || !sr)
        return snprintf(err, NN_ERR, "upscale: not an RDN weight file (%d blocks)", m->d), -1;
    m->g = f->shape[0];
    for (m->scale = 2; 3 * m->scale * m->scale < sr->shape[0]; m->scale++) {}
    if (3 * m->scale * m->scale != sr->shape[0])
        return snprintf(err, NN_ERR, "upscale: SR has %d outputs, not 3 s^2", sr->shape[0]), -1;
    return 0;
}

int up_load(up_model **out, const char *name, const nn_runtime *rt, const char *weights_dir, char err[NN_ERR]) {
    *out = NULL;
    nn_model *w;
    if (nn_model_open(&w, name, weights_dir, err) != 0) return -1;
    nn_model_runtime(w, rt);
    up_model *m = calloc(1, sizeof *m);
    if (!m) {
        nn_model_close(w);
        return snprintf(err, NN_ERR, "upscale: out of memory"), -1;
    }
    if (up_shape(w, m, err) != 0) {
        nn_model_close(w);
        up_free(m);
        return -1;
    }
    int s2 = 3 * m->scale * m->scale;
    struct { nn_layer *l; const char *name; int k, cin, cout; } convs[] = {
        {&m->f_m1, "F_m1", 3, 3, UP_G0},
        {&m->f_0, "F_0", 3, UP_G0, UP_G0},
        {&m->gff2, "GFF_2", 3, UP_G0, UP_G0},
        {&m->upn1, "UPN1", 5, UP_G0, UP_G0},
        {&m->upn2, "UPN2", 3, UP_G0, 32},
        {&m->upn3, "UPN3", 3, 32, s2},
        {&m->sr, "SR", 3, s2, s2},
    };
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
        nn_layer_conv(w, convs[i].l, convs[i].name, convs[i].k, convs[i].k, convs[i].cin, convs[i].cout);
    for (int k = 0; k < m->d; k++) {           /* block k + 1: F_k_1, LFF_k, GFF_1_k */
        char nm[32];
        snprintf(nm, sizeof nm, "F_%d_1", k + 1);
        nn_layer_conv(w, &m->f[k], nm, 3, 3, UP_G0, m->g);
        snprintf(nm, sizeof nm, "LFF_%d", k + 1);
        nn_layer_conv(w, &m->lff[k], nm, 1, 1, UP_G0 + m->g, UP_G0);
        snprintf(nm, sizeof nm, "GFF_1_%d", k + 1);
        nn_layer_conv(w, &m->gff1[k], nm, 1, 1, UP_G0, UP_G0);
    }
    m->ctx = nn_model_ready(w, name, err);
    nn_model_close(w);            /* the layers hold their own copies */
    if (!m->ctx) return up_free(m), -1;
    *out = m;
    return 0;
}

void up_free(up_model *m) {
    if (!m) return;
    nn_ctx_free(m->ctx);
    nn_layer *fixed[] = {&m->f_m1, &m->f_0, &m->gff2, &m->upn1, &m->upn2, &m->upn3, &m->sr};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) nn_layer_free(fixed[i]);
    for (int k = 0; k < UP_MAX_D; k++) {
        nn_layer_free(&m->f[k]);
        nn_layer_free(&m->lff[k]);
        nn_layer_free(&m->gff1[k]);
    }
    free(m);
}

int up_scale(const up_model *m) { return m->scale; }
int up_margin(const up_model *m) { return m->d + 8; }

/* ============================================================================= tiling === */

/* Along one axis of N pixels with tiles of at most `tile`: as few tiles as that allows, each
 * of the smallest T that still covers N with them (so the overlap, computed twice, is no
 * larger than it must be). Tile i starts at start(i) and owns the output pixels
 * [lo(i), hi(i)). Starts are spread evenly from 0 to N - T, at most T - 2R apart; a boundary
 * between two tiles lies mid-way in their overlap, so at least R from both of their inner
 * edges. */
typedef struct {
    int n, t, count;         /* image pixels, tile pixels, tiles */
} up_axis;

static up_axis up_axis_new(int n, int tile, int margin) {
    up_axis a = {n, tile < n ? tile : n, 1};
    int step = a.t - 2 * margin;
    if (a.t < n) a.count = 1 + (n - a.t + step - 1) / step;
    if (a.count > 1) a.t = (n + 2 * margin * (a.count - 1) + a.count - 1) / a.count;   /* N - T <= (count - 1)(T - 2R) */
    return a;
}

static int up_axis_start(up_axis a, int i) {
    return a.count == 1 ? 0 : (int)((long long)i * (a.n - a.t) / (a.count - 1));
}

static int up_axis_bound(up_axis a, int i) {   /* lo(i) = hi(i - 1), i in 0..count */
    if (i == 0) return 0;
    if (i == a.count) return a.n;
    return (up_axis_start(a, i) + up_axis_start(a, i - 1) + a.t) / 2;
}

/* One pass over the tiles. The input comes from in8 or inf and goes to out8 or outf (one of
 * each pair is non-NULL): bytes are rounded and clamped, floats are copied raw. */
static int up_tiles(up_model *m, const unsigned char *in8, const float *inf, int w, int h, int tile,
                    unsigned char *out8, float *outf, char err[NN_ERR]) {
    int s = m->scale, R = up_margin(m);
    if (tile == 0) tile = UP_TILE;
    if (w <= 0 || h <= 0 || (double)w * s * h * s > 1e9)
        return snprintf(err, NN_ERR, "upscale: bad image size %dx%d for x%d", w, h, s), -1;
    if (tile <= 2 * R)
        return snprintf(err, NN_ERR, "upscale: tile %d must exceed twice the margin %d", tile, R), -1;
    up_axis ax = up_axis_new(w, tile, R), ay = up_axis_new(h, tile, R);
    float *buf = buffer_alloc((size_t)ax.t * ay.t * 3 * sizeof(float));
    if (!buf) return snprintf(err, NN_ERR, "upscale: out of memory"), -1;
    int rc = 0;
    for (int ty = 0; ty < ay.count && rc == 0; ty++)
        for (int tx = 0; tx < ax.count && rc == 0; tx++) {
            int x0 = up_axis_start(ax, tx), y0 = up_axis_start(ay, ty);
            for (int y = 0; y < ay.t; y++) {
                size_t src = ((size_t)(y0 + y) * w + x0) * 3, n = (size_t)ax.t * 3;
                float *dst = buf + (size_t)y * n;
                for (size_t i = 0; i < n; i++) dst[i] = in8 ? in8[src + i] : inf[src + i];
            }
            nn_tensor o;
            if (nn_run(m->ctx, up_forward, m, buf, ay.t, ax.t, 3, &o, err) != 1) {
                rc = -1;
                break;
            }
            /* Copy the owned part, in output pixels, from the tile's output. */
            int lx = up_axis_bound(ax, tx) * s, hx = up_axis_bound(ax, tx + 1) * s;
            int ly = up_axis_bound(ay, ty) * s, hy = up_axis_bound(ay, ty + 1) * s;
            for (int y = ly; y < hy; y++) {
                const float *src = o.data + ((size_t)(y - y0 * s) * o.w + (lx - x0 * s)) * 3;
                size_t dst = ((size_t)y * w * s + lx) * 3, n = (size_t)(hx - lx) * 3;
                if (outf) {
                    memcpy(outf + dst, src, n * sizeof(float));
                    continue;
                }
                for (size_t i = 0; i < n; i++) {
                    float v = src[i] + 0.5f;
                    out8[dst + i] = v <= 0 ? 0 : v >= 255 ? 255 : (unsigned char)v;
                }
            }
        }
    free(buf);
    return rc;
}

int up_run(up_model *m, const unsigned char *rgb, int w, int h, unsigned char *out, char err[NN_ERR]) {
    return up_tiles(m, rgb, NULL, w, h, UP_TILE, out, NULL, err);
}

int up_run_f32(up_model *m, const float *rgb, int w, int h, int tile, float *out, char err[NN_ERR]) {
    return up_tiles(m, NULL, rgb, w, h, tile, NULL, out, err);
}

/* ============================================================== network descriptors === */

static void *up__bench_load(const hs_network *self, const char *dir, char err[NN_ERR]) {
    up_model *m;
    return up_load(&m, self->name, NULL, dir, err) == 0 ? m : NULL;
}
static void up__bench_free(void *m) { up_free(m); }

const hs_network up_esrgan_slim_x4 = {
    "esrgan_slim_x4", "super-resolution x4, RDN D2 G4 (fast)",
    "@upscalerjs/esrgan-slim@1.0.0 models/x4/model.json", "MIT",
    128, 128, 3, up__bench_load, up__bench_free, up_forward,
};
const hs_network up_esrgan_medium_x4 = {
    "esrgan_medium_x4", "super-resolution x4, RDN D10 G64",
    "@upscalerjs/esrgan-medium@1.0.0 models/x4/model.json", "MIT",
    128, 128, 3, up__bench_load, up__bench_free, up_forward,
};
