/* test_exif.c — exif_orientation on JPEG headers built in memory, malformed ones, and real files.
 *
 * Every buffer handed to the parser is an exact-size heap copy, so under `make asan` any read
 * past its end is caught.
 */
#include "exif.h"
#include "test.h"

#include <stdint.h>

/* ============================================================ building EXIF === */

typedef struct { unsigned tag, type; uint32_t count, value; } entry;

static size_t put16(unsigned char *p, int le, unsigned v) {
    p[le ? 0 : 1] = v & 255;
    p[le ? 1 : 0] = (v >> 8) & 255;
    return 2;
}

static size_t put32(unsigned char *p, int le, uint32_t v) {
    put16(p + (le ? 0 : 2), le, v & 0xFFFF);
    put16(p + (le ? 2 : 0), le, v >> 16);
    return 4;
}

typedef struct {
    int le;                  /* 1: "II" little-endian, 0: "MM" big-endian */
    const entry *e;          /* IFD0 entries */
    int ne;
    int count;               /* stored entry count; -1 = ne */
    uint32_t ifd;            /* IFD0 offset; 0 = 8 (right after the header) */
    uint32_t next;           /* next-IFD link stored after the entries */
    int app0;                /* 1: a JFIF APP0 segment before the APP1 */
} spec;

/* SOI [APP0] APP1("Exif\0\0" + TIFF header + IFD0) SOS-marker into out; returns the size. */
static size_t build(unsigned char *out, spec s) {
    unsigned char tiff[512] = {0};
    int le = s.le;
    size_t t = 0;
    tiff[0] = tiff[1] = le ? 'I' : 'M';
    put16(tiff + 2, le, 42);
    uint32_t ifd = s.ifd ? s.ifd : 8;
    put32(tiff + 4, le, ifd);
    t = ifd < 400 ? ifd : 8;   /* an out-of-range offset is only stored, the IFD sits at 8 */
    t += put16(tiff + t, le, s.count >= 0 ? (unsigned)s.count : (unsigned)s.ne);
    for (int i = 0; i < s.ne; i++) {
        t += put16(tiff + t, le, s.e[i].tag);
        t += put16(tiff + t, le, s.e[i].type);
        t += put32(tiff + t, le, s.e[i].count);
        if (s.e[i].type == 3) { put16(tiff + t, le, s.e[i].value); t += 4; }   /* left-justified */
        else t += put32(tiff + t, le, s.e[i].value);
    }
    t += put32(tiff + t, le, s.next);

    size_t n = 0;
    out[n++] = 0xFF; out[n++] = 0xD8;
    if (s.app0) {
        static const unsigned char jfif[] = {0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0};
        memcpy(out + n, jfif, sizeof jfif);
        n += sizeof jfif;
    }
    size_t len = 2 + 6 + t;
    out[n++] = 0xFF; out[n++] = 0xE1; out[n++] = (unsigned char)(len >> 8); out[n++] = len & 255;
    memcpy(out + n, "Exif\0\0", 6);
    n += 6;
    memcpy(out + n, tiff, t);
    n += t;
    out[n++] = 0xFF; out[n++] = 0xDA;
    return n;
}

/* exif_orientation on an exact-size heap copy of b[0..n). */
static int orient(const unsigned char *b, size_t n) {
    unsigned char *c = malloc(n ? n : 1);
    if (n) memcpy(c, b, n);
    int o = exif_orientation(c, n);
    free(c);
    return o;
}

/* ============================================================ tests === */

int main(void) {
    unsigned char buf[1024];
    const char *order[2] = {"big-endian", "little-endian"};

    /* All 8 values, both byte orders, orientation between two other tags. */
    for (int le = 0; le < 2; le++) {
        int right = 0;
        for (unsigned o = 1; o <= 8; o++) {
            entry e[3] = {{0x010F, 2, 6, 100}, {0x0112, 3, 1, o}, {0x0132, 2, 20, 200}};
            size_t n = build(buf, (spec){le, e, 3, -1, 0, 0, o & 1});
            right += orient(buf, n) == (int)o;
        }
        CHECK(right == 8, "%s: all 8 orientations read back (%d of 8)", order[le], right);
    }

    entry good[1] = {{0x0112, 3, 1, 6}};
    size_t full = build(buf, (spec){1, good, 1, -1, 0, 0, 0});
    CHECK(orient(buf, full) == 6, "the reference block gives 6 (%d)", orient(buf, full));

    /* Out-of-range values. */
    entry zero[1] = {{0x0112, 3, 1, 0}}, nine[1] = {{0x0112, 3, 1, 9}};
    int oz = orient(buf, build(buf, (spec){0, zero, 1, -1, 0, 0, 0}));
    int o9 = orient(buf, build(buf, (spec){1, nine, 1, -1, 0, 0, 0}));
    CHECK(oz == 1 && o9 == 1, "values 0 and 9 mean upright (%d, %d)", oz, o9);

    /* Every truncation of a valid header: the APP1 then claims more bytes than exist. */
    int bad = 0;
    full = build(buf, (spec){1, good, 1, -1, 0, 0, 1});
    for (size_t n = 0; n + 2 < full; n++) bad += orient(buf, n) != 1;
    CHECK(bad == 0, "all %zu truncations of the segment give 1 (%d did not)", full - 2, bad);

    /* A segment whose length is consistent but stops inside the IFD. */
    full = build(buf, (spec){0, good, 1, -1, 0, 0, 0});
    buf[4] = 0; buf[5] = 2 + 6 + 8 + 2 + 6;              /* header, count and half an entry */
    int cut = orient(buf, 4 + 2 + 6 + 8 + 2 + 6);
    CHECK(cut == 1, "segment ending inside the entry gives 1 (%d)", cut);

    /* IFD offsets out of range or inside the TIFF header. */
    int far = orient(buf, build(buf, (spec){1, good, 1, -1, 0xFFFFFFF0u, 0, 0}));
    int past = orient(buf, build(buf, (spec){0, good, 1, -1, 400, 0, 0}));
    int inside = orient(buf, build(buf, (spec){1, good, 1, -1, 4, 0, 0}));
    CHECK(far == 1 && past == 1 && inside == 1, "IFD offset 0xFFFFFFF0 / past the end / inside the header give 1 (%d %d %d)", far, past, inside);

    /* IFD loops: the next-IFD link points at IFD0 itself. */
    entry other[1] = {{0x0100, 4, 1, 640}};
    int loop_with = orient(buf, build(buf, (spec){1, good, 1, -1, 0, 8, 0}));
    int loop_without = orient(buf, build(buf, (spec){0, other, 1, -1, 0, 8, 0}));
    CHECK(loop_with == 6 && loop_without == 1, "IFD pointing to itself: tag found (%d), tag absent gives 1 (%d)", loop_with, loop_without);

    /* An entry count far beyond the segment. */
    int absurd = orient(buf, build(buf, (spec){1, good, 1, 0xFFFF, 0, 0, 0}));
    int absurd_be = orient(buf, build(buf, (spec){0, good, 1, 300, 0, 0, 0}));
    CHECK(absurd == 1 && absurd_be == 1, "entry counts 65535 and 300 give 1 (%d %d)", absurd, absurd_be);

    /* Orientation with the wrong type or count. */
    entry as_long[1] = {{0x0112, 4, 1, 6}}, two[1] = {{0x0112, 3, 2, 6}}, none[1] = {{0x0112, 3, 0, 6}};
    int tl = orient(buf, build(buf, (spec){1, as_long, 1, -1, 0, 0, 0}));
    int t2 = orient(buf, build(buf, (spec){0, two, 1, -1, 0, 0, 0}));
    int t0 = orient(buf, build(buf, (spec){1, none, 1, -1, 0, 0, 0}));
    CHECK(tl == 1 && t2 == 1 && t0 == 1, "type LONG, count 2, count 0 give 1 (%d %d %d)", tl, t2, t0);

    /* Broken TIFF headers. */
    full = build(buf, (spec){1, good, 1, -1, 0, 0, 0});
    unsigned char tmp[1024];
    memcpy(tmp, buf, full); tmp[12] = 'X'; tmp[13] = 'X';     /* byte order mark */
    int bom = orient(tmp, full);
    memcpy(tmp, buf, full); tmp[14] = 43;                      /* 42 magic */
    int magic = orient(tmp, full);
    memcpy(tmp, buf, full); tmp[6] = 'e';                      /* "Exif" */
    int name = orient(tmp, full);
    static const unsigned char only_exif[] = {0xFF, 0xD8, 0xFF, 0xE1, 0, 8, 'E', 'x', 'i', 'f', 0, 0, 0xFF, 0xDA};
    int empty = orient(only_exif, sizeof only_exif);
    CHECK(bom == 1 && magic == 1 && name == 1 && empty == 1,
          "bad byte order, bad magic, no Exif name, no TIFF header give 1 (%d %d %d %d)", bom, magic, name, empty);

    /* Not JPEG at all, nothing, a JPEG with no APP1, and garbage between segments. */
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    static const unsigned char plain[] = {0xFF, 0xD8, 0xFF, 0xDB, 0, 2, 0xFF, 0xD9};
    int np = orient(png, sizeof png), ne = orient(NULL, 0), nq = orient(plain, sizeof plain);
    memcpy(tmp, buf, full); tmp[2] = 0x00;                     /* APP1 marker broken */
    int junk = orient(tmp, full);
    CHECK(np == 1 && ne == 1 && nq == 1 && junk == 1, "PNG, empty, no APP1, no marker give 1 (%d %d %d %d)", np, ne, nq, junk);

    /* Fill bytes before the APP1 marker are legal. */
    unsigned char fill[1024] = {0xFF, 0xD8, 0xFF, 0xFF};
    memcpy(fill + 3, buf + 2, full - 2);
    CHECK(orient(fill, full + 1) == 6, "fill byte before APP1 tolerated (%d)", orient(fill, full + 1));

    /* Random corruption of valid headers: always a value in 1..8, never a crash. */
    uint32_t seed = 12345;
    int out_of_range = 0, changed = 0;
    for (int it = 0; it < 20000; it++) {
        entry e[2] = {{0x0100, 4, 1, 99}, {0x0112, 3, 1, 1 + it % 8}};
        size_t n = build(tmp, (spec){it & 1, e, 2, -1, 0, (it & 2) ? 8 : 0, it & 4});
        for (int k = 0; k < 1 + it % 4; k++) {
            seed = seed * 1664525u + 1013904223u;
            tmp[2 + (seed >> 8) % (n - 2)] = (unsigned char)(seed >> 24);
        }
        seed = seed * 1664525u + 1013904223u;
        size_t len = it % 3 ? n : (seed >> 8) % (n + 1);
        int o = orient(tmp, len);
        out_of_range += o < 1 || o > 8;
        changed += o != 1 + it % 8;
    }
    CHECK(out_of_range == 0, "20000 corrupted headers: all results in 1..8 (%d changed value)", changed);

    /* Real files. */
    const char *files[3] = {TEST_DATA "d01.jpg", TEST_DATA "d02.jpg", TEST_DATA "d09-orient3.jpg"};
    int want[3] = {1, 6, 3};
    for (int i = 0; i < 3; i++) {
        size_t n;
        unsigned char *b = test_slurp(files[i], &n);
        int o = b ? orient(b, n) : -1;
        CHECK(o == want[i], "%s: orientation %d (want %d)", files[i], o, want[i]);
        free(b);
    }
    return test_done();
}
