/* colour.h — the colour science every stage shares: sRGB bytes <-> linear light (IEC
 * 61966-2-1, through tables), luminance, CIELAB (D65) of linear sRGB, the hue angle and the
 * Individual Typology Angle of a skin. */
#ifndef COLOUR_H
#define COLOUR_H

#include <stddef.h>
#include <stdint.h>

/* ============================================================ sRGB === */

/* The 256 linear-light values of the sRGB bytes. */
const float *col_linear_table(void);
/* Encoding goes through COL_ENC entries of sRGB values in 8.8 fixed point (col_encode_table),
 * indexed by col_encode_index of the linear value: the step (1.5e-5 in linear light) is finer
 * than the smallest byte step (3e-4, near black), and the 8 fraction bits let a dither round
 * at random with the right expectation. Each byte's own linear value encodes to exactly it. */
#define COL_ENC 65536
const uint16_t *col_encode_table(void);
static inline int col_encode_index(float l) { return l <= 0 ? 0 : l >= 1 ? COL_ENC - 1 : (int)(l * (COL_ENC - 1) + 0.5f); }
/* Linear light (clamped to [0, 1]) to the nearest sRGB byte; col_encode does n values. */
unsigned char col_srgb(float linear);
void col_encode(const float *linear, unsigned char *out, size_t n);

/* ============================================================ light and colour === */

/* Relative luminance Y of linear sRGB c (Rec. 709 primaries). */
static inline float col_luminance(const float c[3]) { return 0.2126f * c[0] + 0.7152f * c[1] + 0.0722f * c[2]; }
/* Luma Y' of gamma-encoded R'G'B' (Rec. 601 weights): the brightness of sRGB numbers, for
 * detail measured in sRGB rather than in light. */
static inline float col_luma(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

/* CIELAB L*, a*, b* (D65 white) of linear sRGB c. */
void col_lab(const float c[3], float lab[3]);

/* Hue angle atan2(b*, a*), degrees (-180..180]. */
float col_hue(float a, float b);
/* Individual Typology Angle atan2(L* - 50, b*), degrees: > 55 very light ... < -30 dark. */
float col_ita(float l, float b);
/* a - b as an angle, degrees in [-180, 180). */
float col_angle_diff(float a, float b);

#endif
