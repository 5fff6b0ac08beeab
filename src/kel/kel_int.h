/* Private helpers shared by the kel/ sources. */
#ifndef KERID_KEL_INT_H
#define KERID_KEL_INT_H

#include "kerid/event.h"
#include "kerid/tholder.h"
#include "reader.h"

/*
 * Reads a threshold value (kt, nt) at the reader's position, in any of the
 * accepted forms (tholder.h). Failures are recorded in rd with fault
 * KD_EVF_THRESHOLD (or the reader's own fault for malformed input).
 */
enum kd_err kd_tholder_read(struct kd_rd *rd, struct kd_tholder *th);

/*
 * Parses a body with every check of kd_event_parse except the SAID. With
 * tmpl (kd_said_fill), v may be any 17 characters, d and an inception's i
 * may be 44 '#' placeholders, and the size and kind of v are not compared.
 */
enum kd_err kd_event_parse_mode(struct kd_event *ev, const void *body, size_t len, bool tmpl,
                                struct kd_event_diag *diag);

#endif
