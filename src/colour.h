/* colour.h — the colour science the light, the team gain and the report share: luminance and
 * CIELAB (D65) of linear sRGB, the hue angle and the Individual Typology Angle of a skin.
 * sRGB bytes <-> linear light are compose.h's tables (compose_linear_table, compose_srgb). */
#ifndef COLOUR_H
#define COLOUR_H

/* Relative luminance Y of linear sRGB c (Rec. 709 primaries). */
static inline float col_luminance(const float c[3]) { return 0.2126f * c[0] + 0.7152f * c[1] + 0.0722f * c[2]; }

/* CIELAB L*, a*, b* (D65 white) of linear sRGB c. */
void col_lab(const float c[3], float lab[3]);

/* Hue angle atan2(b*, a*), degrees (-180..180]. */
float col_hue(float a, float b);
/* Individual Typology Angle atan2(L* - 50, b*), degrees: > 55 very light ... < -30 dark. */
float col_ita(float l, float b);
/* a - b as an angle, degrees in [-180, 180). */
float col_angle_diff(float a, float b);

#endif
