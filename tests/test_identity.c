/* test_identity.c — face-api's descriptor network against TF.js on the goldens' crops, face-api's
 * crop (alignment box, square padding, resize) against its JS twin, same/different-person
 * verdicts, and the whole chain from a photo (detection, landmarks, 68 points, descriptor).
 * Goldens: tools/reference/gold-identity.mjs. */
#include "identity.h"
#include "img.h"
#include "landmarks.h"
#include "test.h"
#include "golden.h"

#include <stdint.h>

/* d03-cut is d03's top-left CUT_W x CUT_H pixels (CUT_W, CUT_H of gold-identity.mjs): its
 * box is clipped, so the crop is padded to a square. */
#define CUT_W 275
#define CUT_H 170

#define COS_MIN 0.99f             /* issue tolerance for descriptors */

/* ------------------------------------------------------------------ helpers --- */

/* One golden: the crop, the 68 points, the box, the photo size and the reference descriptor. */
typedef struct {
    const char *id;
    int ok;
    float input[ID_INPUT * ID_INPUT * 3];
    float pts68[68][2];
    float box[4], image[2];
    float desc[ID_DIM];
} golden;

static golden goldens[4] = {{.id = "d01"}, {.id = "d02"}, {.id = "d03"}, {.id = "d03-cut"}};
enum { G_D01, G_D02, G_D03, G_CUT };

static void golden_load(golden *gd) {
    char err[NN_ERR], name[64];
    nn_model *g = NULL;
    snprintf(name, sizeof name, "identity-%s", gd->id);
    if (nn_model_open(&g, name, "tests/golden", err) != 0) {
        CHECK(0, "%s: golden readable: %s", name, err);
        return;
    }
    gd->ok = golden_get(g, "input", gd->input, ID_INPUT * ID_INPUT * 3) && golden_get(g, "pts68", &gd->pts68[0][0], 136)
          && golden_get(g, "box", gd->box, 4) && golden_get(g, "image", gd->image, 2)
          && golden_get(g, "descriptor", gd->desc, ID_DIM);
    CHECK(gd->ok, "%s: golden has input 150x150x3, pts68, box, image and descriptor (f32)", name);
    nn_model_close(g);
}

static float cosine(const float *a, const float *b) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < ID_DIM; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return (float)(ab / sqrt(aa * bb));
}

/* The kernel set the run was started with (HEADSHOT_ISA or the best one). */
static char default_isa[16];

/* ------------------------------------------------------------------ network --- */

/* Our descriptors on the goldens' crops, with the default kernels (kept for the pairs). */
static float ours[4][ID_DIM];

/* The network on the golden's crop, with the reference loops and the default kernels: cosine
 * to TF.js's descriptor >= COS_MIN; the euclidean distance is printed (same person < 0.6). */
static void test_network(id_model *m, int k) {
    golden *gd = &goldens[k];
    char err[NN_ERR];
    for (int i = 0; gd->ok && i < 2; i++) {
        if (golden_isa(i, err) != 0 || id_forward(m, gd->input, ours[k], err) != 0) {
            CHECK(0, "identity-%s (%s): runs: %s", gd->id, nn_isa(), err);
            continue;
        }
        float cs = cosine(ours[k], gd->desc), d = id_distance(ours[k], gd->desc);
        CHECK(cs >= COS_MIN, "identity-%s (%s): descriptor cosine %.5f (tol %.2f), euclidean distance %.4f (same person < %.1f)",
              gd->id, nn_isa(), cs, COS_MIN, d, ID_SAME_MAX);
    }
}

/* Same person: d01 and d02 (the same portrait, 128 px, stored sideways with EXIF orientation
 * 6); different: d03. On the goldens' crops; the reference distances are printed too. */
static void test_pairs(void) {
    static const int pairs[][3] = {{G_D01, G_D02, 1}, {G_D01, G_D03, 0}, {G_D02, G_D03, 0}};
    for (int i = 0; i < 3; i++) {
        const golden *a = &goldens[pairs[i][0]], *b = &goldens[pairs[i][1]];
        if (!a->ok || !b->ok) continue;
        float d = id_distance(ours[pairs[i][0]], ours[pairs[i][1]]), ref = id_distance(a->desc, b->desc);
        int same = pairs[i][2];
        CHECK(same ? d < ID_SAME_MAX : d > ID_SAME_MAX, "identity %s vs %s: distance %.4f %s %.1f: %s person (TF.js: %.4f)",
              a->id, b->id, d, same ? "<" : ">", ID_SAME_MAX, same ? "same" : "different", ref);
    }
}

/* ------------------------------------------------------------------ precision --- */

#define INT8_FP32_MAX 0.03f       /* int8 against fp32: 5% of the same-person threshold */

/* The network built with runtime rt (NULL: the process's, int8 by default). */
static id_model *load_with(const nn_runtime *rt, char err[NN_ERR]) {
    id_model *m = id_load(rt, getenv("HEADSHOT_WEIGHTS"), err);
    CHECK(m != NULL, "face_recognition (%s): loads%s%s", rt && !rt->int8 ? "fp32" : "int8", m ? "" : ": ", m ? "" : err);
    return m;
}

/* int8 against fp32 (the weights widened at load, the path before int8) on the goldens'
 * crops d01 and d03: descriptor distance <= INT8_FP32_MAX. And int8 results do not depend on
 * the kernels or the thread count (exact integer sums, one epilogue): the C kernels (reference)
 * and the default ones, 1 and 2 threads, give the same bits. */
static void test_precision(void) {
    char err[NN_ERR];
    nn_runtime fp32;   /* the process's kernels and threads, the precision fp32 */
    nn_runtime_init(&fp32, nn_isa(), "fp32", err), fp32.pool = nn_runtime_default()->pool;
    id_model *m8 = load_with(NULL, err), *m32 = m8 ? load_with(&fp32, err) : NULL;
    for (int k = 0; m32 && k < 3; k += 2) {
        const golden *gd = &goldens[k];
        float d8[ID_DIM], d32[ID_DIM], other[ID_DIM];
        if (!gd->ok || id_forward(m8, gd->input, d8, err) || id_forward(m32, gd->input, d32, err)) {
            CHECK(0, "identity-%s: int8 and fp32 run: %s", gd->id, err);
            continue;
        }
        float d = id_distance(d8, d32);
        CHECK(d <= INT8_FP32_MAX, "identity-%s: int8 vs fp32 descriptor distance %.4f (tol %.2f); to TF.js %.4f (int8), %.4f (fp32)",
              gd->id, d, INT8_FP32_MAX, id_distance(d8, gd->desc), id_distance(d32, gd->desc));
        int same = 1;
        for (int i = 0; i < 2; i++)
            for (int t = 1; t <= 2; t++) {
                golden_isa(i, err), nn_set_threads(t);
                same &= id_forward(m8, gd->input, other, err) == 0 && !memcmp(other, d8, sizeof d8);
            }
        nn_set_threads(0);
        CHECK(same, "identity-%s: int8 descriptor identical with the reference and %s kernels, 1 and 2 threads", gd->id, nn_isa());
    }
    id_free(m32);
    id_free(m8);
}

/* ------------------------------------------------------------------ crop --- */

static img_rgb load(const char *file) {
    char err[IMG_ERR];
    img_rgb im = {0};
    if (img_load_file(&im, file, NULL, err) != 0) CHECK(0, "%s: loads: %s", file, err);
    return im;
}

/* The top-left w x h pixels of an image, in place (rows only move up). */
static void cut(img_rgb *im, int w, int h) {
    for (int y = 0; y < h; y++) memmove(im->rgb + (size_t)y * w * 3, im->rgb + (size_t)y * im->w * 3, (size_t)w * 3);
    im->w = w, im->h = h;
}

/* The alignment box of every golden's points is exactly the reference box. */
static void test_align(void) {
    for (int k = 0; k < 4; k++) {
        const golden *gd = &goldens[k];
        id_box b = {0, 0, 0, 0};
        if (!gd->ok) continue;
        int rc = id_align((const float (*)[2])gd->pts68, (int)gd->image[0], (int)gd->image[1], &b);
        CHECK(rc == 0 && b.x == gd->box[0] && b.y == gd->box[1] && b.w == gd->box[2] && b.h == gd->box[3],
              "identity-%s: alignment box %d,%d %dx%d in %gx%g, reference %g,%g %gx%g (exact)", gd->id, b.x, b.y, b.w, b.h,
              gd->image[0], gd->image[1], gd->box[0], gd->box[1], gd->box[2], gd->box[3]);
    }
}

/* Crop and descriptor from the photo and the golden's points: the crop matches TF.js's
 * slice + padToSquare + resizeBilinear within TOL grey levels, the descriptor TF.js's. TOL is
 * 1e-3 for a PNG; a JPEG's pixels already differ by up to 4 levels between our decoder
 * (stb_image) and the golden's (jpeg-js), and a bilinear mix of them by as much. */
static void test_crop(id_model *m, int k, const char *file, float tol) {
    const golden *gd = &goldens[k];
    static float crop[ID_INPUT * ID_INPUT * 3];
    char err[NN_ERR];
    img_rgb im = load(file);
    if (!gd->ok || !im.rgb) {
        img_free(&im);
        return;
    }
    if (k == G_CUT) cut(&im, CUT_W, CUT_H);
    id_box b;
    float diff = 1e30f, desc[ID_DIM];
    if (id_align((const float (*)[2])gd->pts68, im.w, im.h, &b) == 0 && id_crop(im.rgb, im.w, im.h, b, crop) == 0) {
        diff = 0;
        for (int i = 0; i < ID_INPUT * ID_INPUT * 3; i++) diff = fmaxf(diff, fabsf(crop[i] - gd->input[i]));
    }
    CHECK(diff <= tol, "identity-%s: %dx%d photo, box %dx%d -> 150x150 crop: max difference %.2g grey levels (tol %g)",
          gd->id, im.w, im.h, b.w, b.h, diff, tol);
    int rc = id_descriptor(m, im.rgb, im.w, im.h, (const float (*)[2])gd->pts68, desc, err);
    float cs = rc == 0 ? cosine(desc, gd->desc) : 0;
    CHECK(rc == 0 && cs >= COS_MIN, "identity-%s: id_descriptor from the photo: cosine %.5f (tol %.2f), distance %.4f%s%s",
          gd->id, cs, COS_MIN, rc == 0 ? id_distance(desc, gd->desc) : 0.0f, rc ? ": " : "", rc ? err : "");
    img_free(&im);
}

/* Points that put the box outside the image are refused with a reason. */
static void test_refusal(id_model *m) {
    unsigned char rgb[4 * 4 * 3] = {0};
    float pts[68][2], desc[ID_DIM];
    char err[NN_ERR] = "";
    for (int i = 0; i < 68; i++) pts[i][0] = 100 + i % 7, pts[i][1] = 100 + i % 5 + (i >= 48 ? 40 : 0);
    int rc = id_descriptor(m, rgb, 4, 4, (const float (*)[2])pts, desc, err);
    CHECK(rc == -1 && err[0], "identity: a face outside a 4x4 image is refused: rc %d, \"%s\"", rc, err);
}

/* ------------------------------------------------------------------ end to end --- */

/* Our whole chain on a photo: the best flagged face's descriptor; 0 if none. */
static int chain(det_model *dm, lmk_model *lm, id_model *m, const char *file, float desc[ID_DIM]) {
    static lmk_result r;
    det_face faces[8];
    float pts68[68][2];
    char err[NN_ERR] = "";
    img_rgb im = load(file);
    int n = im.rgb ? det_run(dm, im.rgb, im.w, im.h, faces, 8, err) : -1, ok = 0;
    for (int i = 0; i < n && !ok; i++) {
        if (lmk_run(lm, im.rgb, im.w, im.h, &faces[i], &r, err) != 0 || r.flag < LMK_FLAG_MIN) continue;
        id_points68((const float (*)[3])r.pts, pts68);
        ok = id_descriptor(m, im.rgb, im.w, im.h, (const float (*)[2])pts68, desc, err) == 0;
    }
    if (!ok) CHECK(0, "%s: a face and its descriptor: %s", file, err);
    img_free(&im);
    return ok;
}

/* Photo -> descriptor with our detector and landmarks against the golden's (the JS twin of
 * that chain with the original networks). The landmarks differ by a fraction of a pixel, and
 * the box snaps to whole pixels, so the tolerance is looser than the network's: within 0.15
 * of the reference (a quarter of the same-person threshold). Then the verdicts. */
static void test_chain(id_model *m) {
    char err[NN_ERR];
    const char *dir = getenv("HEADSHOT_WEIGHTS");
    det_model *dm = det_load(NULL, dir, err);
    lmk_model *lm = dm ? lmk_load(NULL, dir, err) : NULL;
    CHECK(dm && lm, "blazeface and facemesh: load%s%s", dm && lm ? "" : ": ", dm && lm ? "" : err);
    float d01[ID_DIM], d03[ID_DIM];
    int ok1 = lm && chain(dm, lm, m, TEST_DATA "d01.jpg", d01), ok3 = lm && chain(dm, lm, m, TEST_DATA "d03.png", d03);
    if (ok1 && goldens[G_D01].ok) {
        float d = id_distance(d01, goldens[G_D01].desc);
        CHECK(d <= 0.15f, "identity d01 end to end: distance to the reference chain's descriptor %.4f (tol 0.15), cosine %.5f",
              d, cosine(d01, goldens[G_D01].desc));
    }
    if (ok3 && goldens[G_D03].ok) {
        float d = id_distance(d03, goldens[G_D03].desc);
        CHECK(d <= 0.15f, "identity d03 end to end: distance to the reference chain's descriptor %.4f (tol 0.15), cosine %.5f",
              d, cosine(d03, goldens[G_D03].desc));
    }
    if (ok1 && ok3 && goldens[G_D02].ok) {
        float same = id_distance(d01, ours[G_D02]), other = id_distance(d01, d03);
        CHECK(same < ID_SAME_MAX && other > ID_SAME_MAX,
              "identity end to end: d01 vs d02 %.4f (< %.1f, same person), d01 vs d03 %.4f (> %.1f, different)", same,
              ID_SAME_MAX, other, ID_SAME_MAX);
    }
    lmk_free(lm);
    det_free(dm);
}

int main(void) {
    char err[NN_ERR];
    id_model *m = id_load(NULL, getenv("HEADSHOT_WEIGHTS"), err);
    CHECK(m != NULL, "face_recognition: loads%s%s", m ? "" : ": ", m ? "" : err);
    if (!m) return test_done();
    for (int k = 0; k < 4; k++) golden_load(&goldens[k]);
    for (int k = 0; k < 4; k++) test_network(m, k);
    nn_set_isa(default_isa, err);
    test_pairs();
    test_precision();
    test_align();
    test_crop(m, G_D01, TEST_DATA "d01.jpg", 4);
    test_crop(m, G_D03, TEST_DATA "d03.png", 1e-3f);
    test_crop(m, G_CUT, TEST_DATA "d03.png", 1e-3f);
    test_refusal(m);
    test_chain(m);
    id_free(m);
    return test_done();
}
