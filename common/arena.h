/* common/arena.h — a bump allocator for many small pieces that die together
 * (YAML nodes, workflow templates and instances: a 10^5-task workflow makes
 * millions of them, freed at once).
 *
 * Embed a `struct cp__arena` zeroed; allocations are aligned for any type. Under
 * AddressSanitizer every allocation is its own malloc, so an overrun of one
 * piece is reported instead of silently landing in its neighbour.
 */
#ifndef CP_COMMON_ARENA_H
#define CP_COMMON_ARENA_H

#include <stddef.h>

struct cp__arena {
    struct cp__arena_chunk *head;       /* private */
};

/* n bytes (uninitialised), or NULL with errno ENOMEM. Owned by the arena. */
void *cp__arena_alloc(struct cp__arena *a, size_t n);
/* A NUL-terminated copy of s[0..n), owned by the arena; NULL on no memory. */
char *cp__arena_strndup(struct cp__arena *a, const char *s, size_t n);
/* Frees every piece; the arena is empty and usable again. */
void cp__arena_free(struct cp__arena *a);

#endif
