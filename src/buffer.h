/* buffer.h — memory for big buffers (arenas, packed weights, images, planes). */
#ifndef BUFFER_H
#define BUFFER_H

#include <stddef.h>

#define BUFFER_ALIGN 64      /* every buffer is aligned to this and padded by it */

/* 64-byte aligned and padded by BUFFER_ALIGN; from 1 MB up on 2 MB boundaries with a
 * huge-page hint, because every first touch of a 4 KB page costs microseconds (a 12 MP
 * photo's buffers have tens of thousands of them) and a 2 MB page costs one fault. Release
 * with free(). NULL when out of memory. */
void *buffer_alloc(size_t n);

#endif
