/*
 * fuzz_retract_decode — retract_decode, the parser of a retraction request
 * record.  Checks memory safety, limits of an accepted record, and that
 * retract_state_name gives a name for every accepted state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/log.h"
#include "store/retract.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    struct retraction r;
    memset(&r, 0x5a, sizeof r);
    int rc = retract_decode(copy, size, 99, &r);
    FUZZ_CHECK(rc == 0 || rc == -EIO, "retract_decode returned %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(r.id == 99, "id");
        FUZZ_CHECK(r.state <= RETRACT_WITHDRAWN, "state %u", r.state);
        FUZZ_CHECK(r.path && strlen(r.path) <= LOG_TEXT_MAX, "path");
        FUZZ_CHECK(r.user && strlen(r.user) <= STORE_USER_MAX, "user");
        FUZZ_CHECK(r.process && strlen(r.process) <= STORE_PROCESS_MAX, "process");
        FUZZ_CHECK(r.reason && r.decider && r.decision_reason, "strings");
        const char *name = retract_state_name(r.state);
        FUZZ_CHECK(name && *name, "no name for state %u", r.state);
        retract_clear(&r);
    } else {
        FUZZ_CHECK(!r.path && !r.user && !r.process && !r.reason && !r.decider &&
                       !r.decision_reason,
                   "strings left after failure");
    }
    for (unsigned st = 0; st < 256; st += 51)
        (void)retract_state_name((uint8_t)st);
    free(copy);
    return 0;
}
