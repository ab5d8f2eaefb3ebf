/* test_look.c — light and retouch (src/look.h) on real photos, with landmarks from our own
 * detector and FaceMesh: synthetic blemishes are removed while eyes, brows and lips stay
 * untouched, skin texture is kept and the landmarks do not move; colour casts are undone, an
 * under-exposed photo is brought back, a well exposed face keeps its ITA (no whitening), a
 * dark face is not lightened, a side shadow is filled by a smooth field that is not a skin
 * mask; strength 0 changes no byte. */
#include "landmarks.h"
#include "look.h"
#include "test.h"

/* ------------------------------------------------------------------ helpers --- */

static det_model *dm;
static lmk_model *lm;

typedef struct {
    const char *name;
    img_rgb im;
    float pts[LMK_POINTS][3];     /* landmarks, image pixels */
    float fw;                     /* face width (234 -> 454), pixels */
} photo;

static int find_landmarks(const img_rgb *im, float pts[LMK_POINTS][3]) {
    char err[NN_ERR];
    det_face f[4];
    lmk_result r;
    if (det_run(dm, im->rgb, im->w, im->h, f, 4, err) < 1) return -1;
    if (lmk_run(lm, im->rgb, im->w, im->h, &f[0], &r, err) != 0 || r.flag < LMK_FLAG_MIN) return -1;
    memcpy(pts, r.pts, sizeof r.pts);
    return 0;
}

/* The photo, cropped to the square (x, y, side) and resized to out x out when side > 0: the
 * framed head-and-shoulders image the pipeline hands to look_*. */
static int load_photo(photo *p, const char *name, const char *file, int x, int y, int side, int out) {
    char err[IMG_ERR];
    memset(p, 0, sizeof *p);
    p->name = name;
    if (img_load_file(&p->im, file, NULL, err) != 0) return CHECK(0, "%s loads: %s", file, err), -1;
    if (side > 0) {
        img_rgb crop, big;
        if (img_new(&crop, side, side, 0, err) != 0) return -1;
        for (int j = 0; j < side; j++)
            memcpy(crop.rgb + (size_t)3 * j * side, p->im.rgb + 3 * ((size_t)(y + j) * p->im.w + x), 3 * (size_t)side);
        int rc = img_resize(&big, &crop, out, out, err);
        img_free(&crop), img_free(&p->im);
        if (rc != 0) return CHECK(0, "%s resizes: %s", name, err), -1;
        p->im = big;
    }
    if (find_landmarks(&p->im, p->pts) != 0) return CHECK(0, "%s: a face with landmarks", name), -1;
    p->fw = hypotf(p->pts[454][0] - p->pts[234][0], p->pts[454][1] - p->pts[234][1]);
    return 0;
}

static img_rgb copy_of(const img_rgb *a) {
    img_rgb b = {a->w, a->h, malloc((size_t)a->w * a->h * 3), NULL};
    if (b.rgb) memcpy(b.rgb, a->rgb, (size_t)a->w * a->h * 3);
    return b;
}

/* Mask (w*h bytes, caller frees) of the union of regions, each grown by grow pixels. */
static unsigned char *mask_of(const photo *p, const look_region *rs, int n, float grow) {
    unsigned char *m = calloc((size_t)p->im.w * p->im.h, 1);
    for (int i = 0; m && i < n; i++) look_region_mask(p->pts, rs[i], grow, p->im.w, p->im.h, m);
    return m;
}

/* sRGB <-> linear and CIELAB (D65), written independently of look.c. */
static double to_lin(double v) { v /= 255; return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4); }
static unsigned char to_srgb(double x) {
    x = x < 0 ? 0 : x > 1 ? 1 : x;
    double v = x <= 0.0031308 ? 12.92 * x : 1.055 * pow(x, 1 / 2.4) - 0.055;
    return (unsigned char)(v * 255 + 0.5);
}
static double dist3(const double a[3], const double b[3]) {
    return sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}
static double labf(double t) { return t > 216.0 / 24389 ? cbrt(t) : (24389.0 / 27 * t + 16) / 116; }
static void lab(const unsigned char *p, double o[3]) {
    double r = to_lin(p[0]), g = to_lin(p[1]), b = to_lin(p[2]);
    double x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
    double y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    double z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
    o[0] = 116 * labf(y) - 16, o[1] = 500 * (labf(x) - labf(y)), o[2] = 200 * (labf(y) - labf(z));
}

/* Mean CIE76 colour difference between a and b over mask. */
static double mean_de(const img_rgb *a, const img_rgb *b, const unsigned char *m) {
    double s = 0, la[3], lb[3];
    long n = 0;
    for (size_t i = 0; i < (size_t)a->w * a->h; i++)
        if (m[i]) {
            lab(a->rgb + 3 * i, la), lab(b->rgb + 3 * i, lb);
            s += dist3(la, lb);
            n++;
        }
    return n ? s / n : NAN;
}

/* Mean CIELAB colour over mask. */
static void mean_lab(const img_rgb *a, const unsigned char *m, double o[3]) {
    double l[3];
    long n = 0;
    o[0] = o[1] = o[2] = 0;
    for (size_t i = 0; i < (size_t)a->w * a->h; i++)
        if (m[i]) {
            lab(a->rgb + 3 * i, l), n++;
            for (int c = 0; c < 3; c++) o[c] += l[c];
        }
    for (int c = 0; c < 3; c++) o[c] /= n ? n : 1;
}

/* Largest channel difference over mask. */
static int max_diff(const img_rgb *a, const img_rgb *b, const unsigned char *m) {
    int d = 0;
    for (size_t i = 0; i < (size_t)a->w * a->h * 3; i++)
        if (m[i / 3]) d = abs(a->rgb[i] - b->rgb[i]) > d ? abs(a->rgb[i] - b->rgb[i]) : d;
    return d;
}

/* Each linear channel times gain[c] * field(x, y) (field NULL: 1), as a new image. */
static img_rgb relight(const img_rgb *a, const double gain[3], const float *field) {
    img_rgb b = copy_of(a);
    for (size_t i = 0; b.rgb && i < (size_t)a->w * a->h; i++)
        for (int c = 0; c < 3; c++)
            b.rgb[3 * i + c] = to_srgb(to_lin(a->rgb[3 * i + c]) * gain[c] * (field ? field[i] : 1));
    return b;
}

/* Sum of linear luminance over mask. */
static double lum_sum(const img_rgb *a, const unsigned char *m) {
    double s = 0;
    for (size_t i = 0; i < (size_t)a->w * a->h; i++)
        if (m[i]) {
            const unsigned char *q = a->rgb + 3 * i;
            s += 0.2126 * to_lin(q[0]) + 0.7152 * to_lin(q[1]) + 0.0722 * to_lin(q[2]);
        }
    return s;
}

static const look_region features[] = {LOOK_RIGHT_EYE, LOOK_LEFT_EYE, LOOK_RIGHT_BROW, LOOK_LEFT_BROW, LOOK_LIPS};
static const look_region skin_parts[] = {LOOK_RIGHT_CHEEK, LOOK_LEFT_CHEEK, LOOK_FOREHEAD};
static const look_region oval[] = {LOOK_FACE_OVAL};

/* ------------------------------------------------------------------ arguments --- */

static void test_arguments(photo *p) {
    char err[LOOK_ERR] = "";
    look_report r;
    float tiny[LMK_POINTS][3];
    for (int i = 0; i < LMK_POINTS; i++) tiny[i][0] = tiny[i][1] = 10 + 0.01f * i, tiny[i][2] = 0;
    int a = look_light(NULL, &p->im, p->pts, NULL, 1.5f, &r, err);
    CHECK(a == -1 && strstr(err, "strength"), "strength 1.5 refused: %s", err);
    int b = look_retouch(NULL, &p->im, NULL, 0.3f, &r, err);
    CHECK(b == -1 && strstr(err, "landmarks"), "no landmarks refused: %s", err);
    int c = look_retouch(NULL, &p->im, (const float (*)[3])tiny, 0.3f, &r, err);
    CHECK(c == -1 && strstr(err, "small"), "a 0-pixel face refused: %s", err);
}

/* ------------------------------------------------------------------ retouch --- */

/* Up to 12 spots of radius 2-4 px (dark brown or red, soft edged) at random skin places
 * clear of the features, at least 6 px apart; returns how many. */
#define NSPOT 12
typedef struct { float x, y, r; } spot;

static int add_spots(const photo *p, img_rgb *im, spot *s) {
    static const look_region keep_out[] = {LOOK_RIGHT_EYE, LOOK_LEFT_EYE, LOOK_RIGHT_BROW, LOOK_LEFT_BROW,
                                           LOOK_LIPS, LOOK_NOSTRILS};
    unsigned char *safe = mask_of(p, oval, 1, -0.12f * p->fw), *feat = mask_of(p, keep_out, 6, 0.08f * p->fw);
    unsigned seed = 12345;
    int n = 0;
    for (int tries = 0; n < NSPOT && tries < 100000; tries++) {
        seed = seed * 1664525u + 1013904223u;
        int x = (int)((seed >> 8) % (unsigned)im->w);
        seed = seed * 1664525u + 1013904223u;
        int y = (int)((seed >> 8) % (unsigned)im->h);
        float r = 2 + (n % 3);
        size_t i = (size_t)y * im->w + x;
        int ok = safe[i] && !feat[i];
        for (int k = 0; k < n && ok; k++) ok = hypotf(s[k].x - x, s[k].y - y) > s[k].r + r + 6;
        if (ok) s[n++] = (spot){(float)x, (float)y, r};
    }
    for (int k = 0; k < n; k++) {
        static const double dark[3] = {0.45, 0.38, 0.33}, red[3] = {0.95, 0.45, 0.45};
        const double *f = k % 2 ? dark : red;
        for (int y = (int)(s[k].y - s[k].r - 2); y <= (int)(s[k].y + s[k].r + 2); y++)
            for (int x = (int)(s[k].x - s[k].r - 2); x <= (int)(s[k].x + s[k].r + 2); x++) {
                double d = hypot(x - s[k].x, y - s[k].y);
                double a = d < s[k].r - 0.5 ? 1 : d > s[k].r + 0.5 ? 0 : s[k].r + 0.5 - d;   /* 1 px soft edge */
                unsigned char *q = im->rgb + 3 * ((size_t)y * im->w + x);
                for (int c = 0; c < 3; c++) q[c] = to_srgb(to_lin(q[c]) * (1 - a + a * f[c]));
            }
    }
    free(safe), free(feat);
    return n;
}

/* Mean absolute channel difference between a and b inside the spots (radius + 1). */
static double spot_mae(const img_rgb *a, const img_rgb *b, const spot *s, int ns) {
    double sum = 0;
    long n = 0;
    for (int k = 0; k < ns; k++)
        for (int y = (int)(s[k].y - s[k].r - 1); y <= (int)(s[k].y + s[k].r + 1); y++)
            for (int x = (int)(s[k].x - s[k].r - 1); x <= (int)(s[k].x + s[k].r + 1); x++)
                if (hypotf(x - s[k].x, y - s[k].y) <= s[k].r + 1)
                    for (int c = 0; c < 3; c++, n++) {
                        size_t i = 3 * ((size_t)y * a->w + x) + c;
                        sum += abs(a->rgb[i] - b->rgb[i]);
                    }
    return n ? sum / n : NAN;
}

/* Energy of the high band (pixel minus its 3x3 mean, luma) over mask. */
static double high_energy(const img_rgb *a, const unsigned char *m) {
    double e = 0;
    for (int y = 1; y < a->h - 1; y++)
        for (int x = 1; x < a->w - 1; x++) {
            if (!m[(size_t)y * a->w + x]) continue;
            double v[9];
            for (int k = 0; k < 9; k++) {
                const unsigned char *q = a->rgb + 3 * ((size_t)(y + k / 3 - 1) * a->w + x + k % 3 - 1);
                v[k] = 0.299 * q[0] + 0.587 * q[1] + 0.114 * q[2];
            }
            double mean = (v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7] + v[8]) / 9;
            e += (v[4] - mean) * (v[4] - mean);
        }
    return e;
}

/* factor > 0: the synthetic spots' error must drop by it; 0: it must not grow. */
static void test_retouch(const photo *p, double factor) {
    char err[LOOK_ERR];
    look_report r = {0};

    img_rgb zero = copy_of(&p->im);
    int rc = look_retouch(NULL, &zero, p->pts, 0, &r, err);
    CHECK(rc == 0 && !memcmp(zero.rgb, p->im.rgb, (size_t)p->im.w * p->im.h * 3),
          "%s retouch strength 0: every byte unchanged", p->name);
    img_free(&zero);

    /* Blemishes. */
    spot s[NSPOT];
    img_rgb spotted = copy_of(&p->im);
    int ns = add_spots(p, &spotted, s);
    img_rgb out = copy_of(&spotted);
    rc = look_retouch(NULL, &out, p->pts, LOOK_RETOUCH_DEFAULT, &r, err);
    double before = spot_mae(&spotted, &p->im, s, ns), after = spot_mae(&out, &p->im, s, ns);
    CHECK(rc == 0 && ns == NSPOT && (factor > 0 ? after * factor <= before : after <= before),
          "%s retouch %.1f: %d synthetic spots (r 2-4 px, face %.0f px): error vs clean %.2f -> %.2f levels "
          "(x%.1f, need %s%.0f), %d blemishes found, mid band reduced %.0f%%", p->name, LOOK_RETOUCH_DEFAULT, ns,
          p->fw, before, after, before / after, factor > 0 ? "x" : "no growth: x", factor > 0 ? factor : 1,
          r.blemishes_removed, 100 * r.smooth);
    unsigned char *feat = mask_of(p, features, 5, 0);
    int d = max_diff(&spotted, &out, feat);
    CHECK(d <= 1, "%s retouch: eyes, brows and lips unchanged: max difference %d level(s) (tol 1)", p->name, d);
    free(feat);
    img_free(&spotted), img_free(&out);

    /* Texture and geometry on the clean photo. */
    out = copy_of(&p->im);
    rc = look_retouch(NULL, &out, p->pts, LOOK_RETOUCH_DEFAULT, &r, err);
    unsigned char *skin = mask_of(p, skin_parts, 3, 0);
    double e_in = high_energy(&p->im, skin), e_out = high_energy(&out, skin);
    int changed = 0;
    for (size_t i = 0; i < (size_t)out.w * out.h * 3; i++) changed += out.rgb[i] != p->im.rgb[i];
    /* Tone: the skin's mean colour stays (the mid band averages out); ITA for the record. */
    double m0[3], m1[3];
    mean_lab(&p->im, skin, m0), mean_lab(&out, skin, m1);
    double dm = dist3(m0, m1);
    CHECK(rc == 0 && e_out >= 0.7 * e_in && changed > 1000 && dm <= 1,
          "%s retouch %.1f: skin high-frequency energy kept %.0f%% (need >= 70%%), mean skin colour moved dE %.2f "
          "(tol 1), ITA %.1f -> %.1f deg, %d channel values changed, %d blemishes, mid band reduced %.0f%%", p->name,
          LOOK_RETOUCH_DEFAULT, 100 * e_out / e_in, dm, look_ita(&p->im, p->pts), r.ita_after, changed,
          r.blemishes_removed, 100 * r.smooth);
    free(skin);
    float again[LMK_POINTS][3];
    if (find_landmarks(&out, again) == 0) {
        double mean = 0, worst = 0;
        for (int i = 0; i < LMK_POINTS; i++) {
            double e = hypot(again[i][0] - p->pts[i][0], again[i][1] - p->pts[i][1]) / p->fw;
            mean += e / LMK_POINTS, worst = e > worst ? e : worst;
        }
        CHECK(worst <= 0.01, "%s retouch: landmarks of the output move %.3f%% of the face width on average, "
              "%.3f%% at most (tol 1%%)", p->name, 100 * mean, 100 * worst);
    } else {
        CHECK(0, "%s retouch: landmarks found on the output", p->name);
    }
    img_free(&out);
}

/* ------------------------------------------------------------------ light --- */

static void test_light_neutral(const photo *p) {
    char err[LOOK_ERR];
    look_report r = {0};
    img_rgb out = copy_of(&p->im);
    int rc = look_light(NULL, &out, p->pts, NULL, 0, &r, err);
    CHECK(rc == 0 && !memcmp(out.rgb, p->im.rgb, (size_t)p->im.w * p->im.h * 3),
          "%s light strength 0: every byte unchanged", p->name);
    rc = look_light(NULL, &out, p->pts, NULL, 1, &r, err);
    unsigned char *m = mask_of(p, oval, 1, 0);
    double de = mean_de(&out, &p->im, m);
    CHECK(rc == 0 && fabsf(r.ita_after - r.ita_before) <= 3,
          "%s light 1.0 on the photo as taken: ITA %.1f -> %.1f deg (tol 3), face dE %.2f, exposure %+.2f EV, "
          "wb gains %.3f %.3f %.3f (trust %.2f), fill %.2f EV", p->name, r.ita_before, r.ita_after, de,
          r.exposure_ev, r.wb_gain[0], r.wb_gain[1], r.wb_gain[2], r.wb_trust, r.fill);
    free(m), img_free(&out);

    /* A matte weights the scene statistics relative to each other: all ones is no matte. */
    float *ones = malloc((size_t)p->im.w * p->im.h * sizeof *ones);
    for (size_t i = 0; i < (size_t)p->im.w * p->im.h; i++) ones[i] = 1;
    img_rgb a = copy_of(&p->im), b = copy_of(&p->im);
    look_light_opts lo = {ones, NULL, 0, 1};
    int ra = look_light(NULL, &a, p->pts, &lo, 1, NULL, err), rb = look_light(NULL, &b, p->pts, NULL, 1, NULL, err);
    CHECK(ra == 0 && rb == 0 && !memcmp(a.rgb, b.rgb, (size_t)a.w * a.h * 3),
          "%s light with an all-ones matte equals light without one", p->name);
    free(ones), img_free(&a), img_free(&b);
}

/* The skin's moves between two images of the same face (cheeks' median CIELAB, look.h). */
static void skin_moves(const img_rgb *a, const img_rgb *b, const float (*pts)[3], float *dhue, float *dita) {
    look_skin s0 = look_skin_of(a, pts), s1 = look_skin_of(b, pts);
    *dhue = fmodf(s1.hue - s0.hue + 540.f, 360.f) - 180.f, *dita = s1.ita - s0.ita;
}

/* A colour cast: the white balance reads it from the scene (the scene's gains point back
 * toward neutral), the tone guard then lets the skin's hue move at most 3 deg and its ITA 3
 * deg, and the face never ends up further from the original than the cast left it. */
static void test_light_cast(const photo *p, const char *what, double g0, double g1, double g2) {
    char err[LOOK_ERR];
    look_report r = {0};
    img_rgb cast = copy_of(&p->im), out;
    for (size_t i = 0; i < (size_t)cast.w * cast.h; i++) {
        const double g[3] = {g0, g1, g2};
        for (int c = 0; c < 3; c++) {
            double v = cast.rgb[3 * i + c] * g[c] + 0.5;
            cast.rgb[3 * i + c] = (unsigned char)(v > 255 ? 255 : v);
        }
    }
    out = copy_of(&cast);
    unsigned char *m = mask_of(p, oval, 1, 0);
    int rc = look_light(NULL, &out, p->pts, NULL, 1, &r, err);
    double de0 = mean_de(&cast, &p->im, m), de1 = mean_de(&out, &p->im, m);
    float dh, di;
    skin_moves(&cast, &out, p->pts, &dh, &di);
    int toward = (g0 > g2) == (r.wb_scene[0] <= r.wb_scene[2]) || r.wb_trust == 0;
    look_light_opts off = {NULL, NULL, 0, 0};
    look_report ro = {0};
    img_rgb kept = copy_of(&cast);
    int rco = look_light(NULL, &kept, p->pts, &off, 1, &ro, err);
    CHECK(rco == 0 && ro.wb_gain[0] == 1 && ro.wb_gain[1] == 1 && ro.wb_gain[2] == 1 && ro.wb_trust == 0,
          "%s %s cast, white balance off: gains %.3f %.3f %.3f (want 1), exposure %+.2f EV", p->name, what, ro.wb_gain[0],
          ro.wb_gain[1], ro.wb_gain[2], ro.exposure_ev);
    img_free(&kept);
    CHECK(rc == 0 && toward && fabsf(dh) <= LOOK_GUARD_HUE + 0.5f && fabsf(di - 0) <= LOOK_GUARD_ITA + 0.5f && de1 <= de0 + 0.3,
          "%s %s cast (sRGB x %.2f %.2f %.2f): scene gains %.3f %.3f %.3f (trust %.2f, toward neutral), applied "
          "%.3f %.3f %.3f (guard kept %.2f: %s); skin hue %+.1f, ITA %+.1f deg (tol 3.5, exposure %+.2f EV); face dE76 "
          "to the original %.2f -> %.2f (no worse)", p->name, what, g0, g1, g2, r.wb_scene[0], r.wb_scene[1],
          r.wb_scene[2], r.wb_trust, r.wb_gain[0], r.wb_gain[1], r.wb_gain[2], r.guard[LOOK_STEP_WB],
          r.guard_why[0] ? r.guard_why : "-", dh, di, r.exposure_ev, de0, de1);
    free(m), img_free(&cast), img_free(&out);
}

/* An under-exposed photo is lifted from the scene's headroom, but the lift may move the
 * skin's ITA by at most LOOK_GUARD_EXP_ITA (+ LOOK_GUARD_ITA for the rest): the skin keeps its tone. */
static void test_light_exposure(const photo *p) {
    char err[LOOK_ERR];
    look_report r = {0};
    const double dim[3] = {0.3, 0.3, 0.3};   /* -1.74 EV */
    img_rgb dark = relight(&p->im, dim, NULL), out = copy_of(&dark);
    int rc = look_light(NULL, &out, p->pts, NULL, 1, &r, err);
    float dh, di;
    skin_moves(&dark, &out, p->pts, &dh, &di);
    CHECK(rc == 0 && r.exposure_ev > 0 && di >= 0 && di <= LOOK_GUARD_EXP_ITA + LOOK_GUARD_ITA + 0.5f && fabsf(dh) <= 3.5f,
          "%s under-exposed by 1.74 EV: lifted %+.2f EV (> 0), skin ITA %+.1f deg (0..6.5), hue %+.1f (tol 3.5); "
          "skin L* %.1f -> %.1f; guard: %s", p->name, r.exposure_ev, di, dh, r.skin_before.l, r.skin_after.l,
          r.guard_why[0] ? r.guard_why : "-");
    img_free(&dark), img_free(&out);
}

/* p's skin scaled in linear light by tone: a person of another skin tone in the same photo.
 * Skin is the face oval minus eyes and mouth, and (neck, ears, hands) every pixel whose
 * chromaticity is within 0.2 of the cheeks' mean; feathered. Eyes, teeth and
 * the scene stay as they were. */
static img_rgb recolour(const photo *p, const double tone[3]) {
    static const look_region open[] = {LOOK_RIGHT_EYE, LOOK_LEFT_EYE, LOOK_MOUTH};
    static const look_region cheeks[] = {LOOK_RIGHT_CHEEK, LOOK_LEFT_CHEEK};
    unsigned char *face = mask_of(p, oval, 1, 0.02f * p->fw), *holes = mask_of(p, open, 3, 0);
    unsigned char *ck = mask_of(p, cheeks, 2, 0);
    int w = p->im.w, h = p->im.h;
    float *field = malloc((size_t)w * h * sizeof *field), *tmp = malloc((size_t)w * h * sizeof *tmp);
    double su = 0, sv = 0, n = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        const unsigned char *q = p->im.rgb + 3 * i;
        double r = to_lin(q[0]) + 1e-4, g = to_lin(q[1]) + 1e-4, b = to_lin(q[2]) + 1e-4;
        if (ck[i]) su += log(r / g), sv += log(b / g), n++;
    }
    su /= n, sv /= n;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        const unsigned char *q = p->im.rgb + 3 * i;
        double r = to_lin(q[0]) + 1e-4, g = to_lin(q[1]) + 1e-4, b = to_lin(q[2]) + 1e-4;
        int skin = fabs(log(r / g) - su) < 0.2 && fabs(log(b / g) - sv) < 0.2 && g > 0.01;
        field[i] = (face[i] || skin) && !holes[i];
    }
    free(ck);
    for (int pass = 0; pass < 6; pass++)   /* feather: box blurs of radius 2, both ways */
        for (int dir = 0; dir < 2; dir++) {
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    float s = 0;
                    for (int k = -2; k <= 2; k++) {
                        int xx = dir ? x : x + k, yy = dir ? y + k : y;
                        xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx, yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
                        s += field[(size_t)yy * w + xx];
                    }
                    tmp[(size_t)y * w + x] = s / 5;
                }
            memcpy(field, tmp, (size_t)w * h * sizeof *tmp);
        }
    img_rgb out = copy_of(&p->im);
    for (size_t i = 0; i < (size_t)w * h; i++)
        for (int c = 0; c < 3; c++)
            out.rgb[3 * i + c] = to_srgb(to_lin(p->im.rgb[3 * i + c]) * (1 - field[i] + field[i] * tone[c]));
    free(face), free(holes), free(field), free(tmp);
    return out;
}

/* Darker skin in a well exposed photo: the light must not lighten it toward light skin. */
static void test_light_dark_skin(const photo *p) {
    char err[LOOK_ERR];
    look_report r = {0}, ra = {0};
    const double tone[3] = {0.30, 0.24, 0.18};
    img_rgb dark = recolour(p, tone);
    int rc = look_light(NULL, &dark, p->pts, NULL, 1, &r, err);
    look_light(NULL, &dark, p->pts, NULL, 0, &ra, err);
    CHECK(rc == 0 && r.ita_before < 20 && r.ita_after - r.ita_before <= 3 && ra.face_l - r.face_l <= 3,
          "%s with darker skin (ITA %.1f deg): light 1.0 gives ITA %.1f (tol +3), skin L* %.1f -> %.1f (tol +3), "
          "exposure %+.2f EV, fill %.2f EV", p->name, r.ita_before, r.ita_after, r.face_l, ra.face_l, r.exposure_ev,
          r.fill);
    img_free(&dark);
}

/* One face re-coloured to several skin tones under the same warm cast: the white balance
 * never reads skin, so the scene's gains are the same for all; and what the guard lets
 * through keeps every tone's hue and ITA alike. */
static void test_light_tones_alike(const photo *p) {
    static const double tones[][3] = {{1, 1, 1}, {0.62, 0.52, 0.42}, {0.42, 0.33, 0.25}, {0.22, 0.17, 0.12}};
    const double warm[3] = {1.25, 1.0, 0.62};   /* linear: about 3200 K on daylight */
    char err[LOOK_ERR];
    float g0[3] = {0, 0, 0}, worst_g = 0, worst_h = 0, worst_i = 0, ita[4];
    int ok = 1;
    for (int t = 0; t < 4; t++) {
        img_rgb face = recolour(p, tones[t]), cast = relight(&face, warm, NULL), out = copy_of(&cast);
        look_report r = {0};
        ok &= look_light(NULL, &out, p->pts, NULL, 1, &r, err) == 0;
        float dh, di;
        skin_moves(&cast, &out, p->pts, &dh, &di);
        ita[t] = r.ita_before;
        printf("# tone %d (ITA %.1f): scene gains %.3f %.3f %.3f, applied %.3f %.3f %.3f, skin hue %+.1f ITA %+.1f\n", t,
               r.ita_before, r.wb_scene[0], r.wb_scene[1], r.wb_scene[2], r.wb_gain[0], r.wb_gain[1], r.wb_gain[2], dh, di);
        for (int c = 0; c < 3; c++) {
            if (t == 0) g0[c] = r.wb_scene[c];
            worst_g = fmaxf(worst_g, fabsf(r.wb_scene[c] / g0[c] - 1));
        }
        worst_h = fmaxf(worst_h, fabsf(dh)), worst_i = fmaxf(worst_i, fabsf(di));
        img_free(&face), img_free(&cast), img_free(&out);
    }
    CHECK(ok && worst_g <= 0.01f && ita[3] < 0 && ita[0] > 30,
          "%s re-coloured to 4 skin tones (ITA %.0f %.0f %.0f %.0f deg) under one warm cast: the scene's white-balance "
          "gains %.3f %.3f %.3f differ by %.2f%% at most between tones (tol 1%%)", p->name, ita[0], ita[1], ita[2],
          ita[3], g0[0], g0[1], g0[2], 100 * worst_g);
    CHECK(ok && worst_h <= LOOK_GUARD_HUE + 0.5f && worst_i <= LOOK_GUARD_ITA + 0.5f,
          "%s 4 skin tones under one warm cast: largest skin move hue %.1f, ITA %.1f deg (tol 3.5 each)", p->name,
          worst_h, worst_i);
}

/* The team's gain goes through the same guard: a strong tint is scaled back until the skin
 * keeps its hue; a plain exposure gain that moves ITA little passes whole. */
static void test_guard_gain(const photo *p) {
    float tint[3] = {1.3f, 1.0f, 0.7f}, lift[3] = {1.05f, 1.05f, 1.05f};
    char why[LOOK_GUARD_WHY];
    float t = look_guard_gain(&p->im, p->pts, tint, why), t2 = look_guard_gain(&p->im, p->pts, lift, NULL);
    img_rgb out = relight(&p->im, (const double[3]){tint[0], tint[1], tint[2]}, NULL);
    float dh, di;
    skin_moves(&p->im, &out, p->pts, &dh, &di);
    CHECK(t > 0 && t < 1 && fabsf(dh) <= LOOK_GUARD_HUE + 0.5f && fabsf(di) <= LOOK_GUARD_ITA + 0.5f && t2 == 1 &&
          lift[0] == 1.05f, "%s team gain 1.3 1.0 0.7 under the guard: kept x%.2f -> %.3f %.3f %.3f, skin hue %+.1f, ITA %+.1f "
          "(tol 3.5; %s); a 1.05 lift kept whole (x%.2f)", p->name, t, tint[0], tint[1], tint[2], dh, di, why, t2);
    img_free(&out);
}

/* Warm light on purpose: a warm gain on the subject and a near-black backdrop (everything
 * beyond 1.3 face widths of the face centre darkened 12x): the portrait stays warm. */
static void test_light_warm_lit(const photo *p) {
    char err[LOOK_ERR];
    look_report r = {0};
    int w = p->im.w, h = p->im.h;
    float *field = malloc((size_t)w * h * sizeof *field);
    float cx = 0.5f * (p->pts[234][0] + p->pts[454][0]), cy = 0.5f * (p->pts[234][1] + p->pts[454][1]);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float d = hypotf(x - cx, (y - cy) * 0.8f) / p->fw;
            field[(size_t)y * w + x] = 1 - 0.92f / (1 + expf(-(d - 1.3f) / 0.08f));
        }
    const double warm[3] = {1.3, 1.0, 0.55};
    img_rgb lit = relight(&p->im, warm, field), out = copy_of(&lit);
    int rc = look_light(NULL, &out, p->pts, NULL, 1, &r, err);
    float dh, di;
    skin_moves(&lit, &out, p->pts, &dh, &di);
    CHECK(rc == 0 && fabsf(dh) <= 3 && fabsf(di) <= LOOK_GUARD_ITA + LOOK_GUARD_EXP_ITA,
          "%s lit warm on a dark backdrop: skin hue %+.1f deg (tol 3), ITA %+.1f (tol 3 + the exposure's 3); "
          "scene gains %.3f %.3f %.3f (trust %.2f), applied %.3f %.3f %.3f, exposure %+.2f EV; guard: %s", p->name, dh, di,
          r.wb_scene[0], r.wb_scene[1], r.wb_scene[2], r.wb_trust, r.wb_gain[0], r.wb_gain[1], r.wb_gain[2],
          r.exposure_ev, r.guard_why[0] ? r.guard_why : "-");
    free(field), img_free(&lit), img_free(&out);
}

/* A side shadow: the image right of the face centre darkened by a smooth ramp (the subject's
 * left side loses 1.5 stops). The fill must lift the shadow side, with a gain field that has
 * no edge and treats eye and cheek alike. */
static void test_light_fill(const photo *p) {
    char err[LOOK_ERR];
    look_report r = {0};
    int w = p->im.w, h = p->im.h;
    float *field = malloc((size_t)w * h * sizeof *field), cx = (p->pts[234][0] + p->pts[454][0]) / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) field[(size_t)y * w + x] = 1 - 0.65f / (1 + expf(-(x - cx) / (0.08f * p->fw)));
    const double one[3] = {1, 1, 1};
    img_rgb in = relight(&p->im, one, field), out = copy_of(&in);
    look_region rc_ = LOOK_RIGHT_CHEEK, lc_ = LOOK_LEFT_CHEEK, le_ = LOOK_LEFT_EYE;
    unsigned char *rc = mask_of(p, &rc_, 1, 0), *lc = mask_of(p, &lc_, 1, 0), *le = mask_of(p, &le_, 1, 0);
    int ok = look_light(NULL, &out, p->pts, NULL, 1, &r, err) == 0;
    double d0 = log2(lum_sum(&in, rc) / lum_sum(&in, lc)), d1 = log2(lum_sum(&out, rc) / lum_sum(&out, lc));
    double eye = log2(lum_sum(&out, le) / lum_sum(&in, le)), cheek = log2(lum_sum(&out, lc) / lum_sum(&in, lc));
    float dh, di;
    skin_moves(&in, &out, p->pts, &dh, &di);
    CHECK(ok && r.fill > 0 && d1 < d0 && fabsf(dh) <= LOOK_GUARD_HUE + 0.5f && fabsf(di) <= LOOK_GUARD_ITA + 0.5f,
          "%s side shadow: cheeks %.2f stops apart -> %.2f, fill %.2f EV (kept %.2f by the guard), exposure %+.2f EV; "
          "skin of both cheeks: hue %+.1f, ITA %+.1f deg (tol 3.5)", p->name, d0, d1, r.fill, r.guard[LOOK_STEP_FILL],
          r.exposure_ev, dh, di);
    CHECK(ok && fabs(eye - cheek) <= 0.15, "%s fill is a light, not a skin mask: shadow-side eye lifted %.3f stops, "
          "cheek %.3f (tol 0.15 apart)", p->name, eye, cheek);
    /* Gain fields from 8x8 block means (mid-tone blocks): the fill's steps between
     * neighbouring blocks, against those of the shadow it corrects. */
    int bw = w / 8, bh = h / 8;
    double *g = malloc((size_t)bw * bh * 2 * sizeof *g), worst = 0, shadow = 0;
    for (int by = 0; by < bh; by++)
        for (int bx = 0; bx < bw; bx++) {
            double a = 0, b = 0, f = 0;
            for (int y = by * 8; y < by * 8 + 8; y++)
                for (int x = bx * 8; x < bx * 8 + 8; x++) {
                    f += field[(size_t)y * w + x] / 64;
                    for (int c = 0; c < 3; c++)
                        a += to_lin(in.rgb[3 * ((size_t)y * w + x) + c]),
                        b += to_lin(out.rgb[3 * ((size_t)y * w + x) + c]);
                }
            a /= 192, b /= 192;
            g[by * bw + bx] = a > 0.03 && a < 0.5 && b < 0.6 ? log2(b / a) : NAN;
            g[bw * bh + by * bw + bx] = log2(f);
        }
    for (int by = 0; by < bh; by++)
        for (int bx = 0; bx < bw; bx++)
            for (int k = 0; k < 2; k++) {
                int i = by * bw + bx, j = k ? (by + 1 < bh ? i + bw : -1) : (bx + 1 < bw ? i + 1 : -1);
                if (j < 0) continue;
                if (isfinite(g[i]) && isfinite(g[j])) worst = fmax(worst, fabs(g[i] - g[j]));
                shadow = fmax(shadow, fabs(g[bw * bh + i] - g[bw * bh + j]));
            }
    CHECK(ok && worst <= 0.1 && worst < shadow, "%s fill field is smooth: steepest gain step between neighbouring "
          "8x8 blocks %.3f stops (tol 0.1, and below the shadow's own %.3f; face %.0f px)", p->name, worst, shadow,
          p->fw);
    free(g), free(rc), free(lc), free(le), free(field), img_free(&in), img_free(&out);
}

/* ------------------------------------------------------------------ main --- */

int main(void) {
    char err[NN_ERR];
    if (!(dm = det_load(NULL, NULL, err)) || !(lm = lmk_load(NULL, NULL, err))) {
        CHECK(0, "face networks load: %s", err);
        return test_done();
    }
    photo d03, d01;
    /* d03 is 512x512 with a ~90 px face: framed like the pipeline does, 2x. */
    if (load_photo(&d03, "d03 framed", TEST_DATA "d03.png", 94, 10, 256, 512) == 0) {
        test_arguments(&d03);
        test_retouch(&d03, 4);
        test_light_neutral(&d03);
        test_light_cast(&d03, "warm indoor", 1.15, 1.0, 0.8);
        test_light_cast(&d03, "blue shade", 0.85, 0.95, 1.15);
        test_light_exposure(&d03);
        test_light_dark_skin(&d03);
        test_light_tones_alike(&d03);
        test_light_warm_lit(&d03);
        test_guard_gain(&d03);
        test_light_fill(&d03);
        img_free(&d03.im);
    }
    if (load_photo(&d01, "d01", TEST_DATA "d01.jpg", 0, 0, 0, 0) == 0) {
        /* d01: deep wrinkles and glasses over textured skin; the detector stays cautious. */
        test_retouch(&d01, 0);
        test_light_neutral(&d01);
        /* d01's scene has no neutral surface left unclipped under a cast (white shirt and
         * stars clip, the rest is a saturated blue backdrop and flag): do no harm. */
        test_light_cast(&d01, "warm indoor", 1.15, 1.0, 0.8);
        test_light_cast(&d01, "blue shade", 0.85, 0.95, 1.15);
        test_light_warm_lit(&d01);
        img_free(&d01.im);
    }
    det_free(dm), lmk_free(lm);
    return test_done();
}
