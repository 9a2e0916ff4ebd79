/*
 * pagemap — see pagemap.h.
 */
#include "store/pagemap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pagemap_put(struct pagemap *m, uint64_t p, uint8_t *pg)
{
    uint64_t b = p >> PAGEMAP_SHIFT;
    if (b >= m->nblk) {
        size_t n = m->nblk ? m->nblk : 4;
        while (n <= b)
            n *= 2;
        struct pagemap_block **blk = realloc(m->blk, n * sizeof *blk);
        if (!blk)
            return -ENOMEM;
        memset(blk + m->nblk, 0, (n - m->nblk) * sizeof *blk);
        m->blk = blk;
        m->nblk = n;
    }
    if (!m->blk[b] && !(m->blk[b] = calloc(1, sizeof *m->blk[b])))
        return -ENOMEM;
    struct pagemap_block *k = m->blk[b];
    k->pg[p & (PAGEMAP_BLOCK - 1)] = pg;
    k->count++;
    m->count++;
    return 0;
}

uint8_t *pagemap_take(struct pagemap *m, uint64_t p)
{
    uint64_t b = p >> PAGEMAP_SHIFT;
    if (b >= m->nblk || !m->blk[b])
        return NULL;
    struct pagemap_block *k = m->blk[b];
    uint8_t *pg = k->pg[p & (PAGEMAP_BLOCK - 1)];
    if (!pg)
        return NULL;
    k->pg[p & (PAGEMAP_BLOCK - 1)] = NULL;
    m->count--;
    if (--k->count == 0) {
        free(k);
        m->blk[b] = NULL;
    }
    return pg;
}

uint64_t pagemap_next(const struct pagemap *m, uint64_t p)
{
    if (m->count == 0)
        return PAGEMAP_NONE;
    for (uint64_t b = p >> PAGEMAP_SHIFT; b < m->nblk; b++) {
        const struct pagemap_block *k = m->blk[b];
        if (!k)
            continue;
        uint64_t i = b == p >> PAGEMAP_SHIFT ? p & (PAGEMAP_BLOCK - 1) : 0;
        for (; i < PAGEMAP_BLOCK; i++)
            if (k->pg[i])
                return (b << PAGEMAP_SHIFT) | i;
    }
    return PAGEMAP_NONE;
}

int pagemap_any(const struct pagemap *m, uint64_t a, uint64_t b)
{
    /* looks at [a, b) only: asked for each chunk of a long list, a scan
     * on to the next page held cost a spill seconds */
    if (m->count == 0 || a >= b)
        return 0;
    uint64_t last = (b - 1) >> PAGEMAP_SHIFT;
    for (uint64_t k = a >> PAGEMAP_SHIFT; k <= last && k < m->nblk; k++) {
        const struct pagemap_block *blk = m->blk[k];
        if (!blk)
            continue;
        uint64_t i = k == a >> PAGEMAP_SHIFT ? a & (PAGEMAP_BLOCK - 1) : 0;
        uint64_t e = k == last ? ((b - 1) & (PAGEMAP_BLOCK - 1)) + 1 : PAGEMAP_BLOCK;
        for (; i < e; i++)
            if (blk->pg[i])
                return 1;
    }
    return 0;
}

void pagemap_free(struct pagemap *m)
{
    for (size_t b = 0; b < m->nblk; b++)
        free(m->blk[b]);
    free(m->blk);
    memset(m, 0, sizeof *m);
}
