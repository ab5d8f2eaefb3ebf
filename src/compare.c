/* compare.c — `headshot compare A B [--json]` (see compare.h). Sections: one photo (load,
 * the subject by the pipeline's rule, descriptor), the command.
 */
#include "compare.h"
#include "identity.h"
#include "img.h"
#include "landmarks.h"
#include "meta.h"
#include "pipeline.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cmp_usage[] =
    "Usage: headshot compare A B [--json]\n"
    "\n"
    "Says whether two photos show the same person: the distance between face-api descriptors\n"
    "of the main face in each (the largest, most central one, as headshot chooses its subject).\n"
    "Below 0.6 the same person, uncertain above 0.4.\n"
    "--json prints one JSON object instead of text.\n"
    "Exit status: 0 same person, 7 not the same person, 6 no face found, 2-5 and 9 as for\n"
    "headshot itself (see 'headshot --help').\n";

/* ============================================================ one photo === */

typedef struct {
    const char *file;             /* path as given */
    int w, h;                     /* upright size */
    int faces;                    /* detections */
    det_face face;                /* the main face's detection */
    float desc[ID_DIM];           /* its descriptor */
} cmp_photo;

typedef struct {
    det_model *det;
    lmk_model *lmk;
    id_model *id;
} cmp_nets;

static int cmp_fail(int code, const char *file, const char *what) {
    fprintf(stderr, "headshot: compare: %s%s%s\n", file ? file : "", file ? ": " : "", what);
    return code;
}

/* Loads p->file and fills the rest of *p: the faces FaceMesh confirms (pl_faces), the subject
 * among them by the pipeline's rule (pl_subject), its descriptor. Returns 0 or an exit status
 * (after the message). */
static int cmp_photo_run(const cmp_nets *n, cmp_photo *p) {
    char err[PL_ERR > IMG_ERR ? PL_ERR : IMG_ERR];
    img_rgb im;
    int rc = img_load_file(&im, p->file, NULL, err);
    if (rc) return cmp_fail(hs_status_of_image(rc), p->file, err);
    p->w = im.w, p->h = im.h;

    pl_models dl = {.det = n->det, .lmk = n->lmk};   /* pl_faces runs the detector and FaceMesh only */
    pl_face *faces = malloc(sizeof *faces * PL_MAX_FACES);
    int refused = 0, found = faces ? pl_faces(&dl, &im, faces, PL_MAX_FACES, &refused, NULL, err) : -1;
    p->faces = found < 0 ? 0 : found + refused;
    if (found < 0) rc = cmp_fail(HS_EINTERNAL, p->file, faces ? err : "out of memory");
    else if (found == 0) rc = cmp_fail(HS_ENOFACE, p->file, refused ? "no face confirmed by the landmark network" : "no face found");
    else {
        const pl_face *f = &faces[pl_subject(faces, found, im.w, im.h)];
        float pts68[68][2];
        id_points68((const float (*)[3])f->lmk.pts, pts68);
        if (id_descriptor(n->id, im.rgb, im.w, im.h, (const float (*)[2])pts68, p->desc, err) != 0)
            rc = cmp_fail(HS_EINTERNAL, p->file, err);
        p->face = f->det;
    }
    free(faces);
    img_free(&im);
    return rc;
}

static void cmp_print_json(const cmp_photo *p) {
    printf("{\"file\": ");
    meta_json_string(stdout, p->file);
    printf(", \"width\": %d, \"height\": %d, \"faces\": %d, \"face\": {\"x\": %.1f, \"y\": %.1f, \"w\": %.1f, "
           "\"h\": %.1f, \"score\": %.4f}}", p->w, p->h, p->faces, p->face.x, p->face.y, p->face.w, p->face.h,
           p->face.score);
}

/* ============================================================ the command === */

int compare_main(int argc, char **argv, const char *weights_dir) {
    cmp_photo ph[2];
    int n = 0, json = 0;
    memset(ph, 0, sizeof ph);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return fputs(cmp_usage, stdout), HS_OK;
        else if (argv[i][0] == '-' && argv[i][1]) return cmp_fail(HS_EUSAGE, NULL, "unknown option (see 'headshot compare --help')");
        else if (n == 2) return cmp_fail(HS_EUSAGE, NULL, "more than two photos given (see 'headshot compare --help')");
        else ph[n++].file = argv[i];
    }
    if (n < 2) return cmp_fail(HS_EUSAGE, NULL, "give two photos: headshot compare A B");

    char err[NN_ERR];
    cmp_nets nets = {NULL, NULL, NULL};
    int rc = HS_OK;
    if (!(nets.det = det_load(NULL, weights_dir, err)) || !(nets.lmk = lmk_load(NULL, weights_dir, err)) ||
        !(nets.id = id_load(NULL, weights_dir, err)))
        rc = cmp_fail(weights_dir ? HS_EWEIGHTS : HS_EINTERNAL, weights_dir, err);
    for (int k = 0; k < 2 && rc == HS_OK; k++) rc = cmp_photo_run(&nets, &ph[k]);
    id_free(nets.id);
    lmk_free(nets.lmk);
    det_free(nets.det);
    if (rc) return rc;

    float d = id_distance(ph[0].desc, ph[1].desc);
    int same = d < META_ID_SAME;
    if (json) {
        printf("{\"a\": ");
        cmp_print_json(&ph[0]);
        printf(",\n \"b\": ");
        cmp_print_json(&ph[1]);
        printf(",\n \"distance\": %.4f, \"warn_above\": %.1f, \"same_below\": %.1f, \"same_person\": %s, \"verdict\": \"%s\"}\n",
               d, META_ID_WARN, META_ID_SAME, same ? "true" : "false", meta_identity_verdict(d));
    } else {
        for (int k = 0; k < 2; k++)
            printf("%s: %dx%d, %d face%s, main face %.0fx%.0f at (%.0f, %.0f)\n", ph[k].file, ph[k].w, ph[k].h,
                   ph[k].faces, ph[k].faces == 1 ? "" : "s", ph[k].face.w, ph[k].face.h, ph[k].face.x, ph[k].face.y);
        printf("distance %.4f: %s (same person below %.1f, uncertain above %.1f)\n", d, meta_identity_verdict(d),
               META_ID_SAME, META_ID_WARN);
    }
    if (fflush(stdout) != 0) return cmp_fail(HS_EINTERNAL, "standard output", "cannot write");
    return same ? HS_OK : HS_EIDENTITY;
}
