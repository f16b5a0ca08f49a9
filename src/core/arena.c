/*
 * arena.c - chunked bump allocator (see arena.h).
 */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct desk_arena_chunk {
    desk_arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* No _Alignas here: calloc only promises max_align_t, so a 64-aligned
     * member would make the header itself misaligned (UB); allocations
     * are aligned by hand below instead. */
    unsigned char data[];
};

void desk_arena_init(desk_arena *a, size_t chunk_size) {
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : (size_t)1 << 20;
    a->total = 0;
}

void *desk_arena_alloc(desk_arena *a, size_t size, size_t align) {
    if (align == 0) align = 16;
    if ((align & (align - 1)) != 0 || align > 4096) return NULL;
    desk_arena_chunk *c = a->head;
    if (c) {
        uintptr_t base = (uintptr_t)c->data;
        uintptr_t p = (base + c->used + align - 1) & ~(uintptr_t)(align - 1);
        size_t off = (size_t)(p - base);
        if (off <= c->size && size <= c->size - off) {
            c->used = off + size;
            return (void *)p;
        }
    }
    if (size > SIZE_MAX / 2 - align - sizeof(desk_arena_chunk)) return NULL;
    size_t need = size + align;
    size_t csize = need > a->chunk_size ? need : a->chunk_size;
    c = calloc(1, sizeof(desk_arena_chunk) + csize);
    if (!c) return NULL;
    c->size = csize;
    c->next = a->head;
    a->head = c;
    a->total += csize;
    uintptr_t base = (uintptr_t)c->data;
    uintptr_t p = (base + align - 1) & ~(uintptr_t)(align - 1);
    c->used = (size_t)(p - base) + size;
    return (void *)p;
}

char *desk_arena_strndup(desk_arena *a, const char *s, size_t n) {
    if (n == SIZE_MAX) return NULL;
    char *d = desk_arena_alloc(a, n + 1, 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void desk_arena_free(desk_arena *a) {
    desk_arena_chunk *c = a->head;
    while (c) {
        desk_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->total = 0;
}
