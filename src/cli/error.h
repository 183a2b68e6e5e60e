/*
 * error.h - what the mongonorm command says when something fails, and its exit codes.
 *
 * The only place in src/cli that knows the exit numbers (docs/exit-codes.md) and the
 * map from an error's domain and code to them.  Messages go to stderr in the manner of
 * PostgreSQL's pg_log_error family (src/include/common/logging.h): one
 * "mongonorm: error: ..." line, then optional "detail: ..." and "hint: ..." lines.
 */
#ifndef MONGONORM_CLI_ERROR_H
#define MONGONORM_CLI_ERROR_H

#include <mongonorm/error.h>

#include <stdarg.h>

/** The process exit codes, as docs/exit-codes.md lists them. */
typedef enum {
   MN_EXIT_OK = 0,
   MN_EXIT_REJECTS = 1,           /**< run completed; some documents went to the reject file */
   MN_EXIT_USAGE = 2,             /**< the command line is wrong */
   MN_EXIT_MAPPING = 3,           /**< the mapping is invalid, or does not fit the target */
   MN_EXIT_SOURCE = 4,            /**< the source failed */
   MN_EXIT_PG = 5,                /**< PostgreSQL failed */
   MN_EXIT_IO = 6,                /**< a local file could not be opened, read or written */
   MN_EXIT_LOCKED = 7,            /**< another run holds the target */
   MN_EXIT_UNREADABLE = 8,        /**< run completed, but parts of the source were unreadable */
   MN_EXIT_DIFFER = 9,            /**< verify: source and target differ */
   MN_EXIT_TOO_MANY_REJECTS = 10, /**< run stopped by --max-rejects / --max-reject-ratio */
   MN_EXIT_INTERNAL = 70          /**< an error the CLI does not map: a bug */
} mn_exit_t;

/**
 * What an exit code means: the one table of them, which the overview (--help) and the
 * man page's EXIT STATUS print, and docs/exit-codes.md follows (tests/cli/test_man.sh
 * checks that its table has the same codes and names).
 * @param code    any int; the codes of mn_exit_t have a name, others none
 * @param summary receives the code's one-line meaning (a static string); may be NULL;
 *                left alone for a code that has no name
 * @return the code's name as docs/exit-codes.md's "name" column gives it ("done, with
 *         rejects"), a static string; NULL for a number that is no mn_exit_t code
 */
const char *mn_cli_exit_name(int code, const char **summary);

/**
 * The exit code for an error: its domain, and for PostgreSQL (locked) and conversion
 * (too many rejects) its code.
 * @param error a set error; not NULL
 * @return the code; MN_EXIT_INTERNAL for a domain the CLI does not map
 */
mn_exit_t mn_cli_exit_code(const mn_error_t *error);

/**
 * Report a library error: "mongonorm: error: <message>", then a hint line when one is
 * known for its domain and code (run "mongonorm init"; the reject limits).
 * @param error a set error; not NULL
 * @return mn_cli_exit_code(error), so that a command can `return mn_cli_fail(&error);`
 */
mn_exit_t mn_cli_fail(const mn_error_t *error);

/** Print "mongonorm: error: <printf text>" on stderr. */
void mn_cli_error(const char *fmt, ...) MN_PRINTF(1, 2);

/** mn_cli_error() with a va_list. */
void mn_cli_verror(const char *fmt, va_list ap) MN_PRINTF(1, 0);

/** Print "mongonorm: warning: <printf text>" on stderr: the command goes on. */
void mn_cli_warning(const char *fmt, ...) MN_PRINTF(1, 2);

/** Print "detail: <printf text>" on stderr, after an error or warning line. */
void mn_cli_detail(const char *fmt, ...) MN_PRINTF(1, 2);

/** Print "hint: <printf text>" on stderr: what to do about the line before. */
void mn_cli_hint(const char *fmt, ...) MN_PRINTF(1, 2);

/** Print "mongonorm: <printf text>" on stderr: a note that is no error (rejects, spans). */
void mn_cli_note(const char *fmt, ...) MN_PRINTF(1, 2);

#endif
