/* Private helpers shared by the cesr/ sources. */
#ifndef KERID_CESR_INT_H
#define KERID_CESR_INT_H

/* Stores a static reason string when the caller asked for one. */
static inline void kd_cesr_why(const char **why, const char *reason)
{
    if (why)
        *why = reason;
}

#endif
