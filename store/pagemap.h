/*
 * pagemap — an open document's pages by index, held sparsely.
 *
 * A document being written holds a few dozen pages of DOC_PAGE bytes at a
 * time, wherever in it they lie.  Indexed by a flat array, the index alone
 * grew with the document's size (8 bytes per page: 128 KiB per GiB, twice
 * over with the pages frozen for a spill).  Here pages are found through a
 * table of blocks of PAGEMAP_BLOCK entries, a block made when a page of it
 * comes and freed when its last page goes: the table costs 8 bytes per
 * 64 MiB of the document, each block in use 8 KiB.
 *
 * Not thread-safe: the caller's lock guards it (doc.c).
 */
#ifndef CASEFS_PAGEMAP_H
#define CASEFS_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>

#define PAGEMAP_SHIFT 10
#define PAGEMAP_BLOCK (1u << PAGEMAP_SHIFT)
#define PAGEMAP_NONE UINT64_MAX

struct pagemap_block {
    uint32_t count;
    uint8_t *pg[PAGEMAP_BLOCK];
};

struct pagemap {
    struct pagemap_block **blk;
    size_t nblk;
    size_t count; /* pages held */
};

/* Page p, or NULL. */
static inline uint8_t *pagemap_get(const struct pagemap *m, uint64_t p)
{
    uint64_t b = p >> PAGEMAP_SHIFT;
    if (b >= m->nblk || !m->blk[b])
        return NULL;
    return m->blk[b]->pg[p & (PAGEMAP_BLOCK - 1)];
}

/* Makes pg (not NULL) page p, which must be absent.  0 or -ENOMEM (then
 * nothing changed). */
int pagemap_put(struct pagemap *m, uint64_t p, uint8_t *pg);
/* Takes page p out and returns it (NULL when absent). */
uint8_t *pagemap_take(struct pagemap *m, uint64_t p);
/* The index of the first page held at or after p, or PAGEMAP_NONE. */
uint64_t pagemap_next(const struct pagemap *m, uint64_t p);
/* Whether a page is held in [a, b) (page indexes). */
int pagemap_any(const struct pagemap *m, uint64_t a, uint64_t b);
/* Frees the table (the pages are the caller's: take them out first). */
void pagemap_free(struct pagemap *m);

#endif
