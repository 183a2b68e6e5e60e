/*
 * options.c - getopt_long and --help from one option table per command (options.h).
 */
#include "options.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* getopt_long's values for long options: the index in the built array, above any letter. */
#define LONG_BASE 256
/* Help lines end by this column; option names longer than HEAD_MAX stand on a line of
 * their own, their help below at the common column. */
#define HELP_WIDTH 88
#define HEAD_MAX 19

static size_t
count_options(const mn_cli_option_t *options)
{
   size_t n = 0;

   while (options[n].name) {
      n++;
   }
   return n;
}

static bool
has_long(const struct option *longopts, size_t n, const char *name)
{
   for (size_t i = 0; i < n; i++) {
      if (!strcmp(longopts[i].name, name)) {
         return true;
      }
   }
   return false;
}

/* Append the table's long options not there yet; `n` counts the array's entries. */
static void
add_long(struct option *longopts, size_t *n, const mn_cli_option_t *options)
{
   for (const mn_cli_option_t *o = options; o->name; o++) {
      if (!has_long(longopts, *n, o->name)) {
         longopts[*n] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL,
                                        LONG_BASE + (int)*n};
         (*n)++;
      }
   }
}

/* getopt_long's arrays for a command: its own options, then its siblings' (each name
 * once, each with a value of its own so that an abbreviation matching several is
 * ambiguous), then --help; the short options ":h" plus the table's letters. */
static struct option *
build_long(const mn_cli_command_t *cmd, char *shortopts, size_t shortopts_size)
{
   size_t cap = count_options(cmd->options) + 2, n = 0, s = 0;
   struct option *longopts;

   for (const mn_cli_command_t *const *c = cmd->siblings; c && *c; c++) {
      cap += count_options((*c)->options);
   }
   longopts = calloc(cap, sizeof *longopts);
   if (!longopts) {
      abort();
   }
   add_long(longopts, &n, cmd->options);
   for (const mn_cli_command_t *const *c = cmd->siblings; c && *c; c++) {
      add_long(longopts, &n, (*c)->options);
   }
   longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
   shortopts[s++] = ':';
   shortopts[s++] = 'h';
   for (const mn_cli_option_t *o = cmd->options; o->name && s + 3 < shortopts_size; o++) {
      if (o->letter) {
         shortopts[s++] = o->letter;
         if (o->arg) {
            shortopts[s++] = ':';
         }
      }
   }
   shortopts[s] = '\0';
   return longopts;
}

/* The command's own option that getopt_long returned `opt` for, or NULL. */
static const mn_cli_option_t *
find_option(const mn_cli_command_t *cmd, const struct option *longopts, int opt)
{
   for (const mn_cli_option_t *o = cmd->options; o->name; o++) {
      if (opt >= LONG_BASE ? !strcmp(o->name, longopts[opt - LONG_BASE].name) : o->letter == opt) {
         return o;
      }
   }
   return NULL;
}

/* Put the value of option `o` where its table entry says. */
static mn_exit_t
take_option(const mn_cli_command_t *cmd, const mn_cli_option_t *o, void *ctx, const char *value)
{
   switch (o->store) {
   case MN_CLI_STRING: *(const char **)((char *)ctx + o->offset) = value; return MN_EXIT_OK;
   case MN_CLI_FLAG: *(bool *)((char *)ctx + o->offset) = true; return MN_EXIT_OK;
   default: return cmd->set(cmd, ctx, o->id, o->arg ? value : NULL);
   }
}

/* The getopt_long loop: one option at a time to cmd->set.  MN_EXIT_OK when all parsed. */
static mn_exit_t
parse_loop(const mn_cli_command_t *cmd, int argc, char **argv, void *ctx,
           const struct option *longopts, const char *shortopts, bool *help)
{
   int opt;

   opterr = 0;
   optind = 1;
   while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
      const mn_cli_option_t *o = find_option(cmd, longopts, opt);
      mn_exit_t rc;

      if (opt == ':') {
         return mn_cli_usage_error(cmd, "option \"%s\" needs a value", argv[optind - 1]);
      }
      if (opt == '?') {
         return mn_cli_usage_error(cmd, "unrecognized option \"%s\"", argv[optind - 1]);
      }
      if (opt == 'h') {
         *help = true;
      } else if (!o) {
         return mn_cli_usage_error(cmd, "option \"--%s\" does not apply to this command",
                                   opt >= LONG_BASE ? longopts[opt - LONG_BASE].name : "?");
      } else if ((rc = take_option(cmd, o, ctx, optarg)) != MN_EXIT_OK) {
         return rc;
      }
   }
   if (optind < argc) {
      return mn_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
   }
   return MN_EXIT_OK;
}

bool
mn_cli_parse(const mn_cli_command_t *cmd, int argc, char **argv, void *ctx, mn_exit_t *exit_code)
{
   char shortopts[64];
   struct option *longopts = build_long(cmd, shortopts, sizeof shortopts);
   bool help = false;

   *exit_code = parse_loop(cmd, argc, argv, ctx, longopts, shortopts, &help);
   free(longopts);
   if (*exit_code == MN_EXIT_OK && help) {
      mn_cli_print_help(cmd, stdout);
      return false;
   }
   return *exit_code == MN_EXIT_OK;
}

/* "--name ARG" (or "-x, --name ARG") into buf. */
static int
option_head(const mn_cli_option_t *o, char *buf, size_t size)
{
   char letter[8] = "";

   if (o->letter) {
      snprintf(letter, sizeof letter, "-%c, ", o->letter);
   }
   return snprintf(buf, size, "%s--%s%s%s", letter, o->name, o->arg ? " " : "",
                   o->arg ? o->arg : "");
}

void
mn_cli_print_wrapped(FILE *f, const char *text, int at, int col)
{
   int pos = at;

   while (*text) {
      size_t len = strcspn(text, " ");

      if (pos > col && pos + 1 + (int)len > HELP_WIDTH) {
         fprintf(f, "\n%*s", col, "");
         pos = col;
      } else if (pos > col) {
         fputc(' ', f);
         pos++;
      }
      fprintf(f, "%*s%.*s", pos < col ? col - pos : 0, "", (int)len, text);
      pos = (pos < col ? col : pos) + (int)len;
      text += len;
      text += strspn(text, " ");
   }
   fputc('\n', f);
}

void
mn_cli_print_help(const mn_cli_command_t *cmd, FILE *f)
{
   int width = 0, col;
   char head[128];

   for (const mn_cli_option_t *o = cmd->options; o->name; o++) {
      int n = option_head(o, head, sizeof head);
      if (n <= HEAD_MAX && n > width) {
         width = n;
      }
   }
   col = 2 + width + 2;
   fprintf(f, "%s\n%s\n", cmd->synopsis, cmd->description);
   for (const mn_cli_option_t *o = cmd->options; o->name; o++) {
      int n = option_head(o, head, sizeof head);

      fprintf(f, "  %s", head);
      if (n > HEAD_MAX) {
         fputc('\n', f);
         n = -2;
      }
      mn_cli_print_wrapped(f, o->help, 2 + n, col);
   }
   if (cmd->epilog) {
      fprintf(f, "\n%s", cmd->epilog);
   }
}

mn_exit_t
mn_cli_usage_error(const mn_cli_command_t *cmd, const char *fmt, ...)
{
   va_list ap;

   va_start(ap, fmt);
   mn_cli_verror(fmt, ap);
   va_end(ap);
   mn_cli_print_help(cmd, stderr);
   return MN_EXIT_USAGE;
}

bool
mn_cli_parse_count(const char *text, long lo, long hi, long *out)
{
   long v = 0;

   if (!*text || strspn(text, "0123456789") != strlen(text)) {
      return false;
   }
   for (const char *p = text; *p; p++) {
      if (v > hi) {
         return false; /* and no overflow on a long run of digits */
      }
      v = v * 10 + (*p - '0');
   }
   if (v < lo || v > hi) {
      return false;
   }
   *out = v;
   return true;
}
