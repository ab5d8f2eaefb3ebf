/* people.h — one person out of a person mask: the mask split among the people of a photo.
 *
 *   people_seed s[] = {{x, y, size}, ...};                    faces, in mask pixels
 *   people_share(mask, w, h, aspect, s, n, subject, share, err);
 *   for (i...) mask[i] *= share[i];                            the subject alone
 *
 * A segmentation network marks every person (and what touches them) as foreground. Each
 * person is grown from their face over the mask, all at once: a pixel goes to the face that
 * reaches it first, with distances in units of that face's size (a near, large face owns a
 * larger body) and dearer where the mask is weak. So a neighbour's shoulder that touches the
 * subject's goes to the neighbour, and what the subject holds stays with the subject when
 * it touches them. Regions joined to no face through the mask (islands, a faint patch across
 * the background) are no one's. The subject's share is feathered across the boundary with
 * the others by about PEOPLE_FEATHER mask pixels, like the mask's own edges.
 *
 * The function knows nothing of where the mask came from: a canvas, a whole photo, any
 * resolution (it works on the mask's pixels; 256x256 takes about a millisecond).
 */
#ifndef PEOPLE_H
#define PEOPLE_H

#include "err.h"

#define PEOPLE_ERR HS_ERR         /* size of the error-message buffer */
#define PEOPLE_FEATHER 2          /* half-width of the boundary between two people, mask pixels */

typedef struct {
    float x, y;                   /* face centre, mask pixels (x right, y down) */
    float size;                   /* face width (detector box side), mask pixels (x units) */
    float down[2];                /* unit vector forehead -> chin (the body's way), 0,0: unknown */
} people_seed;

/* The subject's share of the person mask (w x h floats, probability 0..1): share (w*h
 * floats) is 1 on the subject and what joins them, 0 on the other people and on foreground
 * joined to no face, feathered in between. aspect is the height of a mask pixel over its
 * width in the image (a 256x256 mask of a 1600x2000 region: 1.25), so distances are true.
 * seeds[subject] is the subject; the other seeds are the other people (faces that lie
 * outside the mask still count: a face cut by the region's edge). When the mask misses the
 * subject's face (mean below 0.5 over it: a false detection, a statue) nothing is split and
 * share is 1 everywhere. Returns 0, or -1 with err (bad arguments, out of memory). */
int people_share(const float *mask, const float *guide, int w, int h, float aspect, const people_seed *seeds, int n,
                 int subject, float *share, char err[PEOPLE_ERR]);

#endif
