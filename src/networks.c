/* networks.c — the embedded networks, in pipeline order. */
#include "networks.h"
#include "detect.h"
#include "identity.h"
#include "landmarks.h"
#include "matte.h"
#include "upscale.h"

const hs_network *const hs_networks[] = {
    &det_blazeface, &det_blazeface_back, &lmk_facemesh, &matte_selfie, &id_face_recognition, &up_esrgan_slim_x4, &up_esrgan_medium_x4, NULL,
};
