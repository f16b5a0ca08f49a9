/*
 * arena.h - bump allocation for per-load and per-request memory.
 *
 * An arena hands out memory from large chunks and frees it all at once.
 * Model loads and requests allocate from arenas so that teardown is one
 * call and the token loop never touches malloc.
 */
#ifndef DESK_CORE_ARENA_H
#define DESK_CORE_ARENA_H

#include <stddef.h>

typedef struct desk_arena_chunk desk_arena_chunk;

typedef struct desk_arena {
    desk_arena_chunk *head;  /* newest chunk first */
    size_t chunk_size;       /* default size of a new chunk */
    size_t total;            /* bytes obtained from malloc, for reports */
} desk_arena;

/* Prepares an empty arena; no memory is taken until the first alloc. */
void desk_arena_init(desk_arena *a, size_t chunk_size);

/* Returns SIZE zeroed bytes aligned to ALIGN (a power of two, <= 4096),
 * or NULL when memory runs out or SIZE overflows.  Owned by the arena. */
void *desk_arena_alloc(desk_arena *a, size_t size, size_t align);

/* Copies N bytes of S and a terminating NUL into the arena. */
char *desk_arena_strndup(desk_arena *a, const char *s, size_t n);

/* Frees every chunk; the arena may be reused after desk_arena_init. */
void desk_arena_free(desk_arena *a);

#endif
