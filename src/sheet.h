/* sheet.h — the contact sheet of --variants: the variants side by side, each with its name,
 * in one picture, so the user can compare them and pick one.
 *
 *   img_rgb sheet;  sheet_make(variants, names, 6, SHEET_THUMB, &sheet, err);
 *
 * A grid (up to 3 columns) of thumbnails on a light grey page, each thumbnail resampled with
 * img_resize (sRGB-correct) to thumb_w pixels wide, its name under it in the built-in bitmap
 * font of label.h (upper case), centred.
 */
#ifndef SHEET_H
#define SHEET_H

#include "err.h"
#include "img.h"

#define SHEET_ERR HS_ERR          /* size of the error-message buffer */
#define SHEET_THUMB 320           /* default thumbnail width, pixels */
#define SHEET_MAX 12              /* most pictures on one sheet */

/* The sheet of n pictures (1..SHEET_MAX, each at least 1 x 1; their sizes may differ, each
 * keeps its aspect ratio) named names[i], into *out (allocated here, no alpha plane).
 * Returns 0, or -1 with a reason in err. */
int sheet_make(const img_rgb *pics, const char *const *names, int n, int thumb_w, img_rgb *out,
               char err[SHEET_ERR]);

/* Columns of the grid for n pictures: n up to 3, 2 for 4, 3 beyond. */
int sheet_columns(int n);

#endif
