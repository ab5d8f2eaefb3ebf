/* team.h — --team: a batch that looks like one photo session: the same backdrop, the same eye
 * line and face size in every frame, and one shared exposure and colour.
 *
 *   team_session t;  team_session_init(&t, n);
 *   pass 1, photo i:  team_session_shot(&t, i, &pl_opts.team): a measuring shot; pl_run (a
 *                     quarter-size preview, no upscaling) fills pl_result.team with
 *                     team_head_ratio() of its geometry and team_measure_face() of the framed
 *                     subject after the look; team_session_add(&t, i, &result.team)
 *   between:          team_session_target(&t): team_target() of the measurements (medians)
 *   pass 2, photo i:  team_session_shot(&t, i, ...) again: the shared head ratio and the
 *                     photo's team_gain(); pl_run applies team_face() and, after the look,
 *                     team_apply()
 *   team_session_free(&t);
 *
 * Face size. A preset scales the head from chin to crown, and the crown is the top of the
 * hair: two people with different hair get faces of different sizes. A team frame scales the
 * face instead: its head is team_head x the eyes-to-chin distance, the same factor for
 * everyone (the team's median of chin-to-crown / eyes-to-chin, so the average head keeps the
 * preset's size), and the eye line and head sit exactly on the preset's targets.
 *
 * Exposure and colour. Skin tone is each person's own: a darker face is never lightened to
 * match a lighter one. The shared reference is the face's highlights instead: the brightest
 * few percent of the face (specular highlights on forehead, nose and cheeks, eye whites).
 * Specular reflection from skin is a surface reflection of a few percent whatever the
 * pigment, and it has the colour of the light (the dichromatic reflection model), so the
 * highlights measure the light falling on the face more than the face. Each photo gets one
 * global gain that moves its highlights' brightness and colour to the team's median,
 * limited to TEAM_EV_MAX and TEAM_TINT_MAX so that a measurement fooled by glasses or a
 * shiny forehead cannot do much harm.
 */
#ifndef TEAM_H
#define TEAM_H

#include "frame.h"
#include "img.h"

#define TEAM_EV_MAX 0.5f          /* largest exposure change, stops */
#define TEAM_TINT_MAX 0.08f       /* largest colour change, ln(R/G) and ln(B/G) */
#define TEAM_HI_LO 0.95f          /* the highlights: this quantile of the face's luminance ... */
#define TEAM_HI_HI 0.995f         /* ... to this one (above: glints, clipped pixels) */
#define TEAM_MIN_PIXELS 400       /* face pixels needed for a measurement */

typedef struct {
    float head_ratio;             /* chin-to-crown / eyes-to-chin, levelled */
    float zoom;                   /* the frame's zoom past the preset's head rule (frame_plan.zoom):
                                     > 1 when the photo's edge allows only a tighter crop */
    float y;                      /* highlights' mean linear luminance */
    float u, v;                   /* their colour: ln(R/G), ln(B/G) of the linear mean */
    int ok;                       /* 1: the highlights were measured */
} team_measure;

/* What the pipeline does to one photo of a team (pl_opts.team); all zero: not a team photo. */
typedef struct {
    int measuring;                /* 1: pass 1: a preview at a quarter of the size, not upscaled,
                                     stopped after the look with pl_result.team measured */
    float head;                   /* pass 2: > 0: head = this x eyes-to-chin (team_face), with head
                                     and eye line exactly on the preset's targets */
    float gain[3];                /* pass 2: linear RGB gains after the look (team_gain); 0 = none */
} team_shot;

/* The two passes over a team's n photos. */
typedef struct {
    int n;
    team_measure *measured;       /* pass 1's, per photo */
    unsigned char *ok;            /* 1: photo i was measured */
    int targeted;                 /* 1: team_session_target ran: shots are pass 2's */
    team_measure target;          /* the shared head ratio and highlights */
    int n_measured;               /* photos in the target */
} team_session;

/* Returns 0, or -1 when out of memory. */
int team_session_init(team_session *t, int n);
void team_session_free(team_session *t);
/* Photo i's shot: measuring before team_session_target, then the target applied to its own
 * measurement. */
void team_session_shot(const team_session *t, int i, team_shot *shot);
/* Photo i's measurement from pass 1 (pl_result.team). */
void team_session_add(team_session *t, int i, const team_measure *m);
/* The shared target of the photos measured; pass 2 may begin. */
void team_session_target(team_session *t);
/* A measurement as TEAM_FLOATS numbers and back (to carry it across processes). */
#define TEAM_FLOATS 6
void team_measure_pack(const team_measure *m, float d[TEAM_FLOATS]);
team_measure team_measure_unpack(const float d[TEAM_FLOATS]);

/* chin-to-crown / eyes-to-chin of f in its levelled frame (0 if the eyes-to-chin distance
 * is not positive). */
float team_head_ratio(const frame_face *f);
/* Sets f's crown and head so that the head is ratio x its eyes-to-chin distance. */
void team_face(frame_face *f, float ratio);
/* The face's highlights in im (the framed subject, 8-bit sRGB) with the 468 landmarks in its
 * pixels; m->ok = 0 when the face holds too few unclipped pixels. */
void team_measure_face(const img_rgb *im, const float (*pts)[3], team_measure *m);
/* The medians of the n measurements (of those with ok, for the highlights); ok = 0 when
 * none had highlights. The head ratio is at most each photo's head_ratio / zoom: a photo with
 * no room for the preset's frame is cropped tighter, so everyone is, by as much. */
team_measure team_target(const team_measure *m, int n);
/* Linear RGB gains taking m's highlights to target's, within the limits; 1, 1, 1 when either
 * is not ok. Returns the exposure change in stops (for the record). */
float team_gain(const team_measure *m, const team_measure *target, float gain[3]);
/* im's pixels times gain in linear light, highlights rolled off instead of clipped. */
void team_apply(img_rgb *im, const float gain[3]);

#endif
