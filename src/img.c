/* img.c — image input and output on top of stb (see img.h for the contract).
 *
 * stb_image decodes, but it is lenient where we must not be: it fills a truncated JPEG with
 * grey and accepts anything it recognises. So every input first goes through our own checks:
 * the format is sniffed from the magic bytes, the container structure is walked to find the
 * dimensions (for the pixel limit) and the end marker (for truncation), and only then does
 * stb decode.
 */
#include "img.h"
#include "exif.h"
#include "buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* The one place the stb implementations are compiled. Only the JPEG and PNG decoders are
 * built (less untrusted-input code), and stb never opens files itself. */
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
/* stb's buffers (the decoded photo, its component planes) are the biggest of a run: they come
 * from buffer_alloc, on huge pages, like every other image buffer. */
#define STBI_MALLOC(n) buffer_alloc(n)
#define STBI_REALLOC(p, n) img_realloc(p, n)
#define STBI_FREE(p) free(p)
/* stb grows only two buffers: the concatenated PNG IDAT data (at most the file) and the
 * inflated PNG data, which stb lets grow without bound. A zlib stream can expand 1032-fold,
 * so a PNG that declares 100x100 pixels could inflate to gigabytes before stb compares the
 * sizes (a decompression bomb). img_load_memory sets a cap from the declared size; a growth
 * past it is refused before it is allocated, and noted so the error can say why. */
static _Thread_local size_t img_realloc_cap;
static _Thread_local int img_realloc_refused;

/* noinline: inlined, it leads GCC 12 to a false -Wstringop-overflow in stbi__getn. */
static __attribute__((noinline)) void *img_realloc(void *p, size_t n) {
    if (n > img_realloc_cap) {
        img_realloc_refused = 1;
        return NULL;
    }
    return realloc(p, n);
}

#define STB_IMAGE_IMPLEMENTATION
#include "stb_image.h"
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
/* stb_image_write's JPEG bit writer shifts set bits out of a signed int (`bitBuf <<= 8`), which
 * UBSan reports. Those bits are never used, and the header stays unmodified, so that one check
 * is switched off for its functions alone. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("shift-base"))), apply_to = function)
#endif
#include "stb_image_write.h"
#if defined(__clang__)
#pragma clang attribute pop
#endif
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include "stb_image_resize.h"

static int img_fail(char err[IMG_ERR], int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int img_fail(char err[IMG_ERR], int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (err) vsnprintf(err, IMG_ERR, fmt, ap);
    va_end(ap);
    return code;
}

static uint32_t img_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ============================================================ sniffing === */

static const struct { const char *name; const char *magic; size_t len; } img_magics[] = {
    {"JPEG", "\xFF\xD8\xFF", 3},
    {"PNG", "\x89PNG\r\n\x1A\n", 8},
    {"GIF", "GIF87a", 6},
    {"GIF", "GIF89a", 6},
    {"TIFF", "II*\0", 4},                            /* also DNG, NEF, CR2, ARW raw files */
    {"TIFF", "MM\0*", 4},
    {"TIFF", "II+\0", 4},                            /* BigTIFF */
    {"TIFF", "MM\0+", 4},
    {"JPEG XL", "\xFF\x0A", 2},                      /* bare codestream */
    {"JPEG XL", "\0\0\0\x0CJXL \r\n\x87\n", 12},     /* ISO-BMFF container */
    {"JPEG 2000", "\0\0\0\x0CjP  \r\n\x87\n", 12},
    {"JPEG 2000", "\xFF\x4F\xFF\x51", 4},
    {"PSD", "8BPS", 4},
    {"QOI", "qoif", 4},
};

/* HEIC, HEIF and AVIF share the ISO-BMFF "ftyp" box; its brands tell them apart. */
static const char *img_sniff_ftyp(const unsigned char *b, size_t n) {
    if (n < 12 || memcmp(b + 4, "ftyp", 4) != 0) return NULL;
    size_t end = img_be32(b);
    if (end < 12 || end > n) end = n;
    const char *name = NULL;
    for (size_t i = 8; i + 4 <= end; i += 4) {       /* major brand, minor version, compatible */
        if (i == 12) continue;
        const char *br = (const char *)b + i;
        if (!memcmp(br, "avif", 4) || !memcmp(br, "avis", 4)) return "AVIF";
        if (!memcmp(br, "crx ", 4)) return "Canon CR3 raw";
        if (!memcmp(br, "heic", 4) || !memcmp(br, "heix", 4) || !memcmp(br, "hevc", 4) ||
            !memcmp(br, "hevx", 4) || !memcmp(br, "heim", 4) || !memcmp(br, "heis", 4) ||
            !memcmp(br, "hevm", 4) || !memcmp(br, "hevs", 4)) name = "HEIC";
        if ((!memcmp(br, "mif1", 4) || !memcmp(br, "msf1", 4)) && !name) name = "HEIF";
    }
    return name;
}

const char *img_sniff(const unsigned char *b, size_t n) {
    if (!b) return NULL;
    for (size_t i = 0; i < sizeof img_magics / sizeof img_magics[0]; i++)
        if (n >= img_magics[i].len && !memcmp(b, img_magics[i].magic, img_magics[i].len))
            return img_magics[i].name;
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return "WebP";
    /* "BM" alone is too weak: also require a known DIB header size. */
    if (n >= 18 && b[0] == 'B' && b[1] == 'M') {
        uint32_t dib = b[14] | (uint32_t)b[15] << 8 | (uint32_t)b[16] << 16 | (uint32_t)b[17] << 24;
        if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 108 || dib == 124)
            return "BMP";
    }
    if (n >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7' &&
        (b[2] == ' ' || b[2] == '\n' || b[2] == '\r' || b[2] == '\t'))
        return "PNM";
    return img_sniff_ftyp(b, n);
}

/* ============================================================ structure checks === */

typedef struct {
    long long w, h;          /* dimensions from the header; 0 when not found */
    int bits;                /* PNG: bits per pixel (depth x channels); 0 when unknown */
    int scans;               /* JPEG: SOS segments */
    int complete;            /* 1 when the data runs to its end marker (JPEG EOI, PNG IEND) */
} img_header;

static int img_jpeg_is_sof(unsigned m) {
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* Walks the JPEG segments, and the entropy-coded data after each SOS, up to EOI. Like stb and
 * libjpeg, stray bytes where a marker should be are skipped. */
static img_header img_jpeg_scan(const unsigned char *p, size_t n) {
    img_header hd = {0, 0, 0, 0, 0};
    size_t i = 2;
    while (i + 2 <= n) {
        if (p[i] != 0xFF) { i++; continue; }
        unsigned m = p[i + 1];
        if (m == 0xFF) { i++; continue; }                    /* fill byte */
        if (m == 0xD9) { hd.complete = 1; return hd; }
        i += 2;
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;   /* no length */
        if (n - i < 2) return hd;
        size_t len = (size_t)p[i] << 8 | p[i + 1];
        if (len < 2 || len > n - i) return hd;
        if (img_jpeg_is_sof(m) && len >= 7 && hd.w == 0) {   /* length, P, Y, X */
            hd.h = p[i + 3] << 8 | p[i + 4];
            hd.w = p[i + 5] << 8 | p[i + 6];
        }
        i += len;
        hd.scans += m == 0xDA;
        if (m == 0xDA)   /* scan data ends at a marker other than a stuffed 00 or a restart */
            while (i + 1 < n && !(p[i] == 0xFF && p[i + 1] != 0x00 &&
                                  !(p[i + 1] >= 0xD0 && p[i + 1] <= 0xD7)))
                i++;
    }
    return hd;
}

/* Walks the PNG chunks (length, type, data, CRC) up to IEND; IHDR must come first. */
static img_header img_png_scan(const unsigned char *p, size_t n) {
    img_header hd = {0, 0, 0, 0, 0};
    if (n >= 26 && !memcmp(p + 12, "IHDR", 4)) {
        static const int channels[7] = {1, 0, 3, 1, 2, 0, 4};   /* by colour type */
        hd.w = img_be32(p + 16);
        hd.h = img_be32(p + 20);
        hd.bits = p[25] < 7 ? p[24] * channels[p[25]] : 0;
    }
    size_t i = 8;
    while (n - i >= 12) {
        size_t len = img_be32(p + i);
        if (len > n - i - 12) return hd;
        if (!memcmp(p + i + 4, "IEND", 4)) { hd.complete = 1; return hd; }
        i += 12 + len;
    }
    return hd;
}

/* ============================================================ pixels === */

int img_new(img_rgb *im, int w, int h, int with_alpha, char err[IMG_ERR]) {
    memset(im, 0, sizeof *im);
    if (w <= 0 || h <= 0) return img_fail(err, IMG_EFAIL, "invalid image size %dx%d", w, h);
    size_t n = (size_t)w * (size_t)h;
    im->rgb = buffer_alloc(n * 3);
    im->alpha = with_alpha ? buffer_alloc(n) : NULL;
    if (!im->rgb || (with_alpha && !im->alpha)) {
        img_free(im);
        return img_fail(err, IMG_EFAIL, "out of memory for a %dx%d image", w, h);
    }
    im->w = w;
    im->h = h;
    return 0;
}

void img_free(img_rgb *im) {
    if (!im) return;
    free(im->rgb);
    free(im->alpha);
    memset(im, 0, sizeof *im);
}

/* stb's c-channel pixels (grey, grey+alpha, RGB, RGBA) to our planes; px is consumed. Alpha
 * is kept only if some pixel is not opaque, so NULL keeps meaning "opaque" for later stages.
 * RGB (every JPEG photo) is adopted as it is: stb allocates with buffer_alloc, and copying a
 * 12 MP photo took 150 ms, two thirds of the time stb takes to decode it. */
static int img_from_stb(img_rgb *im, unsigned char *px, int w, int h, int c, char err[IMG_ERR]) {
    size_t n = (size_t)w * (size_t)h;
    if (c == 3) {
        *im = (img_rgb){w, h, px, NULL};
        return 0;
    }
    int has_alpha = 0;
    if (c == 2 || c == 4)
        for (size_t i = 0; i < n && !has_alpha; i++) has_alpha = px[i * c + c - 1] != 255;
    int rc = img_new(im, w, h, has_alpha, err);
    if (rc) return stbi_image_free(px), rc;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *s = px + i * c;
        unsigned a = has_alpha ? s[c - 1] : 255;
        for (int k = 0; k < 3; k++) {
            unsigned v = c < 3 ? s[0] : s[k];
            im->rgb[i * 3 + k] = (unsigned char)((v * a + 255 * (255 - a) + 127) / 255);   /* over white */
        }
        if (has_alpha) im->alpha[i] = (unsigned char)a;
    }
    stbi_image_free(px);
    return 0;
}

int img_orient(img_rgb *im, int o, char err[IMG_ERR]) {
    if (o < 1 || o > 8) return img_fail(err, IMG_EFAIL, "invalid orientation %d", o);
    if (o == 1) return 0;
    /* Output pixel (x, y) is source pixel start + x*dx + y*dy (pixel indices, source w x h). */
    ptrdiff_t w = im->w, h = im->h, start = 0, dx = 1, dy = w;
    switch (o) {
    case 2: start = w - 1;               dx = -1; dy = w;  break;   /* mirror horizontal */
    case 3: start = (h - 1) * w + w - 1; dx = -1; dy = -w; break;   /* rotate 180 */
    case 4: start = (h - 1) * w;         dx = 1;  dy = -w; break;   /* mirror vertical */
    case 5: start = 0;                   dx = w;  dy = 1;  break;   /* transpose */
    case 6: start = (h - 1) * w;         dx = -w; dy = 1;  break;   /* rotate 90 CW */
    case 7: start = (h - 1) * w + w - 1; dx = -w; dy = -1; break;   /* transverse */
    case 8: start = w - 1;               dx = w;  dy = -1; break;   /* rotate 90 CCW */
    }
    img_rgb out;
    int rc = o >= 5 ? img_new(&out, im->h, im->w, im->alpha != NULL, err)
                    : img_new(&out, im->w, im->h, im->alpha != NULL, err);
    if (rc) return rc;
    /* In blocks of the output: a transpose walks source columns, and a block keeps the rows
     * it reads in cache (a 12 MP phone photo in portrait is usually stored sideways). */
    enum { B = 32 };
    for (ptrdiff_t by = 0; by < out.h; by += B)
        for (ptrdiff_t bx = 0; bx < out.w; bx += B)
            for (ptrdiff_t y = by; y < by + B && y < out.h; y++)
                for (ptrdiff_t x = bx, d = y * out.w + bx; x < bx + B && x < out.w; x++, d++) {
                    ptrdiff_t s = start + x * dx + y * dy;
                    memcpy(out.rgb + d * 3, im->rgb + s * 3, 3);
                    if (out.alpha) out.alpha[d] = im->alpha[s];
                }
    img_free(im);
    *im = out;
    return 0;
}

int img_resize(img_rgb *dst, const img_rgb *src, int w, int h, char err[IMG_ERR]) {
    int rc = img_new(dst, w, h, src->alpha != NULL, err);
    if (rc) return rc;
    int ok = stbir_resize_uint8_srgb(src->rgb, src->w, src->h, 0, dst->rgb, w, h, 0, 3,
                                     STBIR_ALPHA_CHANNEL_NONE, 0);
    if (ok && src->alpha)
        ok = stbir_resize_uint8(src->alpha, src->w, src->h, 0, dst->alpha, w, h, 0, 1);
    if (!ok) {
        img_free(dst);
        return img_fail(err, IMG_EFAIL, "out of memory resizing %dx%d to %dx%d",
                        src->w, src->h, w, h);
    }
    return 0;
}

/* ============================================================ decoding === */

int img_load_memory(img_rgb *im, const unsigned char *b, size_t n, const img_load_opts *opts,
                    char err[IMG_ERR]) {
    memset(im, 0, sizeof *im);
    long long limit = opts && opts->max_pixels > 0 ? opts->max_pixels : IMG_MAX_PIXELS;
    if (!b || n == 0) return img_fail(err, IMG_EFORMAT, "empty file");
    const char *fmt = img_sniff(b, n);
    if (!fmt) return img_fail(err, IMG_EFORMAT, "not an image (unrecognised content)");
    int jpeg = !strcmp(fmt, "JPEG");
    if (!jpeg && strcmp(fmt, "PNG"))
        return img_fail(err, IMG_EFORMAT, "unsupported format: %s (convert to JPEG or PNG)", fmt);
    if (n > INT_MAX)   /* stb takes an int length */
        return img_fail(err, IMG_ELARGE, "file too large (%zu bytes)", n);

    /* The header decides before stb allocates anything proportional to the image. */
    img_header hd = jpeg ? img_jpeg_scan(b, n) : img_png_scan(b, n);
    /* The limits apply to the size stb will allocate for, should its reading of the header
     * ever differ from ours (stbi_info reads only the header). */
    int iw, ih, ic;
    if (stbi_info_from_memory(b, (int)n, &iw, &ih, &ic)) {
        if (iw > hd.w) hd.w = iw;
        if (ih > hd.h) hd.h = ih;
    }
    if (hd.w > 0 && hd.h > limit / hd.w)   /* w * h > limit, without overflow (PNG: 32-bit sides) */
        return img_fail(err, IMG_ELARGE, "image too large: %lldx%lld pixels, limit %lld pixels",
                        hd.w, hd.h, limit);
    if (!hd.complete)
        return img_fail(err, IMG_EFORMAT, "truncated %s (the file ends before the image does)", fmt);
    /* stb passes over every block of the image for each scan, however little data it holds:
     * thousands of tiny scans would be a CPU bomb. Encoders write at most about 20. */
    if (hd.scans > IMG_MAX_SCANS)
        return img_fail(err, IMG_EFORMAT, "corrupt JPEG: %d scans, more than any encoder writes (limit %d)",
                        hd.scans, IMG_MAX_SCANS);
    /* Fewer bytes than the declared pixels need, however well compressed: a JPEG codes every
     * 8x8 block of its largest component with at least one bit (a DC code), and deflate
     * expands at most 1032-fold. Refused before stb allocates the declared size. */
    double least = jpeg ? (double)hd.w * hd.h / 512 : (double)hd.w * hd.h * hd.bits / 8 / 1032;
    if (least > (double)n)
        return img_fail(err, IMG_EFORMAT, "corrupt %s: %lldx%lld pixels cannot fit in %zu bytes",
                        fmt, hd.w, hd.h, n);

    /* The inflated PNG data is at most the declared rows (interlacing adds a little); stb
     * doubles its buffer as it goes, hence twice that. The IDAT data is at most the file. */
    double raw = (double)hd.h * (1 + ((double)hd.w * hd.bits + 7) / 8);
    img_realloc_cap = (size_t)(2 * (raw > (double)n ? raw : (double)n)) + (1 << 16);
    img_realloc_refused = 0;
    int w, h, c;
    unsigned char *px = stbi_load_from_memory(b, (int)n, &w, &h, &c, 0);
    if (!px && img_realloc_refused)
        return img_fail(err, IMG_EFORMAT, "corrupt PNG: its data inflates past the declared %lldx%lld pixels",
                        hd.w, hd.h);
    if (!px) {
        const char *why = stbi_failure_reason();
        if (why && !strcmp(why, "outofmem")) return img_fail(err, IMG_EFAIL, "out of memory decoding %s", fmt);
        if (why && !strcmp(why, "too large"))
            return img_fail(err, IMG_ELARGE, "image too large for the %s decoder", fmt);
        return img_fail(err, IMG_EFORMAT, "corrupt %s (%s)", fmt, why ? why : "decoder failed");
    }
    int rc = img_from_stb(im, px, w, h, c, err);
    if (rc == 0 && jpeg && !(opts && opts->raw_orientation))
        rc = img_orient(im, exif_orientation(b, n), err);
    if (rc) img_free(im);
    return rc;
}

int img_read_file(const char *path, unsigned char **bytes, size_t *size, char err[IMG_ERR]) {
    *bytes = NULL, *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return img_fail(err, IMG_EREAD, "cannot open: %s", strerror(errno));
    struct stat st;
    int e = fstat(fd, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
    if (e) {
        close(fd);
        return img_fail(err, IMG_EREAD, "cannot read: %s", strerror(e));
    }
    if (S_ISREG(st.st_mode) && st.st_size > IMG_MAX_FILE) {
        close(fd);
        return img_fail(err, IMG_ELARGE, "file too large (%lld bytes, limit %lld)",
                        (long long)st.st_size, IMG_MAX_FILE);
    }
    /* Read to end of file rather than trusting st_size: pipes have none, files may change. */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    int rc = buf ? 0 : img_fail(err, IMG_EFAIL, "out of memory reading the file");
    while (rc == 0) {
        if (n == cap) {
            unsigned char *nb = n >= (size_t)IMG_MAX_FILE ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                rc = n >= (size_t)IMG_MAX_FILE
                   ? img_fail(err, IMG_ELARGE, "file too large (over %lld bytes)", IMG_MAX_FILE)
                   : img_fail(err, IMG_EFAIL, "out of memory reading the file");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got == 0) break;
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) rc = img_fail(err, IMG_EREAD, "cannot read: %s", strerror(errno));
        else n += (size_t)got;
    }
    close(fd);
    if (rc) return free(buf), rc;
    *bytes = buf, *size = n;
    return 0;
}

int img_load_file(img_rgb *im, const char *path, const img_load_opts *opts, char err[IMG_ERR]) {
    unsigned char *buf;
    size_t n;
    memset(im, 0, sizeof *im);
    int rc = img_read_file(path, &buf, &n, err);
    if (rc == 0) rc = img_load_memory(im, buf, n, opts, err);
    free(buf);
    return rc;
}

/* ============================================================ encoding === */

int img_format_from_path(const char *path) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return -1;
    if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")) return IMG_JPEG;
    if (!strcasecmp(dot, ".png")) return IMG_PNG;
    return -1;
}

typedef struct {
    unsigned char *p;        /* cap bytes, n used */
    size_t n, cap;
    int failed;              /* an allocation failed: the content is incomplete */
} img_buf;

static void img_buf_put(void *ctx, void *data, int size) {
    img_buf *b = ctx;
    if (b->failed || size <= 0) return;
    if (b->cap - b->n < (size_t)size) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap - b->n < (size_t)size) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) { b->failed = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, (size_t)size);
    b->n += (size_t)size;
}

/* 1 if meta is a sequence of whole JPEG APPn/COM segments or PNG ancillary chunks. */
static int img_meta_ok(const unsigned char *m, size_t n, img_format f) {
    for (size_t i = 0; i < n;) {
        if (f == IMG_JPEG) {
            if (n - i < 4 || m[i] != 0xFF || !((m[i + 1] >= 0xE0 && m[i + 1] <= 0xEF) || m[i + 1] == 0xFE))
                return 0;
            size_t len = (size_t)m[i + 2] << 8 | m[i + 3];
            if (len < 2 || len > n - i - 2) return 0;
            i += 2 + len;
        } else {
            if (n - i < 12) return 0;
            size_t len = img_be32(m + i);
            if (len > n - i - 12 || !(m[i + 4] & 0x20)) return 0;   /* lower case: ancillary */
            for (int k = 4; k < 8; k++)
                if (!((m[i + k] | 0x20) >= 'a' && (m[i + k] | 0x20) <= 'z')) return 0;
            i += 12 + len;
        }
    }
    return 1;
}

int img_encode(const img_rgb *im, img_format f, int quality, const unsigned char *meta,
               size_t meta_n, unsigned char **out, size_t *out_n, char err[IMG_ERR]) {
    *out = NULL;
    *out_n = 0;
    if (!im->rgb || im->w <= 0 || im->h <= 0) return img_fail(err, IMG_EFAIL, "no image to encode");
    if (f == IMG_JPEG && (quality < 1 || quality > 100))
        return img_fail(err, IMG_EFAIL, "JPEG quality %d is outside 1..100", quality);
    if (meta_n && (!meta || !img_meta_ok(meta, meta_n, f)))
        return img_fail(err, IMG_EFAIL, "metadata block is not whole %s", f == IMG_JPEG ? "JPEG segments" : "PNG ancillary chunks");

    img_buf b = {0};
    /* A PNG of an image with an alpha plane is written as RGBA (transparent backdrops). */
    unsigned char *rgba = f == IMG_PNG && im->alpha ? malloc((size_t)im->w * im->h * 4) : NULL;
    if (f == IMG_PNG && im->alpha && !rgba) return img_fail(err, IMG_EFAIL, "out of memory encoding PNG");
    for (size_t i = 0; rgba && i < (size_t)im->w * im->h; i++)
        memcpy(rgba + 4 * i, im->rgb + 3 * i, 3), rgba[4 * i + 3] = im->alpha[i];
    int ok = f == IMG_JPEG ? stbi_write_jpg_to_func(img_buf_put, &b, im->w, im->h, 3, im->rgb, quality)
           : rgba          ? stbi_write_png_to_func(img_buf_put, &b, im->w, im->h, 4, rgba, im->w * 4)
                           : stbi_write_png_to_func(img_buf_put, &b, im->w, im->h, 3, im->rgb, im->w * 3);
    free(rgba);
    if (!ok || b.failed) {
        free(b.p);
        return img_fail(err, IMG_EFAIL, "out of memory encoding %s", f == IMG_JPEG ? "JPEG" : "PNG");
    }
    if (meta_n) {
        /* Metadata goes after SOI + the JFIF APP0 that stb writes, or after the IHDR chunk. */
        size_t at = f == IMG_JPEG ? (b.n >= 6 && b.p[2] == 0xFF && b.p[3] == 0xE0 ? 4 + ((size_t)b.p[4] << 8 | b.p[5]) : 2)
                                  : 8 + 12 + img_be32(b.p + 8);
        unsigned char *p = malloc(b.n + meta_n);
        if (!p) {
            free(b.p);
            return img_fail(err, IMG_EFAIL, "out of memory inserting metadata");
        }
        memcpy(p, b.p, at);
        memcpy(p + at, meta, meta_n);
        memcpy(p + at + meta_n, b.p + at, b.n - at);
        free(b.p);
        b.p = p;
        b.n += meta_n;
    }
    *out = b.p;
    *out_n = b.n;
    return 0;
}

/* ============================================================ writing === */

int img_write_file(const char *path, const unsigned char *data, size_t n, char err[IMG_ERR]) {
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return img_fail(err, IMG_EWRITE, "exists and is not a regular file");

    /* The temporary file must be in the target's directory for rename() to be atomic. It is
     * created with O_EXCL and mode 0666 rather than by mkstemp, whose 0600 would ignore the
     * umask the user expects for new files. */
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) + 1 : 0;
    size_t tmpsize = (size_t)dirlen + 64;
    char *tmp = malloc(tmpsize);
    if (!tmp) return img_fail(err, IMG_EFAIL, "out of memory");
    int fd = -1;
    for (int k = 0; k < 100 && fd < 0; k++) {
        snprintf(tmp, tmpsize, "%.*s.headshot-%ld-%d.tmp", dirlen, path, (long)getpid(), k);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return img_fail(err, IMG_EWRITE, "cannot create a file in its directory: %s", strerror(e));
    }

    const char *what = NULL;
    for (size_t done = 0; done < n && !what;) {
        ssize_t put = write(fd, data + done, n - done);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) what = "cannot write";
        else done += (size_t)put;
    }
    if (!what && fsync(fd) != 0) what = "cannot sync";
    int e = errno;
    if (close(fd) != 0 && !what) { what = "cannot close"; e = errno; }
    if (!what && rename(tmp, path) != 0) { what = "cannot rename into place"; e = errno; }
    if (what) {
        unlink(tmp);
        free(tmp);
        return img_fail(err, IMG_EWRITE, "%s: %s", what, strerror(e ? e : EIO));
    }
    free(tmp);

    /* Make the rename itself durable; some file systems refuse to sync a directory, which
     * is harmless, so the result is ignored. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", dirlen ? dirlen : 1, dirlen ? path : ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}
