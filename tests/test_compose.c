/* test_compose.c — backdrops and compositing: every --background renders what it says (the
 * colours measured at the corners and behind the subject), a transparent headshot is a PNG
 * with a real alpha channel, and blending happens in linear light.
 *
 * The scene: a 96 x 120 canvas, a red subject disc (alpha 1 inside, a soft rim) on a photo
 * whose background is blue (weight = how much each pixel shows background).
 */
#include "compose.h"
#include "colour.h"
#include "test.h"

#define W 96
#define H 120

static float alpha[W * H], fg[W * H * 3], back[W * H * 3];
static img_rgb photo;

static void scene(void) {
    char err[IMG_ERR];
    img_new(&photo, W, H, 0, err);
    const float *lin = col_linear_table();
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t i = (size_t)y * W + x;
            float d = hypotf(x + 0.5f - W / 2.0f, y + 0.5f - H * 0.45f), a = (28 - d) / 3 + 0.5f;
            alpha[i] = a < 0 ? 0 : a > 1 ? 1 : a;
            unsigned char red[3] = {200, 30, 20}, blue[3] = {30, 60, 190};
            for (int k = 0; k < 3; k++) {
                photo.rgb[3 * i + k] = (unsigned char)lroundf(alpha[i] * red[k] + (1 - alpha[i]) * blue[k]);
                fg[3 * i + k] = lin[red[k]];
            }
        }
}

/* Mean sRGB colour of the 6 x 6 block at (x, y). */
static void block(const img_rgb *im, int x, int y, float m[3]) {
    m[0] = m[1] = m[2] = 0;
    for (int j = 0; j < 6; j++)
        for (int i = 0; i < 6; i++)
            for (int k = 0; k < 3; k++) m[k] += im->rgb[((size_t)(y + j) * im->w + x + i) * 3 + k] / 36.0f;
}

/* Renders spec; out gets the composite. Returns 0 if both calls succeeded. */
static int render(const char *spec, const img_rgb *picture, img_rgb *out) {
    compose_bg bg;
    char err[COMPOSE_ERR];
    if (compose_parse(spec, &bg, err)) return printf("# %s: %s\n", spec, err), -1;
    bg.picture = picture;
    int transparent = bg.kind == COMPOSE_TRANSPARENT;
    if (compose_backdrop(NULL, &bg, W, H, &photo, alpha, back, err)) return printf("# %s: %s\n", spec, err), -1;
    if (compose_over(NULL, fg, alpha, transparent ? NULL : back, W, H, out, err)) return printf("# %s: %s\n", spec, err), -1;
    return 0;
}

static void test_backdrops(void) {
    img_rgb out, pic;
    float corner[3], mid[3], top[3];
    char err[IMG_ERR];

    /* studio and its tints: lit behind the subject, darker corners; the tint in the corners */
    static const char *studios[] = {"studio", "studio-blue", "studio-warm"};
    for (int s = 0; s < 3; s++) {
        if (render(studios[s], NULL, &out)) continue;
        block(&out, 0, 0, corner), block(&out, W / 2 - 3, 8, top), block(&out, W / 2 - 3, H / 2 - 3, mid);
        float lc = corner[0] + corner[1] + corner[2], lt = top[0] + top[1] + top[2];
        int tint = s == 0 ? fabsf(corner[0] - corner[2]) < 10 : s == 1 ? corner[2] > corner[0] + 20 : corner[0] > corner[2] + 20;
        CHECK(lt > lc + 60 && tint && mid[0] > 190 && mid[2] < 40,
              "%s: glow above the head %.0f,%.0f,%.0f brighter than the corner %.0f,%.0f,%.0f (%s), subject red %.0f,%.0f,%.0f",
              studios[s], top[0], top[1], top[2], corner[0], corner[1], corner[2],
              s == 0 ? "neutral" : s == 1 ? "blue" : "warm", mid[0], mid[1], mid[2]);
        img_free(&out);
    }

    /* flat colours: exact (dither rounds a value that is exact to itself) */
    static const struct { const char *spec; unsigned char rgb[3]; } flats[] = {{"white", {255, 255, 255}}, {"#1F3A5F", {31, 58, 95}}};
    for (int s = 0; s < 2; s++) {
        if (render(flats[s].spec, NULL, &out)) continue;
        int bad = 0;
        for (int k = 0; k < 3; k++)
            bad += out.rgb[k] != flats[s].rgb[k] || out.rgb[((size_t)W * H - 1) * 3 + k] != flats[s].rgb[k];
        block(&out, W / 2 - 3, H / 2 - 3, mid);
        CHECK(!bad && mid[0] > 190, "%s: corners %d,%d,%d and %d,%d,%d exact, subject red %.0f", flats[s].spec, out.rgb[0],
              out.rgb[1], out.rgb[2], out.rgb[(W * H - 1) * 3], out.rgb[(W * H - 1) * 3 + 1], out.rgb[(W * H - 1) * 3 + 2], mid[0]);
        img_free(&out);
    }

    /* blur: the blue background, also right next to the subject, where the red must not bleed */
    if (render("blur", NULL, &out) == 0) {
        block(&out, 0, 0, corner);
        compose_bg bg;
        compose_parse("blur", &bg, err);
        compose_backdrop(NULL, &bg, W, H, &photo, alpha, back, err);
        /* the backdrop itself just outside the disc's rim and at its centre (filled in) */
        float near_r = 0, near_b = 0, hole_r = 0;
        const float *lin = col_linear_table();
        size_t rim = (size_t)(H * 0.45f) * W + W / 2 + 32, ctr = (size_t)(H * 0.45f) * W + W / 2;
        near_r = back[3 * rim], near_b = back[3 * rim + 2], hole_r = back[3 * ctr];
        CHECK(fabsf(corner[2] - 190) < 4 && fabsf(corner[0] - 30) < 4 && near_r < lin[45] && near_b > lin[175] && hole_r < lin[45],
              "blur: corner %.0f,%.0f,%.0f is the blue background; backdrop next to the subject red %.3f blue %.3f, behind it red "
              "%.3f (linear; no red bleed: < %.3f)", corner[0], corner[1], corner[2], near_r, near_b, hole_r, lin[45]);
        img_free(&out);
    }

    /* image: a picture half green / half yellow (left / right) scaled to cover */
    if (img_new(&pic, 50, 20, 0, err) == 0) {
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 50; x++) {
                unsigned char *p = pic.rgb + ((size_t)y * 50 + x) * 3;
                p[0] = x < 25 ? 20 : 230, p[1] = x < 25 ? 160 : 210, p[2] = 20;
            }
        if (render("image:pic.png", &pic, &out) == 0) {
            float l[3], r[3];
            block(&out, 0, H - 6, l), block(&out, W - 6, 0, r);
            CHECK(fabsf(l[0] - 20) < 3 && fabsf(l[1] - 160) < 3 && fabsf(r[0] - 230) < 3 && fabsf(r[1] - 210) < 3,
                  "image: covers the canvas, left corner %.0f,%.0f,%.0f green, right corner %.0f,%.0f,%.0f yellow", l[0], l[1], l[2],
                  r[0], r[1], r[2]);
            img_free(&out);
        }
        img_free(&pic);
    }

    /* keep: no subject, the photo covers the canvas; fg = the photo, alpha 1: it comes back */
    {
        compose_bg bg;
        compose_parse("keep", &bg, err);
        const float *lin = col_linear_table();
        float *ones = malloc(sizeof(float) * W * H), *pfg = malloc(sizeof(float) * W * H * 3);
        for (int i = 0; ones && i < W * H; i++) ones[i] = 1;
        for (int i = 0; pfg && i < W * H * 3; i++) pfg[i] = lin[photo.rgb[i]];
        int worst = 999;
        if (ones && pfg && compose_backdrop(NULL, &bg, W, H, &photo, NULL, back, err) == 0 &&
            compose_over(NULL, pfg, ones, back, W, H, &out, err) == 0) {
            worst = 0;
            for (int i = 0; i < W * H * 3; i++) worst = abs(out.rgb[i] - photo.rgb[i]) > worst ? abs(out.rgb[i] - photo.rgb[i]) : worst;
            img_free(&out);
        }
        CHECK(worst <= 1, "keep: the photo unchanged (largest difference %d <= 1, from the dither)", worst);
        free(ones), free(pfg);
    }

    /* the photo's coverage: where the photo does not reach (alpha plane 0 on the left half,
     * painted black there) the blur fills in the covered half's blue background, never black */
    {
        compose_bg bg;
        compose_parse("blur", &bg, err);
        img_rgb cut;
        float lo = 1;
        if (img_new(&cut, W, H, 1, err) == 0) {
            for (int i = 0; i < W * H; i++) {
                int gone = i % W < W / 2;
                for (int k = 0; k < 3; k++) cut.rgb[3 * i + k] = gone ? 0 : photo.rgb[3 * i + k];
                cut.alpha[i] = gone ? 0 : 255;
            }
            if (compose_backdrop(NULL, &bg, W, H, &cut, alpha, back, err) == 0)
                for (int y = 0; y < H; y++) lo = fminf(lo, back[((size_t)y * W + 2) * 3 + 2]);
            img_free(&cut);
        }
        CHECK(lo > col_linear_table()[150], "blur past the photo's edge: the uncovered left edge is filled with the blue "
              "background (blue >= %.3f linear, want > %.3f; black would be 0)", lo, col_linear_table()[150]);
    }
}

/* transparent: a PNG whose decoded alpha is 0 in the corners, 255 on the subject, between on the rim */
static void test_transparent(void) {
    img_rgb out, back_in;
    char err[IMG_ERR];
    unsigned char *png;
    size_t n;
    if (render("transparent", NULL, &out)) return;
    int rc = img_encode(&out, IMG_PNG, 0, NULL, 0, &png, &n, err);
    int colour_type = rc == 0 && n > 25 ? png[25] : -1;
    rc = rc ? rc : img_load_memory(&back_in, png, n, NULL, err);
    int lo = 255, hi = 0, mid = 0;
    for (int i = 0; rc == 0 && back_in.alpha && i < W * H; i++) {
        lo = back_in.alpha[i] < lo ? back_in.alpha[i] : lo, hi = back_in.alpha[i] > hi ? back_in.alpha[i] : hi;
        mid += back_in.alpha[i] > 0 && back_in.alpha[i] < 255;
    }
    CHECK(rc == 0 && colour_type == 6 && back_in.alpha && lo == 0 && hi == 255 && mid > 50,
          "transparent: PNG colour type %d (6 = RGBA), decoded alpha from %d to %d, %d partial rim pixels", colour_type, lo, hi, mid);
    if (rc == 0) img_free(&back_in), free(png);
    img_free(&out);
}

/* linear light: black over white at 50% is 0.5 linear = sRGB 188 (a naive sRGB blend gives 128) */
static void test_linear(void) {
    float f[3 * 64] = {0}, a[64], b[3 * 64];
    img_rgb out;
    char err[COMPOSE_ERR];
    for (int i = 0; i < 64; i++) a[i] = 0.5f, b[3 * i] = b[3 * i + 1] = b[3 * i + 2] = 1;
    int lo = 255, hi = 0;
    if (compose_over(NULL, f, a, b, 8, 8, &out, err) == 0) {
        for (int i = 0; i < 64 * 3; i++) lo = out.rgb[i] < lo ? out.rgb[i] : lo, hi = out.rgb[i] > hi ? out.rgb[i] : hi;
        img_free(&out);
    }
    CHECK(lo >= 187 && hi <= 188, "black over white at alpha 0.5: sRGB %d..%d (want 187.5 rounded either way, not 128)", lo, hi);
    CHECK(col_srgb(col_linear_table()[200]) == 200 && col_srgb(0.5f) == 188 && col_srgb(2) == 255 && col_srgb(-1) == 0,
          "sRGB round trip 200 -> %d, linear 0.5 -> %d, clamps 2 -> %d, -1 -> %d", col_srgb(col_linear_table()[200]),
          col_srgb(0.5f), col_srgb(2), col_srgb(-1));
}

static void test_parse(void) {
    static const char *bad[] = {"#12345", "#12345G", "image:", "Studio", "grey", ""};
    compose_bg bg;
    char err[COMPOSE_ERR], name[64];
    int refused = 0;
    for (int i = 0; i < 6; i++) refused += compose_parse(bad[i], &bg, err) != 0;
    CHECK(refused == 6, "bad --background values refused: %d of 6 (last: %s)", refused, err);
    compose_parse("#a0B1c2", &bg, err);
    compose_name(&bg, name, sizeof name);
    CHECK(bg.kind == COMPOSE_COLOUR && bg.rgb[0] == 0xA0 && bg.rgb[1] == 0xB1 && bg.rgb[2] == 0xC2 && !strcmp(name, "#A0B1C2"),
          "#a0B1c2 -> %d,%d,%d named %s", bg.rgb[0], bg.rgb[1], bg.rgb[2], name);
}

int main(void) {
    scene();
    test_parse();
    test_linear();
    test_backdrops();
    test_transparent();
    img_free(&photo);
    return test_done();
}
