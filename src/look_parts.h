/* look_parts.h — what light.c and retouch.c share from look.c: the face's regions, the skin's
 * measure on the cheeks, the light's plan and the tone guard. Internal to the look (look.h is
 * the stages' header); nothing else includes it.
 */
#ifndef LOOK_PARTS_H
#define LOOK_PARTS_H

#include "look.h"

#include <math.h>

#define COUNT(a) (int)(sizeof(a) / sizeof((a)[0]))
#define MAX_OUTLINE 40

/* A rectangle of the image: masks and planes of the retouch are this size. */
typedef struct {
    int x0, y0, w, h;             /* top-left corner and size, image pixels */
} look_box;

/* The subject's cheek pixels (linear RGB and position), every step-th one up to CHEEK_MAX:
 * what the skin's tone is measured on, before and after each light step. */
#define CHEEK_MAX 8192

typedef struct {
    float *c;                     /* n x 3 linear RGB */
    float *xy;                    /* n x 2 pixel centres */
    int n;
} look_cheeks;

/* Fill light (see "light: fill" below): a smooth gain field 2^(stops * shape). */
typedef struct {
    float cx, cy;                 /* field centre, image pixels */
    float ax, ay;                 /* unit vector toward the shadow side */
    float inv_fw;                 /* 1 / face width */
    float stops;                  /* field amplitude: gain = 2^(stops * shape) */
} look_fill;

/* Per-channel gain z, then a shoulder above SHOULDER_KNEE that maps the largest possible value
 * (zmax) to 1 with a continuous slope, so lifted highlights roll off instead of clipping. */
#define SHOULDER_KNEE 0.8f

static inline float look__shoulder(float z, float zmax) {
    if (zmax <= 1 || z <= SHOULDER_KNEE) return z;
    float a = (zmax - SHOULDER_KNEE) / (1 - SHOULDER_KNEE), t = fminf((z - SHOULDER_KNEE) / (zmax - SHOULDER_KNEE), 1);
    return SHOULDER_KNEE + (1 - SHOULDER_KNEE) * (1 - powf(1 - t, a));
}

/* What the light does: white balance x exposure, the fill field, then the shoulder (the
 * highlights step, which follows from the other three). */
typedef struct {
    float wb[3];                  /* white-balance gains on linear RGB (a neutral keeps its luminance) */
    float ev;                     /* exposure, stops */
    look_fill fill;
} look_plan;

#define GUARD_STEPS 7             /* bisection steps on a correction's share: 1/128 */

extern const look_plan look__plan_none;   /* changes nothing */

/* Outline of r offset by grow pixels along its outward normals (mitred, the mitre limited to
 * twice grow at sharp corners); returns the vertex count (at most MAX_OUTLINE). */
int look__outline(const float (*lmk)[3], look_region r, float grow, float *px, float *py);
/* Scanline fill (even-odd, pixel centres) of r grown by grow into the box's mask. */
void look__fill_region(const float (*lmk)[3], look_region r, float grow, look_box b, unsigned char *m,
                       unsigned char value);
/* The box around regions rs[0..nr) grown by margin pixels, clipped to the image (may be empty). */
look_box look__region_box(const float (*lmk)[3], const look_region *rs, int nr, float margin, int w, int h);
/* Shared input checks of look_light and look_retouch; *fw gets the face width. */
int look__check_args(const img_rgb *im, const float (*lmk)[3], float strength, float *fw, char err[LOOK_ERR]);
/* The q-quantile of v[0..n) by quickselect (reorders v); NAN when n is 0. */
float look__quantile(float *v, int n, float q);
/* Median linear luminance of region rg seen through linear gains; NAN when it holds no pixel. */
float look__region_y(const img_rgb *im, const float (*lmk)[3], look_region rg, const float gain[3], const float lin[256]);
/* The cheeks' pixels of im (lin: the sRGB table); 0, or -1 when out of memory. */
int look__cheeks_load(const img_rgb *im, const float (*lmk)[3], const float lin[256], look_cheeks *k);
void look__cheeks_free(look_cheeks *k);
/* The fill field's shape at (x, y), 0..1. */
float look__fill_shape(const look_fill *f, float x, float y);
/* White balance x exposure gains of p into g; returns the shoulder's zmax. */
float look__plan_gains(const look_plan *p, float g[3]);
/* The skin of the cheeks k seen through plan p. */
look_skin look__cheeks_skin(const look_cheeks *k, const look_plan *p);
/* How far the skin's hue turned from s0 to s, degrees (on nearly grey skin, the shift of
 * (a*, b*) in the degrees it would be at the guard's chroma). */
float look__hue_move(look_skin s0, look_skin s);
/* The guard after one step: the largest share of the step's correction that keeps the tone
 * (the steps before it have kept it, so share 0 does); the cut and its reason go to r. */
float look__guard_step(const look_cheeks *k, look_skin s0, look_plan *p, int step, look_report *r);

#endif
