/*
 * error.c - the command's error, warning, detail, hint and note lines on stderr, and the
 * error-domain to exit-code map (error.h).
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

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
