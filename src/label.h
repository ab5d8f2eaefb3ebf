/* label.h — the visible "AI-edited" mark of --label, and the bitmap font's text for the contact
 * sheet of --variants.
 *
 * A small rounded box in the bottom-right corner, black at 55% opacity, with "AI-edited" in
 * white at 90% opacity, written with a built-in 7-pixel-high bitmap font (no font files).
 * The font's pixels are scaled by a whole factor, s = min(w, h) / 300 (at least 1), so the
 * mark keeps the same share of the picture (about 15% of a 1024-pixel side) and stays crisp;
 * the box's rounded corners are anti-aliased. Under the box an alpha plane becomes opaque in
 * proportion, so the mark survives compositing.
 */
#ifndef LABEL_H
#define LABEL_H

#include "err.h"
#include "img.h"

#define LABEL_ERR HS_ERR          /* size of the error-message buffer */
#define LABEL_TEXT "AI-edited"

typedef struct {
    int x, y, w, h;               /* the box, image pixels */
    int scale;                    /* font pixel size in image pixels */
} label_rect;

/* Where the mark goes on a w x h image. Returns 0, or -1 when the image is too small for it
 * (it needs 60 x 19 pixels at scale 1). */
int label_place(int w, int h, label_rect *r);

/* Draws the mark on im in place; *where (may be NULL) gets its box. Returns 0, or -1 with a
 * reason in err, the image unchanged. */
int label_draw(img_rgb *im, label_rect *where, char err[LABEL_ERR]);

/* ============================================================ text === */

#define LABEL_FONT_ROWS 7         /* height of the font, font pixels */

/* Width of text in font pixels (LABEL_FONT_ROWS high). The font has A-Z, 0-9, space and
 * - + / # . : ; give it upper case (lower case has only LABEL_TEXT's d, e, i, t; other lower
 * case letters are drawn as upper case). Other characters are blanks. */
int label_text_width(const char *text);
/* Draws text in rgb on im, top-left at (x, y), each font pixel a scale x scale square;
 * clipped to the image. The alpha plane is left as it is. */
void label_text(img_rgb *im, int x, int y, int scale, const char *text, const unsigned char rgb[3]);

#endif
