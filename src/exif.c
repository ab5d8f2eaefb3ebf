/* exif.c — EXIF orientation from a JPEG's APP1 segment (see exif.h for what is trusted). */
#include "exif.h"

#include <stdint.h>
#include <string.h>

#define EXIF_TAG_ORIENTATION 0x0112
#define EXIF_TYPE_SHORT 3

/* ============================================================ TIFF block === */

/* Multi-byte values in the byte order of the TIFF header: le = 1 for "II", 0 for "MM". */
static unsigned exif_u16(const unsigned char *p, int le) {
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t exif_u32(const unsigned char *p, int le) {
    return le ? (uint32_t)exif_u16(p, 1) | (uint32_t)exif_u16(p + 2, 1) << 16
              : (uint32_t)exif_u16(p, 0) << 16 | (uint32_t)exif_u16(p + 2, 0);
}

/* The Orientation entry of IFD0 in t[0..n), the APP1 payload after "Exif\0\0". */
static int exif_tiff_orientation(const unsigned char *t, size_t n) {
    if (n < 8) return 1;
    int le;
    if (t[0] == 'I' && t[1] == 'I') le = 1;
    else if (t[0] == 'M' && t[1] == 'M') le = 0;
    else return 1;
    if (exif_u16(t + 2, le) != 42) return 1;

    uint32_t ifd = exif_u32(t + 4, le);
    if (ifd < 8 || ifd > n - 2) return 1;                /* inside the header or past the end */
    unsigned count = exif_u16(t + ifd, le);
    if (count > (n - ifd - 2) / 12) return 1;            /* entries would run past the segment */

    for (unsigned i = 0; i < count; i++) {
        const unsigned char *e = t + ifd + 2 + 12 * (size_t)i;   /* tag, type, count, value */
        if (exif_u16(e, le) != EXIF_TAG_ORIENTATION) continue;
        if (exif_u16(e + 2, le) != EXIF_TYPE_SHORT || exif_u32(e + 4, le) != 1) return 1;
        unsigned v = exif_u16(e + 8, le);                /* a lone SHORT sits left-justified */
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* ============================================================ JPEG segments === */

int exif_orientation(const unsigned char *p, size_t n) {
    if (!p || n < 4 || p[0] != 0xFF || p[1] != 0xD8) return 1;
    size_t i = 2;
    while (i + 4 <= n) {
        if (p[i] != 0xFF) return 1;                      /* metadata segments must be contiguous */
        unsigned m = p[i + 1];
        if (m == 0xFF) { i++; continue; }                /* fill byte before a marker */
        if (m == 0xDA || m == 0xD9) return 1;            /* scan or end reached: no EXIF */
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { i += 2; continue; }   /* no length field */
        size_t len = (size_t)p[i + 2] << 8 | p[i + 3];   /* counts itself, not the marker */
        if (len < 2 || len > n - i - 2) return 1;        /* truncated segment */
        if (m == 0xE1 && len >= 8 && memcmp(p + i + 4, "Exif\0\0", 6) == 0)
            return exif_tiff_orientation(p + i + 10, len - 8);
        i += 2 + len;
    }
    return 1;
}
