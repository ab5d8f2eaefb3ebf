/* test_frame.c — framing: preset geometry measured on real faces, eye levelling after known
 * rotations, the frame past the photo's edge, and the warp's resampling.
 *
 * The ruler is the pipeline's own face measurement run again on the OUTPUT: BlazeFace +
 * FaceMesh find the face in the framed image, the eyes come from the eye corners and the
 * crown from the selfie network's person mask (pl_head). The rules are the official ones
 * (passports) or the preset's stated ranges (linkedin, portrait), written here independently
 * of frame.c's table. Frames are warped straight from the photo (no upscaling, no matte).
 */
#include "pipeline.h"
#include "test.h"
#include "ruler.h"

/* ------------------------------------------------------------ preset geometry */

static void test_presets(void) {
    static const char *photos[] = {"d01.jpg", "d03.png", "d05.jpg", "d07.jpg"};
    static pl_face faces[PL_MAX_FACES];
    char err[PL_ERR];
    for (int i = 0; i < 4; i++) {
        img_rgb ph;
        frame_face f;
        if (load(photos[i], &ph)) continue;
        if (measure(&ph, &f, faces) < 0) {
            CHECK(0, "%s: subject found and measured", photos[i]);
            img_free(&ph);
            continue;
        }
        for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
            const frame_spec *s = frame_spec_get(rules[k].p);
            frame_plan plan;
            img_rgb out;
            frame_face g;
            frame_plan_make(&f, s, ph.w, ph.h, NULL, &plan);
            if (frame_warp(&ph, plan.to_out, plan.w, plan.h, &out, err)) {
                CHECK(0, "%s %s: warp (%s)", photos[i], s->name, err);
                continue;
            }
            int found = measure(&out, &g, faces) >= 0;
            float head = g.head / out.h, eyes = g.eyes[1] / out.h, ex = g.eyes[0] / out.w - 0.5f;
            float roll = fabsf(g.roll) * 180 / (float)M_PI;
            int centred = !s->eyes_centred || fabsf(ex) < 0.02f;
            CHECK(found && out.w == s->w && out.h == s->h && head >= rules[k].head_lo && head <= rules[k].head_hi &&
                      eyes >= rules[k].eyes_lo && eyes <= rules[k].eyes_hi && centred && roll < 1,
                  "%s %s %dx%d: measured head %.3f in [%.3f, %.3f], eye line %.3f in [%.3f, %.3f]%s, eyes level (%.2f deg)"
                  " (planned head %.3f eyes %.3f, crown from %s, %.1f%% past the edge; rule: %s)",
                  photos[i], s->name, out.w, out.h, head, rules[k].head_lo, rules[k].head_hi, eyes, rules[k].eyes_lo,
                  rules[k].eyes_hi, s->eyes_centred ? (centred ? ", eyes centred" : ", eyes NOT centred") : "", roll, plan.head,
                  plan.eyes, f.crown_from_mask ? "mask" : "estimate", 100 * (1 - plan.covered), rules[k].rule);
            if (s->eyes_centred) printf("#   %s %s: eye midpoint %+.4f of the width from the centre\n", photos[i], s->name, ex);
            img_free(&out);
        }
        img_free(&ph);
    }
}

/* ------------------------------------------------------------ levelling */

/* d03 turned by a known angle (about its centre, canvas kept): the roll seen in the turned
 * photo moves by that angle, and the framed result has level eyes again. */
static void test_rotations(void) {
    static pl_face faces[PL_MAX_FACES];
    static const float turns[] = {12, -18};
    char err[PL_ERR];
    img_rgb ph;
    frame_face f0;
    if (load("d03.png", &ph) || measure(&ph, &f0, faces) < 0) return;
    for (int i = 0; i < 2; i++) {
        float c[2] = {ph.w / 2.0f, ph.h / 2.0f}, a = turns[i] * (float)M_PI / 180;
        img_rgb turned, out;
        frame_face f, g;
        frame_plan plan;
        /* frame_level(-a) turns the content by +a (clockwise on screen, like a roll > 0) */
        if (frame_warp(&ph, frame_level(-a, 1, c, c), ph.w, ph.h, &turned, err)) continue;
        int ok = measure(&turned, &f, faces) >= 0;
        float seen = (f.roll - f0.roll) * 180 / (float)M_PI;
        frame_plan_make(&f, frame_spec_get(FRAME_LINKEDIN), turned.w, turned.h, NULL, &plan);
        ok = ok && frame_warp(&turned, plan.to_out, plan.w, plan.h, &out, err) == 0;
        ok = ok && measure(&out, &g, faces) >= 0;
        float left = ok ? g.roll * 180 / (float)M_PI : NAN;
        CHECK(ok && fabsf(seen - turns[i]) < 1.5f && fabsf(left) < 1,
              "d03 turned %+.0f deg: roll seen %+.2f deg (want %+.0f +-1.5), after framing the eyes are level: %+.3f deg (< 1)",
              turns[i], seen, turns[i], left);
        if (ok) img_free(&out);
        img_free(&turned);
    }
    img_free(&ph);
}

/* ------------------------------------------------------------ past the edge */

/* d07 in linkedin is wider than the photo: past its left and right edges the output must be
 * coverage 0 (the backdrop fills it), inside fully covered; only the one-pixel anti-aliased
 * rim in between may be partial. */
static void test_edge(void) {
    static pl_face faces[PL_MAX_FACES];
    char err[PL_ERR];
    img_rgb ph, out;
    frame_face f;
    frame_plan plan;
    if (load("d07.jpg", &ph) || measure(&ph, &f, faces) < 0) return;
    frame_plan_make(&f, frame_spec_get(FRAME_LINKEDIN), ph.w, ph.h, NULL, &plan);
    if (frame_warp(&ph, plan.to_out, plan.w, plan.h, &out, err)) {
        CHECK(0, "d07 warp: %s", err);
        return;
    }
    frame_affine inv = frame_inverse(plan.to_out);
    double k = frame_scale(inv);
    long outside = 0, inside = 0, bad_out = 0, bad_in = 0;
    for (int y = 0; y < out.h; y++)
        for (int x = 0; x < out.w; x++) {
            float u, v;
            frame_map(inv, x + 0.5f, y + 0.5f, &u, &v);
            /* signed distance to the photo's border in output pixels, > 0 inside */
            double d = fmin(fmin(u, ph.w - u), fmin(v, ph.h - v)) / k;
            unsigned char a = out.alpha[(size_t)y * out.w + x];
            if (d < -1) outside++, bad_out += a != 0;
            if (d > 1) inside++, bad_in += a != 255;
        }
    CHECK(outside > 1000 && bad_out == 0 && bad_in == 0,
          "d07 linkedin runs past the photo (%.1f%% planned): %ld pixels outside all alpha 0 (%ld not), %ld inside all 255 (%ld not)",
          100 * (1 - plan.covered), outside, bad_out, inside, bad_in);
    img_free(&out);
    img_free(&ph);
}

/* ------------------------------------------------------------ resampling */

/* Shrinking a 1-pixel black/white checkerboard by 2.5 must average it (linear 0.5 = sRGB
 * 188 everywhere, no moire); a flat colour must come back exactly, shrunk, enlarged or turned. */
static void test_resampling(void) {
    char err[FRAME_ERR];
    img_rgb chk, out;
    if (img_new(&chk, 300, 300, 0, err)) return;
    for (int y = 0; y < 300; y++)
        for (int x = 0; x < 300; x++) memset(chk.rgb + ((size_t)y * 300 + x) * 3, (x + y) % 2 ? 255 : 0, 3);
    frame_affine shrink = {1 / 2.5, 0, 0, 1 / 2.5, 0, 0};
    int lo = 255, hi = 0;
    if (frame_warp(&chk, shrink, 120, 120, &out, err) == 0) {
        for (int i = 0; i < 120 * 120 * 3; i++) lo = out.rgb[i] < lo ? out.rgb[i] : lo, hi = out.rgb[i] > hi ? out.rgb[i] : hi;
        img_free(&out);
    }
    CHECK(lo >= 184 && hi <= 192, "checkerboard shrunk 2.5x: all values in [%d, %d] (want 188 +-4: area average in linear light)", lo, hi);

    static const frame_affine moves[] = {
        {0.3, 0, 0, 0.3, 2, 1}, {3.7, 0, 0, 3.7, -5, -3}, {0.8, 0.45, -0.45, 0.8, -142.5, -7.5}, {1.6, -0.9, 0.9, 1.6, -60, -330}};
    static const char *names[] = {"shrunk 3.3x", "enlarged 3.7x", "turned 29 deg, shrunk", "turned 29 deg, enlarged"};
    for (int i = 0; i < 300 * 300; i++) chk.rgb[3 * i] = 37, chk.rgb[3 * i + 1] = 142, chk.rgb[3 * i + 2] = 219;
    for (int m = 0; m < 4; m++) {
        int bad = 0, inner = 0;
        if (frame_warp(&chk, moves[m], 90, 90, &out, err)) continue;
        for (int i = 0; i < 90 * 90; i++)
            if (out.alpha[i] == 255)
                inner++, bad += out.rgb[3 * i] != 37 || out.rgb[3 * i + 1] != 142 || out.rgb[3 * i + 2] != 219;
        CHECK(inner > 0 && bad == 0, "flat colour %s: %d covered pixels exact (%d differ)", names[m], inner, bad);
        img_free(&out);
    }
    img_free(&chk);
}

/* ------------------------------------------------------------ choice of the subject */

static void test_choice(void) {
    det_face f[3] = {{0.9f, 10, 10, 80, 80, {{0}}}, {0.8f, 450, 250, 100, 100, {{0}}}, {0.95f, 900, 50, 110, 110, {{0}}}};
    int s = frame_choose(f, 3, 1000, 600);
    CHECK(s == 1, "subject of three faces: the large central one (index %d; the largest at the corner loses)", s);
    CHECK(frame_choose(f, 0, 1000, 600) == -1, "no faces: no subject");
}

int main(void) {
    char err[PL_ERR];
    if (pl_models_open(&M, NULL, err)) {
        printf("not ok - networks: %s\n", err);
        return 1;
    }
    test_choice();
    test_resampling();
    test_presets();
    test_rotations();
    test_edge();
    pl_models_close(&M);
    return test_done();
}
