/* pipeline.c — selfie to headshot (see pipeline.h). Sections: networks, faces, options,
 * the stages (one function each, in order), the run.
 */
#include "pipeline.h"
#include "colour.h"
#include "label.h"
#include "people.h"
#include "buffer.h"
#include "pool.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double pl__now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

const char *const pl_stage_names[PL_STAGES] = {
    "load", "detect", "landmarks", "plan", "enhance", "frame", "matte", "people", "light", "retouch",
    "compose", "label", "identity",
};

/* ============================================================ networks === */

int pl_models_open(pl_models *m, const nn_runtime *rt, const char *weights, char err[PL_ERR]) {
    static const hs_network *const checked[] = {&det_blazeface, &det_blazeface_back, &lmk_facemesh, &matte_selfie,
                                                &id_face_recognition};
    memset(m, 0, sizeof *m);
    m->weights = weights;
    m->rt = rt ? rt : nn_runtime_default();
    for (size_t i = 0; weights && i < sizeof checked / sizeof *checked; i++) {
        nn_model *w;
        if (nn_model_open(&w, checked[i]->name, weights, err)) return -1;
        nn_model_close(w);
    }
    return 0;
}

int pl_models_load(pl_models *m, unsigned nets, char err[PL_ERR]) {
    const char *dir = m->weights;
    if ((nets & PL_NET_DET) && !m->det && !(m->det = det_load(m->rt, dir, err))) return -1;
    if ((nets & PL_NET_LMK) && !m->lmk && !(m->lmk = lmk_load(m->rt, dir, err))) return -1;
    if ((nets & PL_NET_MATTE) && !m->matte && matte_open(&m->matte, m->rt, dir, err)) return -1;
    if ((nets & PL_NET_ID) && !m->id && !(m->id = id_load(m->rt, dir, err))) return -1;
    for (int b = 0; b < 2; b++)
        if ((nets & PL_NET_UP << b) && !m->up[b] &&
            up_load(&m->up[b], (b ? &up_esrgan_medium_x4 : &up_esrgan_slim_x4)->name, m->rt, dir, err))
            return -1;
    return 0;
}

void pl_models_close(pl_models *m) {
    det_free(m->det);
    lmk_free(m->lmk);
    matte_close(m->matte);
    id_free(m->id);
    for (int i = 0; i < 2; i++) up_free(m->up[i]);
    memset(m, 0, sizeof *m);
}

/* The network's name, package and licence into the history. */
static void pl__model(meta_history *h, const hs_network *n) { meta_model(h, n->name, n->source, n->licence); }

/* ============================================================ faces === */

int pl_faces(pl_models *m, const img_rgb *im, pl_face *faces, int max, int *rejected, double ms[2],
             char err[PL_ERR]) {
    det_face found[PL_MAX_FACES];
    if (pl_models_load(m, PL_NET_DET, err)) return -1;
    double t0 = pl__now();
    int nd = det_run(m->det, im->rgb, im->w, im->h, found, PL_MAX_FACES, err), n = 0, refused = 0;
    double t1 = pl__now();
    if (nd > 0 && pl_models_load(m, PL_NET_LMK, err)) return -1;   /* FaceMesh only for candidates */
    /* the upright second look only when FaceMesh refused every candidate: a face it confirms
     * is never a group photo's extra face (that would change who the subject is) */
    for (int pass = 0; pass < 2 && (pass == 0 || (n == 0 && refused > 0)); pass++)
        for (int i = 0; i < nd && n < max; i++) {
            pl_face *f = &faces[n];
            int rc = pass ? lmk_run_upright(m->lmk, im->rgb, im->w, im->h, &found[i], &f->lmk, err)
                          : lmk_run(m->lmk, im->rgb, im->w, im->h, &found[i], &f->lmk, err);
            if (rc < 0) return -1;
            if (pass ? rc == 0 : f->lmk.flag < LMK_FLAG_MIN) {
                refused += !pass;
                continue;
            }
            refused -= pass;
            const float (*p)[3] = (const float (*)[3])f->lmk.pts;
            float ex = 0.5f * (p[33][0] + p[263][0]), ey = 0.5f * (p[33][1] + p[263][1]);
            float span = hypotf(p[263][0] - p[33][0], p[263][1] - p[33][1]);
            int dup = 0;
            for (int k = 0; k < n && !dup; k++) {
                const float (*q)[3] = (const float (*)[3])faces[k].lmk.pts;
                dup = hypotf(0.5f * (q[33][0] + q[263][0]) - ex, 0.5f * (q[33][1] + q[263][1]) - ey) < 0.5f * span;
            }
            if (dup) continue;
            f->det = found[i];
            f->pose = lmk_pose_of(p);
            n++;
        }
    if (rejected) *rejected = refused;
    if (ms) ms[0] = t1 - t0, ms[1] = pl__now() - t1;
    return nd < 0 ? -1 : n;
}

int pl_subject(const pl_face *faces, int n, int w, int h) {
    det_face boxes[PL_MAX_FACES];
    n = n < PL_MAX_FACES ? n : PL_MAX_FACES;
    for (int i = 0; i < n; i++) boxes[i] = faces[i].det;
    return frame_choose(boxes, n, w, h);
}

/* ============================================================ options === */

void pl_opts_default(pl_opts *o) {
    memset(o, 0, sizeof *o);
    o->preset = FRAME_LINKEDIN;
    o->background.kind = COMPOSE_STUDIO;
    o->enhance = PL_ENHANCE_AUTO;
    o->light = 1;
    o->light_strength = 1;
    o->white_balance = 1;
    o->retouch = LOOK_RETOUCH_DEFAULT;
    o->face = -1;
}

void pl_opts_apply_preset(pl_opts *o) {
    if (o->preset == FRAME_PASSPORT_US) o->background = (compose_bg){COMPOSE_COLOUR, {255, 255, 255}, NULL, NULL};
    if (o->preset == FRAME_PASSPORT_EU)
        o->background = (compose_bg){COMPOSE_COLOUR, {PL_PASSPORT_EU_GREY, PL_PASSPORT_EU_GREY, PL_PASSPORT_EU_GREY}, NULL, NULL};
    if (frame_spec_get(o->preset)->passport) o->retouch = 0, o->enhance = PL_ENHANCE_OFF;
}

/* ============================================================ the stages === */

#define PL_ID_WINDOW 2.0f         /* levelled window side / forehead-to-chin distance (the
                                     descriptor's box is about 0.9 of it, below the eyes) */
#define PL_ID_SIDE 320            /* at most this many pixels a side: the box gets ~150, the
                                     network's input */

/* What the identity network reads of a face: a level copy of it, a window turned about the
 * eyes so that they are level, as the headshot's are, and the face's 68 points in it. The
 * descriptor is not made for rolled faces (its crop is not turned): without this a 30 degree
 * tilt levelled by the frame reads 0.65-0.8 "another person". */
typedef struct {
    img_rgb win;                  /* at most PL_ID_SIDE pixels a side */
    float p68[68][2];             /* in win */
} pl_id_window;

/* The window of the face with landmarks pts in im. Returns 0, or -1 with err. */
static int pl__id_window(pool *workers, const img_rgb *im, const float (*pts)[3], pl_id_window *out, char *err) {
    frame_face f;
    frame_face_of(pts, &f);
    float side = PL_ID_WINDOW * hypotf(f.chin[0] - f.forehead[0], f.chin[1] - f.forehead[1]), lev[LMK_POINTS][3];
    int n = side > PL_ID_SIDE ? PL_ID_SIDE : side > 64 ? (int)side : 64;
    float at[2] = {0.5f * n, 0.5f * n};
    frame_affine t = frame_level(f.roll, n / fmaxf(side, 1), f.eyes, at);
    for (int i = 0; i < LMK_POINTS; i++) frame_map(t, pts[i][0], pts[i][1], &lev[i][0], &lev[i][1]), lev[i][2] = 0;
    id_points68((const float (*)[3])lev, out->p68);
    return frame_warp(workers, im, t, n, n, &out->win, err) ? -1 : 0;
}

/* What the stages share during one run. */
typedef struct {
    pl_models *m;
    const pl_opts *o;
    const frame_spec *spec;
    const img_rgb *photo;
    pl_result *r;
    meta_history *h;
    char *err;
    img_rgb own;                  /* the photo trimmed of bars or turned upright, when it was */
    img_rgb thumb;                /* a copy of it at most PL_THUMB pixels long (pl__thumb) */
    img_rgb framed;               /* the canvas from the photo; .alpha = coverage */
    unsigned char *before;        /* framed.rgb before light and retouch (matte kept) */
    float *alpha;                 /* w*h: subject matte x coverage */
    float *fg;                    /* w*h*3: linear foreground */
    pl_id_window id_photo;        /* the subject's level window in the photo, for the identity
                                     stage: made once framed, so that the photo can go */
    double mark;                  /* clock at the end of the previous stage */
    img_rgb up;                   /* the upscaled region of the photo, when the enhance stage ran */
    const img_rgb *src;           /* the warp's source: the photo or up */
    frame_affine to_out;          /* src -> canvas */
} pl_run_state;

/* The stage's time, into r->ms and into the step it recorded just before (if any). */
static void pl__time(pl_run_state *s, int stage, int recorded) {
    double now = pl__now();
    s->r->ms[stage] = now - s->mark;
    s->mark = now;
    if (recorded) meta_step_ms(s->h, s->r->ms[stage]);
}

static int pl__fail(pl_run_state *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Tells the caller's progress display which stage begins. */
static void pl__stage(pl_run_state *s, const char *name) {
    if (s->o->stage) s->o->stage(s->o->stage_ctx, name);
}

/* Sets the reason and returns code, so stages can `return pl__fail(...)`. */
static int pl__fail(pl_run_state *s, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, PL_ERR, fmt, ap);
    va_end(ap);
    return code;
}

/* in turned by k quarter turns counter-clockwise (det_turn_score's k), or its box x0, y0,
 * w x h when k < 0, into out. */
static int pl__copy(const img_rgb *in, int k, const int box[4], img_rgb *out, char *err) {
    int w = k < 0 ? box[2] : k & 1 ? in->h : in->w, h = k < 0 ? box[3] : k & 1 ? in->w : in->h;
    char ierr[IMG_ERR];
    if (img_new(out, w, h, 0, ierr)) return snprintf(err, PL_ERR, "%s", ierr), PL_EFAIL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int sx = k < 0 ? box[0] + x : k == 0 ? x : k == 1 ? in->w - 1 - y : k == 2 ? in->w - 1 - x : y;
            int sy = k < 0 ? box[1] + y : k == 0 ? y : k == 1 ? x : k == 2 ? in->h - 1 - y : in->h - 1 - x;
            memcpy(out->rgb + ((size_t)y * w + x) * 3, in->rgb + ((size_t)sy * in->w + sx) * 3, 3);
        }
    return 0;
}

/* Makes out the photo the stages work on (s->photo). */
static void pl__own(pl_run_state *s, img_rgb *out) {
    img_free(&s->own);
    img_free(&s->thumb);
    s->own = *out, s->photo = &s->own;
}

/* Once framed no stage reads the photo (the identity stage has its window, s->id_photo): its
 * copies go, and the caller's photo when o->release lets it go: the rest of a 12 MP run holds
 * 36 MB less. */
static void pl__drop_photo(pl_run_state *s) {
    img_free(&s->own);
    img_free(&s->thumb);
    if (s->o->release) img_free(s->o->release);
    s->photo = NULL;
}

#define PL_THUMB 512              /* long side of the copy the whole-photo networks see */

typedef struct {
    const img_rgb *ph;
    img_rgb *th;
    int f;                        /* thumbnail pixel = f x f photo pixels */
} pl_thumb_job;

static void pl__thumb_rows(void *arg, int y0, int y1) {
    const pl_thumb_job *j = arg;
    const img_rgb *ph = j->ph;
    int f = j->f, a = f / 4, b = 3 * f / 4;
    for (int y = y0; y < y1; y++) {
        int ya = y * f + a < ph->h ? y * f + a : ph->h - 1, yb = y * f + b < ph->h ? y * f + b : ph->h - 1;
        const unsigned char *ra = ph->rgb + (size_t)ya * ph->w * 3, *rb = ph->rgb + (size_t)yb * ph->w * 3;
        unsigned char *o = j->th->rgb + (size_t)y * j->th->w * 3;
        for (int x = 0; x < j->th->w; x++) {
            int xa = 3 * (x * f + a < ph->w ? x * f + a : ph->w - 1), xb = 3 * (x * f + b < ph->w ? x * f + b : ph->w - 1);
            for (int c = 0; c < 3; c++) o[3 * x + c] = (unsigned char)((ra[xa + c] + ra[xb + c] + rb[xa + c] + rb[xb + c] + 2) / 4);
        }
    }
}

/* The photo shrunk by a whole factor f to at most PL_THUMB pixels long, made once: the turn
 * scores and the subject's mask look at the whole photo at 128-256 pixels (their own resize
 * averages again). Each pixel is the mean of 2 x 2 taps spread over its f x f block: a full
 * area average of a 12 MP photo would cost more than the networks. */
static const img_rgb *pl__thumb(pl_run_state *s) {
    const img_rgb *ph = s->photo;
    int f = (ph->w > ph->h ? ph->w : ph->h) / PL_THUMB + 1, w = ph->w / f, h = ph->h / f;
    char ierr[IMG_ERR];
    if (s->thumb.rgb) return &s->thumb;
    if (img_new(&s->thumb, w > 0 ? w : 1, h > 0 ? h : 1, 0, ierr)) return snprintf(s->err, PL_ERR, "%s", ierr), NULL;
    pl_thumb_job j = {ph, &s->thumb, f};
    pool_rows(s->m->rt->pool, s->thumb.h, pl__thumb_rows, &j);
    return &s->thumb;
}

/* Letterbox, pillarbox and caption bars (det_borders) cut off the photo before anything looks
 * at it: they would hide where the subject meets the photo's real edge. */
static int pl__borders(pl_run_state *s) {
    const img_rgb *ph = s->photo;
    int t[4];
    if (det_borders(ph->rgb, ph->w, ph->h, t)) return pl__fail(s, PL_EFAIL, "out of memory");
    if (!(t[0] | t[1] | t[2] | t[3])) return 0;
    int box[4] = {t[3], t[0], ph->w - t[1] - t[3], ph->h - t[0] - t[2]};
    memcpy(s->r->trim, t, sizeof t);
    img_rgb cut;
    if (pl__copy(ph, -1, box, &cut, s->err)) return PL_EFAIL;
    pl__own(s, &cut);
    meta_step(s->h, META_CLASSICAL, "borders", "trimmed top=%d right=%d bottom=%d left=%d size=%dx%d", t[0], t[1], t[2], t[3],
              box[2], box[3]);
    return 0;
}

#define PL_TURN_SCORE 0.9f        /* a turned photo's best detector score at least this... */
#define PL_TURN_MARGIN 0.05f      /* ...and this much above the upright photo's */
#define PL_TURN_ROLL 70.0f        /* a face rolled more than this, degrees: a photo stored turned
                                     (heads tilt up to about 60 degrees: e.g. resting on a shoulder) */

/* Which way up the photo is, when no EXIF tag said so: the quarter turn k (counter-clockwise)
 * that makes the subject upright; 0 when it is. A confirmed face rolled more than PL_TURN_ROLL
 * says it; otherwise the detectors' best score on each turn of a small copy (the short-range
 * one; the back-camera one too when no face was confirmed upright); the upright copy's only
 * when a turn reaches PL_TURN_SCORE, as else no turn can win. The back-camera detector, whose
 * passes are most of a run that finds no face, looks at the first quarter turn, and at the
 * other two turns only once some view showed a candidate (DET_MIN_SCORE) to either detector:
 * a person stored turned is seen, though not confirmed, upright or a quarter turn away (every
 * devset photo turned 90, 180 or 270 degrees: 0.70-0.93), a photo of no one is not (grey
 * 0.08, a landscape 0.47 at most). */
static int pl__turn_of(pl_run_state *s, int *k) {
    const img_rgb *ph = s->photo;
    const pl_result *r = s->r;
    det_model *det = s->m->det;
    *k = 0;
    if (r->n_faces > 0) {
        float roll = r->faces[pl_subject(r->faces, r->n_faces, ph->w, ph->h)].pose.roll;
        if (fabsf(roll) > PL_TURN_ROLL) return *k = (int)lroundf(roll / 90) & 3, 0;
    }
    const img_rgb *small = pl__thumb(s);
    int back = r->n_faces == 0, seen = r->rejected > 0;
    float sc[4][2] = {{0}}, best[4], turned = 0;
    /* the passes in order: the short-range detector's three turns, the back-camera one's
     * first quarter turn, its other two once seen, then the upright copy if a turn can win */
    static const int pass[6][2] = {{DET_FRONT, 1}, {DET_FRONT, 2}, {DET_FRONT, 3}, {DET_BACK, 1}, {DET_BACK, 2}, {DET_BACK, 3}};
    if (!small || det_turn_crop(det, DET_FRONT, small->rgb, small->w, small->h, s->err) ||
        (back && det_turn_crop(det, DET_BACK, small->rgb, small->w, small->h, s->err)))
        return PL_EFAIL;
    for (int i = 0; i < (back ? (seen ? 6 : 4) : 3); i++) {
        float *v = &sc[pass[i][1]][pass[i][0]];
        if (det_turn_score(det, pass[i][0], pass[i][1], v, s->err)) return PL_EFAIL;
        seen |= *v >= DET_MIN_SCORE;
        turned = fmaxf(turned, *v);
    }
    if (turned < PL_TURN_SCORE) return 0;
    for (int v = DET_FRONT; v <= (back ? DET_BACK : DET_FRONT); v++)
        if (det_turn_score(det, v, 0, &sc[0][v], s->err)) return PL_EFAIL;
    for (int i = 0; i < 4; i++) best[i] = fmaxf(sc[i][0], sc[i][1]);
    for (int i = 1; i < 4; i++)
        if (best[i] >= PL_TURN_SCORE && best[i] > best[0] + PL_TURN_MARGIN && best[i] > best[*k]) *k = i;
    return 0;
}

/* detect + landmarks + the subject, on the photo trimmed of bars and turned upright. */
static int pl__detect(pl_run_state *s) {
    pl_result *r = s->r;
    double ms[2], t0 = pl__now();
    r->faces = malloc(sizeof(pl_face) * PL_MAX_FACES);
    if (!r->faces) return pl__fail(s, PL_EFAIL, "out of memory");
    int rc = pl__borders(s), k = 0;
    if (rc == 0) r->n_faces = pl_faces(s->m, s->photo, r->faces, PL_MAX_FACES, &r->rejected, ms, s->err);
    if (rc || r->n_faces < 0 || pl__turn_of(s, &k)) return PL_EFAIL;
    if (k) {   /* the turned photo, when it shows an upright face */
        img_rgb turned;
        pl_face *again = malloc(sizeof(pl_face) * PL_MAX_FACES);
        if (!again) return pl__fail(s, PL_EFAIL, "out of memory");
        int n = pl__copy(s->photo, k, NULL, &turned, s->err) ? -2 : pl_faces(s->m, &turned, again, PL_MAX_FACES, NULL, NULL, s->err);
        if (n > 0 && fabsf(again[pl_subject(again, n, turned.w, turned.h)].pose.roll) <= 45) {
            pl__own(s, &turned);
            free(r->faces);
            r->faces = again, r->n_faces = n, r->turned = k;
            meta_step(s->h, META_CLASSICAL, "orientation", "turned=%ddeg_counter_clockwise (no EXIF orientation said so)", 90 * k);
            meta_warn(s->h, "the photo was stored turned: it is turned %d degrees%s to make the face upright", k == 2 ? 180 : 90,
                      k == 1 ? " counter-clockwise" : k == 3 ? " clockwise" : "");
        } else {
            if (n > -2) img_free(&turned);
            free(again);
            if (n < 0) return PL_EFAIL;
        }
    }
    const img_rgb *ph = s->photo;
    s->mark = pl__now();
    r->ms[PL_DETECT] = s->mark - t0 - ms[1], r->ms[PL_LANDMARKS] = ms[1];   /* borders and turns count as detection */
    pl__model(s->h, &det_blazeface), pl__model(s->h, &det_blazeface_back), pl__model(s->h, &lmk_facemesh);
    if (r->n_faces == 0) {
        meta_subject(s->h, 0, -1, 0, 0, 0, 0);
        meta_step(s->h, META_ANALYSIS, "face detection", "faces=0 refused_by_facemesh=%d", r->rejected);
        meta_step_ms(s->h, r->ms[PL_DETECT] + r->ms[PL_LANDMARKS]);
        return pl__fail(s, PL_ENOFACE, "no face found%s",
                        r->rejected ? " (the detector's candidates are not faces to the landmark network)" : "");
    }
    if (s->o->face >= r->n_faces) {
        snprintf(s->err, PL_ERR, "--face %d: the photo has %d face%s (0..%d)", s->o->face, r->n_faces,
                 r->n_faces == 1 ? "" : "s", r->n_faces - 1);
        return PL_EFACE;
    }
    r->subject = s->o->face >= 0 ? s->o->face : pl_subject(r->faces, r->n_faces, ph->w, ph->h);
    const pl_face *f = &r->faces[r->subject];
    meta_subject(s->h, r->n_faces, r->subject, f->det.x, f->det.y, f->det.w, f->det.h);
    meta_step(s->h, META_ANALYSIS, "face detection", "faces=%d refused_by_facemesh=%d subject=%d score=%.3f box=%.0f,%.0f,%.0fx%.0f",
              r->n_faces, r->rejected, r->subject, f->det.score, f->det.x, f->det.y, f->det.w, f->det.h);
    meta_step_ms(s->h, r->ms[PL_DETECT]);
    meta_step(s->h, META_ANALYSIS, "landmarks", "points=468 facemesh_flag=%.3f roll=%.1f yaw=%.1f pitch=%.1f",
              f->lmk.flag, f->pose.roll, f->pose.yaw, f->pose.pitch);
    meta_step_ms(s->h, r->ms[PL_LANDMARKS]);
    if (r->n_faces > 1) {
        char others[META_TEXT] = "";
        size_t at = 0;
        for (int i = 0; i < r->n_faces && at < sizeof others - 40; i++)
            if (i != r->subject)
                at += snprintf(others + at, sizeof others - at, "%s%d at (%.0f, %.0f)", at ? ", " : "", i,
                               r->faces[i].det.x + r->faces[i].det.w / 2, r->faces[i].det.y + r->faces[i].det.h / 2);
        meta_warn(s->h, "%d faces found; the headshot is of face %d%s; others: %s (--face N picks another)", r->n_faces,
                  r->subject, s->o->face >= 0 ? " (--face)" : " (largest, most central)", others);
    }
    if (fabsf(f->pose.yaw) > PL_POSE_MAX || fabsf(f->pose.pitch) > PL_POSE_MAX)
        meta_warn(s->h, "the face is turned (yaw %.0f, pitch %.0f degrees; above %.0f): a headshot looks best facing the camera",
                  f->pose.yaw, f->pose.pitch, PL_POSE_MAX);
    int out = 0;
    for (int i = 0; i < LMK_POINTS; i++)
        out += f->lmk.pts[i][0] < 0 || f->lmk.pts[i][1] < 0 || f->lmk.pts[i][0] >= ph->w || f->lmk.pts[i][1] >= ph->h;
    if (out > 0) meta_warn(s->h, "the face is cut by the photo's border (%d of 468 landmarks outside)", out);
    return 0;
}

int pl_head(pl_models *m, const img_rgb *im, const float (*pts)[3], frame_face *f, char err[PL_ERR]) {
    frame_face_of(pts, f);
    if (pl_models_load(m, PL_NET_MATTE, err)) return -1;
    img_rgb win;
    float *mask = malloc(sizeof(float) * MATTE_SIZE * MATTE_SIZE);
    if (!mask) return snprintf(err, PL_ERR, "out of memory"), -1;
    int rc = frame_warp(m->rt->pool, im, frame_crown_window(f, MATTE_SIZE), MATTE_SIZE, MATTE_SIZE, &win, err);
    if (rc == 0) {
        rc = matte_mask(m->matte, win.rgb, MATTE_SIZE, MATTE_SIZE, mask, err);
        img_free(&win);
    }
    if (rc == 0) frame_crown_from_mask(f, mask, MATTE_SIZE, im->w, im->h);
    free(mask);
    return rc;
}

static people_seed pl__seed(const float (*pts)[3], const frame_affine *to_out, float cx, float cy, float size) {
    float x[2] = {pts[10][0], pts[152][0]}, y[2] = {pts[10][1], pts[152][1]};
    for (int k = 0; to_out && k < 2; k++) frame_map(*to_out, x[k], y[k], &x[k], &y[k]);
    float dx = x[1] - x[0], dy = y[1] - y[0], len = hypotf(dx, dy);
    return (people_seed){cx, cy, size, {len > 0 ? dx / len : 0, len > 0 ? dy / len : 0}};
}

/* A seed for each of the photo's faces, mapped by to (NULL: the photo itself) into a space that
 * to_mask scales to mask pixels, with y still in x units (the caller divides it by the mask's
 * aspect), in the order of r->faces. Returns the count. */
static int pl__face_seeds(const pl_result *r, const frame_affine *to, float to_mask, people_seed *seeds) {
    float scale = to ? (float)frame_scale(*to) : 1;
    for (int i = 0; i < r->n_faces; i++) {
        const det_face *d = &r->faces[i].det;
        float cx = d->x + d->w / 2, cy = d->y + d->h / 2;
        if (to) frame_map(*to, cx, cy, &cx, &cy);
        seeds[i] = pl__seed(r->faces[i].lmk.pts, to, cx * to_mask, cy * to_mask, d->w * scale * to_mask);
    }
    return r->n_faces;
}

/* The subject's mask over the whole photo: MATTE_SIZE x MATTE_SIZE bytes (1 = subject),
 * stretched over it: the selfie network's person mask of the whole photo split among the
 * photo's faces by people_share, as the matte stage splits the canvas's (a bystander at the
 * photo's edge does not hold the frame in). --keep-others frames the same way: the frame is
 * the subject's, and the others stay where it shows them. */
static int pl__subject_mask(pl_run_state *s, unsigned char *mask) {
    const int n = MATTE_SIZE;
    const img_rgb *ph = s->photo, *small = pl__thumb(s);
    float *prob = malloc(sizeof(float) * n * n), *share = malloc(sizeof(float) * n * n);
    if (!prob || !share) return free(prob), free(share), pl__fail(s, PL_EFAIL, "out of memory");
    int rc = !small || matte_mask(s->m->matte, small->rgb, small->w, small->h, prob, s->err) ? PL_EFAIL : 0;
    people_seed seeds[PL_MAX_FACES];
    int subject = s->r->subject, k = pl__face_seeds(s->r, NULL, (float)n / ph->w, seeds);
    float aspect = (float)ph->h / ph->w;
    char perr[PEOPLE_ERR];
    for (int i = 0; i < k; i++) seeds[i].y /= aspect;
    if (rc == 0 && people_share(prob, NULL, n, n, aspect, seeds, k, subject, share, perr)) rc = pl__fail(s, PL_EFAIL, "%s", perr);
    for (int i = 0; rc == 0 && i < n * n; i++) mask[i] = prob[i] * share[i] >= 0.5f;
    free(prob), free(share);
    return rc;
}

#define PL_NEAR_SIDE 4.4f         /* the near window's side / forehead-to-chin distance... */
#define PL_NEAR_DOWN 0.6f         /* ...centred this far below the eyes: every preset's frame
                                     (portrait's: 2.6 head heights tall) fits inside... */
#define PL_NEAR_PHOTO 1.5f        /* ...but at most this x the photo's longer side */

/* The subject in a levelled window around the head (t->near), split among the faces as the
 * matte stage splits the canvas: a person mask of the whole photo is too coarse to see where
 * the body ends at a laptop or a table in a group photo, and this window is what the canvas
 * will show, at its scale. At most PL_NEAR_PHOTO x the photo: around a face that fills the
 * photo a larger window would be mostly the photo's repeated edge (frame_warp), and the network
 * misreads the photo in it. What lies past the photo is left to the whole photo's mask. */
static int pl__near_mask(pl_run_state *s, unsigned char *mask, frame_touch *t) {
    const int n = MATTE_SIZE;
    const frame_face *f = &s->r->face;
    float fh = hypotf(f->chin[0] - f->forehead[0], f->chin[1] - f->forehead[1]), side = PL_NEAR_SIDE * fmaxf(fh, 1);
    side = fminf(side, PL_NEAR_PHOTO * (s->photo->w > s->photo->h ? s->photo->w : s->photo->h));
    float at[2] = {0.5f * n, 0.5f * n - PL_NEAR_DOWN * fh * n / side};
    frame_affine to = frame_level(f->roll, n / side, f->eyes, at);
    img_rgb win = {0};
    float *prob = malloc(sizeof(float) * n * n * 5), *share = prob + n * n, *in = share + n * n;
    people_seed seeds[PL_MAX_FACES];
    char perr[PEOPLE_ERR];
    int rc = !prob ? pl__fail(s, PL_EFAIL, "out of memory") : frame_warp(s->m->rt->pool, s->photo, to, n, n, &win, s->err) ? PL_EFAIL : 0;
    if (rc == 0 && (matte_input(s->m->rt->pool, win.rgb, n, n, in, s->err) || matte_run(s->m->matte, in, prob, s->err))) rc = PL_EFAIL;
    int k = rc ? 0 : pl__face_seeds(s->r, &to, 1, seeds);   /* one face: nobody to split off */
    if (rc == 0 && k > 1 && people_share(prob, in, n, n, 1, seeds, k, s->r->subject, share, perr)) rc = pl__fail(s, PL_EFAIL, "%s", perr);
    for (int i = 0; rc == 0 && i < n * n; i++) mask[i] = prob[i] * (k > 1 ? share[i] : 1) >= 0.5f;
    if (rc == 0) frame_mask_set(&t->near, mask, n, n, to);
    img_free(&win);
    free(prob);
    return rc;
}

/* Where the subject meets the photo's edges (pl__subject_mask), and its masks. */
static int pl__touch(pl_run_state *s, frame_touch *t) {
    unsigned char *mask = malloc((size_t)MATTE_SIZE * MATTE_SIZE);
    if (!mask) return pl__fail(s, PL_EFAIL, "out of memory");
    int rc = pl__subject_mask(s, mask);
    if (rc == 0) frame_touch_of(mask, MATTE_SIZE, MATTE_SIZE, s->photo->w, s->photo->h, t);
    if (rc == 0) rc = pl__near_mask(s, mask, t);
    free(mask);
    return rc;
}

static const char *const pl__edge_names[4] = {"top", "right", "bottom", "left"};

/* The frame's record, and its warnings: roll left, head larger than the rule. */
static void pl__plan_report(pl_run_state *s) {
    const pl_result *r = s->r;
    float measured = r->face.roll * 180 / (float)M_PI, applied = r->plan.roll * 180 / (float)M_PI;
    meta_step(s->h, META_CLASSICAL, "frame plan",
              "roll_measured=%.1fdeg roll_levelled=%.1fdeg zoom=%.3f subject_at_edges=%d cut=%.1fpx ground=%.3f crop=%s",
              measured, applied, r->plan.zoom, r->touch.n, r->plan.cut, r->plan.ground, r->plan.inside ? "photo" : "subject");
    if (r->plan.inside)
        meta_warn(s->h, "the face fills the photo: no frame shows the person whole on a new backdrop, so the headshot is "
                  "a crop of the photo with its own background");
    if (fabsf(measured - applied) >= 1)
        meta_warn(s->h, "the head is tilted %.0f degrees; levelled by %.0f only: more would show the photo's edge", measured, applied);
    if (r->plan.zoom > 1.001f)
        meta_warn(s->h, "the photo has no room for the %s frame: the head is %.0f%% larger than its rule (a tighter crop)",
                  s->spec->name, 100 * (r->plan.zoom - 1));
    if (r->plan.cut > 0 && !r->plan.inside)
        meta_warn(s->h, "the subject is cut by the photo's %s edge inside the frame (%.0f px): no frame avoids it",
                  pl__edge_names[r->plan.cut_edge], r->plan.cut);
}

/* A passport's refusal when the frame cannot keep the subject whole inside the official head
 * size: what the photo lacks, as a share of the head's height in the frame. */
static int pl__passport_room(pl_run_state *s) {
    const frame_plan *p = &s->r->plan;
    float need = 100 * p->cut / (p->head * p->h);
    const char *where = p->cut_edge == FRAME_TOP ? "above the head" : p->cut_edge == FRAME_BOTTOM ? "below the chin"
                                                                                                  : "beside the head";
    return pl__fail(s, PL_EROOM, "the photo is cropped too tightly for %s: it needs about %.0f%% more room %s "
                    "(the %s edge cuts the subject); not written", s->spec->name, ceilf(need), where,
                    pl__edge_names[p->cut_edge]);
}

/* The subject's head (crown from the person mask), then the preset's frame. */
static int pl__plan(pl_run_state *s) {
    pl_result *r = s->r;
    const img_rgb *ph = s->photo;
    if (pl_head(s->m, ph, (const float (*)[3])r->faces[r->subject].lmk.pts, &r->face, s->err)) return PL_EFAIL;
    pl__model(s->h, &matte_selfie);
    if (pl__touch(s, &r->touch)) return PL_EFAIL;
    r->team.head_ratio = team_head_ratio(&r->face);
    if (s->o->team.head > 0) {
        team_face(&r->face, s->o->team.head);
        meta_step(s->h, META_CLASSICAL, "team framing", "head=%.3fx_eyes_to_chin (own %.3f)", s->o->team.head, r->team.head_ratio);
    }
    if (r->face.crown_cut) meta_warn(s->h, "the top of the head is cut by the photo's edge: its height is estimated");
    frame_plan_make(&r->face, s->spec, ph->w, ph->h, &r->touch, &r->plan);
    r->src_per_out = 1 / r->plan.scale;
    r->team.zoom = r->plan.zoom;
    pl__plan_report(s);
    pl__time(s, PL_PLAN, 1);
    return s->spec->passport && r->plan.cut > 0 ? pl__passport_room(s) : 0;
}

/* The source of the warp: the photo, or ESRGAN x4 of the region the frame covers (s->up):
 * s->src and s->to_out are set. */
static int pl__enhance(pl_run_state *s) {
    pl_result *r = s->r;
    const img_rgb *ph = s->photo;
    img_rgb *owned = &s->up;
    s->src = ph, s->to_out = r->plan.to_out;
    int w = r->plan.w, hgt = r->plan.h;
    if (r->src_per_out >= (s->o->enhance == PL_ENHANCE_AUTO ? PL_SR_AUTO_BELOW : PL_SR_BELOW)) return 0;
    int best = s->o->enhance == PL_ENHANCE_BEST;
    if (s->o->enhance == PL_ENHANCE_OFF) {
        meta_warn(s->h, "the face is small for %dx%d (%.2f photo pixels per output pixel): it is enlarged without "
                  "super-resolution and will look soft%s", w, hgt, r->src_per_out,
                  s->spec->passport ? " (passport photos get no generative step: use a closer or sharper photo)" : "");
        return 0;
    }
    /* The photo region under the canvas, plus the bicubic taps' reach, inside the photo. */
    frame_affine inv = frame_inverse(r->plan.to_out);
    float x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int k = 0; k < 4; k++) {
        float x, y;
        frame_map(inv, (k & 1) ? (float)w : 0, (k & 2) ? (float)hgt : 0, &x, &y);
        x0 = fminf(x0, x), y0 = fminf(y0, y), x1 = fmaxf(x1, x), y1 = fmaxf(y1, y);
    }
    int rx0 = (int)fmaxf(0, floorf(x0) - 3), ry0 = (int)fmaxf(0, floorf(y0) - 3);
    int rx1 = (int)fminf((float)ph->w, ceilf(x1) + 3), ry1 = (int)fminf((float)ph->h, ceilf(y1) + 3);
    if (rx1 - rx0 < 1 || ry1 - ry0 < 1) return 0;
    int rw = rx1 - rx0, rh = ry1 - ry0;
    pl__stage(s, "enhance");
    if (pl_models_load(s->m, PL_NET_UP << best, s->err)) return PL_EFAIL;
    up_model *up = s->m->up[best];
    int sc = up_scale(up);
    unsigned char *crop = buffer_alloc((size_t)rw * rh * 3);
    int rc = crop ? img_new(owned, rw * sc, rh * sc, 0, s->err) : -1;
    if (rc == 0) {
        for (int y = 0; y < rh; y++) memcpy(crop + (size_t)y * rw * 3, ph->rgb + ((size_t)(ry0 + y) * ph->w + rx0) * 3, (size_t)rw * 3);
        rc = up_run(up, crop, rw, rh, owned->rgb, s->err);
    }
    free(crop);
    if (rc) {
        img_free(owned);
        return crop ? PL_EFAIL : pl__fail(s, PL_EFAIL, "out of memory");
    }
    /* photo point p = region point q / sc + r0, so to_out(q) = A (q / sc + r0) + t */
    frame_affine t = r->plan.to_out;
    t.e += t.a * rx0 + t.b * ry0, t.f += t.c * rx0 + t.d * ry0;
    t.a /= sc, t.b /= sc, t.c /= sc, t.d /= sc;
    s->src = owned, s->to_out = t;
    r->sr_model = best ? up_esrgan_medium_x4.name : up_esrgan_slim_x4.name;
    r->sr_scale = sc;
    pl__model(s->h, best ? &up_esrgan_medium_x4 : &up_esrgan_slim_x4);
    meta_step(s->h, META_NEURAL, "super-resolution", "model=%s scale=%d region=%dx%d+%d+%d photo_px_per_output_px=%.3f",
              r->sr_model, sc, rw, rh, rx0, ry0, r->src_per_out);
    meta_warn(s->h, "the face is small for %dx%d (%.2f photo pixels per output pixel): upscaled x%d by %s, whose fine "
              "detail is generated", w, hgt, r->src_per_out, sc, r->sr_model);
    pl__time(s, PL_ENHANCE, 1);
    return 0;
}

/* The warp, then the subject's landmarks in canvas pixels. */
static int pl__frame(pl_run_state *s) {
    pl_result *r = s->r;
    int rc = frame_warp(s->m->rt->pool, s->src, s->to_out, r->plan.w, r->plan.h, &s->framed, s->err);
    img_free(&s->up);
    if (rc || pl__id_window(s->m->rt->pool, s->photo, (const float (*)[3])r->faces[r->subject].lmk.pts, &s->id_photo, s->err)) return PL_EFAIL;
    pl__drop_photo(s);
    const lmk_result *l = &r->faces[r->subject].lmk;
    for (int i = 0; i < LMK_POINTS; i++) {
        frame_map(r->plan.to_out, l->pts[i][0], l->pts[i][1], &r->out_pts[i][0], &r->out_pts[i][1]);
        r->out_pts[i][2] = l->pts[i][2] * r->plan.scale;
    }
    meta_step(s->h, META_CLASSICAL, "framing",
              "preset=%s size=%dx%d rotate=%.2fdeg scale=%.4f head=%.3f eyes=%.3f crown=%s covered=%.3f",
              s->spec->name, r->plan.w, r->plan.h, -r->plan.roll * 180 / (float)M_PI, r->plan.scale, r->plan.head,
              r->plan.eyes, r->face.crown_from_mask ? "matte" : "estimated", r->plan.covered);
    if (r->plan.covered < 0.995f)
        meta_warn(s->h, "the frame runs past the photo's edge (%.0f%% of the output): the backdrop fills it",
                  100 * (1 - r->plan.covered));
    pl__time(s, PL_FRAME, 1);
    return 0;
}

/* A seed at (cx, cy) of the given size, its body's way from the landmarks' forehead (10) to
 * chin (152), mapped by to_out when not NULL. */
/* Faces on the framed canvas that the photo's faces do not already give (a neighbour's face
 * is larger here than in the photo, and the back-camera detector finds the small ones),
 * confirmed by FaceMesh, appended to seeds as other people. Returns the new count. */
static int pl__canvas_faces(pl_run_state *s, people_seed *seeds, int n, int max, float to_mask) {
    det_face found[PL_MAX_FACES];
    lmk_result l;
    for (int v = 0; v < 2; v++) {
        int nd = det_detect(s->m->det, v ? DET_BACK : DET_FRONT, s->framed.rgb, s->framed.w, s->framed.h, found,
                            PL_MAX_FACES, s->err);
        if (nd < 0) return -1;
        for (int i = 0; i < nd && n < max; i++) {
            float cx = (found[i].x + found[i].w / 2) * to_mask, cy = (found[i].y + found[i].h / 2) * to_mask;
            float size = found[i].w * to_mask;
            int known = 0;
            for (int k = 0; k < n && !known; k++) known = hypotf(seeds[k].x - cx, seeds[k].y - cy) < 0.5f * fmaxf(size, seeds[k].size);
            if (known) continue;
            if (lmk_run(s->m->lmk, s->framed.rgb, s->framed.w, s->framed.h, &found[i], &l, s->err)) return -1;
            if (l.flag >= LMK_FLAG_MIN) seeds[n++] = pl__seed(l.pts, NULL, cx, cy, size);
        }
    }
    return n;
}

/* The person mask (MATTE_SIZE square, over the canvas) kept to the subject: every face is a
 * seed (the photo's through the plan, and the canvas's own), people_share splits the mask
 * among them. *others gets the count of other people. */
static int pl__subject_only(pl_run_state *s, float *mask, const float *colour, int *others) {
    pl_result *r = s->r;
    int w = s->framed.w, h = s->framed.h;
    float to_mask = (float)MATTE_SIZE / w, aspect = (float)h / w;
    people_seed seeds[2 * PL_MAX_FACES + 1];
    int n = pl__face_seeds(r, &r->plan.to_out, to_mask, seeds), subject = r->subject;
    /* in mask x units on both axes so far (as the canvas is), then y in mask rows */
    n = pl__canvas_faces(s, seeds, n, 2 * PL_MAX_FACES + 1, to_mask);
    if (n < 0) return PL_EFAIL;
    for (int i = 0; i < n; i++) seeds[i].y /= aspect;
    float *share = malloc(sizeof(float) * MATTE_SIZE * MATTE_SIZE);
    char perr[PEOPLE_ERR];
    if (!share || people_share(mask, colour, MATTE_SIZE, MATTE_SIZE, aspect, seeds, n, subject, share, perr)) {
        free(share);
        return pl__fail(s, PL_EFAIL, "%s", share ? perr : "out of memory");
    }
    for (int i = 0; i < MATTE_SIZE * MATTE_SIZE; i++) mask[i] *= share[i];
    free(share);
    *others = n - 1;
    return 0;
}

/* Subject matte x coverage, and the decontaminated foreground; notches under the body filled
 * (frame_ground_fill). With keep, or a crop of a photo the face fills, there is no matte: the
 * photo is the foreground wherever it covers the canvas. */
static int pl__matte(pl_run_state *s) {
    int w = s->framed.w, h = s->framed.h;
    size_t n = (size_t)w * h;
    s->alpha = buffer_alloc(sizeof(float) * n);
    s->fg = buffer_alloc(sizeof(float) * n * 3);
    s->before = buffer_alloc(n * 3);
    if (!s->alpha || !s->fg || !s->before) return pl__fail(s, PL_EFAIL, "out of memory");
    memcpy(s->before, s->framed.rgb, n * 3);
    if (s->o->background.kind == COMPOSE_KEEP || s->r->plan.inside) {   /* the photo as it is */
        for (size_t i = 0; i < n; i++) s->alpha[i] = s->framed.alpha[i] / 255.0f;
        return 0;
    }
    float *mask = malloc(sizeof(float) * MATTE_SIZE * MATTE_SIZE);
    if (!mask) return pl__fail(s, PL_EFAIL, "out of memory");
    float *in = malloc(sizeof(float) * MATTE_SIZE * MATTE_SIZE * 3);
    int others = 0, rc = in ? matte_input(s->m->rt->pool, s->framed.rgb, w, h, in, s->err) : pl__fail(s, PL_EFAIL, "out of memory");
    if (rc == 0) rc = matte_run(s->m->matte, in, mask, s->err);
    double split = pl__now();
    if (rc == 0 && !s->o->keep_others) rc = pl__subject_only(s, mask, in, &others);
    split = s->o->keep_others ? 0 : pl__now() - split;
    free(in);
    if (rc == 0) rc = matte_refine(s->m->rt->pool, s->framed.rgb, w, h, mask, MATTE_SIZE, MATTE_SIZE, s->alpha, s->fg, s->err);
    free(mask);
    if (rc) return PL_EFAIL;
    for (size_t i = 0; i < n; i++) s->alpha[i] *= s->framed.alpha[i] / 255.0f;
    int filled = frame_ground_fill(s->alpha, s->fg, s->framed.rgb, s->framed.alpha, w, h);
    meta_step(s->h, META_ANALYSIS, "matte", "model=selfie_segmentation refine=guided_filter foreground=estimated size=%dx%d "
              "people=%s ground_filled=%d", w, h, s->o->keep_others ? "all" : "subject", filled);
    pl__time(s, PL_MATTE, 0);
    s->r->ms[PL_MATTE] -= split;   /* the split is a stage of its own in the times */
    meta_step_ms(s->h, s->r->ms[PL_MATTE]);
    if (!s->o->keep_others) {
        meta_step(s->h, META_ANALYSIS, "one person", "others_removed=%d split=geodesic_from_faces", others);
        meta_step_ms(s->h, s->r->ms[PL_PEOPLE] = split);
    }
    return 0;
}

/* Every confirmed face's landmark box in the framed image: the white balance leaves them out. */
static int pl__face_boxes(const pl_result *r, float (*box)[4], int max) {
    const frame_affine *t = &r->plan.to_out;
    int n = 0;
    for (int f = 0; f < r->n_faces && n < max; f++, n++) {
        float *b = box[n];
        b[0] = b[1] = 1e30f, b[2] = b[3] = -1e30f;
        for (int i = 0; i < LMK_POINTS; i++) {
            const float *q = r->faces[f].lmk.pts[i];
            float x = (float)(t->a * q[0] + t->b * q[1] + t->e), y = (float)(t->c * q[0] + t->d * q[1] + t->f);
            b[0] = fminf(b[0], x), b[1] = fminf(b[1], y), b[2] = fmaxf(b[2], x), b[3] = fmaxf(b[3], y);
        }
    }
    return n;
}

/* Light, retouch and the team's gain in place on the framed photo, with the landmarks in
 * canvas pixels; the team's gain under the tone guard; the skin before and after all of them
 * goes to the report. */
static int pl__look(pl_run_state *s) {
    pl_result *r = s->r;
    img_rgb view = {s->framed.w, s->framed.h, s->framed.rgb, NULL};
    const float (*pts)[3] = (const float (*)[3])r->out_pts;
    look_skin before = look_skin_of(&view, pts);
    r->ita_before = before.ita;
    if (s->o->light) {
        float boxes[PL_MAX_FACES][4];
        look_light_opts lo = {s->alpha, (const float (*)[4])boxes, pl__face_boxes(r, boxes, PL_MAX_FACES), s->o->white_balance};
        if (look_light(s->m->rt->pool, &view, pts, &lo, s->o->light_strength, &r->look, s->err)) return PL_EFAIL;
        meta_step(s->h, META_CLASSICAL, "light",
                  "strength=%.2f white_balance=%s scene_gains=%.3f,%.3f,%.3f trust=%.2f gains=%.3f,%.3f,%.3f exposure=%+.2fEV "
                  "fill=%.2fEV guard=%.2f,%.2f,%.2f", s->o->light_strength, s->o->white_balance ? "auto" : "off",
                  r->look.wb_scene[0], r->look.wb_scene[1], r->look.wb_scene[2], r->look.wb_trust, r->look.wb_gain[0],
                  r->look.wb_gain[1], r->look.wb_gain[2], r->look.exposure_ev, r->look.fill, r->look.guard[LOOK_STEP_WB],
                  r->look.guard[LOOK_STEP_EXPOSURE], r->look.guard[LOOK_STEP_FILL]);
        pl__time(s, PL_LIGHT, 1);
    }
    if (s->o->retouch > 0) {
        if (look_retouch(s->m->rt->pool, &view, pts, s->o->retouch, &r->look, s->err)) return PL_EFAIL;
        meta_step(s->h, META_CLASSICAL, "retouch", "strength=%.2f blemishes_removed=%d smoothed=%.2f guard=%.2f",
                  s->o->retouch, r->look.blemishes_removed, r->look.smooth, r->look.retouch_kept);
        pl__time(s, PL_RETOUCH, 1);
    }
    if (s->o->team.gain[0] > 0) {
        const float *asked = s->o->team.gain;
        float g[3] = {asked[0], asked[1], asked[2]};
        char why[LOOK_GUARD_WHY];
        r->look.guard[LOOK_STEP_TEAM] = look_guard_gain(&view, pts, g, why);
        team_apply(&view, g);
        meta_step(s->h, META_CLASSICAL, "team exposure", "asked=%.3f,%.3f,%.3f gain=%.3f,%.3f,%.3f guard=%.2f",
                  asked[0], asked[1], asked[2], g[0], g[1], g[2], r->look.guard[LOOK_STEP_TEAM]);
        size_t n = strlen(r->look.guard_why);
        if (why[0]) snprintf(r->look.guard_why + n, sizeof r->look.guard_why - n, "%s%s", n ? "; " : "", why);
    }
    team_measure_face(&view, pts, &r->team);
    look_skin after = look_skin_of(&view, pts);
    r->ita_after = after.ita;
    meta_ita(s->h, r->ita_before, r->ita_after);
    meta_skin(s->h, before.l, before.a, before.b, after.l, after.a, after.b, r->look.guard_why);
    return 0;
}

typedef struct {
    float *fg;                    /* w*h*3: linear foreground */
    const unsigned char *now, *before;   /* the framed photo after / before the look (NULL: keep) */
    const float *lin;             /* [256] sRGB byte -> linear */
    int w;
} pl_look_job;

static void pl__look_rows(void *arg, int y0, int y1) {
    const pl_look_job *j = arg;
    for (size_t i = (size_t)y0 * j->w * 3; i < (size_t)y1 * j->w * 3; i++) {
        if (!j->before) {
            j->fg[i] = j->lin[j->now[i]];
            continue;
        }
        float g = (j->lin[j->now[i]] + 1e-3f) / (j->lin[j->before[i]] + 1e-3f);
        j->fg[i] *= g > 8 ? 8 : g;
    }
}

/* The look's change carried into the matte's foreground: each channel of F is scaled by the
 * ratio the look applied to the photo there (light is a gain field; retouch works where
 * alpha = 1, where F is the photo). Then the backdrop and the composite. */
static int pl__compose(pl_run_state *s) {
    pl_result *r = s->r;
    const compose_bg *bg = &s->o->background;
    int w = s->framed.w, h = s->framed.h;
    size_t n = (size_t)w * h;
    const float *lin = col_linear_table();
    int keep = bg->kind == COMPOSE_KEEP || r->plan.inside;
    pl_look_job lj = {s->fg, s->framed.rgb, keep ? NULL : s->before, lin, w};
    pool_rows(s->m->rt->pool, h, pl__look_rows, &lj);
    float *back = NULL;
    int rc = 0;
    if (bg->kind != COMPOSE_TRANSPARENT) {
        back = buffer_alloc(sizeof(float) * n * 3);
        if (!back) return pl__fail(s, PL_EFAIL, "out of memory");
        if (compose_backdrop(s->m->rt->pool, bg, w, h, &s->framed, bg->kind == COMPOSE_KEEP ? NULL : s->alpha, back, s->err)) rc = PL_EFAIL;
    }
    if (rc == 0 && compose_over(s->m->rt->pool, s->fg, s->alpha, back, w, h, &r->out, s->err)) rc = PL_EFAIL;
    free(back);
    if (rc) return rc;
    char name[META_TEXT];
    compose_name(bg, name, sizeof name);
    if (keep)
        meta_step(s->h, META_CLASSICAL, "background", "backdrop=keep (%s)",
                  r->plan.inside ? "the face fills the photo: a crop of it" : "past the photo's edge: its blurred background");
    else
        meta_step(s->h, META_NEURAL, "background", "backdrop=%s matte=selfie_segmentation+guided_filter compositing=linear_light",
                  name);
    pl__time(s, PL_COMPOSE, 1);
    return 0;
}

/* The descriptor of a face's level window (pl__id_window). */
static int pl__descriptor(pl_run_state *s, const pl_id_window *in, float desc[ID_DIM]) {
    return id_descriptor(s->m->id, in->win.rgb, in->win.w, in->win.h, (const float (*)[2])in->p68, desc, s->err) ? PL_EFAIL : 0;
}

/* Descriptor of the subject in the photo and of the face found again in the headshot (the
 * one nearest to where the subject's eyes were put), both level (pl__id_window). */
static int pl__identity(pl_run_state *s) {
    pl_result *r = s->r;
    float a[ID_DIM], b[ID_DIM];
    if (pl_models_load(s->m, PL_NET_ID, s->err) || pl__descriptor(s, &s->id_photo, a)) return PL_EFAIL;
    pl_face *again = malloc(sizeof(pl_face) * 4);
    if (!again) return pl__fail(s, PL_EFAIL, "out of memory");
    int n = pl_faces(s->m, &r->out, again, 4, NULL, NULL, s->err), best = -1;
    float ex = 0.5f * (r->out_pts[33][0] + r->out_pts[263][0]), ey = 0.5f * (r->out_pts[33][1] + r->out_pts[263][1]), bd = 0;
    for (int i = 0; i < n; i++) {
        const float (*q)[3] = (const float (*)[3])again[i].lmk.pts;
        float d = hypotf(0.5f * (q[33][0] + q[263][0]) - ex, 0.5f * (q[33][1] + q[263][1]) - ey);
        if (best < 0 || d < bd) best = i, bd = d;
    }
    int rc = n < 0 ? PL_EFAIL : 0;
    if (best >= 0) {
        pl_id_window w;
        if (pl__id_window(s->m->rt->pool, &r->out, (const float (*)[3])again[best].lmk.pts, &w, s->err)) {
            rc = PL_EFAIL;
        } else {
            if (pl__descriptor(s, &w, b)) rc = PL_EFAIL;
            else r->identity = id_distance(a, b);
            img_free(&w.win);
        }
    }
    free(again);
    if (rc) return rc;
    pl__model(s->h, &id_face_recognition);
    meta_identity(s->h, r->identity);
    meta_step(s->h, META_ANALYSIS, "identity", "distance=%.4f verdict=%s", r->identity, meta_identity_verdict(r->identity));
    pl__time(s, PL_IDENTITY, 1);
    if (isnan(r->identity)) {   /* not a verdict on the person: the pipeline lost the face */
        if (!s->o->force)
            return pl__fail(s, PL_EFAIL, "pipeline failure: the face found in the photo is not found again in the headshot "
                            "(not an identity verdict); not written (--force writes it anyway)");
        meta_warn(s->h, "the face found in the photo is not found again in the headshot; written because of --force");
    } else if (!(r->identity < META_ID_SAME)) {
        char what[PL_ERR];
        snprintf(what, sizeof what, "the headshot's face is %.2f from the photo's (same person below %.1f)", r->identity, META_ID_SAME);
        if (!s->o->force) {
            snprintf(s->err, PL_ERR, "identity check failed: %.90s; not written (--force writes it anyway)", what);
            return PL_EIDENTITY;
        }
        meta_warn(s->h, "identity check failed: %.90s; written because of --force", what);
    } else if (r->identity > META_ID_WARN) {
        meta_warn(s->h, "identity distance %.2f is above %.1f: check that the headshot still looks like you", r->identity, META_ID_WARN);
    }
    return 0;
}

/* ============================================================ the run === */

int pl_load(const char *path, long long max_pixels, img_rgb *photo, pl_result *r, meta_history *h,
            char err[PL_ERR]) {
    double t0 = pl__now();
    img_load_opts lo = {max_pixels, 0};
    int rc = img_load_file(photo, path, &lo, err);
    if (rc) return rc;
    char merr[META_ERR];
    if (meta_input(h, path, photo->w, photo->h, merr)) {
        img_free(photo);
        snprintf(err, PL_ERR, "%s", merr);
        return IMG_EREAD;
    }
    r->ms[PL_LOAD] = pl__now() - t0;
    return 0;
}

/* One look of the shared framed subject: light, retouch, backdrop, label. */
static int pl__variant(pl_run_state *s) {
    pl__stage(s, "light");
    int rc = pl__look(s);
    if (rc || s->o->team.measuring) return rc;
    pl__stage(s, "compose");
    if ((rc = pl__compose(s))) return rc;
    if (s->o->label) {
        char lerr[LABEL_ERR];
        if (label_draw(&s->r->out, NULL, lerr)) return snprintf(s->err, PL_ERR, "%s", lerr), PL_EFAIL;
        meta_step(s->h, META_CLASSICAL, "label", "mark=\"" LABEL_TEXT "\" corner=bottom-right");
        pl__time(s, PL_LABEL, 1);
    }
    return 0;
}

/* The framed canvas and the matte's planes, once the last look is made: the identity stage
 * reads the headshot only. */
static void pl__drop_canvas(pl_run_state *s) {
    img_free(&s->framed);
    free(s->before), free(s->alpha), free(s->fg);
    s->before = NULL, s->alpha = s->fg = NULL;
}

int pl_run_variants(pl_models *m, const img_rgb *photo, const pl_opts *o, int n, pl_result *r,
                    meta_history *h, char err[PL_ERR]) {
    double load_ms = r[0].ms[PL_LOAD];
    for (int k = 0; k < n; k++) {
        memset(&r[k], 0, sizeof r[k]);
        r[k].subject = -1, r[k].identity = NAN, r[k].ita_before = r[k].ita_after = NAN;
    }
    r[0].ms[PL_LOAD] = load_ms;
    const frame_spec *preset = frame_spec_get(o->preset);
    if (!preset) return snprintf(err, PL_ERR, "unknown preset"), PL_EFAIL;
    if (o->release && o->release != photo) return snprintf(err, PL_ERR, "release: not the photo of the run"), PL_EFAIL;
    for (int k = 1; k < n; k++)   /* keep has no matte and no matte foreground: all or none */
        if ((o[k].background.kind == COMPOSE_KEEP) != (o[0].background.kind == COMPOSE_KEEP))
            return snprintf(err, PL_ERR, "variants: keep and the other backdrops cannot share a run"), PL_EFAIL;
    frame_spec spec = *preset;
    if (o->width > 0 && o->height > 0) spec.w = o->width, spec.h = o->height;
    if (o->team.head > 0 || o->team.measuring) {   /* a team's frames (and its measuring pass, for the
                                                    zoom its photos need) put head and eyes exactly on the targets */
        spec.head[0] = spec.head[2] = spec.head[1];
        spec.eyes[0] = spec.eyes[2] = spec.eyes[1];
    }
    pl_run_state s = {.m = m, .o = o, .spec = &spec, .photo = photo, .r = r, .h = h, .err = err, .mark = pl__now()};
    meta_preset(h, spec.name);
    pl__stage(&s, "detect");
    int rc = pl__detect(&s);
    if (rc == 0) pl__stage(&s, "plan"), rc = pl__plan(&s);
    if (rc == 0) rc = pl__enhance(&s);   /* announces its stage when it upscales */
    if (rc == 0) pl__stage(&s, "frame"), rc = pl__frame(&s);
    if (rc == 0) pl__stage(&s, "matte"), rc = pl__matte(&s);
    /* Each variant starts from the framed photo before the look and the matte's foreground. */
    float *fg0 = NULL;
    size_t np = (size_t)s.framed.w * s.framed.h;
    if (rc == 0 && n > 1 && !(fg0 = buffer_alloc(sizeof(float) * np * 3))) rc = pl__fail(&s, PL_EFAIL, "out of memory");
    if (fg0) memcpy(fg0, s.fg, sizeof(float) * np * 3);
    for (int k = 1; rc == 0 && k < n; k++) {
        r[k] = r[0];
        if (!(r[k].faces = malloc(sizeof(pl_face) * PL_MAX_FACES))) rc = pl__fail(&s, PL_EFAIL, "out of memory");
        else memcpy(r[k].faces, r[0].faces, sizeof(pl_face) * PL_MAX_FACES), h[k] = h[0];
    }
    for (int k = 0; rc == 0 && k < n; k++) {
        if (k > 0) {
            memcpy(s.framed.rgb, s.before, np * 3);
            memcpy(s.fg, fg0, sizeof(float) * np * 3);
            s.mark = pl__now();
        }
        s.o = &o[k], s.r = &r[k], s.h = &h[k];
        rc = pl__variant(&s);
        if (k == n - 1) pl__drop_canvas(&s), free(fg0), fg0 = NULL;
        if (rc == 0 && !s.o->team.measuring) pl__stage(&s, "identity"), rc = pl__identity(&s);
    }
    free(fg0);
    pl__drop_canvas(&s);
    img_free(&s.own);
    img_free(&s.thumb);
    img_free(&s.up);
    img_free(&s.id_photo.win);
    return rc;
}

int pl_run(pl_models *m, const img_rgb *photo, const pl_opts *o, pl_result *r, meta_history *h,
           char err[PL_ERR]) {
    pl_opts po = *o;
    if (o->team.measuring) {   /* a quarter of the size, not upscaled: enough for the highlights */
        const frame_spec *sp = frame_spec_get(o->preset);
        po.width = (o->width ? o->width : sp ? sp->w : 0) / 4, po.height = (o->height ? o->height : sp ? sp->h : 0) / 4;
        po.enhance = PL_ENHANCE_OFF;
    }
    return pl_run_variants(m, photo, &po, 1, r, h, err);
}

void pl_result_free(pl_result *r) {
    img_free(&r->out);
    free(r->faces);
    r->faces = NULL;
    r->n_faces = 0;
}
