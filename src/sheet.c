/* sheet.c — the contact sheet (see sheet.h): layout, thumbnails, names. */
#include "sheet.h"
#include "label.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Page geometry, pixels: space around and between the cells, the name strip under each
 * thumbnail (text LABEL_FONT_ROWS x SHEET_TEXT_SCALE high plus its padding). */
#define SHEET_GAP 16
#define SHEET_TEXT_SCALE 2
#define SHEET_TEXT_PAD 8
static const unsigned char sheet_page[3] = {0xF2, 0xF2, 0xF2};   /* light grey: neither backdrop */
static const unsigned char sheet_ink[3] = {0x22, 0x22, 0x22};

int sheet_columns(int n) { return n <= 3 ? n : n == 4 ? 2 : 3; }

int sheet_make(const img_rgb *pics, const char *const *names, int n, int thumb_w, img_rgb *out,
               char err[SHEET_ERR]) {
    memset(out, 0, sizeof *out);
    if (n < 1 || n > SHEET_MAX || thumb_w < 16 || thumb_w > 4096) {
        snprintf(err, SHEET_ERR, "contact sheet: %d pictures at width %d (1..%d pictures, width 16..4096)", n, thumb_w, SHEET_MAX);
        return -1;
    }
    /* Every row is as tall as the tallest thumbnail (the variants of one preset share a size). */
    int th = 1;
    for (int i = 0; i < n; i++) {
        if (pics[i].w < 1 || pics[i].h < 1 || !pics[i].rgb)
            return snprintf(err, SHEET_ERR, "contact sheet: picture %d is empty", i), -1;
        int h = (int)((long long)pics[i].h * thumb_w / pics[i].w);
        if (h > th) th = h;
    }
    if (th > 4 * thumb_w) th = 4 * thumb_w;
    int cols = sheet_columns(n), rows = (n + cols - 1) / cols;
    int strip = LABEL_FONT_ROWS * SHEET_TEXT_SCALE + 2 * SHEET_TEXT_PAD;
    int cell_w = thumb_w + SHEET_GAP, cell_h = th + strip + SHEET_GAP;
    char ierr[IMG_ERR];
    if (img_new(out, SHEET_GAP + cols * cell_w, SHEET_GAP + rows * cell_h, 0, ierr))
        return snprintf(err, SHEET_ERR, "contact sheet: %.140s", ierr), -1;
    for (size_t p = 0; p < (size_t)out->w * out->h; p++) memcpy(out->rgb + 3 * p, sheet_page, 3);

    for (int i = 0; i < n; i++) {
        int x0 = SHEET_GAP + (i % cols) * cell_w, y0 = SHEET_GAP + (i / cols) * cell_h;
        int h = (int)((long long)pics[i].h * thumb_w / pics[i].w);
        img_rgb t;
        if (img_resize(&t, &pics[i], thumb_w, h < 1 ? 1 : h > th ? th : h, ierr)) {
            img_free(out);
            return snprintf(err, SHEET_ERR, "contact sheet: %.140s", ierr), -1;
        }
        int top = y0 + (th - t.h) / 2;   /* a shorter thumbnail sits in the middle of its row */
        for (int y = 0; y < t.h; y++)
            memcpy(out->rgb + ((size_t)(top + y) * out->w + x0) * 3, t.rgb + (size_t)y * t.w * 3, (size_t)t.w * 3);
        img_free(&t);
        /* The name, centred; a name too wide for the cell is drawn at half size. */
        char name[64] = "";
        for (size_t k = 0; names && names[i] && names[i][k] && k + 1 < sizeof name; k++)
            name[k] = (char)toupper((unsigned char)names[i][k]), name[k + 1] = 0;
        int s = SHEET_TEXT_SCALE, tw = label_text_width(name) * s;
        if (tw > thumb_w) s = 1, tw = label_text_width(name);
        label_text(out, x0 + (thumb_w - tw) / 2, y0 + th + SHEET_TEXT_PAD, s, name, sheet_ink);
    }
    return 0;
}
