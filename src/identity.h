/* identity.h — face-api's FaceRecognitionNet: a 128-d descriptor of a face, to check that the
 * retouched headshot still shows the same person as the selfie.
 *
 * The network is dlib's face recognition ResNet (face-api 1.7.15 face_recognition_model):
 * 150x150 RGB in, 128 values out; two faces whose descriptors lie less than ID_SAME_MAX apart
 * (euclidean) are the same person. The descriptor is very sensitive to the crop (4 px of shift
 * move it by 0.1-0.2), so the crop follows face-api exactly: its "dlib alignment" box from 68
 * iBUG points (a square from the eye and mouth centres, side = eye-to-mouth distance / 0.45,
 * not rotated, clipped at the image borders), then the box's pixels padded to a centred square
 * with zeros and resized bilinearly (TF resizeBilinear, no align_corners, no half-pixel
 * centres) to 150x150. The 68 points come from FaceMesh (id_points68).
 */
#ifndef IDENTITY_H
#define IDENTITY_H

#include "networks.h"
#include "nn.h"

#define ID_INPUT 150              /* network input side; values 0..255 */
#define ID_DIM 128                /* descriptor length */
#define ID_SAME_MAX 0.6f          /* descriptor distance below this: the same person (face-api) */

typedef struct {
    int x, y, w, h;               /* image pixels; w, h > 0 */
} id_box;

typedef struct id_model id_model;

id_model *id_load(const nn_runtime *rt, const char *weights_dir, char err[NN_ERR]);   /* DIR/face_recognition.hsw, NULL: embedded */
void id_free(id_model *m);

/* Descriptor of the face whose 68 iBUG points (image pixels) are PTS68, in the RGB image
 * w x h. Returns 0, or -1 with err (box outside the image, network error). */
int id_descriptor(id_model *m, const unsigned char *rgb, int w, int h, const float pts68[68][2],
                  float desc[ID_DIM], char err[NN_ERR]);

/* Euclidean distance of two descriptors; < ID_SAME_MAX: the same person. */
float id_distance(const float a[ID_DIM], const float b[ID_DIM]);

/* The steps of id_descriptor(), for tests and tools. */
/* FaceMesh's 468 points (x, y, z) -> the 68 iBUG points (x, y). */
void id_points68(const float (*mesh)[3], float pts68[68][2]);
/* face-api's descriptor box of the 68 points, clipped to the w x h image. -1 if empty. */
int id_align(const float pts68[68][2], int w, int h, id_box *box);
/* The box's pixels as face-api feeds them: centred square, resized to 150 x 150 x 3, 0..255.
 * -1 if the box is not inside the image. */
int id_crop(const unsigned char *rgb, int w, int h, id_box box, float *out);
/* The network on a 150 x 150 x 3 crop (0..255). */
int id_forward(id_model *m, const float *input, float desc[ID_DIM], char err[NN_ERR]);

/* For `headshot bench` (networks.h). */
extern const hs_network id_face_recognition;

#endif
