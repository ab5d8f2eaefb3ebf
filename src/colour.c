/* colour.c — see colour.h. */
#include "colour.h"

#include <math.h>

#define COL_DEG (float)(180 / M_PI)

static float col__f(float t) { return t > 216.f / 24389 ? cbrtf(t) : (24389.f / 27 * t + 16) / 116; }

void col_lab(const float c[3], float lab[3]) {
    float x = 0.4124564f * c[0] + 0.3575761f * c[1] + 0.1804375f * c[2];
    float z = 0.0193339f * c[0] + 0.1191920f * c[1] + 0.9503041f * c[2];
    float fy = col__f(col_luminance(c));
    lab[0] = 116 * fy - 16, lab[1] = 500 * (col__f(x / 0.95047f) - fy), lab[2] = 200 * (fy - col__f(z / 1.08883f));
}

float col_hue(float a, float b) { return atan2f(b, a) * COL_DEG; }
float col_ita(float l, float b) { return atan2f(l - 50, b) * COL_DEG; }
float col_angle_diff(float a, float b) { return fmodf(a - b + 540.f, 360.f) - 180.f; }
