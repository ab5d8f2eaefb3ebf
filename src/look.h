/* look.h — light and retouch of the framed portrait, from the FaceMesh landmarks.
 *
 *   look_report r = {0};
 *   look_light(im, pts, alpha, 1.0f, &r, err);                 exposure, white balance, fill
 *   look_retouch(im, pts, LOOK_RETOUCH_DEFAULT, &r, err);      blemishes, uneven skin
 *
 * Both work in place on the framed 8-bit sRGB image, before the background is composited,
 * with the 468 landmarks in that image's pixels. strength 0 leaves every byte as it was.
 *
 * The person's skin tone is theirs: look_light only makes global, smooth changes (one white
 * balance and one exposure for the whole image, plus a fill light that is a smooth spatial
 * field, never a skin mask); white balance comes from neutral surfaces of the scene, never
 * from the skin; exposure is raised only when nothing in the photo reaches the top of the
 * range and lowered only for skin brighter than any well exposed skin. look_retouch changes
 * colours inside a feathered skin mask only and never moves a pixel. docs/LOOK.md gives the
 * rules and their numbers.
 */
#ifndef LOOK_H
#define LOOK_H

#include "img.h"

#define LOOK_ERR 160                  /* size of the error-message buffer */
#define LOOK_RETOUCH_DEFAULT 0.3f     /* look_retouch strength the CLI uses */

typedef struct {
    float ita_before, ita_after;      /* skin ITA, degrees: look_light's input / last output */
    float face_l;                     /* median skin L* (0..100) of look_light's input */
    float exposure_ev;                /* global exposure change, stops (> 0 brighter) */
    float wb_gain[3];                 /* white-balance gains applied to linear R, G, B */
    float wb_trust;                   /* 0..1: how far the scene's neutral evidence was followed */
    float fill;                       /* lift of the shadow-side cheek, stops (0: no fill) */
    int blemishes_removed;            /* spots filled by look_retouch */
    float smooth;                     /* share (0..1) of the skin's mid-band energy removed */
} look_report;

/* ============================================================ regions === */

/* Landmark outlines (MediaPipe FACEMESH_* sets; "right" is the subject's). */
typedef enum {
    LOOK_FACE_OVAL, LOOK_RIGHT_EYE, LOOK_LEFT_EYE, LOOK_RIGHT_BROW, LOOK_LEFT_BROW,
    LOOK_LIPS,                        /* outer lip contour */
    LOOK_MOUTH,                       /* inner lip contour: teeth and mouth opening */
    LOOK_NOSTRILS,                    /* the base of the nose, both nostrils */
    LOOK_RIGHT_CHEEK, LOOK_LEFT_CHEEK, LOOK_FOREHEAD,
    LOOK_REGIONS
} look_region;

/* The landmark indices of region r's outline, in order; *n receives their count. */
const int *look_region_outline(look_region r, int *n);

/* Sets mask[y * w + x] = 1 for the pixels whose centre lies inside region r's outline, the
 * outline offset by grow pixels along its normals (> 0 outward, < 0 inward). Other pixels
 * are left as they are, so calls add up to a union. */
void look_region_mask(const float (*lmk)[3], look_region r, float grow, int w, int h,
                      unsigned char *mask);

/* ============================================================ light === */

/* Individual Typology Angle of the skin: median L* and b* over the cheeks and the low
 * forehead, atan2(L* - 50, b*) in degrees (> 55 very light ... < -30 dark). NAN if the
 * regions hold no pixel. */
float look_ita(const img_rgb *im, const float (*lmk)[3]);

/* White balance, exposure and fill light; strength 0..1 scales every correction (1: full).
 * alpha: the subject matte (w * h floats in [0,1]) or NULL; it weights the scene statistics
 * toward the subject's own light. rep may be NULL. Returns 0, or -1 with err. */
int look_light(img_rgb *im, const float (*lmk)[3], const float *alpha, float strength,
               look_report *rep, char err[LOOK_ERR]);

/* ============================================================ retouch === */

/* Removes small temporary blemishes and softens uneven skin (the skin's mid frequencies,
 * keeping pores and texture) inside the skin mask: face oval minus eyes, brows, lips and
 * nostrils, feathered. strength 0..1 (LOOK_RETOUCH_DEFAULT). Fills rep->blemishes_removed,
 * rep->smooth and rep->ita_after (rep may be NULL). Returns 0, or -1 with err. */
int look_retouch(img_rgb *im, const float (*lmk)[3], float strength, look_report *rep,
                 char err[LOOK_ERR]);

#endif
