/* look.h — light (light.c) and retouch (retouch.c) of the framed portrait, from the FaceMesh
 * landmarks; look.c holds what they share (look_parts.h).
 *
 *   look_report r = {0};
 *   look_light_opts lo = {alpha, boxes, n_boxes, 1};            matte, every face, white balance on
 *   look_light(workers, im, pts, &lo, 1.0f, &r, err);          white balance, exposure, fill
 *   look_retouch(workers, im, pts, LOOK_RETOUCH_DEFAULT, &r, err);   blemishes, uneven skin
 *
 * Both work in place on the framed 8-bit sRGB image, before the background is composited,
 * with the 468 landmarks in that image's pixels. strength 0 leaves every byte as it was.
 *
 * The person's skin tone is theirs: look_light only makes global, smooth changes (one white
 * balance and one exposure for the whole image, plus a fill light that is a smooth spatial
 * field, never a skin mask); white balance comes from neutral surfaces of the scene with every
 * skin-coloured pixel, every face and the hair left out; exposure is raised only when nothing
 * in the scene reaches the top of the range. After each step a tone guard measures the
 * cheeks (median CIELAB) and scales the step back until the skin's hue has moved at most
 * LOOK_GUARD_HUE degrees and its ITA at most LOOK_GUARD_ITA beyond what the exposure
 * explains. look_retouch changes colours inside a feathered skin mask only and never moves a
 * pixel. docs/LOOK.md gives the rules and their numbers.
 */
#ifndef LOOK_H
#define LOOK_H

#include "err.h"
#include "img.h"
#include "pool.h"

#define LOOK_ERR HS_ERR               /* size of the error-message buffer */
#define LOOK_RETOUCH_DEFAULT 0.3f     /* look_retouch strength the CLI uses */

#define LOOK_GUARD_HUE 3.f         /* largest change of the skin's hue angle, degrees */
#define LOOK_GUARD_ITA 2.f         /* largest change of its ITA beyond the exposure's, degrees */
#define LOOK_GUARD_EXP_ITA 2.f     /* largest change of its ITA an exposure change may explain */
#define LOOK_GUARD_WHY 160         /* size of look_report.guard_why */

/* The subject's skin: median CIELAB (D65) over both cheeks. */
typedef struct {
    float l, a, b;                    /* median L*, a*, b* (NAN: no pixel) */
    float hue;                        /* atan2(b*, a*), degrees */
    float ita;                        /* Individual Typology Angle atan2(L* - 50, b*), degrees */
} look_skin;

/* The steps the tone guard watches (look_report.guard). */
enum { LOOK_STEP_WB, LOOK_STEP_EXPOSURE, LOOK_STEP_FILL, LOOK_STEP_TEAM, LOOK_STEPS };

typedef struct {
    look_skin skin_before, skin_after;   /* look_light's input / the last call's output */
    float ita_before, ita_after;      /* skin ITA, degrees: skin_before.ita, skin_after.ita */
    float face_l;                     /* median skin L* (0..100) of look_light's input */
    float exposure_ev;                /* global exposure change, stops (> 0 brighter) */
    float wb_gain[3];                 /* white-balance gains applied to linear R, G, B */
    float wb_scene[3];                /* the scene's white balance before the guard (never from skin) */
    float wb_trust;                   /* 0..1: how far the scene's neutral evidence was followed */
    float fill;                       /* lift of the shadow-side cheek, stops (0: no fill) */
    int blemishes_removed;            /* spots filled by look_retouch */
    float smooth;                     /* share (0..1) of the skin's mid-band energy removed */
    float retouch_kept;               /* share of the retouch the tone guard kept (1: all) */
    float guard[LOOK_STEPS];          /* share of each step's correction the guard kept (1: all) */
    char guard_why[LOOK_GUARD_WHY];   /* what the guard cut and why ("" when it did nothing) */
} look_report;

/* What look_light may know about the scene besides the subject's landmarks. */
typedef struct {
    const float *alpha;               /* the subject matte (w * h floats in [0,1]) or NULL */
    const float (*faces)[4];          /* every detected face's box x0, y0, x1, y1 in image pixels */
    int n_faces;                      /* (head and hair around them are left out of the white balance) */
    int white_balance;                /* 1: auto, 0: off */
} look_light_opts;

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

/* Sets mask[y * w + x] = 1 for the pixels whose centre lies inside region r's outline, the
 * outline offset by grow pixels along its normals (> 0 outward, < 0 inward). Other pixels
 * are left as they are, so calls add up to a union. */
void look_region_mask(const float (*lmk)[3], look_region r, float grow, int w, int h,
                      unsigned char *mask);

/* ============================================================ light === */

/* The skin (median CIELAB of both cheeks); every field NAN if the cheeks hold no pixel. */
look_skin look_skin_of(const img_rgb *im, const float (*lmk)[3]);
/* Its Individual Typology Angle, degrees (> 55 very light ... < -30 dark), or NAN. */
float look_ita(const img_rgb *im, const float (*lmk)[3]);

/* White balance, exposure and fill light, each under the tone guard; strength 0..1 scales
 * every correction (1: full). o may be NULL (no matte, no other faces, white balance on).
 * rep may be NULL. Its loops run on the pool workers (NULL: the caller's thread). Returns 0,
 * or -1 with err. */
int look_light(pool *workers, img_rgb *im, const float (*lmk)[3], const look_light_opts *o, float strength,
               look_report *rep, char err[LOOK_ERR]);

/* The tone guard for a global linear gain applied after the look (the team's): scales it
 * toward 1 (gain^t, t in 0..1) until the skin of im keeps its tone as above; returns t and
 * describes a cut in why (may be NULL). */
float look_guard_gain(const img_rgb *im, const float (*lmk)[3], float gain[3], char why[LOOK_GUARD_WHY]);

/* ============================================================ retouch === */

/* Removes small temporary blemishes and softens uneven skin (the skin's mid frequencies,
 * keeping pores and texture) inside the skin mask: face oval minus eyes, brows, lips and
 * nostrils, feathered. strength 0..1 (LOOK_RETOUCH_DEFAULT). Fills rep->blemishes_removed,
 * rep->smooth, rep->skin_after and rep->ita_after (rep may be NULL). Its blurs run on the pool
 * workers (NULL: the caller's thread). Returns 0, or -1 with err. */
int look_retouch(pool *workers, img_rgb *im, const float (*lmk)[3], float strength, look_report *rep,
                 char err[LOOK_ERR]);

#endif
