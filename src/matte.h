/* matte.h — background matting: MediaPipe selfie segmentation, then a full-resolution
 * refinement that makes the mask follow the real edges and removes background colour from
 * the foreground.
 *
 *   matte *m;  matte_open(&m, NULL, NULL, err);              process's runtime, embedded weights/selfie.hsw
 *   matte_mask(m, rgb, w, h, mask, err);                     256x256 person probability
 *   matte_refine(workers, rgb, w, h, mask, MATTE_SIZE, MATTE_SIZE, alpha, fg, err);
 * or matte_image() for both at once; compose_over (compose.h) puts fg onto a new background.
 *
 * Images are 8-bit sRGB, packed RGB rows (w * 3 bytes, no padding) of the framed region.
 * alpha is w*h floats in [0,1]; fg is w*h*3 floats, LINEAR-light RGB in [0,1] (the matting
 * equation I = a F + (1 - a) B holds for light, so the colours are separated in linear light
 * and composited there too; encoding back to sRGB is the caller's business).
 */
#ifndef MATTE_H
#define MATTE_H

#include <stddef.h>
#include "networks.h"
#include "nn.h"
#include "pool.h"

#define MATTE_SIZE 256       /* network input side and mask side */

typedef struct matte matte;

/* Loads the network (weights_dir NULL: the embedded copy, else weights_dir/selfie.hsw). */
int matte_open(matte **m, const nn_runtime *rt, const char *weights_dir, char err[NN_ERR]);
void matte_close(matte *m);

/* The network input for an image region: resized to MATTE_SIZE x MATTE_SIZE (area averaging
 * when shrinking, bilinear with half-pixel centres when enlarging; the aspect ratio is not
 * kept, so pass a roughly square region), values / 255 in [0,1]. in: 256*256*3 floats. On
 * the pool workers (NULL: the caller's thread), as matte_refine. */
int matte_input(pool *workers, const unsigned char *rgb, int w, int h, float *in, char err[NN_ERR]);

/* Runs the network on a prepared input (256*256*3 floats in [0,1]); mask: 256*256 floats,
 * the person probability (the model ends in a sigmoid). */
int matte_run(matte *m, const float *in, float *mask, char err[NN_ERR]);

/* matte_input + matte_run, on the network's pool. */
int matte_mask(matte *m, const unsigned char *rgb, int w, int h, float *mask, char err[NN_ERR]);

/* Full-resolution matte from a low-resolution mask (mw x mh, any size, usually the network's
 * 256x256) and the region's pixels: alpha (w*h floats) by an edge-aware colour guided filter
 * restricted to a band around the mask's edge, fg (w*h*3 floats, linear RGB, may be NULL)
 * by blur-fusion foreground estimation (see matte.c). Radii are set in mask pixels, so they
 * follow the region's resolution. Scratch: about 7 floats per pixel when fg is wanted, else
 * only buffers on a grid of at most 512x512. */
int matte_refine(pool *workers, const unsigned char *rgb, int w, int h, const float *mask, int mw, int mh,
                 float *alpha, float *fg, char err[NN_ERR]);

/* matte_mask + matte_refine, on the network's pool. */
int matte_image(matte *m, const unsigned char *rgb, int w, int h, float *alpha, float *fg, char err[NN_ERR]);

/* For `headshot bench` (networks.h). */
extern const hs_network matte_selfie;


#endif
