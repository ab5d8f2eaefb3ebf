/* ruler.h — what the framing tests (test_frame.c, test_pipeline.c) measure a headshot with.
 *
 * The ruler is the pipeline's own face measurement run again on the image under test:
 * BlazeFace + FaceMesh find the face, the eyes come from the eye corners and the crown from
 * the selfie network's person mask (pl_head). The rules are the official ones (passports) or
 * the preset's stated ranges (linkedin, portrait), written here independently of frame.c's
 * table. Include after pipeline.h and test.h; the test opens M with pl_models_open.
 */
#ifndef RULER_H
#define RULER_H

static pl_models M;

/* The subject of im and its head, measured; returns its index in faces, -1 when no face. */
static int measure(const img_rgb *im, frame_face *f, pl_face *faces) {
    char err[PL_ERR];
    int n = pl_faces(&M, im, faces, PL_MAX_FACES, NULL, NULL, err);
    if (n < 1) return -1;
    int s = pl_subject(faces, n, im->w, im->h);
    return pl_head(&M, im, (const float (*)[3])faces[s].lmk.pts, f, err) ? -1 : s;
}

/* TEST_DATA/name into im; prints "not ok" and returns non-zero when it cannot. */
static int load(const char *name, img_rgb *im) {
    char err[IMG_ERR], path[256];
    snprintf(path, sizeof path, TEST_DATA "%s", name);
    int rc = img_load_file(im, path, NULL, err);
    if (rc) printf("not ok - load %s: %s\n", path, err);
    return rc;
}

/* Head (chin to crown) and eye line (from the top), shares of the output height. */
static const struct { frame_preset p; float head_lo, head_hi, eyes_lo, eyes_hi; const char *rule; } rules[] = {
    {FRAME_LINKEDIN, 0.53f, 0.62f, 0.37f, 0.43f, "face 55-60%, eyes ~40% from the top (+-0.02, +-0.03)"},
    {FRAME_PORTRAIT, 0.36f, 0.48f, 0.29f, 0.39f, "head 38-46%, eyes 31-37% from the top (+-0.02)"},
    {FRAME_PASSPORT_EU, 32 / 45.0f, 36 / 45.0f, 0.30f, 0.50f, "chin-crown 32-36 mm of 45, eyes 50-70% above the bottom"},
    {FRAME_PASSPORT_US, 1 / 2.0f, 1.375f / 2, 1 - 1.375f / 2, 1 - 1.125f / 2, "head 1-1 3/8 in of 2, eyes 1 1/8-1 3/8 in above the bottom"},
};

#endif
