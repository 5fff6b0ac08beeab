/* Clocks and the KERI/keriox timestamp format. */
#include "kerid/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t kd_clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t kd_clock_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t kd_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void kd_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void kd_clock_format_dt(int64_t us, char out[KD_DATETIME_LEN + 1])
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    int64_t sod = secs - days * 86400;
    int64_t y;
    unsigned m, d;

    char tmp[96];

    kd_civil_from_days(days, &y, &m, &d);
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    snprintf(tmp, sizeof(tmp), "%04d-%02u-%02uT%02d:%02d:%02d.%06d+00:00", (int)y, m, d,
             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
    memcpy(out, tmp, KD_DATETIME_LEN);
    out[KD_DATETIME_LEN] = '\0';
}

static int kd_digits(const char *s, size_t n, size_t at, size_t count, int *out)
{
    int v = 0;

    if (at + count > n)
        return -1;
    for (size_t i = 0; i < count; i++) {
        char c = s[at + i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 0;
}

int kd_clock_parse_dt(const char *s, size_t n, int64_t *out_us)
{
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se, oh, om;
    int64_t frac = 0, scale = 1000000;
    size_t i = 19;
    int sign;

    if (kd_digits(s, n, 0, 4, &y) || n < 20 || s[4] != '-' || kd_digits(s, n, 5, 2, &mo) ||
        s[7] != '-' || kd_digits(s, n, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        kd_digits(s, n, 11, 2, &h) || s[13] != ':' || kd_digits(s, n, 14, 2, &mi) ||
        s[16] != ':' || kd_digits(s, n, 17, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (i - start < 6) {
                frac = frac * 10 + (s[i] - '0');
                scale /= 10;
            }
            i++;
        }
        if (i == start || i - start > 9)
            return -1;
        frac *= scale;
    }
    if (i >= n)
        return -1;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
        oh = om = 0;
        sign = 1;
    } else if ((s[i] == '+' || s[i] == '-') && i + 6 == n && s[i + 3] == ':' &&
               !kd_digits(s, n, i + 1, 2, &oh) && !kd_digits(s, n, i + 4, 2, &om) && oh < 24 &&
               om < 60) {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return -1;
    }
    if (se == 60)
        se = 59; /* leap second: clamp, as chrono does when it cannot represent it */
    *out_us = ((kd_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                se - sign * (oh * 3600 + om * 60)) *
               1000000) +
              frac;
    return 0;
}
