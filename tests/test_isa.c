/* test_isa.c — how far apart two renderings of one image are, for tests/isa_test.sh (issue 9:
 * the kernel sets must make the same headshot), and a check of that measure.
 *
 *   build/tests/test_isa A.png B.png   prints "mean=M p999=P max=X" over the byte values of
 *                                      two images of the same size; exit 1 otherwise
 *   build/tests/test_isa               checks the measure on synthetic images
 *
 * The measure: the absolute difference of every colour byte; its mean, its 99.9th percentile
 * (the smallest d with at least 99.9% of the differences <= d: a few hundred flipped pixels
 * at the edge of a decision do not dominate it, a shifted or recoloured region does) and its
 * maximum. Alpha planes are compared the same way when both images have one.
 */
#include "img.h"
#include "test.h"

#include <stdint.h>

typedef struct {
    double mean;             /* mean absolute byte difference */
    int p999;                /* its 99.9th percentile */
    int max;                 /* its maximum */
} isa_diff;

/* Differences of a and b. Returns 0, or -1 when their sizes or planes differ. */
static int isa_measure(const img_rgb *a, const img_rgb *b, isa_diff *d) {
    if (a->w != b->w || a->h != b->h || !a->alpha != !b->alpha) return -1;
    size_t hist[256] = {0}, n = (size_t)a->w * a->h * 3, total = 0;
    double sum = 0;
    for (int plane = 0; plane < 2; plane++) {
        const unsigned char *p = plane ? a->alpha : a->rgb, *q = plane ? b->alpha : b->rgb;
        size_t len = plane ? n / 3 : n;
        for (size_t i = 0; p && i < len; i++) {
            int v = p[i] > q[i] ? p[i] - q[i] : q[i] - p[i];
            hist[v]++, sum += v;
        }
        if (p) total += len;
    }
    d->mean = total ? sum / total : 0;
    d->max = d->p999 = 0;
    size_t below = 0;
    int found = 0;
    for (int v = 0; v < 256; v++) {
        below += hist[v];
        if (hist[v]) d->max = v;
        if (!found && below >= 0.999 * total) d->p999 = v, found = 1;
    }
    return 0;
}

static int compare_files(const char *pa, const char *pb) {
    char err[IMG_ERR];
    img_rgb a = {0}, b = {0};
    isa_diff d;
    int rc = 1;
    if (img_load_file(&a, pa, NULL, err) || img_load_file(&b, pb, NULL, err)) fprintf(stderr, "test_isa: %s\n", err);
    else if (isa_measure(&a, &b, &d)) fprintf(stderr, "test_isa: %s is %dx%d, %s is %dx%d\n", pa, a.w, a.h, pb, b.w, b.h);
    else printf("mean=%.4f p999=%d max=%d\n", d.mean, d.p999, d.max), rc = 0;
    img_free(&a), img_free(&b);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3) return compare_files(argv[1], argv[2]);
    if (argc != 1) return fprintf(stderr, "usage: test_isa [A.png B.png]\n"), 2;

    char err[IMG_ERR];
    img_rgb a = {0}, b = {0};
    if (img_new(&a, 100, 100, 0, err) || img_new(&b, 100, 100, 0, err)) return printf("not ok - %s\n", err), 1;
    uint32_t r = 7;
    for (int i = 0; i < 30000; i++) r = r * 1664525u + 1013904223u, a.rgb[i] = b.rgb[i] = (unsigned char)(r >> 24);
    isa_diff d = {0, 0, 0};
    int rc = isa_measure(&a, &b, &d);
    CHECK(rc == 0 && d.mean == 0 && d.p999 == 0 && d.max == 0, "identical images: all zero (mean %.3f, p99.9 %d, max %d)",
          d.mean, d.p999, d.max);

    /* Every 10th byte off by 2 in either direction (10% of the values), then 10 bytes off by
     * 100: the mean moves, the 99.9th percentile (the 30 largest of 30000 values are 2 and
     * 100) stays at 2, the maximum shows the outliers. */
    for (int i = 0; i < 30000; i += 10) b.rgb[i] = (unsigned char)(a.rgb[i] < 128 ? a.rgb[i] + 2 : a.rgb[i] - 2);
    for (int i = 5; i < 30000; i += 3000) b.rgb[i] = (unsigned char)(a.rgb[i] < 128 ? a.rgb[i] + 100 : a.rgb[i] - 100);
    double want = (3000 * 2 + 10 * 100) / 30000.0;
    rc = isa_measure(&a, &b, &d);
    CHECK(rc == 0 && fabs(d.mean - want) < 1e-9 && d.p999 == 2 && d.max == 100,
          "10%% of bytes off by 2, 10 by 100: mean %.4f (want %.4f), p99.9 %d (want 2), max %d (want 100)", d.mean, want,
          d.p999, d.max);

    /* 40 bytes off by 100 are more than 0.1% of the values: the percentile must show them. */
    for (int i = 7; i < 30000; i += 1000) b.rgb[i] = (unsigned char)(a.rgb[i] < 128 ? a.rgb[i] + 100 : a.rgb[i] - 100);
    rc = isa_measure(&a, &b, &d);
    CHECK(rc == 0 && d.p999 == 100, "40 bytes off by 100 (0.13%%): p99.9 %d (want 100)", d.p999);

    img_rgb c = {0};
    int sized = img_new(&c, 100, 99, 0, err) == 0;
    rc = sized ? isa_measure(&a, &c, &d) : 0;
    CHECK(rc == -1, "images of different sizes are refused");
    img_free(&a), img_free(&b), img_free(&c);
    return test_done();
}
