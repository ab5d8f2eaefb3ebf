/* test_upscale.c — src/upscale.c against the original UpscalerJS ESRGAN models.
 *
 * The goldens (tools/reference/gold-upscale.mjs) hold a 64x64 face crop in [0, 255] and the
 * TF.js Keras model's raw x4 output. Checks per network and photo:
 *   - PSNR of our output against the reference >= 35 dB (the tolerance), both clamped
 *     to [0, 255] as the image is;
 *   - the byte path (up_run) is the float path rounded: max difference <= 1 level after
 *     clamping (it rounds; the float path is compared before rounding);
 * and on d01: the top 64x57 of the crop processed in tiles of 2 * margin + 20 (slim 3x2 tiles,
 * medium 2x2) equals the whole-image run within 1e-3 (max abs, floats). Plus the error paths.
 */
#include "test.h"
#include "upscale.h"

#define SIZE 64
#define S 4

static void *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = len > 0 ? malloc(len) : NULL;
    if (buf && fread(buf, 1, len, f) != (size_t)len) free(buf), buf = NULL;
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* f16 tensor NAME of golden G with COUNT values -> floats (caller frees), or NULL. */
static float *golden_tensor(const nn_model *g, const char *name, size_t count) {
    const nn_wtensor *t = nn_model_find(g, name);
    if (!t || t->dtype != NN_F16) return NULL;
    if ((size_t)t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3] != count) return NULL;
    float *x = malloc(count * sizeof *x);
    for (size_t i = 0; x && i < count; i++) x[i] = nn_half_to_float(((const uint16_t *)t->data)[i]);
    return x;
}

static float clamp255(float v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

static double psnr(const float *a, const float *b, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = clamp255(a[i]) - clamp255(b[i]);
        se += d * d;
    }
    return se == 0 ? 99 : 10 * log10(255.0 * 255.0 / (se / n));
}

static float max_abs(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fabsf(a[i] - b[i]) > m ? fabsf(a[i] - b[i]) : m;
    return m;
}

static void test_photo(up_model *m, const char *net, const char *photo, int tiled) {
    char path[256], err[NN_ERR];
    snprintf(path, sizeof path, "tests/golden/%s-%s.hsw", net, photo);
    size_t bytes, nin = SIZE * SIZE * 3, nout = nin * S * S;
    void *file = read_file(path, &bytes);
    nn_model *g = NULL;
    if (!file || nn_model_parse(&g, file, bytes, path, err) != 0) {
        CHECK(0, "%s %s: golden %s: %s", net, photo, path, file ? err : "cannot read");
        free(file);
        return;
    }
    float *in = golden_tensor(g, "input", nin), *ref = golden_tensor(g, "output", nout);
    float *out = malloc(nout * sizeof *out), *out_t = malloc(nout * sizeof *out_t);
    unsigned char *in8 = malloc(nin), *out8 = malloc(nout);
    if (!in || !ref || !out || !out_t || !in8 || !out8) {
        CHECK(0, "%s %s: golden tensors input [64,64,3] / output [256,256,3] f16 missing", net, photo);
        goto done;
    }

    int rc = up_run_f32(m, in, SIZE, SIZE, 0, out, err);
    double db = rc ? 0 : psnr(out, ref, nout);
    CHECK(rc == 0 && db >= 35, "%s %s: 64x64 -> 256x256 PSNR %.2f dB vs TF.js (tol >= 35), max abs diff %.3f %s",
          net, photo, db, rc ? 0 : max_abs(out, ref, nout), rc ? err : "");
    if (rc) goto done;

    for (size_t i = 0; i < nin; i++) in8[i] = (unsigned char)in[i];   /* the crop's bytes, exactly */
    rc = up_run(m, in8, SIZE, SIZE, out8, err);
    float worst = 0;
    for (size_t i = 0; rc == 0 && i < nout; i++) {
        float d = fabsf(out8[i] - clamp255(out[i]));
        worst = d > worst ? d : worst;
    }
    CHECK(rc == 0 && worst <= 0.5f + 1e-4f,
          "%s %s: up_run bytes = rounded float output, max diff %.3f (tol 0.5) %s", net, photo, worst, rc ? err : "");

    if (tiled) {   /* the top 64x57 of the crop: odd and not square, a different tile count per axis */
        int tile = 2 * up_margin(m) + 20, h = 57;
        size_t n = (size_t)SIZE * S * h * S * 3;
        rc = up_run_f32(m, in, SIZE, h, 0, out, err);
        if (rc == 0) rc = up_run_f32(m, in, SIZE, h, tile, out_t, err);
        float d = rc ? 1e9f : max_abs(out_t, out, n);
        CHECK(rc == 0 && d <= 1e-3f,
              "%s %s: 64x57 in tiles of %d (margin %d) = whole image, max abs diff %.2g (tol 1e-3) %s",
              net, photo, tile, up_margin(m), d, rc ? err : "");
    }
done:
    free(in), free(ref), free(out), free(out_t), free(in8), free(out8);
    nn_model_close(g);
    free(file);
}

int main(void) {
    const char *nets[] = {"esrgan_slim_x4", "esrgan_medium_x4"};
    char err[NN_ERR];
    for (int i = 0; i < 2; i++) {
        up_model *m = NULL;
        int rc = up_load(&m, nets[i], NULL, NULL, err);
        CHECK(rc == 0 && up_scale(m) == S, "%s: loads (embedded), scale %d, margin %d %s", nets[i],
              rc ? 0 : up_scale(m), rc ? 0 : up_margin(m), rc ? err : "");
        if (rc) continue;
        test_photo(m, nets[i], "d01", 1);
        test_photo(m, nets[i], "d03", 0);
        if (i == 0) {   /* error paths */
            float px[3] = {0}, big[3 * S * S];
            rc = up_run_f32(m, px, 0, 1, 0, big, err);
            CHECK(rc == -1 && err[0], "empty image refused: %s", err);
            err[0] = 0;
            rc = up_run_f32(m, px, 1, 1, 2 * up_margin(m), big, err);
            CHECK(rc == -1 && err[0], "tile <= 2 * margin refused: %s", err);
        }
        up_free(m);
    }
    up_model *m = NULL;
    err[0] = 0;
    CHECK(up_load(&m, "esrgan_none", NULL, NULL, err) == -1 && !m && err[0], "unknown network refused: %s", err);
    return test_done();
}
