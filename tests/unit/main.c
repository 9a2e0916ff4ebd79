/*
 * The unit test runner: every store module's suite, Check's normal output
 * (its last line is the "100%: Checks: N, Failures: 0, Errors: 0" summary),
 * exit status 1 when anything failed.
 *
 * CK_FORK (default yes) runs each test in its own process, so a crash is a
 * reported error and not the end of the run; CK_RUN_SUITE / CK_RUN_CASE
 * select a part.
 */
#include <check.h>
#include <stdlib.h>

#include "tests/unit/helpers.h"

int main(void)
{
    helpers_init();
    SRunner *sr = srunner_create(codec_suite());
    srunner_add_suite(sr, keys_suite());
    srunner_add_suite(sr, store_suite());
    srunner_add_suite(sr, durable_suite());
    srunner_add_suite(sr, node_suite());
    srunner_add_suite(sr, chunk_suite());
    srunner_add_suite(sr, version_suite());
    srunner_add_suite(sr, log_suite());
    srunner_add_suite(sr, retract_suite());
    srunner_add_suite(sr, names_suite());
    srunner_add_suite(sr, par_suite());
    srunner_add_suite(sr, doc_suite());
    srunner_add_suite(sr, tree_suite());
    srunner_add_suite(sr, admin_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    helpers_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
