/*
 * help.c - the overview, --version and the man page (help.h).
 *
 * The man page is roff with the man(7) macros, written the way help2man writes one:
 * every '-' as "\-" (so that options copied from the page are ASCII), '\' as "\e", a
 * line that would start with '.' or '\'' behind "\&" (else roff takes it for a request),
 * each sentence on an input line of its own.  Only the parts no table holds are written
 * here (DESCRIPTION's prose, ENVIRONMENT, FILES, EXAMPLES).
 */
#include "help.h"
#include "commands.h"

#include <mongonorm/version.h>

#include <stdbool.h>
#include <string.h>

/* The NAME line of the man page, and the overview's first sentence. */
static const char TAGLINE[] = "move MongoDB collections into a normalized PostgreSQL schema";
static const char ABOUT[] =
   "Move MongoDB collections into a normalized PostgreSQL schema through a mapping file.";

/* How the commands reach the two databases: the overview and DESCRIPTION. */
static const char CONNECTIONS[] =
   "PostgreSQL: --pg takes a libpq connection string or URI; without it the PG* environment "
   "variables apply.  MongoDB: --source takes a mongodb:// URI (or MONGODB_URI), a mongodump "
   "folder, or a folder of mongoexport .json files.";

static const char DESCRIPTION[] =
   "mongonorm reads MongoDB collections (a live server, a mongodump folder, or mongoexport "
   "Extended JSON files), flattens embedded documents and arrays into the rows of a "
   "normalized PostgreSQL schema through a declarative mapping file, and loads them with "
   "COPY, one transaction per batch, accounting for every document: loaded, or in the reject "
   "file with its reason.  Later runs are incremental: unchanged documents are skipped, "
   "changed ones converted again, deleted ones removed, so that repeated runs converge to "
   "what a fresh full load of the source gives.";

/* A tagged paragraph of ENVIRONMENT or FILES: the tag in the font of `font`. */
typedef struct {
   const char *font; /* ".B" or ".I" */
   const char *tag;
   const char *text;
} item_t;

/* The variables the code reads (getenv), and libpq's, which it leaves to libpq. */
static const item_t ENVIRONMENT[] = {
   {".B", "MONGODB_URI",
    "the source of run, verify and status when --source is not given.  A URI that holds a "
    "password is safer here than in --source: command lines are visible to other users of "
    "the machine."},
   {".B", "PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, ...",
    "libpq's environment variables (also PGPASSFILE, PGSERVICE, PGSSLMODE and the others "
    "the libpq documentation lists): they give whatever --pg does not set (everything, "
    "without --pg), as for psql."},
   {".I", "the variable a mapping's salt_env names",
    "the key (at least 16 bytes) of the keyed digests (HMAC-SHA-256) of the hashed columns "
    "that name it; a mapping that names an unset or shorter one does not load.  Never "
    "printed nor stored."},
   {".B", "MN_PROGRESS_EVERY",
    "seconds between the progress lines run writes when stderr is not a terminal (default "
    "30; --quiet writes none)."},
   {".B", "MN_SET_MEMORY",
    "the memory (bytes, or with a K, M or G suffix; default 2M) each of run's sets of "
    "document ids and unique keys keeps before it spills to sorted files under TMPDIR."},
   {".B", "TMPDIR",
    "where run makes its private directory for the sets that outgrow MN_SET_MEMORY "
    "(default /tmp); removed at the end."},
   {".B", "MN_SYNC_LOAD",
    "1 loads every batch of run synchronously: no batch is loaded on the second session "
    "while the next is converted (for comparisons and troubleshooting)."},
   {".B", "MN_READ_AHEAD",
    "0 reads a dump or JSON file on run's own thread: no thread reads and digests the "
    "documents ahead while the ones before are converted (for comparisons)."},
   {".B", "MN_COPY_FORMAT",
    "text sends run's rows in COPY's text format for every table; by default a table whose "
    "columns' types and mapping allow it gets the binary format, which the server reads "
    "faster (for comparisons and troubleshooting)."},
};

static const item_t FILES[] = {
   {".I", "mapping/",
    "mapping files (YAML, docs/mapping.md); mapping/medichat.yaml is MediChat's.  Installed "
    "in share/mongonorm/mapping/."},
   {".I", "sql/",
    "the target schema as versioned NNN_name.sql files, which init applies in version order, "
    "each once.  Installed in share/mongonorm/sql/."},
   {".I", "share/mongonorm/",
    "under the installation prefix (/usr/local by default): mapping/ and sql/ as above, and "
    "generator/medichat/, MediChat's generator model (generator.yaml and its vocab/ lists) "
    "for generate."},
   {".I", "mongonorm-rejects.jsonl",
    "the reject file of run unless --rejects names another: one JSON line per document not "
    "loaded, mode 0600 (it holds source data).  Spans of a .bson file that could not be "
    "read go into the folder <reject file>.skipped/."},
   {".I", "~/.pgpass", "libpq's password file."},
};

static const struct {
   const char *intro;
   const char *lines; /* shown as they are */
} EXAMPLES[] = {
   {"Create the schema, check the mapping against it, and load a mongodump folder (the first "
    "run into empty tables is a full load):",
    "share=/usr/local/share/mongonorm\n"
    "mongonorm init --pg \"dbname=emr\" --sql-dir $share/sql\n"
    "mongonorm check --mapping $share/mapping/medichat.yaml --pg \"dbname=emr\"\n"
    "mongonorm run --source ./dump --mapping $share/mapping/medichat.yaml \\\n"
    "    --pg \"dbname=emr\" --rejects rejects.jsonl --report report.json\n"},
   {"During a cutover: run again from the live server as often as needed (unchanged "
    "documents are skipped), see what is left to do, and end with a run that reads "
    "everything and a verification:",
    "export MONGODB_URI=mongodb://mongo.internal/medichat\n"
    "mongonorm run --mapping medichat.yaml --pg \"dbname=emr\"\n"
    "mongonorm status --source \"$MONGODB_URI\" --mapping medichat.yaml --pg \"dbname=emr\"\n"
    "mongonorm run --full --mapping medichat.yaml --pg \"dbname=emr\"\n"
    "mongonorm verify --mapping medichat.yaml --pg \"dbname=emr\"\n"},
   {"A synthetic MediChat dataset of scale 1000, loaded into a scratch database:",
    "mongonorm generate --model $share/generator/medichat/generator.yaml \\\n"
    "    --scale 1000 --seed 7 --out /tmp/gen\n"
    "mongonorm run --source /tmp/gen/medichat --mapping $share/mapping/medichat.yaml \\\n"
    "    --pg \"dbname=scratch\"\n"},
};

/* ---- the overview and --version ------------------------------------------------- */

/* The exit-code table, a code and its name a line. */
static void
print_exit_codes(FILE *f)
{
   fputs("exit codes (docs/exit-codes.md):\n", f);
   for (int code = 0; code < 256; code++) {
      const char *name = mn_cli_exit_name(code, NULL);

      if (name) {
         fprintf(f, "  %2d  %s\n", code, name);
      }
   }
}

void
mn_cli_print_overview(FILE *f)
{
   int width = 0;

   for (const mn_cli_entry_t *e = mn_cli_commands; e->command; e++) {
      int n = (int)strlen(e->command->name);
      width = n > width ? n : width;
   }
   fprintf(f, "usage: mongonorm <command> [options]\n\n%s\n\ncommands:\n", ABOUT);
   for (const mn_cli_entry_t *e = mn_cli_commands; e->command; e++) {
      fprintf(f, "  %-*s  %s\n", width, e->command->name, e->command->summary);
   }
   fputc('\n', f);
   mn_cli_print_wrapped(f,
                        "Run \"mongonorm <command> --help\" (or \"mongonorm help <command>\") "
                        "for a command's options, \"mongonorm --version\" for the versions.",
                        0, 0);
   mn_cli_print_wrapped(f, CONNECTIONS, 0, 0);
   fputc('\n', f);
   print_exit_codes(f);
}

void
mn_cli_print_version(FILE *f)
{
   mn_library_version_t libs[MN_VERSION_N_LIBRARIES];
   size_t n = mn_version_libraries(libs, MN_VERSION_N_LIBRARIES);

   fprintf(f, "mongonorm %s\n", mn_version());
   for (size_t i = 0; i < n && i < MN_VERSION_N_LIBRARIES; i++) {
      fprintf(f, "%s %s\n", libs[i].name, libs[i].version);
   }
}

/* ---- roff ----------------------------------------------------------------------- */

/* `len` bytes of `s` inside an input line: '-' as "\-", '\' as "\e". */
static void
put_span(FILE *f, const char *s, size_t len)
{
   for (size_t i = 0; i < len; i++) {
      if (s[i] == '-') {
         fputs("\\-", f);
      } else if (s[i] == '\\') {
         fputs("\\e", f);
      } else {
         fputc(s[i], f);
      }
   }
}

static void
put_inline(FILE *f, const char *s)
{
   put_span(f, s, strlen(s));
}

/*
 * `text` as filled roff text, from the start of an input line to the end of one: runs of
 * spaces as one space; a sentence's end followed by two spaces, and a newline, end the
 * input line (groff then spaces sentences its own way); an empty line is a paragraph
 * break (.PP); a line that would start with '.' or '\'' starts with "\&".
 */
static void
put_text(FILE *f, const char *text)
{
   bool bol = true; /* at the start of an input line */
   const char *p = text;

   while (*p) {
      if (*p == ' ' || *p == '\n') {
         const char *q = p;
         int newlines = 0;

         for (; *q == ' ' || *q == '\n'; q++) {
            newlines += *q == '\n';
         }
         if (!*q || bol) {
            p = q; /* no space at the start or the end of a line */
            continue;
         }
         if (newlines >= 2) {
            fputs("\n.PP\n", f);
            bol = true;
         } else if (newlines || (q - p >= 2 && strchr(".?!", p[-1]))) {
            fputc('\n', f);
            bol = true;
         } else {
            fputc(' ', f);
         }
         p = q;
         continue;
      }
      if (bol && (*p == '.' || *p == '\'')) {
         fputs("\\&", f);
      }
      put_span(f, p++, 1);
      bol = false;
   }
   if (!bol) {
      fputc('\n', f);
   }
}

/* `text`'s lines as they are (inside .nf), each escaped, a leading '.' or '\'' behind
 * "\&". */
static void
put_lines(FILE *f, const char *text)
{
   while (*text) {
      size_t len = strcspn(text, "\n");

      if (*text == '.' || *text == '\'') {
         fputs("\\&", f);
      }
      put_span(f, text, len);
      fputc('\n', f);
      text += len;
      text += *text == '\n';
   }
}

/* A .TP tag: "\fB\-x\fR, \fB\-\-name\fR \fIARG\fR". */
static void
put_option_head(FILE *f, const mn_cli_option_t *o)
{
   fputs(".TP\n", f);
   if (o->letter) {
      fprintf(f, "\\fB\\-%c\\fR, ", o->letter);
   }
   fputs("\\fB\\-\\-", f);
   put_inline(f, o->name);
   fputs("\\fR", f);
   if (o->arg) {
      fputs(" \\fI", f);
      put_inline(f, o->arg);
      fputs("\\fR", f);
   }
   fputc('\n', f);
}

/* The tagged paragraphs of ENVIRONMENT or FILES. */
static void
put_items(FILE *f, const item_t *items, size_t n)
{
   for (size_t i = 0; i < n; i++) {
      fprintf(f, ".TP\n%s ", items[i].font);
      put_inline(f, items[i].tag);
      fputc('\n', f);
      put_text(f, items[i].text);
   }
}

/* ---- the man page's sections ------------------------------------------------------ */

/*
 * A command's synopsis ("usage: mongonorm status [--pg CONNINFO] ...\n", maybe on
 * several lines) as lines of SYNOPSIS's .nf block: without "usage: ", "mongonorm <name>"
 * in bold, each further line moved left as far as "usage: " was wide.
 */
static void
put_synopsis(FILE *f, const mn_cli_command_t *cmd)
{
   static const char usage[] = "usage: ";
   const size_t indent = sizeof usage - 1;
   const char *s = cmd->synopsis;
   char head[64];
   size_t head_len = (size_t)snprintf(head, sizeof head, "mongonorm %s", cmd->name);

   s += strncmp(s, usage, indent) ? 0 : indent;
   for (bool first = true; *s; first = false) {
      size_t len = strcspn(s, "\n");

      if (first && head_len < sizeof head && !strncmp(s, head, head_len)) {
         fprintf(f, "\\fB%s\\fR", head);
         s += head_len;
         len -= head_len;
      } else if (!first) {
         size_t spaces = strspn(s, " ");
         spaces = spaces < indent ? spaces : indent;
         s += spaces;
         len -= spaces;
      }
      put_span(f, s, len);
      fputc('\n', f);
      s += len;
      s += *s == '\n';
   }
}

static void
put_name_synopsis(FILE *f)
{
   fputs(".SH NAME\nmongonorm \\- ", f);
   put_inline(f, TAGLINE);
   fputs("\n.SH SYNOPSIS\n.nf\n\\fBmongonorm\\fR \\fIcommand\\fR [\\fIoptions\\fR]\n", f);
   for (const mn_cli_entry_t *e = mn_cli_commands; e->command; e++) {
      put_synopsis(f, e->command);
   }
   fputs("\\fBmongonorm\\fR \\fIcommand\\fR \\fB\\-\\-help\\fR\n"
         "\\fBmongonorm help\\fR [\\fIcommand\\fR]\n"
         "\\fBmongonorm \\-\\-version\\fR\n"
         ".fi\n",
         f);
}

static void
put_description(FILE *f)
{
   fputs(".SH DESCRIPTION\n", f);
   put_text(f, DESCRIPTION);
   fputs(".PP\nThe commands:\n", f);
   for (const mn_cli_entry_t *e = mn_cli_commands; e->command; e++) {
      fprintf(f, ".TP 10\n.B %s\n", e->command->name);
      put_text(f, e->command->summary);
   }
   fputs(".PP\n", f);
   put_text(f, CONNECTIONS);
   put_text(f, "Passwords are never printed.");
}

/* OPTIONS: those without a command, then each command's, from its option table. */
static void
put_options(FILE *f)
{
   fputs(".SH OPTIONS\n", f);
   put_text(f, "Each command takes its own options only: an option of another command is a "
               "usage error.  A value comes as the next word (--pg \"dbname=emr\") or after "
               "an equals sign (--pg=dbname=emr).");
   fputs(".SS \"Without a command\"\n"
         ".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR, \\fBhelp\\fR [\\fIcommand\\fR]\n",
         f);
   put_text(f, "print the overview (the commands and the exit codes), or the command's "
               "options, on stdout and exit 0");
   fputs(".TP\n\\fB\\-\\-version\\fR\n", f);
   put_text(f, "print \"mongonorm X.Y.Z\", then each library mongonorm runs with and its "
               "version (libmongoc, libbson, libpq, libyaml, GLib, OpenSSL, zlib), one a "
               "line, and exit 0");
   for (const mn_cli_entry_t *e = mn_cli_commands; e->command; e++) {
      const mn_cli_command_t *cmd = e->command;

      fprintf(f, ".SS \"mongonorm %s\"\n", cmd->name);
      put_text(f, cmd->description);
      for (const mn_cli_option_t *o = cmd->options; o->name; o++) {
         put_option_head(f, o);
         put_text(f, o->help);
      }
      fputs(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\n", f);
      put_text(f, "print the command's options on stdout and exit 0");
      if (cmd->epilog) {
         fputs(".PP\n", f);
         put_text(f, cmd->epilog);
      }
   }
}

/* EXIT STATUS from the exit-code table: ".B <code>", then ".IR "<name>" :" and the
 * summary (tests/cli/test_man.sh reads the codes and names back from these lines). */
static void
put_exit_status(FILE *f)
{
   fputs(".SH \"EXIT STATUS\"\n", f);
   put_text(f, "Every command ends with one of these codes.  docs/exit-codes.md says more of "
               "each, and which one a command gives when two things fail.");
   for (int code = 0; code < 256; code++) {
      const char *summary = NULL, *name = mn_cli_exit_name(code, &summary);

      if (name) {
         fprintf(f, ".TP\n.B %d\n.IR \"", code);
         put_inline(f, name);
         fputs("\" :\n", f);
         put_text(f, summary);
      }
   }
}

static void
put_examples(FILE *f)
{
   fputs(".SH EXAMPLES\n", f);
   for (size_t i = 0; i < sizeof EXAMPLES / sizeof EXAMPLES[0]; i++) {
      fputs(i ? ".PP\n" : "", f);
      put_text(f, EXAMPLES[i].intro);
      fputs(".PP\n.RS 4\n.nf\n", f);
      put_lines(f, EXAMPLES[i].lines);
      fputs(".fi\n.RE\n", f);
   }
}

void
mn_cli_print_man(FILE *f)
{
   fputs(".\\\" mongonorm.1: written by \"mongonorm help --man\" from the command list, the\n"
         ".\\\" option tables and the exit codes of src/cli.  Do not edit: tests/cli/test_man.sh\n"
         ".\\\" fails while it differs from what the tool writes.\n",
         f);
   fprintf(f, ".TH MONGONORM 1 \"\" \"mongonorm %s\" \"User Commands\"\n", mn_version());
   fputs(".ad l\n.nh\n", f); /* ragged right, no hyphens: options and paths stay whole */
   put_name_synopsis(f);
   put_description(f);
   put_options(f);
   put_exit_status(f);
   fputs(".SH ENVIRONMENT\n", f);
   put_items(f, ENVIRONMENT, sizeof ENVIRONMENT / sizeof ENVIRONMENT[0]);
   fputs(".SH FILES\n", f);
   put_items(f, FILES, sizeof FILES / sizeof FILES[0]);
   put_examples(f);
   fputs(".SH \"SEE ALSO\"\n.BR psql (1),\n.BR mongodump (1),\n.BR mongoexport (1);\n", f);
   put_text(f, "in the source tree, docs/cli.md (every option, with examples), "
               "docs/mapping.md (the mapping format), docs/exit-codes.md, docs/errors.md "
               "and docs/generate.md.");
}
