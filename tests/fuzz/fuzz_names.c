/*
 * fuzz_names — the name rules of the mount: names_is_transient,
 * names_check_new, names_extension, names_parse_version.
 *
 * Input: a file name, a NUL, a document name (the rest; embedded NULs end
 * it).  Checks: results in the documented sets; names_extension points into
 * its argument (or is ""); names_parse_version agrees with how readdir
 * names version files ("v%u%s" with the document's extension), both ways.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/names.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    char *file = fuzz_str(&in, NULL);
    char *name = fuzz_str(&in, NULL);

    for (int pass = 0; pass < 2; pass++) {
        const char *s = pass ? name : file;
        int tr = names_is_transient(s);
        FUZZ_CHECK(tr == 0 || tr == 1, "names_is_transient returned %d", tr);
        for (int at_root = 0; at_root < 2; at_root++) {
            int rc = names_check_new(s, at_root);
            FUZZ_CHECK(rc == 0 || rc == -ENAMETOOLONG || rc == -EINVAL || rc == -EEXIST ||
                           rc == -EPERM,
                       "names_check_new returned %d", rc);
            size_t n = strlen(s);
            if (rc == 0) {
                FUZZ_CHECK(n > 0 && n <= 255 && !strchr(s, '/'), "accepted a bad name");
                FUZZ_CHECK(strcmp(s, ".") && strcmp(s, "..") &&
                               strcmp(s, NAMES_VERSIONS_DIR),
                           "accepted a reserved name");
                FUZZ_CHECK(!at_root || s[0] != '.', "accepted a dot name at the root");
            }
        }
        const char *ext = names_extension(s);
        FUZZ_CHECK(ext != NULL, "names_extension returned NULL");
        if (*ext) {
            size_t n = strlen(s);
            FUZZ_CHECK(ext > s && ext < s + n, "extension not inside the name");
            FUZZ_CHECK(ext[0] == '.' && !strchr(ext + 1, '.'), "extension '%s'", ext);
        }
    }

    /* Parse the file name as a version file of the document. */
    unsigned v = names_parse_version(file, name);
    if (v) {
        char again[64];
        snprintf(again, sizeof again, "v%u%s", v, names_extension(name));
        FUZZ_CHECK(strcmp(again, file) == 0,
                   "'%s' parsed as version %u of '%s', which is listed as '%s'", file, v,
                   name, again);
    }
    /* And every listed name parses back: take a number from the input. */
    unsigned want = 1;
    for (const char *c = file; *c; c++)
        want = want * 31u + (unsigned char)*c;
    want = want % 100000000u + 1;
    char listed[64];
    snprintf(listed, sizeof listed, "v%u%s", want, names_extension(name));
    unsigned got = names_parse_version(listed, name);
    FUZZ_CHECK(got == want, "'%s' (version %u of '%s') parses as %u", listed, want, name,
               got);

    free(file);
    free(name);
    return 0;
}
