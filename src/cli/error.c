/*
 * error.c - the command's error, warning, detail, hint and note lines on stderr, and the
 * error-domain to exit-code map, and what each exit code means (error.h).
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

/* A switch without a default, so that the compiler (-Wswitch, in -Wall) names a code of
 * mn_exit_t that has no row here. */
const char *
mn_cli_exit_name(int code, const char **summary)
{
   const char *name = NULL, *text = NULL;

   switch ((mn_exit_t)code) {
   case MN_EXIT_OK:
      name = "done";
      text = "the command did what it was asked; run: every document read was loaded";
      break;
   case MN_EXIT_REJECTS:
      name = "done, with rejects";
      text = "run completed, but some documents did not convert or were refused by the target, "
             "and went to the reject file";
      break;
   case MN_EXIT_USAGE:
      name = "usage";
      text = "the command line is wrong; nothing was done";
      break;
   case MN_EXIT_MAPPING:
      name = "mapping";
      text = "the mapping file is invalid, or does not fit the target; nothing was done";
      break;
   case MN_EXIT_SOURCE:
      name = "source";
      text = "the source cannot be used or failed while being read, lacks a mapped collection, "
             "or lacks more loaded documents than --max-delete allows";
      break;
   case MN_EXIT_PG:
      name = "PostgreSQL";
      text = "the target failed: connection, a statement or COPY, a SQL file of init, a table "
             "or column the mapping writes is missing";
      break;
   case MN_EXIT_IO:
      name = "file I/O";
      text = "a local file or folder could not be opened, read or written";
      break;
   case MN_EXIT_LOCKED:
      name = "locked";
      text = "another run, init or verify holds the run lock on the target database; nothing "
             "was done";
      break;
   case MN_EXIT_UNREADABLE:
      name = "done, but parts of the source could not be read";
      text = "run completed, but spans of a .bson file could not be read; they are kept beside "
             "the reject file";
      break;
   case MN_EXIT_DIFFER:
      name = "differ";
      text = "verify found differences between the source and the target";
      break;
   case MN_EXIT_TOO_MANY_REJECTS:
      name = "stopped: too many rejects";
      text = "run stopped at --max-rejects or --max-reject-ratio, before committing the batch "
             "that crossed the limit";
      break;
   case MN_EXIT_INTERNAL:
      name = "internal";
      text = "an error the command does not map: a bug, please report it";
      break;
   }
   if (name && summary) {
      *summary = text;
   }
   return name;
}

mn_exit_t
mn_cli_exit_code(const mn_error_t *error)
{
   switch (error->domain) {
   case MN_ERROR_USAGE: return MN_EXIT_USAGE;
   case MN_ERROR_MAPPING: return MN_EXIT_MAPPING;
   case MN_ERROR_MONGO: return MN_EXIT_SOURCE;
   case MN_ERROR_PG: return error->code == MN_PG_LOCKED ? MN_EXIT_LOCKED : MN_EXIT_PG;
   case MN_ERROR_IO: return MN_EXIT_IO;
   case MN_ERROR_CONVERT:
      return error->code == MN_CONVERT_TOO_MANY_REJECTS ? MN_EXIT_TOO_MANY_REJECTS
                                                        : MN_EXIT_INTERNAL;
   default: return MN_EXIT_INTERNAL;
   }
}

mn_exit_t
mn_cli_fail(const mn_error_t *error)
{
   mn_cli_error("%s", error->message);
   if (error->domain == MN_ERROR_PG && error->code == MN_PG_SCHEMA) {
      mn_cli_hint("run \"mongonorm init\" against this database first");
   }
   if (error->domain == MN_ERROR_PG && error->code == MN_PG_BULK_PENDING) {
      mn_cli_hint("run \"mongonorm run\" against this database first: it finishes the bulk load");
   }
   if (error->domain == MN_ERROR_PG && error->code == MN_PG_REBUILD) {
      mn_cli_hint("correct or delete the rows that violate it (the constraint is in place, NOT "
                  "VALID), then run again: the run puts back what is left");
   }
   if (error->domain == MN_ERROR_CONVERT && error->code == MN_CONVERT_TOO_MANY_REJECTS) {
      mn_cli_hint("the reject file lists them; fix the source or the mapping, or run again "
                  "without the limit to load the rest");
   }
   return mn_cli_exit_code(error);
}

/* One line on stderr: the prefix, the printf text, a newline. */
static void MN_PRINTF(2, 0) print_line(const char *prefix, const char *fmt, va_list ap)
{
   /* what was printed to stdout before comes first when both go to one terminal or file */
   fflush(stdout);
   fputs(prefix, stderr);
   vfprintf(stderr, fmt, ap);
   fputc('\n', stderr);
}

#define MN_CLI_LINE_FN(fn, prefix)                                                                 \
   void fn(const char *fmt, ...)                                                                   \
   {                                                                                               \
      va_list ap;                                                                                  \
      va_start(ap, fmt);                                                                           \
      print_line(prefix, fmt, ap);                                                                 \
      va_end(ap);                                                                                  \
   }

MN_CLI_LINE_FN(mn_cli_error, "mongonorm: error: ")
MN_CLI_LINE_FN(mn_cli_warning, "mongonorm: warning: ")
MN_CLI_LINE_FN(mn_cli_detail, "detail: ")
MN_CLI_LINE_FN(mn_cli_hint, "hint: ")
MN_CLI_LINE_FN(mn_cli_note, "mongonorm: ")

void
mn_cli_verror(const char *fmt, va_list ap)
{
   print_line("mongonorm: error: ", fmt, ap);
}
