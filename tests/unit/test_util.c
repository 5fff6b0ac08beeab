/* util: the error table, bounded buffers, JSON escaping, keriox timestamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kerid/buf.h"
#include "kerid/clock.h"
#include "kerid/err.h"

static void test_err_table(void **state)
{
    (void)state;
    assert_int_equal(kd_err_status(KD_OK), 200);
    assert_int_equal(kd_err_status(KD_ETOOLARGE), 413);
    assert_string_equal(kd_err_name(KD_ETOOLARGE), "payload_too_large");
    assert_int_equal(kd_err_status(KD_EBADSIG), 403);
    assert_int_equal(kd_err_status(KD_EHEADERS), 431);
    assert_int_equal(kd_err_status((enum kd_err)9999), 500);
    assert_string_equal(kd_err_name((enum kd_err)9999), "internal");
    /* every entry has a name and a 2xx..5xx status */
    for (int e = 0; e < KD_ERR_COUNT_; e++) {
        assert_true(kd_err_status((enum kd_err)e) >= 200);
        assert_true(kd_err_status((enum kd_err)e) < 600);
        assert_true(strlen(kd_err_name((enum kd_err)e)) > 0);
    }
}

static void test_buf_bound(void **state)
{
    struct kd_buf b;

    (void)state;
    kd_buf_init(&b, 10);
    assert_int_equal(kd_buf_append(&b, "0123456789", 10), KD_OK);
    assert_int_equal(kd_buf_append(&b, "x", 1), KD_ETOOLARGE);
    assert_int_equal(b.len, 10);
    kd_buf_consume(&b, 4);
    assert_memory_equal(b.data, "456789", 6);
    assert_int_equal(kd_buf_printf(&b, "%d", 1234), KD_OK);
    assert_memory_equal(b.data, "4567891234", 10);
    assert_int_equal(kd_buf_printf(&b, "%d", 5), KD_ETOOLARGE);
    assert_int_equal(kd_buf_reserve(&b, SIZE_MAX), KD_ETOOLARGE);
    kd_buf_free(&b);
}

static void test_json_escape(void **state)
{
    /* serde_json's escaping: '/' and non-ASCII untouched, controls as \u00xx */
    static const char in[] = "a\"b\\c/d\n\t\x01\x1f\xc3\xa9";
    static const char want[] = "a\\\"b\\\\c/d\\n\\t\\u0001\\u001f\xc3\xa9";
    struct kd_buf b;

    (void)state;
    kd_buf_init(&b, 0);
    assert_int_equal(kd_buf_append_json_escaped(&b, in, sizeof(in) - 1), KD_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    /* an empty span may come as NULL (UBSan checks the pointer arithmetic) */
    assert_int_equal(kd_buf_append_json_escaped(&b, NULL, 0), KD_OK);
    assert_int_equal(b.len, strlen(want));
    kd_buf_free(&b);
}

static void test_dt_format(void **state)
{
    char out[KD_DATETIME_LEN + 1];

    (void)state;
    kd_clock_format_dt(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000+00:00");
    /* 2026-04-20T10:00:08.250200+00:00 (spec/keriox-surface.md 3.7) = 1776679208.250200 */
    kd_clock_format_dt(INT64_C(1776679208250200), out);
    assert_string_equal(out, "2026-04-20T10:00:08.250200+00:00");
    kd_clock_format_dt(INT64_C(951782400000001), out);
    assert_string_equal(out, "2000-02-29T00:00:00.000001+00:00");
}

static void test_dt_parse(void **state)
{
    int64_t us;

    (void)state;
    assert_int_equal(kd_clock_parse_dt("2026-04-20T10:00:08.250200+00:00", 32, &us), 0);
    assert_int_equal(us, INT64_C(1776679208250200));
    assert_int_equal(kd_clock_parse_dt("2026-04-20T12:00:08.2502+02:00", 30, &us), 0);
    assert_int_equal(us, INT64_C(1776679208250200));
    assert_int_equal(kd_clock_parse_dt("2026-04-20T10:00:08Z", 20, &us), 0);
    assert_int_equal(us, INT64_C(1776679208000000));
    assert_int_equal(kd_clock_parse_dt("2026-02-30T10:00:08Z", 20, &us), -1);
    assert_int_equal(kd_clock_parse_dt("2025-02-29T10:00:08Z", 20, &us), -1);
    assert_int_equal(kd_clock_parse_dt("2026-04-20 10:00:08Z", 20, &us), -1);
    assert_int_equal(kd_clock_parse_dt("2026-04-20T10:00:08", 19, &us), -1);
    assert_int_equal(kd_clock_parse_dt("2026-04-20T10:00:08.Z", 21, &us), -1);
    assert_int_equal(kd_clock_parse_dt("2026-04-20T10:00:08+0000", 24, &us), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table), cmocka_unit_test(test_buf_bound),
        cmocka_unit_test(test_json_escape), cmocka_unit_test(test_dt_format),
        cmocka_unit_test(test_dt_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
