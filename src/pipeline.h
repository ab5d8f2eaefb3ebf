/* pipeline.h — selfie in, headshot out: the stages in order, each timed and recorded.
 *
 *   pl_models m;  pl_models_open(&m, NULL, NULL, err);      process's runtime, embedded weights
 *   img_rgb photo;  pl_load("selfie.jpg", 0, &photo, &res, &hist, err);
 *   pl_opts o;  pl_opts_default(&o);                          linkedin, studio, ...
 *   pl_run(&m, &photo, &o, &res, &hist, err);                 res.out is the headshot
 *   pl_result_free(&res);  img_free(&photo);  pl_models_close(&m);
 * job.h wraps this with decoding from memory, encoding with the XMP and the report: every
 * command (the CLI's single photo, batch, --variants, --team, and serve) runs through it.
 *
 * Stages (docs/PIPELINE.md has the numbers and the reasons):
 *   load      the upright photo (EXIF orientation), pixel limit            img.h
 *   detect    BlazeFace; each face confirmed by FaceMesh (flag >= 0.5)     detect.h, landmarks.h
 *   subject   largest, most central face, or --face N (score order)        frame.h
 *   crown     person mask of a levelled window above the face: top of hair  matte.h, frame.h
 *   plan      the preset's frame: level the eyes, scale and place the head  frame.h
 *   enhance   when the photo has fewer pixels than the output: ESRGAN x4 on
 *             the region the frame covers, at the photo's resolution        upscale.h
 *   frame     one warp from the (upscaled) photo to the canvas; coverage    frame.h
 *   matte     selfie segmentation + guided-filter refinement + foreground   matte.h
 *   people    (inside matte) the mask kept to the subject: others removed   people.h
 *   light     exposure, white balance, fill (on the framed subject)         look.h
 *   retouch   blemishes, uneven skin                                       look.h
 *   compose   backdrop + linear-light composite                            compose.h
 *   label     the visible "AI-edited" mark (--label)                       label.h
 *   identity  descriptor distance between the photo's and the headshot's face identity.h
 * Every stage is recorded in a meta_history (meta.h): kind, parameters, time, models.
 *
 * Errors: 0, or a negative PL_E* code with a one-line reason in err (nothing is printed).
 */
#ifndef PIPELINE_H
#define PIPELINE_H

#include "compose.h"
#include "detect.h"
#include "err.h"
#include "frame.h"
#include "identity.h"
#include "img.h"
#include "landmarks.h"
#include "look.h"
#include "matte.h"
#include "meta.h"
#include "team.h"
#include "upscale.h"

#define PL_ERR HS_ERR             /* size of the error-message buffer */
#define PL_MAX_FACES 16           /* faces considered per photo */
#define PL_POSE_MAX 25.0f         /* |yaw| or |pitch| above this, degrees: warn */
#define PL_SR_BELOW 1.0f          /* --enhance fast/best: upscale below this many photo pixels
                                     per output pixel (the face is enlarged at all) */
#define PL_SR_AUTO_BELOW 0.75f    /* --enhance auto: below this (enlarged more than 1.33x); a
                                     milder enlargement is sharp enough with bicubic, and x4
                                     ESRGAN on a large region costs seconds */

enum {
    PL_EFAIL = -1,                /* out of memory, network error */
    PL_ENOFACE = -2,              /* no face confirmed */
    PL_EFACE = -3,                /* --face N: no such face (a usage error) */
    PL_EIDENTITY = -4,            /* the headshot's face is not the photo's (distance >= 0.6) */
    PL_EROOM = -5,                /* passport: the subject cannot be kept whole at the official head size */
};

typedef enum { PL_ENHANCE_AUTO, PL_ENHANCE_OFF, PL_ENHANCE_FAST, PL_ENHANCE_BEST } pl_enhance;

/* ============================================================ networks === */

typedef struct {
    const char *weights;          /* --weights DIR, NULL = embedded */
    const nn_runtime *rt;         /* the networks' runtime; its pool runs the stages too */
    det_model *det;               /* BlazeFace, both variants */
    lmk_model *lmk;               /* FaceMesh */
    matte *matte;                 /* selfie segmentation */
    id_model *id;                 /* face-api descriptor */
    up_model *up[2];              /* ESRGAN slim, medium */
} pl_models;                      /* each NULL until a stage first needs it (pl_models_load) */

/* The networks' bits for pl_models_load. */
enum { PL_NET_DET = 1, PL_NET_LMK = 2, PL_NET_MATTE = 4, PL_NET_ID = 8, PL_NET_UP = 16 /* slim; << 1: medium */ };

/* Builds no network: each is built when a stage first needs it (pl_models_load), so that a run
 * that finds no face builds only the detectors and FaceMesh. With weights (a --weights DIR)
 * the containers of every network but the upscalers are read and checked here, so that a
 * missing or corrupt file is a load error before any work. Returns 0, or -1 with err. */
int pl_models_open(pl_models *m, const nn_runtime *rt, const char *weights, char err[PL_ERR]);
/* Builds those of the PL_NET_* bits in nets that are not built yet. Returns 0, or -1 with err. */
int pl_models_load(pl_models *m, unsigned nets, char err[PL_ERR]);
void pl_models_close(pl_models *m);

/* ============================================================ faces === */

typedef struct {
    det_face det;                 /* detection: score, box, 6 keypoints (photo pixels) */
    lmk_result lmk;               /* 468 landmarks and the FaceMesh flag */
    lmk_pose pose;                /* roll, yaw, pitch, degrees */
} pl_face;

/* The faces of im that FaceMesh confirms (flag >= LMK_FLAG_MIN), best detector score first,
 * at most max; a face whose eyes fall on an earlier one's is dropped as a duplicate.
 * *rejected (may be NULL) gets the detections FaceMesh refused. ms (may be NULL) gets the
 * detection and landmark times. Returns the count, or -1 with err. */
int pl_faces(pl_models *m, const img_rgb *im, pl_face *faces, int max, int *rejected, double ms[2],
             char err[PL_ERR]);
/* The subject among them: frame_choose() on their boxes. */
int pl_subject(const pl_face *faces, int n, int w, int h);
/* A face's geometry in im (frame_face_of) with the crown measured in the selfie network's
 * person mask of the crown window (frame_crown_window, frame_crown_from_mask). The pipeline's
 * "plan" stage, and the tests' ruler. Returns 0, or -1 with err. */
int pl_head(pl_models *m, const img_rgb *im, const float (*pts)[3], frame_face *f, char err[PL_ERR]);

/* ============================================================ the run === */

typedef struct {
    frame_preset preset;          /* FRAME_LINKEDIN ... */
    compose_bg background;        /* backdrop (passports: forced to their colour) */
    pl_enhance enhance;           /* super-resolution (passports: off) */
    int light;                    /* 1: look_light */
    float light_strength;         /* 0..1 */
    int white_balance;            /* 1: the light's white balance runs (--white-balance auto) */
    float retouch;                /* 0..1 (passports: 0) */
    int face;                     /* -1: the subject is chosen; else index in score order */
    int force;                    /* 1: an identity distance >= 0.6 warns instead of failing */
    int label;                    /* 1: draw the AI-edited mark */
    int keep_others;              /* 1: every person stays in the matte (--keep-others) */
    int width, height;            /* output size, 0 = the preset's (--size) */
    team_shot team;               /* --team: this photo's part in the session (team.h); zero = none */
    img_rgb *release;             /* the photo given to pl_run, when its caller lets it go: freed
                                     (img_free) once framed, as no later stage reads it (36 MB less
                                     for the rest of a 12 MP run); NULL = kept */
    void (*stage)(void *ctx, const char *name);   /* called as each stage begins (progress), NULL = none */
    void *stage_ctx;              /* its first argument */
} pl_opts;

/* linkedin, studio, enhance auto, light on at strength 1, retouch LOOK_RETOUCH_DEFAULT. */
void pl_opts_default(pl_opts *o);
/* What the preset forces: passport backdrops (passport-us white, passport-eu light grey
 * PL_PASSPORT_EU_GREY), no retouch, no upscaling. */
void pl_opts_apply_preset(pl_opts *o);
#define PL_PASSPORT_EU_GREY 0xE8  /* #E8E8E8: light grey, the plain light background EU offices ask for */

enum { PL_LOAD, PL_DETECT, PL_LANDMARKS, PL_PLAN, PL_ENHANCE, PL_FRAME, PL_MATTE, PL_PEOPLE, PL_LIGHT, PL_RETOUCH,
       PL_COMPOSE, PL_LABEL, PL_IDENTITY, PL_STAGES };
extern const char *const pl_stage_names[PL_STAGES];

typedef struct {
    img_rgb out;                  /* the headshot; an alpha plane for COMPOSE_TRANSPARENT */
    int trim[4];                  /* bars cut off the photo: top, right, bottom, left, pixels */
    int turned;                   /* quarter turns counter-clockwise that made it upright (no EXIF) */
    pl_face *faces;               /* confirmed faces, score order (PL_MAX_FACES allocated); they,
                                     face, plan and touch are in the trimmed, turned photo */
    int n_faces;                  /* their count */
    int rejected;                 /* detections FaceMesh refused */
    int subject;                  /* index of the subject in faces */
    frame_face face;              /* the subject's geometry in the photo */
    frame_touch touch;            /* where the subject meets the photo's edges */
    frame_plan plan;              /* photo -> headshot */
    float src_per_out;            /* photo pixels per output pixel (< 1: enlarged) */
    const char *sr_model;         /* upscaler that ran, NULL = none */
    int sr_scale;                 /* its factor, 0 = none */
    float out_pts[LMK_POINTS][3]; /* the subject's landmarks in headshot pixels */
    look_report look;             /* light and retouch numbers */
    float ita_before, ita_after;  /* skin ITA of the framed subject before / after the look */
    float identity;               /* descriptor distance photo -> headshot, NaN = not measured */
    team_measure team;            /* head ratio (the photo's own) and highlights after the look */
    double ms[PL_STAGES];         /* wall time of each stage, milliseconds (0: did not run) */
} pl_result;

/* Stage "load": img_load_file with the pixel limit (0 = IMG_MAX_PIXELS), recorded in h
 * (meta_input: size, SHA-256) and r->ms[PL_LOAD]. Returns 0 or an IMG_E* code with err. */
int pl_load(const char *path, long long max_pixels, img_rgb *photo, pl_result *r, meta_history *h,
            char err[PL_ERR]);

/* Every other stage on the upright photo. Fills r (all of it but ms[PL_LOAD], which pl_load
 * set; free it with pl_result_free, whatever the outcome). On PL_EIDENTITY r->out holds the
 * headshot that failed the check. A team's measuring shot (o->team.measuring) runs at a
 * quarter of the size, not upscaled, and stops after the look with r->team measured. */
int pl_run(pl_models *m, const img_rgb *photo, const pl_opts *o, pl_result *r, meta_history *h,
           char err[PL_ERR]);
/* --variants: n looks of one photo for the cost of one run plus n light-to-identity stages.
 * o[0] decides the shared stages (detect to matte: preset, size, face, enhance, team.head,
 * whether the background is keep); o[1..n) may differ in background (keep for all or for
 * none), light, retouch, label, force and team.gain. r[0] and h[0] come from pl_load; r[1..n)
 * and h[1..n) are filled here (h[k] starts as a copy of h[0]). Stops at the first failing
 * variant and returns its code; free every r[k] with pl_result_free. */
int pl_run_variants(pl_models *m, const img_rgb *photo, const pl_opts *o, int n, pl_result *r,
                    meta_history *h, char err[PL_ERR]);
void pl_result_free(pl_result *r);

#endif
