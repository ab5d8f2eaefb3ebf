/* exif.h — the EXIF orientation of a JPEG, read defensively.
 *
 * Phones store pixels as the sensor saw them and record in EXIF how to turn them upright.
 * The Orientation tag (0x0112, a SHORT in IFD0 of the APP1 "Exif" segment) takes values 1..8:
 *
 *   1 upright            5 transpose (mirror along the top-left to bottom-right diagonal)
 *   2 mirror horizontal  6 rotate 90 degrees clockwise
 *   3 rotate 180         7 transverse (mirror along the top-right to bottom-left diagonal)
 *   4 mirror vertical    8 rotate 90 degrees counter-clockwise
 *
 * The value says which transform to APPLY to the stored pixels to display them (img_orient).
 *
 * EXIF comes from untrusted files, so the parser reads only what it must: the JPEG segments up
 * to the first scan, the first APP1 segment that starts with "Exif\0\0", its TIFF header (both
 * byte orders) and the entries of IFD0. It follows no IFD links, so IFD loops cannot trap it.
 * Anything malformed (truncated segment, offset out of range, absurd entry count, wrong type or
 * count for the tag, unknown value) counts as "no orientation": the result is then 1.
 */
#ifndef EXIF_H
#define EXIF_H

#include <stddef.h>

/* Orientation (1..8) of the JPEG file held in jpeg[0..n); 1 when absent or malformed. */
int exif_orientation(const unsigned char *jpeg, size_t n);

#endif
