/*
 * fuzz_node_decode — node_decode, the parser of a node record (after it was
 * opened with the store key).  Checks memory safety and that an accepted
 * record satisfies what the rest of casefs assumes of a node.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/node.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    struct node n;
    memset(&n, 0x5a, sizeof n); /* garbage: node_decode must not rely on it */
    int rc = node_decode(copy, size, 42, &n);
    FUZZ_CHECK(rc == 0 || rc == -EIO, "node_decode returned %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(n.id == 42, "id not set");
        FUZZ_CHECK(n.type == NODE_DIR || n.type == NODE_FILE, "type %u", n.type);
        FUZZ_CHECK(n.state <= NODE_RETRACTED, "state %u", n.state);
        FUZZ_CHECK(n.name != NULL, "accepted without a name");
        FUZZ_CHECK(strlen(n.name) <= NODE_NAME_MAX, "name too long");
        FUZZ_CHECK(!n.reason || strlen(n.reason) <= NODE_REASON_MAX, "reason too long");
        FUZZ_CHECK(n.mtime_nsec < 1000000000u && n.ctime_nsec < 1000000000u &&
                       n.btime_nsec < 1000000000u,
                   "nanoseconds out of range");
        node_clear(&n);
    } else {
        FUZZ_CHECK(n.name == NULL && n.reason == NULL, "strings left after failure");
    }
    free(copy);
    return 0;
}
