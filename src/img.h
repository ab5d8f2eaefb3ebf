/* img.h — reading, orienting, resizing and writing 8-bit RGB images.
 *
 * Input
 *   JPEG and PNG, recognised from the bytes, never from the file name (a PNG called x.jpg
 *   loads). Other formats are named and refused ("unsupported format: WebP (convert to JPEG
 *   or PNG)"): WebP, HEIC/HEIF, AVIF, TIFF (and TIFF-based camera raw), JPEG XL, JPEG 2000,
 *   GIF, BMP, PSD, QOI, PNM, Canon CR3. GIF and BMP could be decoded by stb_image, but every accepted
 *   format needs its own truncation check and tests, and cameras and phones do not produce
 *   them. Empty, random and truncated files are refused with a reason.
 *   The pixel limit is checked against the dimensions in the header before anything large
 *   is allocated, and so are files too small for the size they declare, PNG data that
 *   inflates past it (decompression bombs) and JPEGs with more scans than IMG_MAX_SCANS
 *   (docs/SECURITY.md).
 *   Pixels come out as 8-bit sRGB RGB: grey is replicated, 16-bit samples keep their high
 *   byte (like libpng's strip_16), palettes are expanded. An image with transparency is
 *   composited over white in .rgb, so a stage that ignores alpha sees what a viewer shows,
 *   and its opacity is kept in .alpha for stages that want it (matting). Animated PNG gives
 *   its default image. JPEGs are turned upright from their EXIF orientation (exif.h).
 *
 * Output
 *   JPEG (RGB; the alpha plane is not written) or PNG (RGB, or RGBA when the image has an
 *   alpha plane: .rgb is written as it is, not un-composited), encoded to memory first so that
 *   metadata segments can be inserted (img_encode), then written atomically (img_write_file).
 *
 * Errors never abort: calls return 0, or a negative IMG_E* code (the class of failure, which
 * the CLI turns into an exit code) with a one-line reason in err. Reasons do not repeat the
 * file name; the caller prefixes it.
 */
#ifndef IMG_H
#define IMG_H

#include "err.h"
#include <stddef.h>

#define IMG_ERR HS_ERR                   /* size of every error-message buffer */
#define IMG_MAX_PIXELS 100000000LL       /* default pixel limit: 100 megapixels */
#define IMG_MAX_FILE (1LL << 30)         /* largest input file read into memory: 1 GiB */
#define IMG_MAX_SCANS 100                /* JPEG scans; each costs a pass over the image */

enum {
    IMG_EFAIL = -1,     /* out of memory or invalid argument */
    IMG_EREAD = -2,     /* the input cannot be opened or read (missing, permission, I/O) */
    IMG_EFORMAT = -3,   /* not an image, unsupported format, corrupt or truncated */
    IMG_ELARGE = -4,    /* more pixels than the limit (or bytes than IMG_MAX_FILE) */
    IMG_EWRITE = -5,    /* the output cannot be written */
};

typedef struct {
    int w, h;                /* size in pixels */
    unsigned char *rgb;      /* h x w x 3 bytes, rows top to bottom, sRGB */
    unsigned char *alpha;    /* h x w opacity bytes (255 = opaque), or NULL: fully opaque */
} img_rgb;

typedef struct {
    long long max_pixels;    /* refuse images with more pixels; 0 = IMG_MAX_PIXELS */
    int raw_orientation;     /* 1: keep JPEG pixels as stored, ignoring EXIF orientation */
} img_load_opts;

typedef enum { IMG_JPEG, IMG_PNG } img_format;

/* ============================================================ input === */

/* Format name of the bytes ("JPEG", "PNG", "WebP", "HEIC", ...) or NULL when unrecognised. */
const char *img_sniff(const unsigned char *b, size_t n);

/* Decode b[0..n) into *im (zeroed on failure). opts may be NULL for the defaults. */
int img_load_memory(img_rgb *im, const unsigned char *b, size_t n, const img_load_opts *opts,
                    char err[IMG_ERR]);
/* The bytes of the file at path (opened read-only, read to its end, at most IMG_MAX_FILE)
 * into *bytes (malloc'ed) and *size. Returns 0, IMG_EREAD, IMG_ELARGE or IMG_EFAIL with err. */
int img_read_file(const char *path, unsigned char **bytes, size_t *size, char err[IMG_ERR]);
/* Read the file at path (img_read_file) and decode it like img_load_memory. */
int img_load_file(img_rgb *im, const char *path, const img_load_opts *opts, char err[IMG_ERR]);

/* ============================================================ pixels === */

/* Allocate a w x h image, with an alpha plane when with_alpha; contents uninitialised. */
int img_new(img_rgb *im, int w, int h, int with_alpha, char err[IMG_ERR]);
void img_free(img_rgb *im);   /* frees the planes and zeroes *im; safe on a zeroed image */

/* Apply EXIF orientation o (1..8, see exif.h) in place; 5..8 swap width and height. */
int img_orient(img_rgb *im, int o, char err[IMG_ERR]);

/* Resample src to w x h into *dst (allocated here): colour with sRGB-correct filtering,
 * alpha linearly (stb_image_resize: Mitchell down, Catmull-Rom up). */
int img_resize(img_rgb *dst, const img_rgb *src, int w, int h, char err[IMG_ERR]);

/* ============================================================ output === */

/* IMG_JPEG for .jpg/.jpeg, IMG_PNG for .png (any case); -1 for anything else. */
int img_format_from_path(const char *path);

/* Encode im as f into a malloc'ed buffer *out of *out_n bytes (caller frees). quality 1..100
 * is for JPEG. meta (meta_n bytes, may be NULL) is inserted verbatim: complete JPEG APPn/COM
 * segments (FF En, length, payload) placed after the JFIF header, or complete PNG ancillary
 * chunks (length, type, data, CRC) placed after IHDR. Its framing is checked, its CRCs not. */
int img_encode(const img_rgb *im, img_format f, int quality, const unsigned char *meta,
               size_t meta_n, unsigned char **out, size_t *out_n, char err[IMG_ERR]);

/* Write data to path atomically: a new file in the same directory, fsync, rename over path.
 * On failure path is untouched and no temporary file is left. Refuses a path that exists
 * and is not a regular file. */
int img_write_file(const char *path, const unsigned char *data, size_t n, char err[IMG_ERR]);

#endif
