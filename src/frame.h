/* frame.h — headshot framing: which face, its geometry, where each preset puts it, and the
 * one resampling warp from the upright photo to the output canvas.
 *
 *   frame_face f;  frame_face_of(lmk.pts, &f);            eyes, roll, chin, crown estimate
 *   frame_crown_from_mask(&f, mask, n, window);           crown from a person mask (optional)
 *   frame_plan p;  frame_plan_make(&f, frame_spec_get(FRAME_LINKEDIN), w, h, &p);
 *   frame_warp(workers, &photo, p.to_out, p.w, p.h, &out, err);   out.alpha = coverage by the photo
 *
 * Geometry. The eye centres are the means of each eye's two corners (FaceMesh 33/133 and
 * 263/362); the roll is the angle of the line between them. The photo is levelled by
 * rotating it as a whole about the eyes (a similarity transform: the face is never warped).
 * The head runs from the chin (FaceMesh 152) to the crown, the top of the hair. FaceMesh has
 * no point there: its highest point (10) sits at the top of the forehead. The crown is taken
 * from the person mask of a levelled window around the head when one is given (where the
 * mask ends above point 10, on the central columns), otherwise it is estimated as point 10
 * plus FRAME_CROWN_K times the forehead-to-chin distance. docs/PIPELINE.md has the numbers.
 *
 * Presets. Each gives the output size, the allowed and target share of the output height
 * for the head (chin to crown) and for the eye line (from the top), and how far the face may
 * move sideways. First among the rules: where the subject touches the photo's own edge, that
 * edge stays out of the output (frame_touch). Among the frames that keep it, the one that
 * levels the most of the roll, then the least zoom past the preset's head rule, then the one
 * that runs past the photo's edge least, then the closest to the targets.
 */
#ifndef FRAME_H
#define FRAME_H

#include "detect.h"
#include "err.h"
#include "img.h"
#include "landmarks.h"
#include "pool.h"

#define FRAME_ERR HS_ERR          /* size of the error-message buffer */
#define FRAME_CROWN_K 0.42f       /* no mask: crown = point 10 + K x (point 10 to chin), above */
#define FRAME_WINDOW 3.2f         /* crown window side / forehead-to-chin distance */

/* ============================================================ presets === */

typedef enum { FRAME_LINKEDIN, FRAME_PORTRAIT, FRAME_PASSPORT_EU, FRAME_PASSPORT_US, FRAME_PRESETS } frame_preset;

typedef struct {
    const char *name;             /* --preset value */
    int w, h;                     /* output size, pixels */
    float head[3];                /* chin-to-crown / output height: lowest, target, highest */
    float eyes[3];                /* eye line from the top / output height: lowest, target, highest */
    float top_min;                /* crown at least this far below the top edge, share of the height */
    float shift;                  /* largest sideways move of the head from the centre, share of the width */
    int eyes_centred;             /* 1: the eyes' midpoint is centred; 0: the head (cheek to cheek) */
    int passport;                 /* 1: plain background forced, no retouch, no generative step */
    const char *rule;             /* the rule in words, for --help and the docs */
} frame_spec;

const frame_spec *frame_spec_get(frame_preset p);
/* The preset called name, or -1. */
int frame_preset_find(const char *name);

/* ============================================================ transforms === */

typedef struct {
    double a, b, c, d;            /* linear part: x' = a x + b y + e, y' = c x + d y + f */
    double e, f;                  /* translation */
} frame_affine;

frame_affine frame_inverse(frame_affine t);
void frame_map(frame_affine t, float x, float y, float *ox, float *oy);
double frame_scale(frame_affine t);   /* length scale: sqrt |det| */
/* s R(-roll) (p - centre) + at: levels an eye line at angle roll (radians) and scales by s. */
frame_affine frame_level(float roll, float s, const float centre[2], const float at[2]);

/* ============================================================ the face === */

typedef struct {
    float eye_r[2], eye_l[2];     /* eye centres, photo pixels (subject's right eye = image left) */
    float eyes[2];                /* their midpoint */
    float roll;                   /* radians: angle of the line eye_r -> eye_l; > 0 turns clockwise */
    float chin[2];                /* FaceMesh 152 */
    float forehead[2];            /* FaceMesh 10 */
    float crown[2];               /* top of the head, hair included */
    int crown_from_mask;          /* 1: crown measured in a person mask; 0: estimated */
    int crown_cut;                /* 1: the mask reaches the window's or photo's top: head cut */
    float centre_x;               /* head centre (cheek 234 to cheek 454) in the levelled frame,
                                     pixels right of the eyes' midpoint */
    float head;                   /* chin-to-crown height in the levelled frame, pixels */
} frame_face;

/* Geometry from the 468 landmarks (photo pixels); the crown from FRAME_CROWN_K. */
void frame_face_of(const float (*pts)[3], frame_face *f);
/* The levelled square window (side FRAME_WINDOW x forehead-to-chin, centred on point 10)
 * where the crown is looked for: the transform from the photo to an n x n image of it. */
frame_affine frame_crown_window(const frame_face *f, int n);
/* Measures the crown in a person probability mask (n x n floats, 0..1) of that window and
 * updates f (crown, head, crown_from_mask, crown_cut). photo_w, photo_h: the photo's size,
 * to tell a head cut by the photo's top. Returns 1 if the mask gave the crown, 0 if it did
 * not look like a head there (f keeps the estimate). */
int frame_crown_from_mask(frame_face *f, const float *mask, int n, int photo_w, int photo_h);

/* The subject among n detections (photo w x h): the largest, most central face — the box's
 * area weighted by 1 - 0.5 x (distance of its centre from the photo's centre / half
 * diagonal). Returns its index, -1 when n < 1. */
int frame_choose(const det_face *faces, int n, int w, int h);

/* ============================================================ the photo's edges === */

/* Where the subject touches the photo's own edges: runs of a subject mask's outermost rows
 * and columns, as segments on the photo's border. The framing rule: no such segment may
 * show inside the output (outside it, or exactly on its bottom edge, is fine), or the
 * headshot shows the subject cut by a straight line with backdrop beyond it. */
#define FRAME_TOUCH_MAX 32
enum { FRAME_TOP, FRAME_RIGHT, FRAME_BOTTOM, FRAME_LEFT };

#define FRAME_MASK 128            /* the subject masks kept for the ground rule: at most this a side */

typedef struct {
    int w, h;                     /* cells (0: no mask) */
    frame_affine to;              /* photo pixels -> cells */
    unsigned char m[FRAME_MASK * FRAME_MASK];   /* 1 = subject */
} frame_mask;

typedef struct {
    int n;                        /* segments */
    float seg[FRAME_TOUCH_MAX][4];   /* x0, y0, x1, y1: photo pixels, on the photo's border */
    unsigned char edge[FRAME_TOUCH_MAX];   /* FRAME_TOP ... */
    frame_mask whole;             /* the subject over the whole photo */
    frame_mask near;              /* the subject in a window around the head that holds every
                                     frame of the presets, finer (may be empty) */
} frame_touch;

/* The segments from a subject mask (mw x mh bytes, non-zero = subject) that covers the
 * whole w x h photo (stretched to it), and the mask itself as t->whole. */
void frame_touch_of(const unsigned char *mask, int mw, int mh, int w, int h, frame_touch *t);
/* *m = mask (mw x mh bytes, non-zero = subject) resampled to FRAME_MASK at most; to: photo
 * pixels -> mask pixels. */
void frame_mask_set(frame_mask *m, const unsigned char *mask, int mw, int mh, frame_affine to);
/* How deep the deepest touched point lands inside a w x h output under to_out, output
 * pixels (<= 0: the rule holds); *edge (may be NULL) gets that point's photo edge. */
float frame_touch_depth(const frame_touch *t, frame_affine to_out, int w, int h, int *edge);
/* The ground rule (look-check's) on the subject mask seen through to_out in a w x h output:
 * the share of the columns that are subject at 90% of the height but not on the bottom row
 * (past the photo's edge is not subject); 1 when less than a fifth of the bottom row is
 * subject; 0 without a mask. The subject ends where the photo (or what stands in front of
 * the subject: a laptop, a table) ends it, not at the output's bottom edge, when this is > 0. */
float frame_ground(const frame_touch *t, frame_affine to_out, int w, int h);

/* The ground rule on the canvas: a matte notch that opens on the bottom row under the
 * subject (subject above it at 90% of the height, subject or the output's side on either
 * hand) is what stands in front of the body: a mug's shiny side, a laptop's edge, where the
 * matte let the backdrop through. alpha (w x h, 0..1) is carried down each such column over
 * the bottom tenth of the height, within the photo's coverage (0..255), and fg (linear RGB,
 * w x h x 3) becomes the photo's colour (sRGB rgb) by the alpha added. Returns the columns
 * filled. A gap that reaches above 90% of the height (between an arm and the body) stays. */
int frame_ground_fill(float *alpha, float *fg, const unsigned char *rgb, const unsigned char *cover, int w, int h);

/* ============================================================ plans === */

typedef struct {
    frame_affine to_out;          /* photo pixels -> output pixels */
    int w, h;                     /* output size */
    float scale;                  /* output pixels per photo pixel */
    float head, eyes;             /* chosen head height and eye line, shares of the height */
    float crown_y, chin_y;        /* where crown and chin land, output pixels from the top */
    float covered;                /* share of the output that shows the photo (1: no edge crossed) */
    float roll;                   /* radians of the face's roll the frame levels (f->roll: all) */
    float zoom;                   /* head / the preset's largest head (> 1: cropped tighter) */
    float cut;                    /* depth of the photo's edge in the output where the subject
                                     touches it, output pixels (<= 0: the rule holds) */
    int cut_edge;                 /* that photo edge, FRAME_TOP ... (when cut > 0) */
    float ground;                 /* frame_ground of the frame (<= FRAME_GROUND_SLACK: the rule holds) */
    int inside;                   /* 1: no frame keeps the subject whole, the frame is a crop
                                     inside the photo, to show with the photo's own background */
} frame_plan;

#define FRAME_ZOOM_MAX 3.0f       /* the head at most this x the preset's largest share */
#define FRAME_GROUND_SLACK 0.02f  /* frame_ground allowed: the mask is coarser than the matte
                                     (look-check allows 0.05) */

/* The frame of preset s for face f in a photo of img_w x img_h. touch (may be NULL): where the
 * subject meets the photo's edges, and its mask; the frame first keeps those edges out of the
 * output and the ground rule (levelling less of the roll, and, but for passports, cropping
 * tighter than the preset's head rule when that is what it takes), then follows the preset.
 * p->cut > 0 or p->ground > FRAME_GROUND_SLACK when nothing could; then, but for passports,
 * the frame is the best crop inside the photo (p->inside: the face fills the photo, the
 * honest headshot is the photo itself, cropped). */
void frame_plan_make(const frame_face *f, const frame_spec *s, int img_w, int img_h, const frame_touch *touch,
                     frame_plan *p);

/* ============================================================ the warp === */

/* out = the photo seen through to_out, w x h, resampled once from the 8-bit source in linear
 * light: area averaging when shrinking (every source pixel under an output pixel counts),
 * Catmull-Rom bicubic when enlarging. out->alpha receives the coverage: 255 where the output
 * pixel lies inside the photo, 0 past its edge (anti-aliased between); colours there repeat
 * the edge. Runs on the pool workers (NULL: the caller's thread). Returns 0, or -1 with err
 * (out of memory). */
int frame_warp(pool *workers, const img_rgb *src, frame_affine to_out, int w, int h, img_rgb *out, char err[FRAME_ERR]);

#endif
