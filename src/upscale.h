/* upscale.h — super-resolution with UpscalerJS's ESRGAN-slim / -medium networks (RDN), tiled.
 *
 *   up_model *m;
 *   if (up_load(&m, "esrgan_slim_x4", NULL, NULL, err) != 0) ...  // process's runtime, embedded weights
 *   unsigned char *big = malloc((size_t)w * up_scale(m) * h * up_scale(m) * 3);
 *   if (up_run(m, rgb, w, h, big, err) != 0) ...
 *   up_free(m);
 *
 * Images are 8-bit RGB, rows top to bottom, 3 bytes per pixel, no padding. Any size works:
 * the image is processed in overlapping tiles of at most UP_TILE pixels a side (memory does
 * not grow with the image) whose borders are cropped off, so the result equals one
 * whole-image run.
 */
#ifndef UPSCALE_H
#define UPSCALE_H

#include "networks.h"
#include "nn.h"

#define UP_TILE 192          /* default input tile side, pixels (the margins included) */

typedef struct up_model up_model;

/* Loads NAME ("esrgan_slim_x4", "esrgan_medium_x4", or any converted UpscalerJS RDN file):
 * the embedded copy, or DIR/NAME.hsw when weights_dir is non-NULL. */
int up_load(up_model **m, const char *name, const nn_runtime *rt, const char *weights_dir, char err[NN_ERR]);
void up_free(up_model *m);

int up_scale(const up_model *m);     /* output pixels per input pixel, per axis (2, 4, ...) */
int up_margin(const up_model *m);    /* receptive-field radius in input pixels */

/* rgb: w x h x 3 bytes; out: (w * scale) x (h * scale) x 3 bytes, rounded and clamped. */
int up_run(up_model *m, const unsigned char *rgb, int w, int h, unsigned char *out, char err[NN_ERR]);

/* The same on floats in [0, 255], with tile sides at most TILE (0 = UP_TILE; it must exceed
 * 2 * up_margin; tile >= max(w, h) runs the whole image at once). out receives the raw
 * network output (about [0, 255]; it overshoots by up to ~20, not clamped). */
int up_run_f32(up_model *m, const float *rgb, int w, int h, int tile, float *out, char err[NN_ERR]);

/* Bench / `headshot models` entries (the network alone on 128x128x3, no tiling). */
extern const hs_network up_esrgan_slim_x4, up_esrgan_medium_x4;

#endif
