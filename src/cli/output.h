/*
 * output.h - output that run and verify share: the progress line, the JSON report file.
 */
#ifndef MONGONORM_CLI_OUTPUT_H
#define MONGONORM_CLI_OUTPUT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/** How often a progress line is written when stderr is not a terminal (seconds), unless
 *  the environment variable MN_PROGRESS_EVERY gives another number of seconds. */
#define MN_CLI_PROGRESS_EVERY 30.0

/** The state of a progress display (mn_cli_progress's ctx).  Initialise with
 *  MN_CLI_PROGRESS_INIT; calls from several threads are serialised. */
typedef struct {
   const char *prefix; /**< "" for run, "verify " for verify */
   bool terminal;      /**< redraw one line in place; else a plain line every `every` s */
   double every;       /**< seconds between plain lines */
   pthread_mutex_t lock;
   char collection[128]; /**< the collection the times below are of */
   double started;       /**< when its first document was counted (monotonic seconds) */
   double printed;       /**< when a plain line was last written */
} mn_cli_progress_t;

#define MN_CLI_PROGRESS_INIT(prefix, terminal)                                                     \
   {                                                                                               \
      prefix, terminal, MN_CLI_PROGRESS_EVERY, PTHREAD_MUTEX_INITIALIZER, "", 0, 0                 \
   }

/**
 * The mn_progress_fn of run and verify, on stderr.  On a terminal one line redrawn in place,
 * ended when a collection is done: "<prefix><collection> <documents> documents <percent>%
 * <rate>/s ETA <m:ss>" (percent and ETA when the source gives a total: the dump file's size,
 * or the server's estimatedDocumentCount).  Elsewhere (a log file, a pipe) a plain line
 * "mongonorm: <prefix><collection>: ..." every `every` seconds of a collection.
 * @param ctx a mn_cli_progress_t
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
