/* test_detect.c — BlazeFace (short range and back camera) against TF.js, the crop's area
 * averaging, and detection end to end against the JS twin of the pipeline
 * (tools/reference/gold-face.mjs). */
#include "detect.h"
#include "test.h"
#include "golden.h"

#include "img.h"

#include <stdint.h>

/* ------------------------------------------------------------------ helpers --- */

static float sigmoid(float x) { return 1 / (1 + expf(-x)); }

/* ------------------------------------------------------------------ raw networks --- */

static float in_[256 * 256 * 3], ref_cls[DET_ANCHORS], ref_reg[DET_ANCHORS * 16];
static float cls[DET_ANCHORS], reg[DET_ANCHORS * 16];
static det_face ref_f[DET_ANCHORS], our_f[DET_ANCHORS];

/* Our network on the golden's input: every anchor's score within 0.02, and the box of every
 * anchor the reference scores >= 0.5 with IoU >= 0.95 against the reference's box. */
static void test_network(det_model *m, det_variant v, const char *golden) {
    char err[NN_ERR];
    nn_model *g = NULL;
    int s = det_input_size(v);
    if (nn_model_open(&g, golden, "tests/golden", err) != 0) {
        CHECK(0, "%s: golden readable: %s", golden, err);
        return;
    }
    int n1 = 512, ok =   /* anchors of head 1: 16x16 cells x 2, both models */
        golden_get(g, "input", in_, (size_t)s * s * 3)
        && golden_get(g, "cls1", ref_cls, n1) && golden_get(g, "cls2", ref_cls + n1, DET_ANCHORS - n1)
        && golden_get(g, "reg1", ref_reg, n1 * 16) && golden_get(g, "reg2", ref_reg + n1 * 16, (DET_ANCHORS - n1) * 16);
    CHECK(ok, "%s: golden has input %dx%dx3, cls1/2 and reg1/2", golden, s, s);
    for (int k = 0; ok && k < 2; k++) {
        if (golden_isa(k, err) != 0 || det_forward(m, v, in_, cls, reg, err) != 0) {
            CHECK(0, "%s (%s): runs: %s", golden, nn_isa(), err);
            continue;
        }
        det_roi net = {s / 2.0f, s / 2.0f, (float)s, 0};   /* boxes in network-input pixels */
        int nr = det_decode(v, ref_cls, ref_reg, net, -1, ref_f, DET_ANCHORS);
        det_decode(v, cls, reg, net, -1, our_f, DET_ANCHORS);
        float dscore = 0, miou = 1, dkp = 0;
        int faces = 0;
        for (int i = 0; i < nr; i++) {
            dscore = fmaxf(dscore, fabsf(sigmoid(cls[i]) - sigmoid(ref_cls[i])));
            if (ref_f[i].score < DET_MIN_SCORE) continue;
            faces++;
            miou = fminf(miou, det_iou(&ref_f[i], &our_f[i]));
            for (int p = 0; p < DET_KEYPOINTS; p++)
                dkp = fmaxf(dkp, hypotf(ref_f[i].kp[p][0] - our_f[i].kp[p][0], ref_f[i].kp[p][1] - our_f[i].kp[p][1]) / ref_f[i].w);
        }
        CHECK(dscore <= 0.02f && faces > 0 && miou >= 0.95f,
              "%s (%s): max score diff %.4f over %d anchors (tol 0.02), min box IoU %.4f over %d anchors >= 0.5 (tol 0.95), "
              "max keypoint diff %.2f%% of box width", golden, nn_isa(), dscore, nr, miou, faces, 100 * dkp);
    }
    nn_model_close(g);
}

/* ------------------------------------------------------------------ crop --- */

/* A 1-pixel checkerboard of 2048 x 1536 letterboxed to 128: 16 x 16 blocks average it to
 * grey (a point or plain bilinear sample would give black/white), the border is black, and
 * a 90-degree rotated crop of a gradient lands where the mapping says. */
static void test_crop(void) {
    int w = 2048, h = 1536, n = 128;
    unsigned char *rgb = malloc((size_t)w * h * 3);
    static float out[128 * 128 * 3];
    char err[NN_ERR];
    if (!rgb) {
        CHECK(0, "crop: memory");
        return;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) memset(rgb + ((size_t)y * w + x) * 3, (x + y) % 2 ? 255 : 0, 3);
    int rc = det_crop(NULL, rgb, w, h, det_letterbox(w, h), n, 1, 0, out, err);
    float lo = 255, hi = 0, border = 0;
    for (int v = 0; v < n; v++)
        for (int u = 0; u < n; u++) {
            float x = out[(v * n + u) * 3];
            if (v >= 17 && v < n - 17) lo = fminf(lo, x), hi = fmaxf(hi, x);   /* image rows 16..111 */
            if (v < 15 || v >= n - 15) border = fmaxf(border, x);
        }
    CHECK(rc == 0 && fabsf(lo - 127.5f) < 1 && fabsf(hi - 127.5f) < 1 && border == 0,
          "crop: checkerboard 2048x1536 -> 128 letterbox: inside %.2f..%.2f (want 127.5 +- 1), border max %.1f (want 0)",
          lo, hi, border);
    /* r = (x - 800) / 2, g = (y - 600) / 2 in integers: the 2x2 block averages are exactly
     * (x - 801) / 2 and (y - 601) / 2 at the block centres, which bilinear sampling keeps,
     * so a crop rotated by +90 degrees (its x axis along the image's +y) must give exactly
     * those values at the image points the mapping names. */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = (unsigned char)(x < 800 ? 0 : x >= 1310 ? 255 : (x - 800) / 2);
            p[1] = (unsigned char)(y < 600 ? 0 : y >= 1110 ? 255 : (y - 600) / 2);
            p[2] = 0;
        }
    det_roi r = {1000, 800, 256, 1.5707963f};
    rc = det_crop(NULL, rgb, w, h, r, n, 1, 0, out, err);
    float worst = 0;
    for (int v = 0; v < n; v++)
        for (int u = 0; u < n; u++) {
            float a = ((u + 0.5f) / n - 0.5f) * 256, b = ((v + 0.5f) / n - 0.5f) * 256;
            float x = 1000 - b, y = 800 + a;   /* centre + R(90) (a, b) */
            worst = fmaxf(worst, fabsf(out[(v * n + u) * 3] - (x - 801) / 2));
            worst = fmaxf(worst, fabsf(out[(v * n + u) * 3 + 1] - (y - 601) / 2));
        }
    CHECK(rc == 0 && worst < 0.01f, "crop: rotated 90 degrees with 2x2 blocks: max |error| %.5f levels (tol 0.01)", worst);
    free(rgb);
}

/* ------------------------------------------------------------------ bad input --- */

static void test_errors(det_model *m) {
    char err[NN_ERR] = "";
    det_face f[4];
    unsigned char px[3] = {200, 150, 100};
    int a = det_run(m, NULL, 10, 10, f, 4, err);
    CHECK(a == -1 && err[0], "refuses a missing image: returns %d, \"%s\"", a, err);
    err[0] = 0;
    int b = det_run(m, px, 0, 1, f, 4, err);
    CHECK(b == -1 && err[0], "refuses a 0x1 image: returns %d, \"%s\"", b, err);
    int c = det_run(m, px, 1, 1, f, 4, err);
    CHECK(c == 0, "a 1x1 image: %d faces", c);
}

/* ------------------------------------------------------------------ end to end --- */

/* det_run on the photo against the JS twin's faces: same count, every box IoU >= 0.95 and
 * score within 0.02. */
static void test_photo(det_model *m, const char *id, const char *file) {
    char err[NN_ERR], path[256];
    nn_model *g = NULL;
    snprintf(path, sizeof path, "face-%s", id);
    img_rgb im = {0};
    if (img_load_file(&im, file, NULL, err) != 0 || nn_model_open(&g, path, "tests/golden", err) != 0) {
        CHECK(0, "%s: photo %s and golden %s readable: %s", id, file, path, err);
        img_free(&im);
        return;
    }
    unsigned char *rgb = im.rgb;
    int w = im.w, h = im.h;
    const nn_wtensor *t = nn_model_find(g, "det");
    det_face faces[16];
    int n = det_run(m, rgb, w, h, faces, 16, err);
    int nref = t && t->ndim == 2 && t->shape[1] == 17 ? t->shape[0] : -1;
    float miou = 1, dscore = 0;
    for (int i = 0; i < nref; i++) {
        det_face r;
        const float *v = (const float *)t->data + 17 * i;
        r.score = v[0], r.x = v[1], r.y = v[2], r.w = v[3], r.h = v[4];
        float best = 0;
        int k = -1;
        for (int j = 0; j < n; j++)
            if (det_iou(&r, &faces[j]) > best) best = det_iou(&r, &faces[j]), k = j;
        miou = fminf(miou, best);
        dscore = fmaxf(dscore, k < 0 ? 1 : fabsf(faces[k].score - r.score));
    }
    CHECK(n == nref && nref > 0 && miou >= 0.95f && dscore <= 0.02f,
          "%s %dx%d end to end: %d face(s) (reference %d), min box IoU %.4f (tol 0.95), max score diff %.4f (tol 0.02)%s",
          id, w, h, n, nref, miou, dscore, n < 0 ? err : "");
    nn_model_close(g);
    img_free(&im);
}

int main(void) {
    char err[NN_ERR];
    det_model *m = det_load(NULL, getenv("HEADSHOT_WEIGHTS"), err);
    CHECK(m != NULL, "blazeface: both networks load%s%s", m ? "" : ": ", m ? "" : err);
    if (!m) return test_done();
    test_network(m, DET_FRONT, "blazeface-d01");
    test_network(m, DET_FRONT, "blazeface-d03");
    test_network(m, DET_FRONT, "blazeface-d05");
    test_network(m, DET_BACK, "blazeface-back-d01");
    test_network(m, DET_BACK, "blazeface-back-d05");
    test_crop();
    test_errors(m);
    test_photo(m, "d01", TEST_DATA "d01.jpg");
    test_photo(m, "d03", TEST_DATA "d03.png");
    test_photo(m, "d05", TEST_DATA "d05.jpg");
    test_photo(m, "d07", TEST_DATA "d07.jpg");
    det_free(m);
    return test_done();
}
