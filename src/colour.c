/* colour.c — see colour.h. */
#include "colour.h"

#include <math.h>
#include <pthread.h>

#define COL_DEG (float)(180 / M_PI)

/* ============================================================ sRGB === */

static float col__lin[256];
static uint16_t col__enc[COL_ENC];
static pthread_once_t col__once = PTHREAD_ONCE_INIT;

static void col__tables(void) {
    for (int v = 0; v < 256; v++) {
        double s = v / 255.0;
        col__lin[v] = (float)(s <= 0.04045 ? s / 12.92 : pow((s + 0.055) / 1.055, 2.4));
    }
    for (int i = 0; i < COL_ENC; i++) {
        double l = (double)i / (COL_ENC - 1);
        double s = l <= 0.0031308 ? 12.92 * l : 1.055 * pow(l, 1 / 2.4) - 0.055;
        col__enc[i] = (uint16_t)lround(s * 255 * 256 > 65280 ? 65280 : s * 255 * 256);
    }
    /* Each byte's own linear value encodes to exactly that byte: a flat backdrop (#1F3A5F)
     * comes back unchanged through the dither, not 1 level off where the table rounds low. */
    for (int v = 0; v < 256; v++) col__enc[(int)(col__lin[v] * (COL_ENC - 1) + 0.5f)] = (uint16_t)(v << 8);
}

const float *col_linear_table(void) {
    pthread_once(&col__once, col__tables);
    return col__lin;
}

const uint16_t *col_encode_table(void) {
    pthread_once(&col__once, col__tables);
    return col__enc;
}

unsigned char col_srgb(float l) {
    pthread_once(&col__once, col__tables);
    return (unsigned char)((col__enc[col_encode_index(l)] + 128) >> 8);
}

void col_encode(const float *l, unsigned char *out, size_t n) {
    pthread_once(&col__once, col__tables);
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)((col__enc[col_encode_index(l[i])] + 128) >> 8);
}

/* ============================================================ light and colour === */

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
