/*
 * par: every piece of a call runs exactly once and the call returns only
 * when all have, with several callers at once and without helpers.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/par.h"
#include "tests/unit/helpers.h"

struct count {
    int *hits;
    size_t n;
};

static void hit(void *arg, size_t i)
{
    struct count *c = arg;
    ck_assert_uint_lt(i, c->n);
    __atomic_add_fetch(&c->hits[i], 1, __ATOMIC_RELAXED);
}

static void run_and_check(struct par *p, size_t n)
{
    struct count c = {calloc(n ? n : 1, sizeof(int)), n};
    par_for(p, n, hit, &c);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(c.hits[i] == 1, "piece %zu of %zu ran %d times", i, n, c.hits[i]);
    free(c.hits);
}

START_TEST(test_par_every_piece_once)
{
    for (unsigned helpers = 0; helpers <= 3; helpers++) {
        struct par *p = par_new(helpers);
        ck_assert_ptr_nonnull(p);
        const size_t sizes[] = {0, 1, 2, 3, 17, 1000};
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            run_and_check(p, sizes[k]);
        par_free(p);
    }
}
END_TEST

static void *caller(void *arg)
{
    for (size_t k = 0; k < 300; k++)
        run_and_check(arg, 1 + k % 40);
    return NULL;
}

START_TEST(test_par_callers_at_once)
{
    struct par *p = par_new(2);
    pthread_t th[6];
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, caller, p), 0);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    par_free(p);
}
END_TEST

Suite *par_suite(void)
{
    Suite *s = suite_create("par");
    TCase *tc = tcase_create("par");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_par_every_piece_once);
    tcase_add_test(tc, test_par_callers_at_once);
    suite_add_tcase(s, tc);
    return s;
}
