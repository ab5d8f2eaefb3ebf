/* landmarks.h — FaceMesh (MediaPipe): 468 3-D face landmarks and a face-presence flag.
 *
 * lmk_run() follows MediaPipe's face landmark graph: the first crop comes from a detection
 * (box centre, rotation that levels the eyes, 1.5 x the box, square), then the crop is
 * re-made from the landmarks themselves (their bounding box, rotation from the eye corners
 * 33 -> 263, 1.5 x) until it stops moving, at most LMK_REFINE_MAX times. The face flag is
 * FaceMesh's own "is this a face" output: below LMK_FLAG_MIN the detection is refused. The
 * detector's eye keypoints of a face turned to the side can give the first crop a false tilt
 * (e.g. 28 degrees on an upright face in three-quarter view, its flag then 0.02):
 * lmk_run_upright is the second look, from an upright crop, taken only when FaceMesh is sure
 * of it (LMK_UPRIGHT_MIN: a second chance must not let statues and toys through).
 */
#ifndef LANDMARKS_H
#define LANDMARKS_H

#include "detect.h"
#include "nn.h"

#define LMK_POINTS 468
#define LMK_INPUT 192             /* network input side; values in [0, 1] */
#define LMK_FLAG_MIN 0.5f         /* face flag below this: not a face */
#define LMK_ROI_SCALE 1.5f        /* crop side / face size (MediaPipe) */
#define LMK_REFINE_MAX 3          /* re-crops from the landmarks */
#define LMK_UPRIGHT_MIN 0.9f      /* the upright second look's flag must reach this (see lmk_run) */

/* Some landmark indices (MediaPipe canonical face mesh). "Right" is the subject's. */
enum { LMK_RIGHT_EYE_OUTER = 33, LMK_LEFT_EYE_OUTER = 263, LMK_FOREHEAD = 10, LMK_CHIN = 152,
       LMK_NOSE_TIP = 1 };

typedef struct {
    float pts[LMK_POINTS][3];     /* x, y image pixels; z depth, same scale as x, < 0 nearer */
    float flag;                   /* face presence 0..1 of the last crop */
    det_roi roi;                  /* the crop the points come from */
    int runs;                     /* FaceMesh runs made (1 + re-crops) */
} lmk_result;

typedef struct {
    float roll;                   /* degrees, > 0: the eye line turns clockwise in the image */
    float yaw;                    /* degrees, > 0: the face turns toward the image's right */
    float pitch;                  /* degrees, > 0: the face turns up (chin up) */
} lmk_pose;

typedef struct lmk_model lmk_model;

lmk_model *lmk_load(const nn_runtime *rt, const char *weights_dir, char err[NN_ERR]);   /* DIR/facemesh.hsw, NULL: embedded */
void lmk_free(lmk_model *m);

/* Landmarks of the face found by the detector, in image pixels. Returns 0, or -1 with err.
 * out->flag < LMK_FLAG_MIN means FaceMesh does not see a face there. */
int lmk_run(lmk_model *m, const unsigned char *rgb, int w, int h, const det_face *face,
            lmk_result *out, char err[NN_ERR]);

/* The second look at a detection lmk_run refused: the same crop turned upright. Returns 1
 * when FaceMesh's flag on it reaches LMK_UPRIGHT_MIN (out: the landmarks, refined as lmk_run
 * does), 0 when not (out: that first look), -1 with err. */
int lmk_run_upright(lmk_model *m, const unsigned char *rgb, int w, int h, const det_face *face,
                    lmk_result *out, char err[NN_ERR]);

/* The steps of lmk_run(), for tests and tools. */
det_roi lmk_roi_from_face(const det_face *f);
det_roi lmk_roi_from_points(const float (*pts)[3]);
/* One crop of ROI and one FaceMesh run: out->pts in image pixels, flag, roi, runs = 1. */
int lmk_at_roi(lmk_model *m, const unsigned char *rgb, int w, int h, det_roi roi, lmk_result *out,
               char err[NN_ERR]);
/* The network on a 192 x 192 x 3 input in [0, 1]: mesh[1404] in input pixels, flag 0..1. */
int lmk_forward(lmk_model *m, const float *input, float *mesh, float *flag, char err[NN_ERR]);

/* Head pose from the landmarks: roll from the eye corners, yaw and pitch from the face's
 * normal (eye-corner axis x forehead-chin axis, using the depth values). */
lmk_pose lmk_pose_of(const float (*pts)[3]);

/* For `headshot bench` (networks.h). */
extern const hs_network lmk_facemesh;

#endif
