/* status.h — the exit statuses of every headshot command (--help, docs/CLI.md, the man page). */
#ifndef STATUS_H
#define STATUS_H
#include "img.h"

enum {
    HS_OK = 0,
    HS_EINTERNAL = 1,    /* out of memory, bug */
    HS_EUSAGE = 2,       /* bad command line */
    HS_EINPUT = 3,       /* input missing or unreadable */
    HS_EFORMAT = 4,      /* input unsupported, corrupt or truncated */
    HS_ELARGE = 5,       /* input above the pixel limit */
    HS_ENOFACE = 6,      /* no face found */
    HS_EIDENTITY = 7,    /* identity check failed (compare: not the same person) */
    HS_EOUTPUT = 8,      /* output cannot be written */
    HS_EWEIGHTS = 9,     /* network weights unreadable (--weights) */
    HS_EBATCH = 10,      /* a batch ran, and some of its photos failed (the summary says why) */
    HS_EROOM = 11,       /* passport: the photo is cropped too tightly for the official head size */
};

/* The exit status of an image reading or writing error (IMG_E* in img.h). */
static inline int hs_status_of_image(int img_code) {
    switch (img_code) {
    case IMG_EREAD: return HS_EINPUT;
    case IMG_EFORMAT: return HS_EFORMAT;
    case IMG_ELARGE: return HS_ELARGE;
    case IMG_EWRITE: return HS_EOUTPUT;
    default: return HS_EINTERNAL;
    }
}

#endif
