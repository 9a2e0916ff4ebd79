/*
 * fuzz_log_decode — log_payload_decode, the parser of an audit log entry's
 * decrypted payload.  Checks memory safety and the limits an accepted
 * entry keeps (every string present and within its maximum).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/log.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    struct log_entry e;
    memset(&e, 0, sizeof e);
    int rc = log_payload_decode(copy, size, &e);
    FUZZ_CHECK(rc == 0 || rc == -EIO, "log_payload_decode returned %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(e.user && strlen(e.user) <= STORE_USER_MAX, "user");
        FUZZ_CHECK(e.process && strlen(e.process) <= STORE_PROCESS_MAX, "process");
        FUZZ_CHECK(e.op && strlen(e.op) <= 64, "op");
        FUZZ_CHECK(e.case_name && strlen(e.case_name) <= 255, "case");
        FUZZ_CHECK(e.path && strlen(e.path) <= LOG_TEXT_MAX, "path");
        FUZZ_CHECK(e.detail && strlen(e.detail) <= LOG_TEXT_MAX, "detail");
    } else {
        FUZZ_CHECK(!e.user && !e.process && !e.op && !e.case_name && !e.path && !e.detail,
                   "strings left after failure");
    }
    log_entry_clear(&e);
    log_entry_clear(&e); /* twice: must be safe */
    free(copy);
    return 0;
}
