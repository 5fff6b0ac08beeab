/*
 * Diagnostics for operators. Everything kerid logs goes to stderr; stdout is
 * reserved for the keriox start-up lines (spec/keriox-surface.md 5.2).
 */
#ifndef KERID_LOG_H
#define KERID_LOG_H

enum kd_log_level { KD_LOG_ERROR, KD_LOG_WARN, KD_LOG_INFO, KD_LOG_DEBUG };
enum kd_log_format { KD_LOG_TEXT, KD_LOG_JSON };

/* Process-wide settings, set once at start-up before any thread starts. */
void kd_log_setup(enum kd_log_level level, enum kd_log_format format);
/* Parses "error|warn|info|debug"; returns 0, or -1 if unknown. */
int kd_log_level_parse(const char *s, enum kd_log_level *out);
/* Parses "text|json"; returns 0, or -1 if unknown. */
int kd_log_format_parse(const char *s, enum kd_log_format *out);

/* One line on stderr; thread-safe (one write(2) per line). */
void kd_log(enum kd_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define kd_log_error(c, ...) kd_log(KD_LOG_ERROR, (c), __VA_ARGS__)
#define kd_log_warn(c, ...)  kd_log(KD_LOG_WARN, (c), __VA_ARGS__)
#define kd_log_info(c, ...)  kd_log(KD_LOG_INFO, (c), __VA_ARGS__)
#define kd_log_debug(c, ...) kd_log(KD_LOG_DEBUG, (c), __VA_ARGS__)

#endif
