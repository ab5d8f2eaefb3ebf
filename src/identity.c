/* identity.c — face-api's FaceRecognitionNet descriptor. Read identity.h first. Sections: the
 * network, the crop (68 points, alignment box, resize), distance.
 *
 * Weights: face-api 1.7.15 face_recognition_model (uint8-quantised manifest), converted by
 * tools/convert/net-face_recognition.mjs: each conv's "scale" layer (frozen batch norm) is
 * folded into it. The JS twin of the crop and the original network in TF.js are
 * tools/reference/gold-identity.mjs.
 */
#include "identity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================ the network === */

/* A ResNet-34-like trunk after a 7x7 stride-2 stem and a 3x3 stride-2 max pool. Residual
 * blocks: conv1 (3x3, ReLU) then conv2 (3x3), added to the input, ReLU. A "down" block
 * (face-api residualDown) halves the size: conv1 is a stride-2 valid conv, and the shortcut
 * is a 2x2 average pool whose extra channels are zeros. Must match BLOCKS of
 * net-face_recognition.mjs. */
static const struct {
    const char *name;             /* face-api's name, prefix of the layers in the container */
    int cin, cout, down;
} id__blocks[] = {
    {"conv32_1", 32, 32, 0},      {"conv32_2", 32, 32, 0},       {"conv32_3", 32, 32, 0},
    {"conv64_down", 32, 64, 1},   {"conv64_1", 64, 64, 0},       {"conv64_2", 64, 64, 0},
    {"conv64_3", 64, 64, 0},      {"conv128_down", 64, 128, 1},  {"conv128_1", 128, 128, 0},
    {"conv128_2", 128, 128, 0},   {"conv256_down", 128, 256, 1}, {"conv256_1", 256, 256, 0},
    {"conv256_2", 256, 256, 0},   {"conv256_down_out", 256, 256, 1},
};
#define ID_BLOCKS (int)(sizeof id__blocks / sizeof id__blocks[0])

typedef struct {
    nn_layer conv1;               /* 3x3, cin -> cout, ReLU; stride 2 valid in down blocks */
    nn_layer conv2;               /* 3x3, cout -> cout, same */
    int down;                     /* 1: residualDown */
} id_block;

struct id_model {
    nn_model *weights;
    nn_ctx *ctx;
    nn_layer stem;                /* 7x7/2 valid conv, 3 -> 32, ReLU */
    id_block blocks[ID_BLOCKS];   /* 35x35x32 -> 2x2x256 */
    nn_layer fc;                  /* 256 -> 128, no bias */
    float input[ID_INPUT * ID_INPUT * 3];   /* 150 x 150 x 3, the crop of id_descriptor */
};

/* face-api's input normalisation: (x - mean RGB) / 255. */
static const float id__scale[3] = {1 / 255.0f, 1 / 255.0f, 1 / 255.0f};
static const float id__shift[3] = {-122.782f / 255, -117.001f / 255, -104.298f / 255};

static nn_tensor id__block(nn_ctx *c, nn_tensor x, const id_block *b) {
    if (!b->down) {
        nn_tensor y = nn_conv2d(c, x, &b->conv1, 1, NN_SAME, nn_relu);
        nn_tensor z = nn_conv2d_add(c, y, &b->conv2, 1, NN_SAME, x, nn_relu);
        nn_free(c, y);
        return z;
    }
    /* n x n -> the conv path gives floor((n-1)/2), the pool floor(n/2): for an even n the
     * conv result gets a zero bottom row and right column (face-api's isAdjustShape). */
    nn_tensor y = nn_conv2d(c, x, &b->conv1, 2, NN_VALID, nn_relu);
    nn_tensor z = nn_conv2d(c, y, &b->conv2, 1, NN_SAME, nn_linear);
    nn_free(c, y);
    nn_tensor p = nn_avgpool(c, x, 2, 2, NN_VALID);
    if (p.c != z.c) {
        nn_tensor q = nn_pad(c, p, 0, 0, 0, 0, 0, z.c - p.c);
        nn_free(c, p);
        p = q;
    }
    if (p.h != z.h || p.w != z.w) {
        nn_tensor q = nn_pad(c, z, 0, 0, p.h - z.h, p.w - z.w, 0, 0);
        nn_free(c, z);
        z = q;
    }
    y = nn_add(c, p, z, nn_relu);
    nn_free(c, p);
    nn_free(c, z);
    return y;
}

/* 150x150x3, 0..255 -> out[0] descriptor 1x1x128. */
static int id__forward(nn_ctx *c, const void *p, nn_tensor x, nn_tensor *out) {
    const struct id_model *m = p;
    nn_tensor y = nn_affine(c, x, id__scale, id__shift, nn_linear);
    nn_free(c, x);
    nn_tensor z = nn_conv2d(c, y, &m->stem, 2, NN_VALID, nn_relu);   /* -> 72x72x32 */
    nn_free(c, y);
    y = nn_maxpool(c, z, 3, 2, NN_VALID);                             /* -> 35x35x32 */
    nn_free(c, z);
    for (int i = 0; i < ID_BLOCKS; i++) {      /* -> 17x17x64 -> 8x8x128 -> 4x4x256 -> 2x2x256 */
        z = id__block(c, y, &m->blocks[i]);
        nn_free(c, y);
        y = z;
    }
    z = nn_global_avgpool(c, y);                                      /* -> 1x1x256 */
    nn_free(c, y);
    out[0] = nn_dense(c, z, &m->fc, nn_linear);                       /* -> 1x1x128 */
    nn_free(c, z);
    return 1;
}

void id_free(id_model *m) {
    if (!m) return;
    nn_layer_free(&m->stem);
    for (int i = 0; i < ID_BLOCKS; i++) {
        nn_layer_free(&m->blocks[i].conv1);
        nn_layer_free(&m->blocks[i].conv2);
    }
    nn_layer_free(&m->fc);
    nn_ctx_free(m->ctx);
    nn_model_close(m->weights);
    free(m);
}

id_model *id_load(const nn_runtime *rt, const char *weights_dir, char err[NN_ERR]) {
    id_model *m = calloc(1, sizeof *m);
    if (!m) return snprintf(err, NN_ERR, "id_load: out of memory"), NULL;
    if (nn_model_open(&m->weights, "face_recognition", weights_dir, err) != 0) return id_free(m), NULL;
    nn_model_runtime(m->weights, rt);
    nn_model *w = m->weights;
    nn_layer_conv_int8(w, &m->stem, "conv32_down", 7, 7, 3, 32);
    for (int i = 0; i < ID_BLOCKS; i++) {
        char s[48];
        id_block *b = &m->blocks[i];
        b->down = id__blocks[i].down;
        snprintf(s, sizeof s, "%s.conv1", id__blocks[i].name);
        nn_layer_conv_int8(w, &b->conv1, s, 3, 3, id__blocks[i].cin, id__blocks[i].cout);
        snprintf(s, sizeof s, "%s.conv2", id__blocks[i].name);
        nn_layer_conv_int8(w, &b->conv2, s, 3, 3, id__blocks[i].cout, id__blocks[i].cout);
    }
    nn_layer_conv_int8(w, &m->fc, "fc", 1, 1, 256, ID_DIM);
    if (!(m->ctx = nn_model_ready(w, "face_recognition", err))) return id_free(m), NULL;
    return m;
}

int id_forward(id_model *m, const float *input, float desc[ID_DIM], char err[NN_ERR]) {
    nn_tensor out[NN_MAX_OUTPUTS];
    if (nn_run(m->ctx, id__forward, m, input, ID_INPUT, ID_INPUT, 3, out, err) != 1) return -1;
    memcpy(desc, out[0].data, sizeof(float) * ID_DIM);
    return 0;
}

/* ============================================================ the crop === */

/* FaceMesh index of each iBUG 68 point (the usual MediaPipe -> dlib correspondence): jaw
 * 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67. */
static const short id__mesh_to_68[68] = {
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389, 71, 63, 105,
    66, 107, 336, 296, 334, 293, 301, 168, 197, 5, 4, 75, 97, 2, 326, 305, 33, 160, 158, 133,
    153, 144, 362, 385, 387, 263, 373, 380, 61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
};

void id_points68(const float (*mesh)[3], float pts68[68][2]) {
    for (int i = 0; i < 68; i++) {
        pts68[i][0] = mesh[id__mesh_to_68[i]][0];
        pts68[i][1] = mesh[id__mesh_to_68[i]][1];
    }
}

/* Mean of points a..b-1. In double, as face-api computes in JS. */
static void id__centre(const float p[68][2], int a, int b, double out[2]) {
    out[0] = out[1] = 0;
    for (int i = a; i < b; i++) out[0] += p[i][0], out[1] += p[i][1];
    out[0] /= b - a, out[1] /= b - a;
}

/* face-api FaceLandmarks.alignDlib() then Box.clipAtImageBorders(), step by step (including
 * its odd min(size, width + x), which never binds for a box inside the image). */
int id_align(const float pts68[68][2], int w, int h, id_box *box) {
    double le[2], re[2], mo[2];
    id__centre(pts68, 36, 42, le);
    id__centre(pts68, 42, 48, re);
    id__centre(pts68, 48, 68, mo);
    double d = (hypot(mo[0] - le[0], mo[1] - le[1]) + hypot(mo[0] - re[0], mo[1] - re[1])) / 2;
    double size = floor(d / 0.45), cx = (le[0] + re[0] + mo[0]) / 3, cy = (le[1] + re[1] + mo[1]) / 3;
    double x = floor(fmax(0, cx - 0.5 * size)), y = floor(fmax(0, cy - 0.43 * size));
    double right = x + fmin(size, w + x), bottom = y + fmin(size, h + y);
    double bw = floor(fmin(right - x, w - x)), bh = floor(fmin(bottom - y, h - y));
    if (!(bw >= 1 && bh >= 1)) return -1;      /* also catches NaN points */
    box->x = (int)x, box->y = (int)y, box->w = (int)bw, box->h = (int)bh;
    return 0;
}

/* face-api: slice the box, pad it to a square with zeros (the short side gets floor(diff/2)
 * before, the rest after: padToSquare(isCenterImage)), then tf.image.resizeBilinear to 150
 * with neither align_corners nor half-pixel centres: output o samples o * side / 150. The
 * arithmetic is in double, as TF.js's cpu kernel does it. */
int id_crop(const unsigned char *rgb, int w, int h, id_box box, float *out) {
    if (box.x < 0 || box.y < 0 || box.w < 1 || box.h < 1 || box.x + box.w > w || box.y + box.h > h) return -1;
    int side = box.w > box.h ? box.w : box.h;
    int top = (side - box.h) / 2, left = (side - box.w) / 2;   /* in the square */
    double ratio = (double)side / ID_INPUT;
    for (int oy = 0; oy < ID_INPUT; oy++) {
        double sy = oy * ratio;
        int y0 = (int)floor(sy), y1 = (int)ceil(sy) < side - 1 ? (int)ceil(sy) : side - 1;
        double fy = sy - y0;
        for (int ox = 0; ox < ID_INPUT; ox++) {
            double sx = ox * ratio;
            int x0 = (int)floor(sx), x1 = (int)ceil(sx) < side - 1 ? (int)ceil(sx) : side - 1;
            double fx = sx - x0;
            /* the four taps in square coordinates; outside the box: padding, 0 */
            const int ty[4] = {y0, y0, y1, y1}, tx[4] = {x0, x1, x0, x1};
            double v[4][3];
            for (int k = 0; k < 4; k++) {
                int iy = ty[k] - top, ix = tx[k] - left;
                int in = iy >= 0 && iy < box.h && ix >= 0 && ix < box.w;
                const unsigned char *px = in ? rgb + ((size_t)(box.y + iy) * w + box.x + ix) * 3 : NULL;
                for (int ch = 0; ch < 3; ch++) v[k][ch] = px ? px[ch] : 0;
            }
            for (int ch = 0; ch < 3; ch++) {
                double t = v[0][ch] + (v[1][ch] - v[0][ch]) * fx, b = v[2][ch] + (v[3][ch] - v[2][ch]) * fx;
                out[((size_t)oy * ID_INPUT + ox) * 3 + ch] = (float)(t + (b - t) * fy);
            }
        }
    }
    return 0;
}

int id_descriptor(id_model *m, const unsigned char *rgb, int w, int h, const float pts68[68][2],
                  float desc[ID_DIM], char err[NN_ERR]) {
    id_box box;
    if (id_align(pts68, w, h, &box) != 0 || id_crop(rgb, w, h, box, m->input) != 0) {
        snprintf(err, NN_ERR, "id_descriptor: the face's box is outside the %dx%d image", w, h);
        return -1;
    }
    return id_forward(m, m->input, desc, err);
}

/* ============================================================ distance === */

float id_distance(const float a[ID_DIM], const float b[ID_DIM]) {
    double s = 0;
    for (int i = 0; i < ID_DIM; i++) s += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return (float)sqrt(s);
}

/* ============================================================ network descriptor === */

static void *id__bench_load(const hs_network *self, const char *dir, char err[NN_ERR]) {
    (void)self;
    return id_load(NULL, dir, err);
}
static void id__bench_free(void *m) { id_free(m); }

const hs_network id_face_recognition = {
    "face_recognition", "128-d face descriptor for the identity check (dlib ResNet-34)",
    "@vladmandic/face-api@1.7.15 model/face_recognition_model-weights_manifest.json", "MIT",
    ID_INPUT, ID_INPUT, 3, id__bench_load, id__bench_free, id__forward,
};
