/* stderr logging: one write(2) per line so that threads never interleave. */
#include "kerid/log.h"
#include "kerid/buf.h"
#include "kerid/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum kd_log_level kd_log_max = KD_LOG_INFO;
static enum kd_log_format kd_log_fmt = KD_LOG_TEXT;

static const char *const kd_log_names[] = {"error", "warn", "info", "debug"};

void kd_log_setup(enum kd_log_level level, enum kd_log_format format)
{
    kd_log_max = level;
    kd_log_fmt = format;
}

int kd_log_level_parse(const char *s, enum kd_log_level *out)
{
    for (unsigned i = 0; i < sizeof(kd_log_names) / sizeof(kd_log_names[0]); i++) {
        if (strcmp(s, kd_log_names[i]) == 0) {
            *out = (enum kd_log_level)i;
            return 0;
        }
    }
    return -1;
}

int kd_log_format_parse(const char *s, enum kd_log_format *out)
{
    if (strcmp(s, "text") == 0) {
        *out = KD_LOG_TEXT;
        return 0;
    }
    if (strcmp(s, "json") == 0) {
        *out = KD_LOG_JSON;
        return 0;
    }
    return -1;
}

void kd_log(enum kd_log_level level, const char *component, const char *fmt, ...)
{
    char msg[1024];
    char line[2048];
    char ts[KD_DATETIME_LEN + 1];
    struct kd_buf b;
    va_list ap;
    int n;

    if (level > kd_log_max)
        return;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    kd_clock_format_dt(kd_clock_now_us(), ts);

    /* A fixed stack buffer: logging never allocates and never fails loudly. */
    b.data = (uint8_t *)line;
    b.len = 0;
    b.cap = sizeof(line) - 1;
    b.max = sizeof(line) - 1;
    if (kd_log_fmt == KD_LOG_JSON) {
        kd_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"", ts,
                      kd_log_names[level]);
        kd_buf_append_json_escaped(&b, component, strlen(component));
        kd_buf_append_str(&b, "\",\"msg\":\"");
        kd_buf_append_json_escaped(&b, msg, strlen(msg));
        kd_buf_append_str(&b, "\"}");
    } else {
        kd_buf_printf(&b, "%s %-5s %s: %s", ts, kd_log_names[level], component, msg);
    }
    line[b.len++] = '\n';
    (void)!write(STDERR_FILENO, line, b.len);
}
