/*
 * output.h - output that run and verify share: the progress line, the JSON report file.
 */
#ifndef MONGONORM_CLI_OUTPUT_H
#define MONGONORM_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

/**
 * The mn_progress_fn of run and verify: one line on stderr, redrawn in place
 * ("<prefix><collection> <documents> documents <percent>%"), ended when a collection
 * is done.
 * @param ctx the line's prefix, a string ("" for run, "verify " for verify)
 */
void mn_cli_progress(void *ctx, const char *collection, uint64_t documents, uint64_t done,
                     uint64_t total);

/**
 * Write `json` and a newline into the open file `fd` (a report file) and close it.
 * @param saved_errno receives errno of the call that failed
 * @return false when a write or the close failed; `fd` is closed either way
 */
bool mn_cli_write_report(int fd, const char *json, int *saved_errno);

#endif
