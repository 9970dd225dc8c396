/* common/arena.c — the bump allocator of arena.h. */
#include "common/arena.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define CHUNK 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHUNK 0
#endif
#endif
#ifndef CHUNK
#define CHUNK 65536
#endif

struct cp__arena_chunk {
    struct cp__arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

void *cp__arena_alloc(struct cp__arena *a, size_t n)
{
    /* 8-byte steps: nothing stored here needs max_align_t's 16. */
    n = (n + 7) & ~(size_t)7;
    struct cp__arena_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK ? n : CHUNK;
        if (!(c = malloc(sizeof *c + cap))) {
            errno = ENOMEM;
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        /* A full chunk behind the head is never revisited, so a big piece
         * does not waste the rest of a fresh chunk: keep the roomier one first. */
        if (a->head && cap - n < a->head->cap - a->head->used) {
            c->next = a->head->next;
            a->head->next = c;
            c->used = n;
            return c->data;
        }
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

char *cp__arena_strndup(struct cp__arena *a, const char *s, size_t n)
{
    char *d = cp__arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void cp__arena_free(struct cp__arena *a)
{
    for (struct cp__arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}
