/* error_test.c: every code has its own sentence and name. */
#include <string.h>

#include "core/testutil.h"
#include "troupe/troupe.h"

static void test_every_code_has_a_distinct_sentence(void **state)
{
    (void)state;
    for (int i = 0; i < TR_ECOUNT_; i++) {
        assert_non_null(tr_strerror(i));
        assert_string_not_equal(tr_strerror(i), tr_strerror(-1));
        assert_memory_equal(tr_errname(i), "TR_", 3);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(tr_strerror(i), tr_strerror(j));
            assert_string_not_equal(tr_errname(i), tr_errname(j));
        }
    }
    assert_string_equal(tr_strerror(TR_ECOUNT_), "unknown troupe error code");
    assert_string_equal(tr_strerror(-5), "unknown troupe error code");
    assert_string_equal(tr_errname(999), "TR_E?");
    assert_string_equal(tr_errname(TR_EFULL), "TR_EFULL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_a_distinct_sentence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
