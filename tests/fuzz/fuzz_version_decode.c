/*
 * fuzz_version_decode — version_decode, the parser of a version record.
 * Checks memory safety, and that an accepted record has a chunk list whose
 * lengths add up to its size with each chunk within CHUNK_MAX.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/version.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    struct version v;
    memset(&v, 0x5a, sizeof v);
    int rc = version_decode(copy, size, 7, 3, &v);
    FUZZ_CHECK(rc == 0 || rc == -EIO || rc == -ENOMEM, "version_decode returned %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(v.node == 7 && v.number == 3, "key fields not set");
        FUZZ_CHECK(v.state <= VERSION_RETRACTED, "state %u", v.state);
        FUZZ_CHECK(v.user && strlen(v.user) <= STORE_USER_MAX, "user");
        FUZZ_CHECK(v.process && strlen(v.process) <= STORE_PROCESS_MAX, "process");
        uint64_t total = 0, count = 0;
        if (v.nsegs) {
            /* the list named as segments: they add up to the count and size */
            FUZZ_CHECK(v.segs != NULL && v.chunks == NULL, "segments and chunks");
            for (uint32_t i = 0; i < v.nsegs; i++) {
                FUZZ_CHECK(v.segs[i].n > 0 && v.segs[i].bytes >= v.segs[i].n &&
                               v.segs[i].bytes <= (uint64_t)v.segs[i].n * CHUNK_MAX,
                           "segment");
                total += v.segs[i].bytes;
                count += v.segs[i].n;
            }
        } else {
            FUZZ_CHECK(v.chunks != NULL, "no chunk array");
            for (uint32_t i = 0; i < v.nchunks; i++) {
                FUZZ_CHECK(v.chunks[i].len > 0 && v.chunks[i].len <= CHUNK_MAX,
                           "chunk len");
                total += v.chunks[i].len;
            }
            count = v.nchunks;
        }
        FUZZ_CHECK(count == v.nchunks, "count");
        FUZZ_CHECK(total == v.size, "chunks add up to %llu, size %llu",
                   (unsigned long long)total, (unsigned long long)v.size);
        version_clear(&v);
    } else {
        FUZZ_CHECK(v.user == NULL && v.process == NULL && v.chunks == NULL && v.segs == NULL,
                   "allocations left after failure");
    }
    free(copy);
    return 0;
}
