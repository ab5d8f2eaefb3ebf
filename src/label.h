/* label.h — the visible "AI-edited" mark of --label.
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

#include "img.h"

#define LABEL_ERR 160             /* size of the error-message buffer */
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

#endif
