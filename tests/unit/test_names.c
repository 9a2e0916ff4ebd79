/*
 * names: which names are editors' scratch files, which names may be
 * created, and how version files are named.
 */
#include <errno.h>
#include <string.h>

#include "store/names.h"
#include "tests/unit/helpers.h"

static const char *const TRANSIENT[] = {
    "4913",
    "5036",
    "x~",
    ".x.swp",
    ".x.swo",
    "#x#",
    ".#x",
    ".~lock.x#",
    "~$x",
    ".goutputstream-AB12CD",
    "a.tmp",
    "sedAb12Cd",
    ".report.txt.A1b2C3",
    ".fuse_hidden0001",
    "report.docx~",
    ".report.docx.swp",
    "~$report.docx",
    ".~lock.report.odt#",
};

static const char *const ORDINARY[] = {
    "report.txt", "notes", ".bashrc",   "4914",    ".notes.backup",
    "5035",       "tmp",   "sed",       "sedabc",  "report.tmp.txt",
    "#x",         "x#",    "2026-0042", "v3.docx",
};

START_TEST(test_names_transient)
{
    for (size_t i = 0; i < sizeof TRANSIENT / sizeof *TRANSIENT; i++)
        ck_assert_msg(names_is_transient(TRANSIENT[i]), "\"%s\" not taken as transient",
                      TRANSIENT[i]);
}
END_TEST

START_TEST(test_names_ordinary)
{
    for (size_t i = 0; i < sizeof ORDINARY / sizeof *ORDINARY; i++)
        ck_assert_msg(!names_is_transient(ORDINARY[i]), "\"%s\" taken as transient",
                      ORDINARY[i]);
    ck_assert(!names_is_transient(""));
    ck_assert(!names_is_transient(NULL));
}
END_TEST

START_TEST(test_names_check_new)
{
    char n255[257], n256[258];
    memset(n255, 'n', 255);
    n255[255] = '\0';
    memset(n256, 'n', 256);
    n256[256] = '\0';
    ck_assert_int_eq(names_check_new(n255, 0), 0);
    ck_assert_int_eq(names_check_new(n256, 0), -ENAMETOOLONG);
    ck_assert_int_eq(names_check_new(n256, 1), -ENAMETOOLONG);
    ck_assert_int_eq(names_check_new(".", 0), -EINVAL);
    ck_assert_int_eq(names_check_new("..", 0), -EINVAL);
    ck_assert_int_eq(names_check_new("", 0), -EINVAL);
    ck_assert_int_eq(names_check_new("a/b", 0), -EINVAL);
    ck_assert_int_eq(names_check_new(".versions", 0), -EEXIST);
    ck_assert_int_eq(names_check_new(".versions", 1), -EEXIST);
    ck_assert_int_eq(names_check_new(".x", 1), -EPERM);
    ck_assert_int_eq(names_check_new(".x", 0), 0);
    ck_assert_int_eq(names_check_new("2026-0042", 1), 0);
    ck_assert_int_eq(names_check_new("report.txt", 0), 0);
}
END_TEST

START_TEST(test_names_extension)
{
    ck_assert_str_eq(names_extension("report.docx"), ".docx");
    ck_assert_str_eq(names_extension("archive.tar.gz"), ".gz");
    ck_assert_str_eq(names_extension("notes"), "");
    ck_assert_str_eq(names_extension(".bashrc"), "");
    ck_assert_str_eq(names_extension("trailing."), "");
}
END_TEST

START_TEST(test_names_parse_version)
{
    ck_assert_uint_eq(names_parse_version("v3.docx", "report.docx"), 3);
    ck_assert_uint_eq(names_parse_version("v12.docx", "report.docx"), 12);
    ck_assert_uint_eq(names_parse_version("v0.docx", "report.docx"), 0);
    ck_assert_uint_eq(names_parse_version("v3.txt", "report.docx"), 0);
    ck_assert_uint_eq(names_parse_version("v03.docx", "report.docx"), 0);
    ck_assert_uint_eq(names_parse_version("v.docx", "report.docx"), 0);
    ck_assert_uint_eq(names_parse_version("x3.docx", "report.docx"), 0);
    ck_assert_uint_eq(names_parse_version("v3a.docx", "report.docx"), 0);
    ck_assert_uint_eq(names_parse_version("v3", "report.docx"), 0);
    ck_assert_uint_eq(names_parse_version("v7", "notes"), 7);
    ck_assert_uint_eq(names_parse_version("v7.txt", "notes"), 0);
    ck_assert_uint_eq(names_parse_version("v99999999999999.docx", "report.docx"), 0);
}
END_TEST

Suite *names_suite(void)
{
    Suite *s = suite_create("names");
    TCase *tc = tcase_create("names");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_names_transient);
    tcase_add_test(tc, test_names_ordinary);
    tcase_add_test(tc, test_names_check_new);
    tcase_add_test(tc, test_names_extension);
    tcase_add_test(tc, test_names_parse_version);
    suite_add_tcase(s, tc);
    return s;
}
