/* detect.h — face detection with BlazeFace (MediaPipe), on our nn runtime.
 *
 * Two detectors, both 896 anchors, 6 keypoints per face:
 *   short range ("blazeface", 128x128): faces that fill a good part of the photo (selfies);
 *   back camera ("blazeface_back", 256x256): small and far faces (full-length photos, groups).
 * det_run() runs the short-range model and adds the back-camera one only when the first
 * finds no face, or only small ones (see det_run in detect.c for the rule and its numbers).
 *
 * Pipeline: letterbox the photo into the network square (area-averaging prefilter for big
 * photos, then bilinear), network, MediaPipe anchors + decoding, sigmoid scores >= 0.5,
 * weighted non-max suppression (IoU 0.3), letterbox removed: boxes in image pixels.
 *
 * Also here, because landmarks.c shares them: the BlazeBlock (the building block of all
 * three face networks) and det_crop(), the rotated square crop both stages feed networks with.
 */
#ifndef DETECT_H
#define DETECT_H

#include "networks.h"
#include "nn.h"
#include "pool.h"

/* ============================================================ faces === */

#define DET_KEYPOINTS 6
enum { DET_RIGHT_EYE, DET_LEFT_EYE, DET_NOSE, DET_MOUTH, DET_RIGHT_EAR, DET_LEFT_EAR };

typedef struct {
    float score;                  /* detector confidence, 0..1 */
    float x, y, w, h;             /* box, image pixels (top-left corner and size) */
    float kp[DET_KEYPOINTS][2];   /* keypoints (x, y), image pixels; "right" = the subject's */
} det_face;

/* A square region of an image, possibly rotated. */
typedef struct {
    float cx, cy;                 /* centre, image pixels */
    float size;                   /* side, image pixels */
    float angle;                  /* radians: the region's x axis is (cos, sin) in the image */
} det_roi;

/* Crop ROI from an 8-bit RGB image (w x h, rows packed) to n x n x 3 floats, value * scale +
 * bias. Output pixel (u, v) samples the image at centre + R(angle) (((u+.5)/n - .5) size,
 * ((v+.5)/n - .5) size), bilinear, black outside the image. When an output pixel spans
 * s = size/n >= 2 image pixels, the image around the ROI is first averaged over k x k blocks,
 * k = floor(s), so a 12 MP photo is not point-sampled, on the pool workers' threads. Returns -1 (out of
 * memory) or 0. */
int det_crop(pool *workers, const unsigned char *rgb, int w, int h, det_roi roi, int n, float scale, float bias,
             float *out, char err[NN_ERR]);

/* ============================================================ BlazeBlock === */

/* y = act(pw(dw(x)) + shortcut(x)); the shortcut is x, max-pooled 2x2 when stride is 2 and
 * zero-padded from cin to cout channels. */
typedef struct {
    int cin, cout, stride;        /* channels in and out; stride 1 or 2 */
    int residual;                 /* 0: no shortcut (last block of the back-camera model) */
    nn_layer dw;                  /* 3x3 depthwise, cin channels, no bias */
    nn_layer pw;                  /* 1x1 conv, cin -> cout, bias */
    const float *slope;           /* cout PReLU slopes (in the weights), or NULL for ReLU */
} det_block;

/* Loads NAME.dw, NAME.pw and, when prelu, NAME.slope (errors sticky on m). */
void det_block_load(nn_model *m, det_block *b, const char *name, int cin, int cout, int stride,
                    int residual, int prelu);
void det_block_free(det_block *b);
/* h x w x cin -> ceil(h/stride) x ceil(w/stride) x cout; x stays allocated. */
nn_tensor det_block_run(nn_ctx *c, nn_tensor x, const det_block *b);

/* ============================================================ detectors === */

typedef enum { DET_FRONT, DET_BACK } det_variant;   /* short range 128, back camera 256 */

#define DET_ANCHORS 896
#define DET_MIN_SCORE 0.5f        /* MediaPipe min_score_thresh */

typedef struct det_model det_model;

/* Both networks from DIR/blazeface.hsw and DIR/blazeface_back.hsw (NULL: embedded). */
det_model *det_load(const nn_runtime *rt, const char *weights_dir, char err[NN_ERR]);
void det_free(det_model *m);
int det_input_size(det_variant v);                  /* 128 or 256 */

/* Faces in an RGB image, best first, at most max: det_detect() for DET_FRONT, plus DET_BACK
 * when needed (see detect.c). Returns the count or -1 with err. */
int det_run(det_model *m, const unsigned char *rgb, int w, int h, det_face *faces, int max,
            char err[NN_ERR]);
/* One detector: letterbox, network, decoding, NMS. */
int det_detect(det_model *m, det_variant v, const unsigned char *rgb, int w, int h, det_face *faces,
               int max, char err[NN_ERR]);

/* Bars along the photo's edges (letterbox, pillarbox, caption band: flat neutral lines that
 * end in a straight edge, see detect.c): trim[e] lines of edge e (0 top, 1 right, 2 bottom,
 * 3 left) are not the photo. Returns 0, or -1 (out of memory). */
int det_borders(const unsigned char *rgb, int w, int h, int trim[4]);
/* Which way up the photo is. det_turn_crop letterboxes the photo for detector v once (kept in
 * m until the next det_turn_crop of v); det_turn_score gives v's best score, 0..1, on that
 * crop turned by k quarter turns counter-clockwise (k = 0..3; the crop's sample grid is
 * symmetric about its centre, so turning it equals cropping the turned photo). 0, or -1
 * with err. */
int det_turn_crop(det_model *m, det_variant v, const unsigned char *rgb, int w, int h, char err[NN_ERR]);
int det_turn_score(det_model *m, det_variant v, int k, float *score, char err[NN_ERR]);

/* The steps of det_detect(), for tests and tools. */
det_roi det_letterbox(int w, int h);                /* the square the image is fitted in */
/* The network on a size x size x 3 input in [-1, 1]: logits[896] and regressors[896 x 16] in
 * anchor order. */
int det_forward(det_model *m, det_variant v, const float *input, float *logits, float *regs,
                char err[NN_ERR]);
/* Anchors with sigmoid(logit) >= min_score as faces in the image of letterbox ROI (no NMS);
 * returns the count (at most max). */
int det_decode(det_variant v, const float *logits, const float *regs, det_roi roi, float min_score,
               det_face *faces, int max);
/* Weighted NMS in place (MediaPipe WEIGHTED, IoU 0.3): returns the new count, best first. */
int det_nms(det_face *faces, int n);
float det_iou(const det_face *a, const det_face *b);

/* For `headshot bench` (networks.h). */
extern const hs_network det_blazeface, det_blazeface_back;

#endif
