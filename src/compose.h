/* compose.h — backdrops, and the subject composited onto them in linear light.
 *
 *   compose_bg bg;  compose_parse("studio", &bg, err);              --background value
 *   compose_backdrop(workers, &bg, w, h, photo, weight, back, err); w x h linear RGB floats
 *   compose_over(workers, fg, alpha, back, w, h, &out, err);       8-bit sRGB headshot
 *
 * Everything here works in linear light: sRGB bytes are decoded through a table, blended
 * (out = a F + (1 - a) B holds for light, not for sRGB numbers: 50% black over white is
 * sRGB 188, not 128) and encoded back with random rounding (dither), so that the smooth
 * gradients of the studio backdrops do not band in 8 bits. The foreground F is matte.h's
 * colour-decontaminated estimate, so the old background's colour does not fringe the edges.
 *
 * Backdrops (--background):
 *   studio, studio-blue, studio-warm  a paper backdrop lit from behind: a soft elliptical glow
 *                                     behind the head and shoulders falling off to the edges
 *   white, #RRGGBB                    a flat colour
 *   blur                              the photo's own background, subject removed, strongly
 *                                     blurred (sigma 3% of the long side), like a wide aperture
 *   image:FILE                        a picture scaled to cover the canvas, centred
 *   transparent                       no backdrop: the output carries the alpha (PNG only)
 *   keep                              the photo as it is (only pixels past the photo's edge
 *                                     are filled, with the blurred background)
 */
#ifndef COMPOSE_H
#define COMPOSE_H

#include "err.h"
#include "img.h"
#include "pool.h"

#include <stddef.h>

#define COMPOSE_ERR HS_ERR        /* size of the error-message buffer */
#define COMPOSE_BLUR_SIGMA 0.03f  /* blur backdrop: gaussian sigma / longest side of the canvas */

typedef enum {
    COMPOSE_STUDIO,               /* grey paper, lit from behind (the default) */
    COMPOSE_STUDIO_BLUE,          /* the same, slate blue */
    COMPOSE_STUDIO_WARM,          /* the same, warm beige */
    COMPOSE_COLOUR,               /* flat colour: white, #RRGGBB */
    COMPOSE_BLUR,                 /* the photo's background, blurred */
    COMPOSE_IMAGE,                /* a picture, scaled to cover */
    COMPOSE_TRANSPARENT,          /* alpha in the output */
    COMPOSE_KEEP,                 /* no replacement */
} compose_kind;

typedef struct {
    compose_kind kind;
    unsigned char rgb[3];         /* COMPOSE_COLOUR: the colour, sRGB */
    const char *file;             /* COMPOSE_IMAGE: the picture's path (as given) */
    const img_rgb *picture;       /* COMPOSE_IMAGE: the picture, loaded by the caller */
} compose_bg;

/* A --background value: "studio", "studio-blue", "studio-warm", "white", "#RRGGBB", "blur",
 * "image:FILE", "transparent" or "keep". Returns 0, or -1 with a reason in err. */
int compose_parse(const char *spec, compose_bg *bg, char err[COMPOSE_ERR]);
/* The value back as text ("studio", "#E8E8E8", "image:x.jpg") into buf. */
void compose_name(const compose_bg *bg, char *buf, size_t n);

/* ============================================================ backdrops and compositing === */

/* The backdrop for a w x h canvas into back (w*h*3 floats, linear RGB).
 * COMPOSE_BLUR and COMPOSE_KEEP need photo: the framed photo (w x h), its .alpha plane (or
 * NULL: all 1) saying where it covers the canvas; subject (w*h floats, or NULL: none) is the
 * subject's matte. A pixel shows background by coverage x (1 - min(1, 2 subject))^2: the
 * matte's soft rim, which still carries the subject's colour, is kept out of the blur.
 * COMPOSE_TRANSPARENT has no backdrop: back is left untouched. Loops run on the pool workers
 * (NULL: the caller's thread), as compose_over's. Returns 0, or -1 with err. */
int compose_backdrop(pool *workers, const compose_bg *bg, int w, int h, const img_rgb *photo, const float *subject,
                     float *back, char err[COMPOSE_ERR]);

/* out = alpha fg + (1 - alpha) back per pixel, in linear light, encoded to sRGB with dither,
 * into *out (allocated here, out->w x out->h = w x h). back NULL: no backdrop, out gets an
 * alpha plane (alpha * 255) and fg as its colour. fg: w*h*3 linear floats; alpha: w*h in [0,1].
 * Returns 0, or -1 with err (out of memory). */
int compose_over(pool *workers, const float *fg, const float *alpha, const float *back, int w, int h, img_rgb *out,
                 char err[COMPOSE_ERR]);

#endif
