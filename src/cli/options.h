/*
 * options.h - one option table per command, driving both getopt_long and --help.
 *
 * In the manner of libgit2's src/cli/opt.c: a command is a name, its usage line, a
 * description and a table of options; mn_cli_parse() builds getopt_long's `struct
 * option[]` and short-option string from the table, and mn_cli_print_help() writes the
 * --help text from the same table, so that the two cannot drift apart; help.c writes the
 * man page's OPTIONS from it too.  Every command also takes --help and -h, which the table
 * does not list.
 */
#ifndef MONGONORM_CLI_OPTIONS_H
#define MONGONORM_CLI_OPTIONS_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/** Where mn_cli_parse() puts an option's value. */
typedef enum {
   MN_CLI_CHECK,  /**< the command's set function takes it (a value to check) */
   MN_CLI_STRING, /**< the value, a `const char *` at `offset` in the command's context */
   MN_CLI_FLAG    /**< true, into a `bool` at `offset` in the command's context */
} mn_cli_store_t;

/** One option of a command; a table ends with MN_CLI_OPTIONS_END. */
typedef struct {
   const char *name;     /**< long name without "--" */
   char letter;          /**< short option letter, or 0 for none */
   const char *arg;      /**< the value's name in the help ("FILE"); NULL: takes no value */
   const char *help;     /**< what it does, one paragraph (wrapped when printed) */
   mn_cli_store_t store; /**< where its value goes */
   size_t offset;        /**< MN_CLI_STRING, MN_CLI_FLAG: the field in the context */
   int id;               /**< MN_CLI_CHECK: the command's own number for it */
} mn_cli_option_t;

/* The last three fields of an option: stored as a string or flag, or checked. */
#define MN_CLI_STRING_AT(type, field) MN_CLI_STRING, offsetof(type, field), 0
#define MN_CLI_FLAG_AT(type, field) MN_CLI_FLAG, offsetof(type, field), 0
#define MN_CLI_CHECKED(id) MN_CLI_CHECK, 0, (id)
#define MN_CLI_OPTIONS_END                                                                         \
   {                                                                                               \
      NULL, 0, NULL, NULL, MN_CLI_CHECK, 0, 0                                                      \
   }

/* Options several commands take, with the same meaning and help. */
#define MN_CLI_PG_AT(type, field)                                                                  \
   {                                                                                               \
      "pg", 0, "CONNINFO", "libpq connection string or URI (default: PG* environment)",            \
         MN_CLI_STRING_AT(type, field)                                                             \
   }
#define MN_CLI_DB_AT(type, field)                                                                  \
   {                                                                                               \
      "db", 0, "NAME", "database to read (default: the URI's, or the folder's only one)",          \
         MN_CLI_STRING_AT(type, field)                                                             \
   }
#define MN_CLI_SOURCE_HELP "mongodb:// URI, mongodump folder or Extended JSON folder"

typedef struct mn_cli_command mn_cli_command_t;

/**
 * Take one MN_CLI_CHECK option the user gave: check its value, store it in `ctx`.
 * @param value the option's value; NULL for an option without one
 * @return MN_EXIT_OK, or the mn_cli_usage_error() that reported a bad value
 */
typedef mn_exit_t (*mn_cli_set_fn)(const mn_cli_command_t *cmd, void *ctx, int id,
                                   const char *value);

/** A command's command line. */
struct mn_cli_command {
   const char *name;               /**< "run" */
   const char *summary;            /**< one line, lower case: the overview, the man page */
   const char *synopsis;           /**< "usage: mongonorm run ..." line(s), newline-terminated */
   const char *description;        /**< paragraph(s) after the synopsis, newline-terminated */
   const mn_cli_option_t *options; /**< the table */
   const char *epilog;             /**< text after the options, or NULL */
   mn_cli_set_fn set;              /**< takes the MN_CLI_CHECK options; NULL if none */
   /** Commands whose options this one knows by name, to refuse one of them with "does not
    *  apply to this command" rather than "unrecognized option": NULL, or NULL-terminated. */
   const mn_cli_command_t *const *siblings;
};

/**
 * Parse a command's options (argv[0] is the command's name) with getopt_long into `ctx`,
 * the command's own struct, which the table's offsets point into.  Stops at the first
 * problem: an unknown option, an option of a sibling command, an option without its
 * value, a value cmd->set refuses, an argument that is no option.  --help or -h, once
 * everything parsed, prints the help on stdout.
 * @param exit_code receives the code to exit with when the command must stop
 * @return true when the command goes on; false when it must exit with *exit_code:
 *         MN_EXIT_OK after --help, MN_EXIT_USAGE after a usage error (reported on
 *         stderr, followed by the help text)
 */
bool mn_cli_parse(const mn_cli_command_t *cmd, int argc, char **argv, void *ctx,
                  mn_exit_t *exit_code);

/** Write the command's --help text (synopsis, description, options, epilog) to `f`. */
void mn_cli_print_help(const mn_cli_command_t *cmd, FILE *f);

/**
 * Write `text`, one paragraph, from column `at` (the cursor's column: what is on the
 * line already) in lines that end by the help's width, each further line starting at
 * column `col`; then a newline.
 */
void mn_cli_print_wrapped(FILE *f, const char *text, int at, int col);

/**
 * Report a usage error: "mongonorm: error: <printf text>", then the command's help, on
 * stderr.
 * @return MN_EXIT_USAGE
 */
mn_exit_t mn_cli_usage_error(const mn_cli_command_t *cmd, const char *fmt, ...) MN_PRINTF(2, 3);

/**
 * A whole number from `lo` to `hi`, in decimal digits only (no sign, no space).
 * @return false, leaving *out alone, when `text` is anything else
 */
bool mn_cli_parse_count(const char *text, long lo, long hi, long *out);

#endif
