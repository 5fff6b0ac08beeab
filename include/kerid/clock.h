/* Wall-clock and monotonic time, and the KERI timestamp format. */
#ifndef KERID_CLOCK_H
#define KERID_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
uint64_t kd_clock_mono_ms(void);
/* Wall clock in microseconds since the Unix epoch. */
int64_t kd_clock_now_us(void);

#define KD_DATETIME_LEN 32 /* "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" */
/* Formats us (Unix microseconds) as keriox does: 6 fractional digits and
 * "+00:00", never "Z". out must hold KD_DATETIME_LEN + 1 bytes. */
void kd_clock_format_dt(int64_t us, char out[KD_DATETIME_LEN + 1]);
/* Parses an RFC 3339 timestamp (any offset, 0-9 fractional digits) into Unix
 * microseconds; returns 0 or -1. */
int kd_clock_parse_dt(const char *s, size_t n, int64_t *out_us);

#endif
