/* test_img.c — image input and output: sniffing, refusals, pixel conversions, orientation,
 * the real EXIF photos, resizing, encoding with metadata, atomic writes.
 *
 * PNGs with exactly known contents (grey, grey+alpha, 16-bit, palette, a lying header) are
 * built here byte by byte with stored (uncompressed) deflate blocks.
 */
#include "img.h"
#include "test.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* ============================================================ helpers === */

static int spit(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* img_load_memory on an exact-size heap copy, so ASan sees reads past the end. */
static int load(img_rgb *im, const unsigned char *b, size_t n, const img_load_opts *o, char *err) {
    unsigned char *c = malloc(n ? n : 1);
    if (n) memcpy(c, b, n);
    int rc = img_load_memory(im, c, n, o, err);
    free(c);
    return rc;
}

static uint32_t crc32_png(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static size_t be32(unsigned char *p, uint32_t v) {
    p[0] = v >> 24; p[1] = (v >> 16) & 255; p[2] = (v >> 8) & 255; p[3] = v & 255;
    return 4;
}

/* Appends one PNG chunk (length, type, data, CRC) at out + n; returns the new size. */
static size_t chunk(unsigned char *out, size_t n, const char *type, const unsigned char *data, size_t len) {
    n += be32(out + n, (uint32_t)len);
    memcpy(out + n, type, 4);
    if (len) memcpy(out + n + 4, data, len);
    n += 4 + len;
    return n + be32(out + n, crc32_png(out + n - 4 - len, 4 + len));
}

/* A PNG of w x h with bit depth / colour type, rows of rowbytes raw bytes each (filter 0 is
 * added), and optional PLTE / tRNS chunks. Caller frees. */
static unsigned char *make_png(int w, int h, int depth, int ctype, const unsigned char *rows, size_t rowbytes,
                               const unsigned char *plte, size_t plte_n, const unsigned char *trns, size_t trns_n,
                               size_t *n) {
    size_t raw_n = (size_t)h * (rowbytes + 1), z_n = 2 + raw_n + 5 * (raw_n / 65535 + 1) + 4;
    unsigned char *raw = malloc(raw_n), *z = malloc(z_n), *out = malloc(z_n + 256 + plte_n + trns_n);
    for (int y = 0; y < h; y++) {
        raw[y * (rowbytes + 1)] = 0;
        memcpy(raw + y * (rowbytes + 1) + 1, rows + y * rowbytes, rowbytes);
    }
    size_t zn = 0;
    z[zn++] = 0x78; z[zn++] = 0x01;
    for (size_t off = 0; off < raw_n;) {   /* stored deflate blocks */
        size_t len = raw_n - off > 65535 ? 65535 : raw_n - off;
        z[zn++] = off + len == raw_n;
        z[zn++] = len & 255; z[zn++] = len >> 8; z[zn++] = ~len & 255; z[zn++] = (~len >> 8) & 255;
        memcpy(z + zn, raw + off, len);
        zn += len;
        off += len;
    }
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < raw_n; i++) { a = (a + raw[i]) % 65521; b = (b + a) % 65521; }
    zn += be32(z + zn, b << 16 | a);

    unsigned char ihdr[13] = {0};
    be32(ihdr, (uint32_t)w); be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = (unsigned char)depth; ihdr[9] = (unsigned char)ctype;
    memcpy(out, "\x89PNG\r\n\x1A\n", 8);
    size_t m = chunk(out, 8, "IHDR", ihdr, 13);
    if (plte) m = chunk(out, m, "PLTE", plte, plte_n);
    if (trns) m = chunk(out, m, "tRNS", trns, trns_n);
    m = chunk(out, m, "IDAT", z, zn);
    m = chunk(out, m, "IEND", NULL, 0);
    free(raw);
    free(z);
    *n = m;
    return out;
}

/* Expected value of colour v with opacity a composited over white, rounded to nearest. */
static int over_white(int v, int a) { return (int)lround(v * a / 255.0 + 255 - a); }

static double mean_abs_diff(const img_rgb *a, const img_rgb *b) {
    double s = 0;
    size_t n = (size_t)a->w * a->h * 3;
    for (size_t i = 0; i < n; i++) s += abs(a->rgb[i] - b->rgb[i]);
    return s / n;
}

static double psnr(const img_rgb *a, const img_rgb *b) {
    double s = 0;
    size_t n = (size_t)a->w * a->h * 3;
    for (size_t i = 0; i < n; i++) s += (double)(a->rgb[i] - b->rgb[i]) * (a->rgb[i] - b->rgb[i]);
    return s == 0 ? 99 : 10 * log10(255.0 * 255.0 / (s / n));
}

static int count_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return n;
}

/* ============================================================ sniffing and refusals === */

static void test_refusals(const unsigned char *d01, size_t d01_n) {
    char err[IMG_ERR];
    img_rgb im;
    static const struct { const char *name; const char *bytes; size_t n; } fmts[] = {
        {"WebP", "RIFF\x24\0\0\0WEBPVP8 ", 16},
        {"HEIC", "\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24},
        {"HEIF", "\0\0\0\x14" "ftypmif1\0\0\0\0mif1", 20},
        {"AVIF", "\0\0\0\x1C" "ftypavif\0\0\0\0avifmif1miaf", 28},
        {"GIF", "GIF89a\x02\0\x02\0\x80\0\0\0\0\0\xFF\xFF\xFF"
                "\x21\xFF\x0BNETSCAPE2.0\x03\x01\0\0\0"
                "\x21\xF9\x04\x04\x0A\0\0\0\x2C\0\0\0\0\x02\0\x02\0\0\x02\x02\x44\x01\0"
                "\x21\xF9\x04\x04\x0A\0\0\0\x2C\0\0\0\0\x02\0\x02\0\0\x02\x02\x84\x01\0\x3B", 85},
        {"TIFF", "II*\0\x08\0\0\0", 8},
        {"TIFF", "MM\0*\0\0\0\x08", 8},
        {"JPEG XL", "\xFF\x0A\xFA\x7F", 4},
        {"BMP", "BM\x3E\0\0\0\0\0\0\0\x3E\0\0\0\x28\0\0\0", 18},
    };
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        unsigned char b[128] = {0};
        memcpy(b, fmts[i].bytes, fmts[i].n);
        char want[96];
        snprintf(want, sizeof want, "unsupported format: %s (convert to JPEG or PNG)", fmts[i].name);
        int rc = load(&im, b, sizeof b, NULL, err);
        CHECK(rc == IMG_EFORMAT && !strcmp(err, want), "%s magic refused: \"%s\"", fmts[i].name, rc ? err : "(loaded)");
    }

    int rc = load(&im, (const unsigned char *)"", 0, NULL, err);
    CHECK(rc == IMG_EFORMAT && strstr(err, "empty"), "zero bytes: \"%s\"", err);

    unsigned char rnd[4096];
    uint32_t seed = 7;
    for (size_t i = 0; i < sizeof rnd; i++) { seed = seed * 1664525u + 1013904223u; rnd[i] = seed >> 24; }
    rc = load(&im, rnd, sizeof rnd, NULL, err);
    CHECK(rc == IMG_EFORMAT && strstr(err, "not an image"), "4 KiB of random bytes: \"%s\"", err);

    size_t cuts[3] = {d01_n / 2, d01_n - 2, 200};   /* mid-scan, just the EOI missing, in the header */
    for (int i = 0; i < 3; i++) {
        rc = load(&im, d01, cuts[i], NULL, err);
        CHECK(rc == IMG_EFORMAT && strstr(err, "truncated JPEG"), "d01.jpg cut to %zu of %zu bytes: \"%s\"", cuts[i], d01_n, err);
    }
    /* Bytes after EOI (as in phone "motion photos") are not truncation. */
    unsigned char *tail = malloc(d01_n + 100);
    memcpy(tail, d01, d01_n);
    memset(tail + d01_n, 0x55, 100);
    rc = load(&im, tail, d01_n + 100, NULL, err);
    CHECK(rc == 0 && im.w == 512, "d01.jpg with 100 bytes appended after EOI still loads (rc %d)", rc);
    img_free(&im);
    free(tail);

    unsigned char grey[64 * 64];
    for (int i = 0; i < 64 * 64; i++) grey[i] = (unsigned char)(i * 7);
    size_t pn;
    unsigned char *png = make_png(64, 64, 8, 0, grey, 64, NULL, 0, NULL, 0, &pn);
    size_t pcuts[2] = {pn - 12, pn / 2};          /* IEND missing, inside IDAT */
    for (int i = 0; i < 2; i++) {
        rc = load(&im, png, pcuts[i], NULL, err);
        CHECK(rc == IMG_EFORMAT && strstr(err, "truncated PNG"), "PNG cut to %zu of %zu bytes: \"%s\"", pcuts[i], pn, err);
    }
    free(png);

    /* The limit comes from the header alone: this "20000x20000" PNG is 33 bytes long. */
    unsigned char liar[64];
    memcpy(liar, "\x89PNG\r\n\x1A\n", 8);
    unsigned char ihdr[13] = {0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20, 8, 2, 0, 0, 0};
    size_t ln = chunk(liar, 8, "IHDR", ihdr, 13);
    rc = load(&im, liar, ln, NULL, err);
    CHECK(rc == IMG_ELARGE && strstr(err, "too large"), "%zu-byte PNG claiming 20000x20000: \"%s\"", ln, err);
    memset(ihdr, 0xFF, 8);                          /* 4294967295 x 4294967295: no overflow */
    ln = chunk(liar, 8, "IHDR", ihdr, 13);
    rc = load(&im, liar, ln, NULL, err);
    CHECK(rc == IMG_ELARGE, "PNG claiming 4294967295x4294967295: \"%s\"", err);
}

/* ============================================================ pixel conversions === */

static void test_conversions(void) {
    char err[IMG_ERR];
    img_rgb im;
    size_t n;
    unsigned char *png;
    int bad;

    unsigned char g[4 * 3];
    for (int i = 0; i < 12; i++) g[i] = (unsigned char)(i * 23);
    png = make_png(4, 3, 8, 0, g, 4, NULL, 0, NULL, 0, &n);
    int rc = load(&im, png, n, NULL, err);
    bad = rc;
    for (int i = 0; !rc && i < 12; i++) bad += im.rgb[3 * i] != g[i] || im.rgb[3 * i + 1] != g[i] || im.rgb[3 * i + 2] != g[i];
    CHECK(!rc && !bad && !im.alpha, "8-bit grey PNG -> RGB replicated exactly, no alpha (%d wrong)", bad);
    img_free(&im);
    free(png);

    unsigned char ga[4 * 3 * 2];
    for (int i = 0; i < 12; i++) { ga[2 * i] = (unsigned char)(i * 23); ga[2 * i + 1] = (unsigned char)(255 - i * 21); }
    png = make_png(4, 3, 8, 4, ga, 8, NULL, 0, NULL, 0, &n);
    rc = load(&im, png, n, NULL, err);
    bad = rc || !im.alpha;
    for (int i = 0; !bad && i < 12; i++) {
        int want = over_white(ga[2 * i], ga[2 * i + 1]);
        bad += im.rgb[3 * i] != want || im.rgb[3 * i + 2] != want || im.alpha[i] != ga[2 * i + 1];
    }
    CHECK(!bad, "grey+alpha PNG -> grey over white, alpha plane kept (%d wrong)", bad);
    img_free(&im);
    free(png);

    unsigned char rgba[4 * 3 * 4];
    for (int i = 0; i < 12; i++) {
        rgba[4 * i] = (unsigned char)(i * 20); rgba[4 * i + 1] = (unsigned char)(200 - i * 10);
        rgba[4 * i + 2] = (unsigned char)(i * 13); rgba[4 * i + 3] = (unsigned char)(i * 23);
    }
    png = make_png(4, 3, 8, 6, rgba, 16, NULL, 0, NULL, 0, &n);
    rc = load(&im, png, n, NULL, err);
    bad = rc || !im.alpha;
    for (int i = 0; !bad && i < 12; i++) {
        for (int k = 0; k < 3; k++) bad += im.rgb[3 * i + k] != over_white(rgba[4 * i + k], rgba[4 * i + 3]);
        bad += im.alpha[i] != rgba[4 * i + 3];
    }
    CHECK(!bad, "RGBA PNG -> RGB over white + alpha plane, pixel-exact (%d wrong)", bad);
    img_free(&im);
    free(png);

    for (int i = 0; i < 12; i++) rgba[4 * i + 3] = 255;
    png = make_png(4, 3, 8, 6, rgba, 16, NULL, 0, NULL, 0, &n);
    rc = load(&im, png, n, NULL, err);
    bad = rc;
    for (int i = 0; !bad && i < 12; i++)
        for (int k = 0; k < 3; k++) bad += im.rgb[3 * i + k] != rgba[4 * i + k];
    CHECK(!bad && !im.alpha, "opaque RGBA PNG -> exact RGB and no alpha plane (alpha %s)", im.alpha ? "kept" : "dropped");
    img_free(&im);
    free(png);

    unsigned char rgb16[4 * 3 * 6];   /* big-endian samples; 8-bit result is the high byte */
    for (int i = 0; i < 12 * 3; i++) { rgb16[2 * i] = (unsigned char)(i * 7); rgb16[2 * i + 1] = (unsigned char)(255 - i); }
    png = make_png(4, 3, 16, 2, rgb16, 24, NULL, 0, NULL, 0, &n);
    rc = load(&im, png, n, NULL, err);
    bad = rc;
    for (int i = 0; !bad && i < 36; i++) bad += im.rgb[i] != rgb16[2 * i];
    CHECK(!bad && !im.alpha, "16-bit RGB PNG -> high bytes exactly (%d wrong)", bad);
    img_free(&im);
    free(png);

    unsigned char g16[4 * 3 * 2];
    for (int i = 0; i < 12; i++) { g16[2 * i] = (unsigned char)(i * 21); g16[2 * i + 1] = 0xFF; }
    png = make_png(4, 3, 16, 0, g16, 8, NULL, 0, NULL, 0, &n);
    rc = load(&im, png, n, NULL, err);
    bad = rc;
    for (int i = 0; !bad && i < 12; i++) bad += im.rgb[3 * i] != g16[2 * i] || im.rgb[3 * i + 1] != g16[2 * i];
    CHECK(!bad, "16-bit grey PNG -> RGB from the high byte (%d wrong)", bad);
    img_free(&im);
    free(png);

    unsigned char plte[9] = {255, 0, 0, 0, 128, 0, 10, 20, 30}, trns[2] = {255, 0}, idx[4 * 3];
    for (int i = 0; i < 12; i++) idx[i] = (unsigned char)(i % 3);
    png = make_png(4, 3, 8, 3, idx, 4, plte, 9, trns, 2, &n);
    rc = load(&im, png, n, NULL, err);
    bad = rc || !im.alpha;
    for (int i = 0; !bad && i < 12; i++) {
        int p = idx[i], a = p < 2 ? trns[p] : 255;
        for (int k = 0; k < 3; k++) bad += im.rgb[3 * i + k] != over_white(plte[3 * p + k], a);
        bad += im.alpha[i] != a;
    }
    CHECK(!bad, "palette PNG with tRNS -> RGB over white + alpha (%d wrong)", bad);
    img_free(&im);
    free(png);

    /* The pixel limit is inclusive: 4x3 = 12 pixels. */
    png = make_png(4, 3, 8, 0, g, 4, NULL, 0, NULL, 0, &n);
    img_load_opts at = {12, 0}, below = {11, 0};
    int rc12 = load(&im, png, n, &at, err);
    img_free(&im);
    int rc11 = load(&im, png, n, &below, err);
    CHECK(rc12 == 0 && rc11 == IMG_ELARGE, "4x3 image: limit 12 loads (%d), limit 11 refused (%d: \"%s\")", rc12, rc11, err);
    free(png);
}

/* ============================================================ orientation === */

static void test_orient(void) {
    /* A 3x2 image whose pixels are labelled A..F in reading order:  A B C
     *                                                               D E F  */
    static const char *want[9] = {NULL,
        "ABC/DEF", "CBA/FED", "FED/CBA", "DEF/ABC",      /* 1 id, 2 mirror h, 3 rot 180, 4 mirror v */
        "AD/BE/CF", "DA/EB/FC", "FC/EB/DA", "CF/BE/AD"}; /* 5 transpose, 6 CW, 7 transverse, 8 CCW */
    char err[IMG_ERR];
    for (int o = 1; o <= 8; o++) {
        img_rgb im;
        img_new(&im, 3, 2, 1, err);
        for (int i = 0; i < 6; i++) {
            im.rgb[3 * i] = (unsigned char)('A' + i);
            im.rgb[3 * i + 1] = (unsigned char)(100 + i);
            im.rgb[3 * i + 2] = (unsigned char)(200 + i);
            im.alpha[i] = (unsigned char)(50 + i);
        }
        char got[16] = {0};
        int rc = img_orient(&im, o, err), ok = 1;
        for (int y = 0, k = 0; !rc && y < im.h; y++) {
            for (int x = 0; x < im.w; x++) {
                int i = y * im.w + x, label = im.rgb[3 * i] - 'A';
                got[k++] = (char)im.rgb[3 * i];
                ok &= im.rgb[3 * i + 1] == 100 + label && im.rgb[3 * i + 2] == 200 + label && im.alpha[i] == 50 + label;
            }
            if (y + 1 < im.h) got[k++] = '/';
        }
        int match = !rc && ok && !strcmp(got, want[o]);
        CHECK(match, "orientation %d on a 3x2 image: %s (want %s), %dx%d, channels and alpha follow", o, got, want[o], im.w, im.h);
        img_free(&im);
    }
    img_rgb im;
    img_new(&im, 2, 2, 0, err);
    int rc = img_orient(&im, 9, err);
    CHECK(rc == IMG_EFAIL, "orientation 9 refused: \"%s\"", err);
    img_free(&im);
}

/* d02 is d01's photo, 128x128, stored rotated with EXIF orientation 6; d09-orient3 is stored
 * upside down with orientation 3. d01 and d02 are different crops and encodes of the photo, so
 * even the right turn leaves a difference (measured 27.1 at 64x64); the 7 wrong turns of d02's
 * stored pixels all measure above 55. */
static void test_real_orientation(void) {
    char err[IMG_ERR];
    img_rgb d01, d02, a, b;
    img_load_opts raw = {0, 1};
    int rc = img_load_file(&d01, TEST_DATA "d01.jpg", NULL, err);
    rc |= img_load_file(&d02, TEST_DATA "d02.jpg", NULL, err);
    rc |= img_resize(&a, &d01, 64, 64, err);
    rc |= img_resize(&b, &d02, 64, 64, err);
    if (rc) { CHECK(0, "loading d01/d02: %s", err); return; }
    double up = mean_abs_diff(&a, &b), wrong = 1e9;
    img_free(&b);
    for (int o = 1; o <= 8; o++) {
        if (o == 6) continue;
        img_rgb s;
        rc = img_load_file(&s, TEST_DATA "d02.jpg", &raw, err);
        rc |= img_orient(&s, o, err);
        rc |= img_resize(&b, &s, 64, 64, err);
        double d = rc ? 0 : mean_abs_diff(&a, &b);
        wrong = d < wrong ? d : wrong;
        img_free(&s);
        img_free(&b);
    }
    CHECK(d02.w == 128 && up < 35.0, "d02 turned upright matches d01 at 64x64: mean abs diff %.1f < 35", up);
    CHECK(wrong > 50.0, "every other turn of d02 is far off: smallest mean abs diff %.1f > 50", wrong);
    img_free(&a);
    img_free(&d01);
    img_free(&d02);

    img_rgb up3, st3;
    rc = img_load_file(&up3, TEST_DATA "d09-orient3.jpg", NULL, err);
    rc |= img_load_file(&st3, TEST_DATA "d09-orient3.jpg", &raw, err);
    if (rc) { CHECK(0, "loading d09-orient3: %s", err); return; }
    long bad = up3.w != st3.w || up3.h != st3.h;
    size_t n = (size_t)st3.w * st3.h;
    for (size_t i = 0; !bad && i < n; i++)   /* pixel i of the upright image is stored pixel n-1-i */
        bad += memcmp(up3.rgb + 3 * i, st3.rgb + 3 * (n - 1 - i), 3) != 0;
    CHECK(!bad, "d09-orient3 (%dx%d) loads as the exact 180-degree turn of its stored pixels (%ld differ)", up3.w, up3.h, bad);
    img_free(&up3); img_free(&st3);
}

/* ============================================================ resize, encode, write === */

static void test_resize(void) {
    char err[IMG_ERR];
    img_rgb src, dst;
    img_new(&src, 10, 7, 1, err);
    for (int i = 0; i < 70; i++) {
        src.rgb[3 * i] = 200; src.rgb[3 * i + 1] = 90; src.rgb[3 * i + 2] = 17; src.alpha[i] = 128;
    }
    int rc = img_resize(&dst, &src, 3, 5, err), worst = 0;
    for (int i = 0; !rc && i < 15; i++) {
        int d[4] = {dst.rgb[3 * i] - 200, dst.rgb[3 * i + 1] - 90, dst.rgb[3 * i + 2] - 17, dst.alpha[i] - 128};
        for (int k = 0; k < 4; k++) worst = abs(d[k]) > worst ? abs(d[k]) : worst;
    }
    CHECK(!rc && dst.w == 3 && dst.h == 5 && worst <= 1, "flat 10x7 colour+alpha resized to 3x5 stays flat (max error %d <= 1)", worst);
    img_free(&dst);
    rc = img_resize(&dst, &src, 0, 5, err);
    CHECK(rc == IMG_EFAIL && !dst.rgb, "resize to 0x5 refused: \"%s\"", err);
    img_free(&src);
}

static void test_encode(const unsigned char *d01, size_t d01_n) {
    char err[IMG_ERR];
    img_rgb im, back;
    if (img_load_memory(&im, d01, d01_n, NULL, err)) { CHECK(0, "d01: %s", err); return; }
    unsigned char *out;
    size_t n;

    int rc = img_encode(&im, IMG_PNG, 0, NULL, 0, &out, &n, err);
    rc |= load(&back, out, n, NULL, err);
    CHECK(!rc && back.w == im.w && !memcmp(back.rgb, im.rgb, (size_t)im.w * im.h * 3), "PNG round trip of d01 is exact (%zu bytes)", n);
    img_free(&back);
    free(out);

    rc = img_encode(&im, IMG_JPEG, 92, NULL, 0, &out, &n, err);
    rc |= load(&back, out, n, NULL, err);
    double db = rc ? 0 : psnr(&im, &back);
    CHECK(!rc && db > 35, "JPEG q92 round trip of d01: PSNR %.2f dB > 35 (%zu bytes)", db, n);
    img_free(&back);

    /* Metadata: a COM segment in the JPEG, a tEXt chunk in the PNG, placed and still decodable. */
    static const unsigned char com[] = {0xFF, 0xFE, 0x00, 0x0A, 'h', 'e', 'a', 'd', 's', 'h', 'o', 't'};
    unsigned char *with;
    size_t wn;
    rc = img_encode(&im, IMG_JPEG, 92, com, sizeof com, &with, &wn, err);
    int placed = !rc && wn == n + sizeof com && !memcmp(with + 20, com, sizeof com) &&
                 !memcmp(with, out, 20) && !memcmp(with + 20 + sizeof com, out + 20, n - 20);
    rc |= load(&back, with, wn, NULL, err);
    CHECK(placed && !rc, "JPEG COM segment inserted after the JFIF header, file still decodes");
    img_free(&back);
    free(with);
    free(out);

    unsigned char text[64];
    size_t tn = chunk(text, 0, "tEXt", (const unsigned char *)"Software\0headshot", 17);
    rc = img_encode(&im, IMG_PNG, 0, text, tn, &with, &wn, err);
    placed = !rc && !memcmp(with + 33, text, tn);
    rc |= load(&back, with, wn, NULL, err);
    CHECK(placed && !rc && !memcmp(back.rgb, im.rgb, (size_t)im.w * im.h * 3), "PNG tEXt chunk inserted after IHDR, pixels unchanged");
    img_free(&back);
    free(with);

    static const unsigned char sof[] = {0xFF, 0xC0, 0x00, 0x04, 0, 0}, longer[] = {0xFF, 0xE1, 0x00, 0x09, 0};
    int r1 = img_encode(&im, IMG_JPEG, 92, sof, sizeof sof, &with, &wn, err);
    int r2 = img_encode(&im, IMG_JPEG, 92, longer, sizeof longer, &with, &wn, err);
    int r3 = img_encode(&im, IMG_PNG, 0, com, sizeof com, &with, &wn, err);
    int r4 = img_encode(&im, IMG_JPEG, 101, NULL, 0, &with, &wn, err);
    CHECK(r1 == IMG_EFAIL && r2 == IMG_EFAIL && r3 == IMG_EFAIL && r4 == IMG_EFAIL && !with,
          "refused: SOF as metadata, overlong segment, JPEG segment in PNG, quality 101");
    img_free(&im);

    const char *names[6] = {"a.jpg", "B.JPEG", "x/c.png", "d.webp", "noext", "dir.png/e"};
    int want[6] = {IMG_JPEG, IMG_JPEG, IMG_PNG, -1, -1, -1}, good = 0;
    for (int i = 0; i < 6; i++) good += img_format_from_path(names[i]) == want[i];
    CHECK(good == 6, "output format from the name, case-insensitive (%d of 6)", good);
}

static void test_files(const unsigned char *d01, size_t d01_n) {
    char err[IMG_ERR], dir[] = "/tmp/headshot-test-XXXXXX", path[256], path2[256];
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    img_rgb im, back;

    /* A PNG named .jpg loads: the bytes decide. */
    unsigned char g[8 * 8];
    for (int i = 0; i < 64; i++) g[i] = (unsigned char)(i * 4);
    size_t pn;
    unsigned char *png = make_png(8, 8, 8, 0, g, 8, NULL, 0, NULL, 0, &pn);
    snprintf(path, sizeof path, "%s/really-a-png.jpg", dir);
    spit(path, png, pn);
    int rc = img_load_file(&im, path, NULL, err);
    CHECK(rc == 0 && im.w == 8 && im.rgb[3 * 63] == g[63], "PNG bytes named .jpg load (rc %d)", rc);
    img_free(&im);
    free(png);

    snprintf(path, sizeof path, "%s/missing.jpg", dir);
    rc = img_load_file(&im, path, NULL, err);
    CHECK(rc == IMG_EREAD, "missing file: read error \"%s\"", err);
    rc = img_load_file(&im, dir, NULL, err);
    CHECK(rc == IMG_EREAD, "a directory: read error \"%s\"", err);

    /* Atomic write: create, replace, no temporary file left. */
    snprintf(path, sizeof path, "%s/out.jpg", dir);
    int r1 = img_write_file(path, d01, 1000, err);
    int r2 = img_write_file(path, d01, d01_n, err);
    size_t n;
    unsigned char *b = test_slurp(path, &n);
    CHECK(!r1 && !r2 && b && n == d01_n && !memcmp(b, d01, n) && count_temp_files(dir) == 0,
          "write then replace: final file has the new %zu bytes, no temporary file left", n);
    free(b);
    rc = img_load_file(&back, path, NULL, err);
    CHECK(rc == 0 && back.w == 512, "the written file decodes (%dx%d)", back.w, back.h);
    img_free(&back);

    snprintf(path2, sizeof path2, "%s/no/such/dir/out.jpg", dir);
    rc = img_write_file(path2, d01, d01_n, err);
    CHECK(rc == IMG_EWRITE && count_temp_files(dir) == 0, "write into a missing directory fails cleanly: \"%s\"", err);
    snprintf(path2, sizeof path2, "%s/sub", dir);
    mkdir(path2, 0755);
    rc = img_write_file(path2, d01, d01_n, err);
    struct stat st;
    CHECK(rc == IMG_EWRITE && stat(path2, &st) == 0 && S_ISDIR(st.st_mode), "a directory as output is refused: \"%s\"", err);

    rmdir(path2);
    unlink(path);
    snprintf(path, sizeof path, "%s/really-a-png.jpg", dir);
    unlink(path);
    CHECK(rmdir(dir) == 0, "temporary test directory left clean");
}

/* ============================================================ bombs and liars === */

/* Files whose declared size the data cannot honestly give are refused before stb allocates
 * for them (tests/fuzz/regress/img/, made by hand as docs/SECURITY.md describes), while the
 * most compressible honest files still load. */
static void test_bombs(void) {
    static const struct { const char *file, *expect; } bad[] = {
        {"bomb-png-1x1-inflates-64mib.png", "corrupt PNG: its data inflates past the declared 1x1 pixels"},
        {"liar-png-9000x9000-in-100-bytes.png", "corrupt PNG: 9000x9000 pixels cannot fit in 74 bytes"},
        {"liar-jpeg-9000x9000-in-900-bytes.jpg", "corrupt JPEG: 9000x9000 pixels cannot fit in 894 bytes"},
        {"scans-101-progressive.jpg", "corrupt JPEG: 101 scans, more than any encoder writes (limit 100)"},
    };
    char err[IMG_ERR], path[256];
    img_rgb im;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "tests/fuzz/regress/img/%s", bad[i].file);
        size_t n;
        unsigned char *b = test_slurp(path, &n);
        int rc = b ? load(&im, b, n, NULL, err) : 0;
        CHECK(rc == IMG_EFORMAT && !strcmp(err, bad[i].expect), "%s refused: \"%s\"", bad[i].file, rc ? err : "(loaded)");
        free(b);
    }
    /* One grey level compresses best: 2048x2048 as JPEG (one DC and one EOB code per block)
     * and as PNG still load. */
    img_rgb flat;
    img_new(&flat, 2048, 2048, 0, err);
    memset(flat.rgb, 128, (size_t)2048 * 2048 * 3);
    for (int f = IMG_JPEG; f <= IMG_PNG; f++) {
        unsigned char *out;
        size_t n;
        int rc = img_encode(&flat, (img_format)f, 50, NULL, 0, &out, &n, err);
        if (rc == 0) rc = load(&im, out, n, NULL, err);
        CHECK(rc == 0 && im.w == 2048, "flat grey 2048x2048 %s of %zu bytes (%.0f pixels a byte) loads: %s",
              f == IMG_JPEG ? "JPEG" : "PNG", n, 2048.0 * 2048 / (double)n, rc ? err : "yes");
        img_free(&im);
        free(out);
    }
    img_free(&flat);
}

int main(void) {
    size_t d01_n;
    unsigned char *d01 = test_slurp(TEST_DATA "d01.jpg", &d01_n);
    if (!d01) { CHECK(0, "cannot read " TEST_DATA "d01.jpg"); return test_done(); }
    test_refusals(d01, d01_n);
    test_bombs();
    test_conversions();
    test_orient();
    test_real_orientation();
    test_resize();
    test_encode(d01, d01_n);
    test_files(d01, d01_n);
    free(d01);
    return test_done();
}
