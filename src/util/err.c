/* The error table (include/kerid/err.h) turned into lookups. */
#include "kerid/err.h"

static const struct {
    int status;
    const char *name;
    const char *message;
} kd_err_table[] = {
#define KD_ERR_ROW_(e, status, name, msg) {status, name, msg},
    KD_ERRORS(KD_ERR_ROW_)
#undef KD_ERR_ROW_
};

static int kd_err_valid(enum kd_err err)
{
    return (unsigned)err < (unsigned)KD_ERR_COUNT_;
}

const char *kd_err_name(enum kd_err err)
{
    return kd_err_valid(err) ? kd_err_table[err].name : "internal";
}

int kd_err_status(enum kd_err err)
{
    return kd_err_valid(err) ? kd_err_table[err].status : 500;
}

const char *kd_err_message(enum kd_err err)
{
    return kd_err_valid(err) ? kd_err_table[err].message : "internal error";
}
