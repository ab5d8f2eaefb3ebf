/* buffer.c — big buffers on huge pages (buffer.h). */
#include "buffer.h"

#include <stdlib.h>
#include <sys/mman.h>

/* Buffers of a megabyte and more (packed weights of the big layers, arenas, image planes)
 * are placed on 2 MB boundaries and offered to the kernel as huge pages: a fresh process
 * then takes one page fault per 2 MB instead of one per 4 KB, which is most of a cold
 * start's cost. */
#define BUFFER_HUGE (2u << 20)

void *buffer_alloc(size_t n) {
    void *p = NULL;
    size_t align = BUFFER_ALIGN, size = n + BUFFER_ALIGN;
    if (size >= BUFFER_HUGE / 2) align = BUFFER_HUGE, size = (size + BUFFER_HUGE - 1) / BUFFER_HUGE * BUFFER_HUGE;
    if (posix_memalign(&p, align, size) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (align == BUFFER_HUGE) madvise(p, size, MADV_HUGEPAGE);   /* a hint: failure changes nothing */
#endif
    return p;
}
