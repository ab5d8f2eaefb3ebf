/* test_people.c — the person mask split among the people (people.h), on drawn masks whose
 * right answer is known: two touching people, an island, a held object, a neighbour whose
 * face is outside the mask, and the feathered boundary between two people. Then the whole
 * pipeline on a group photo made of two public-domain portraits: one face in the headshot.
 */
#include "people.h"
#include "pipeline.h"
#include "test.h"

#define W 200
#define H 120

static float mask[W * H], share[W * H];

static void clear(void) { memset(mask, 0, sizeof mask); }

/* A person drawn as the network would see them: a head (disc of radius r around cx, cy) on
 * a body from the chin down to the bottom, shoulders 2.6 r either side of cx. */
static void person(float cx, float cy, float r) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float dx = x + 0.5f - cx, dy = y + 0.5f - cy;
            int head = dx * dx + dy * dy < r * r, body = y + 0.5f > cy + 0.8f * r && fabsf(dx) < 2.6f * r;
            if (head || body) mask[y * W + x] = 1;
        }
}

static void rect(int x0, int y0, int x1, int y1, float v) {
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) mask[y * W + x] = v;
}

/* Mean share over a rectangle. */
static float mean(int x0, int y0, int x1, int y1) {
    double s = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) s += share[y * W + x];
    return (float)(s / ((x1 - x0) * (y1 - y0)));
}

static int split(const people_seed *s, int n, int subject) {
    char err[PEOPLE_ERR];
    int rc = people_share(mask, NULL, W, H, 1, s, n, subject, share, err);
    if (rc) printf("not ok - people_share: %s\n", err);
    return rc;
}

/* Two people shoulder to shoulder (the bodies overlap by 10 pixels): each keeps their own
 * half, the boundary is between them and ramps over a few pixels (no hard cut). */
static void test_touching(void) {
    clear();
    person(60, 35, 16), person(136, 40, 14);           /* shoulders meet around x = 96..100 */
    people_seed s[2] = {{60, 35, 28, {0, 1}}, {136, 40, 24, {0, 1}}};
    if (split(s, 2, 0)) return;
    float mine = mean(30, 70, 80, H), theirs = mean(115, 70, 170, H), face = mean(126, 30, 146, 50);
    CHECK(mine > 0.99f && theirs < 0.01f && face < 0.01f, "touching people: the subject's body %.3f kept, the neighbour's body %.3f and face %.3f removed",
          mine, theirs, face);
    int edge = -1, ramp = 0;
    for (int x = 0; x < W; x++) {
        float v = share[100 * W + x];
        if (edge < 0 && v < 0.5f) edge = x;
        ramp += v > 0.05f && v < 0.95f;
    }
    CHECK(edge >= 90 && edge <= 104, "touching people: the boundary at x = %d, where the bodies meet (90..104)", edge);
    CHECK(ramp >= 2 && ramp <= 2 * PEOPLE_FEATHER + 3, "touching people: the boundary ramps over %d pixels (2..%d), no hard cut",
          ramp, 2 * PEOPLE_FEATHER + 3);
    if (split(s, 2, 1)) return;                         /* the same split from the other side */
    CHECK(mean(30, 70, 80, H) < 0.01f && mean(115, 70, 170, H) > 0.99f, "touching people: the other person as subject gets the other half");
}

/* A bigger (nearer) face owns more of the shared body: the boundary moves toward the smaller. */
static void test_sizes(void) {
    clear();
    rect(0, 60, W, H, 1);                               /* one wide body under two faces */
    person(60, 35, 16), person(140, 35, 16);
    people_seed s[2] = {{60, 35, 40, {0, 1}}, {140, 35, 20, {0, 1}}};
    if (split(s, 2, 0)) return;
    int edge = 0;
    while (edge < W && share[110 * W + edge] > 0.5f) edge++;
    CHECK(edge > 105, "a face twice as large owns more of a shared body: boundary at x = %d (> 105, midpoint 100)", edge);
}

/* An island (a ball in the air, a lamp) joins no face: removed. A thing held, touching the
 * subject, stays. A faint bridge (0.2) does not join an island. */
static void test_islands(void) {
    clear();
    person(70, 40, 16);
    rect(150, 20, 180, 50, 1);                          /* island */
    rect(110, 70, 140, 100, 1);                         /* held: touches the body (x < 111.6) */
    rect(160, 80, 190, 110, 1), rect(120, 92, 160, 96, 0.2f);   /* island behind a faint bridge */
    people_seed s[1] = {{70, 40, 28, {0, 1}}};
    if (split(s, 1, 0)) return;
    CHECK(mean(152, 22, 178, 48) < 0.01f, "an island joined to no face is removed (share %.3f)", mean(152, 22, 178, 48));
    CHECK(mean(112, 72, 138, 98) > 0.99f, "what the subject holds, touching them, stays (share %.3f)", mean(112, 72, 138, 98));
    CHECK(mean(165, 82, 188, 108) < 0.01f, "a region reached only across a faint (0.2) bridge is removed (share %.3f)",
          mean(165, 82, 188, 108));
    CHECK(mean(50, 80, 90, H) > 0.99f, "the subject's own body is whole (share %.3f)", mean(50, 80, 90, H));
}

/* A neighbour whose face is past the mask's right edge still claims the shoulder that
 * comes in; the subject keeps theirs. */
static void test_outside(void) {
    clear();
    person(70, 40, 16);
    rect(100, 75, W, H, 1);                             /* the neighbour's shoulder */
    people_seed s[2] = {{70, 40, 28, {0, 1}}, {W + 20, 45, 28, {0, 1}}};
    if (split(s, 2, 0)) return;
    CHECK(mean(175, 80, W, H) < 0.01f && mean(40, 80, 100, H) > 0.99f,
          "a face outside the mask claims its shoulder (share %.3f) and leaves the subject's (%.3f)", mean(175, 80, W, H),
          mean(40, 80, 100, H));
}

/* A subject face the mask does not cover (a false detection on the background) splits
 * nothing: everyone stays rather than the real person being taken for someone else. */
static void test_missed(void) {
    clear();
    person(60, 40, 16);
    people_seed s[2] = {{60, 40, 28, {0, 1}}, {160, 30, 28, {0, 1}}};
    if (split(s, 2, 1)) return;
    CHECK(mean(0, 0, W, H) > 0.999f, "a subject face off the mask splits nothing (mean share %.3f)", mean(0, 0, W, H));
}

/* Bad input gets an error, not a crash. */
static void test_errors(void) {
    char err[PEOPLE_ERR] = "";
    people_seed s[1] = {{10, 10, 0, {0, 0}}};
    CHECK(people_share(mask, NULL, W, H, 1, s, 1, 0, share, err) < 0 && err[0], "a subject face of size 0 is refused: %s", err);
    err[0] = 0;
    CHECK(people_share(mask, NULL, W, H, 1, s, 1, 1, share, err) < 0 && err[0], "a subject index past the seeds is refused: %s", err);
}

/* Two people shoulder to shoulder: the left 380 columns of d01 (Grace Hopper) beside
 * columns 300..599 of d03 (Eileen Collins) enlarged 1.6x, so her face sits about one of
 * Hopper's face widths from Hopper's and her suit touches Hopper's jacket (tests/data/SOURCES.md). */
static int group_photo(img_rgb *g) {
    char err[IMG_ERR];
    img_rgb a = {0}, b = {0}, big = {0};
    int rc = img_load_file(&a, TEST_DATA "d01.jpg", NULL, err) || img_load_file(&b, TEST_DATA "d03.png", NULL, err) ||
             img_resize(&big, &b, 819, 819, err) || img_new(g, 680, 512, 0, err);
    for (int y = 0; !rc && y < 512; y++) {
        memcpy(g->rgb + (size_t)y * 680 * 3, a.rgb + (size_t)y * a.w * 3, 380 * 3);
        memcpy(g->rgb + ((size_t)y * 680 + 380) * 3, big.rgb + ((size_t)y * big.w + 300) * 3, 300 * 3);
    }
    if (rc) printf("not ok - group photo: %s\n", err);
    img_free(&a), img_free(&b), img_free(&big);
    return rc;
}

/* The headshot of a group photo shows one face to the project's own detector; with
 * --keep-others the neighbour is there too wherever the frame shows her face (so the photo
 * does test the split). */
static void test_group(void) {
    static pl_models m;
    static meta_history hist;
    char err[PL_ERR];
    img_rgb g = {0};
    if (group_photo(&g)) return;
    if (pl_models_open(&m, NULL, NULL, err)) {
        printf("not ok - networks: %s\n", err);
        img_free(&g);
        return;
    }
    pl_face *faces = malloc(sizeof(pl_face) * PL_MAX_FACES);
    for (int p = 0; faces && p < 2; p++)
        for (int keep = 0; keep < 2; keep++) {
            pl_opts o;
            pl_result r;
            pl_opts_default(&o);
            o.preset = p ? FRAME_PORTRAIT : FRAME_LINKEDIN, o.keep_others = keep;
            o.enhance = PL_ENHANCE_OFF;   /* the split is the subject here, not the upscaler (minutes under qemu) */
            meta_init(&hist, "headshot test");
            int rc = pl_run(&m, &g, &o, &r, &hist, err);
            int n = rc ? -1 : pl_faces(&m, &r.out, faces, PL_MAX_FACES, NULL, NULL, err);
            const char *preset = p ? "portrait" : "linkedin";
            /* the neighbour's face inside the frame: the middle half of its box (a photo without
               room is cropped tighter and may leave her out: then there is no one else to keep) */
            int inside = 0;
            for (int i = 0; !rc && i < r.n_faces; i++) {
                const det_face *d = &r.faces[i].det;
                int corners = 0;
                for (int k = 0; k < 4; k++) {
                    float x, y;
                    frame_map(r.plan.to_out, d->x + (0.25f + 0.5f * (k & 1)) * d->w, d->y + (0.25f + 0.5f * (k >> 1)) * d->h, &x, &y);
                    corners += x >= 0 && y >= 0 && x < r.out.w && y < r.out.h;
                }
                inside += i != r.subject && corners == 4;
            }
            if (keep) CHECK(n == 1 + inside, "group photo, %s, --keep-others: %d faces found, the subject and the %d other whose face the frame shows",
                            preset, n, inside);
            else CHECK(n == 1 && r.n_faces == 2, "group photo, %s: one face in the headshot (%d found; %d in the photo)", preset, n,
                       r.n_faces);
            pl_result_free(&r);
        }
    free(faces);
    pl_models_close(&m);
    img_free(&g);
}

int main(void) {
    test_touching();
    test_sizes();
    test_islands();
    test_outside();
    test_missed();
    test_errors();
    test_group();
    return test_done();
}
