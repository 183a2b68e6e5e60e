/*
 * source_json.c - read a mongoexport "<collection>.json" or ".json.gz" file.
 *
 * mongoexport writes Extended JSON v2 (canonical or relaxed) in one of three
 * layouts, told apart by the first bytes of the file:
 *   '['                 --jsonArray: one array of documents, possibly pretty
 *   '{' then newline    --pretty: documents spread over several lines
 *   '{' otherwise       the default: one document per line
 * One document per line is read line by line, so a broken line costs that
 * line only.  The other two are cut into top-level objects by counting
 * brackets outside strings, one object at a time: the file is never held in
 * memory whole.  Each record is parsed with libbson's bson_init_from_json(),
 * after ejson_check.c has checked its Extended JSON type wrappers strictly
 * (libbson reads {"$numberDouble": "7abc"} as 7 and 2023-02-29 as March 1st).
 *
 * A record that does not parse, or holds a malformed wrapper, yields
 * MN_CURSOR_BAD located at the line where it starts ("users.json line 7") and
 * reading goes on with the next one.
 */
#include "source_private.h"

#include "ejson_check.h"

#include <inttypes.h>
#include <string.h>

/* Longest record accepted.  Canonical Extended JSON of a 16 MiB document can
 * be several times its BSON size; beyond this the record is reported BAD
 * (only its first MN_SOURCE__RAW_MAX bytes are kept) and skipped. */
#define MAX_RECORD ((size_t)256 * 1024 * 1024)

typedef enum { MODE_UNKNOWN = 0, MODE_LINES, MODE_OBJECTS } json_mode_t;

/* Bracket counting outside strings. */
typedef struct {
   int depth;
   bool in_string;
   bool escape;
} scan_state_t;

typedef struct {
   mn_source__file_t file;
   char *name; /* file name for locations, e.g. "users.json" */
   bool ids_only;
   json_mode_t mode;
   uint64_t line; /* line number of the next unread byte, from 1 */
   char *rec;     /* the current record's text (not NUL-terminated) */
   size_t rec_len;
   size_t rec_cap;
   bool rec_overflow; /* the record was longer than MAX_RECORD */
   uint64_t rec_line; /* line where the record starts */
   bool array_open;   /* MODE_OBJECTS: saw the '[' */
   bool array_closed; /* MODE_OBJECTS: saw the matching ']' */
   bson_t doc;
   bool has_doc;
   bson_t projected;
   bool has_projected;
   bool finished; /* a final BAD was returned: END next */
} json_cursor_t;

typedef enum { REC_OK, REC_NONE, REC_TRUNCATED, REC_ERROR } rec_status_t;

static void
rec_append(json_cursor_t *c, const void *data, size_t n)
{
   size_t cap;

   if (c->rec_overflow || n == 0) {
      return;
   }
   if (n > MAX_RECORD - c->rec_len) {
      c->rec_overflow = true;
      n = MN_SOURCE__RAW_MAX > c->rec_len ? MN_SOURCE__RAW_MAX - c->rec_len : 0;
      if (n == 0) {
         return;
      }
   }
   if (c->rec_len + n > c->rec_cap) {
      cap = c->rec_cap ? c->rec_cap : 4096;
      while (cap < c->rec_len + n) {
         cap *= 2;
      }
      c->rec = bson_realloc(c->rec, cap);
      c->rec_cap = cap;
   }
   memcpy(c->rec + c->rec_len, data, n);
   c->rec_len += n;
}

static bool
is_space(unsigned char ch)
{
   return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/*
 * Feed one byte to the bracket counter.  Returns true when it closes the
 * top-level value (depth back to 0).
 */
static bool
scan_byte(scan_state_t *s, unsigned char ch)
{
   if (s->in_string) {
      if (s->escape) {
         s->escape = false;
      } else if (ch == '\\') {
         s->escape = true;
      } else if (ch == '"') {
         s->in_string = false;
      }
      return false;
   }
   switch (ch) {
   case '"': s->in_string = true; return false;
   case '{':
   case '[': s->depth++; return false;
   case '}':
   case ']': s->depth--; return s->depth <= 0;
   default: return false;
   }
}

/* Pick the layout from the first bytes (see the file comment). */
static void
detect_mode(json_cursor_t *c)
{
   const unsigned char *p;
   size_t avail;
   size_t i = 0;

   p = mn_source__file_peek(&c->file, &avail);
   if (avail >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
      mn_source__file_consume(&c->file, 3); /* UTF-8 byte order mark */
      p = mn_source__file_peek(&c->file, &avail);
   }
   c->mode = MODE_LINES;
   while (i < avail && is_space(p[i])) {
      i++;
   }
   if (i == avail) {
      return;
   }
   if (p[i] == '[') {
      c->mode = MODE_OBJECTS;
   } else if (p[i] == '{') {
      for (i++; i < avail && (p[i] == ' ' || p[i] == '\t'); i++) {
      }
      if (i < avail && (p[i] == '\n' || p[i] == '\r')) {
         c->mode = MODE_OBJECTS;
      }
   }
}

/* The next non-blank line into rec. */
static rec_status_t
next_line(json_cursor_t *c)
{
   const unsigned char *p;
   const unsigned char *nl;
   size_t avail;
   size_t n;
   bool blank;

   for (;;) {
      c->rec_len = 0;
      c->rec_overflow = false;
      c->rec_line = c->line;
      nl = NULL;
      blank = true;
      while (!nl) {
         p = mn_source__file_peek(&c->file, &avail);
         if (avail == 0) {
            break;
         }
         nl = memchr(p, '\n', avail);
         n = nl ? (size_t)(nl - p) : avail;
         for (size_t i = 0; blank && i < n; i++) {
            blank = is_space(p[i]);
         }
         rec_append(c, p, n);
         mn_source__file_consume(&c->file, nl ? n + 1 : n);
      }
      if (c->file.failed) {
         return REC_ERROR;
      }
      if (nl) {
         c->line++;
      } else if (c->rec_len == 0) {
         return REC_NONE;
      }
      if (!blank) {
         return REC_OK;
      }
      if (!nl) {
         return REC_NONE;
      }
   }
}

/*
 * The next top-level object into rec, skipping the array's brackets and the
 * commas between elements.  Anything else between objects is returned as a
 * record of its own (it then fails to parse as an object).
 */
static rec_status_t
next_object(json_cursor_t *c)
{
   const unsigned char *p;
   size_t avail;
   size_t i;
   size_t start;
   scan_state_t scan = {0};
   bool junk = false;
   bool started = false;
   bool done = false;

   c->rec_len = 0;
   c->rec_overflow = false;

   while (!done) {
      p = mn_source__file_peek(&c->file, &avail);
      if (avail == 0) {
         break;
      }
      i = 0;
      if (!started) {
         /* Between records: skip separators. */
         for (; i < avail; i++) {
            unsigned char ch = p[i];

            if (ch == '\n') {
               c->line++;
            } else if (is_space(ch) || ch == ',') {
               continue;
            } else if (ch == '[' && !c->array_open) {
               c->array_open = true;
            } else if (ch == ']' && c->array_open && !c->array_closed) {
               c->array_closed = true;
            } else {
               started = true;
               junk = ch != '{';
               c->rec_line = c->line;
               if (junk) {
                  /* Take the first byte now: it may itself be a delimiter. */
                  rec_append(c, &p[i], 1);
                  mn_source__file_consume(&c->file, i + 1);
                  p += i + 1;
                  avail -= i + 1;
                  i = 0;
               }
               break;
            }
         }
      }
      start = i;
      for (; started && i < avail; i++) {
         unsigned char ch = p[i];

         if (junk) {
            if (is_space(ch) || ch == ',' || ch == '{' || ch == '[' || ch == ']') {
               done = true;
               break;
            }
            continue;
         }
         if (ch == '\n') {
            c->line++;
         }
         if (scan_byte(&scan, ch)) {
            i++;
            done = true;
            break;
         }
      }
      rec_append(c, p + start, i - start);
      mn_source__file_consume(&c->file, i);
   }
   if (c->file.failed) {
      return REC_ERROR;
   }
   if (!started) {
      return REC_NONE;
   }
   return done || junk ? REC_OK : REC_TRUNCATED;
}

/* Whether text holds one object and nothing after it but blanks. */
static bool
single_object(const char *text, size_t len)
{
   scan_state_t scan = {0};
   size_t i = 0;

   while (i < len && !scan_byte(&scan, (unsigned char)text[i])) {
      i++;
   }
   for (i++; i < len; i++) {
      if (!is_space((unsigned char)text[i])) {
         return false;
      }
   }
   return true;
}

static mn_cursor_status_t
json_bad(mn_cursor_t *cursor, uint64_t line, const char *reason)
{
   json_cursor_t *c = cursor->impl;
   char location[512];

   snprintf(location, sizeof location, "%s line %" PRIu64, c->name, line);
   mn_cursor__set_bad(cursor, location, reason, c->rec, c->rec_len, false);
   return MN_CURSOR_BAD;
}

static mn_cursor_status_t
json_next(mn_cursor_t *cursor, const bson_t **doc)
{
   json_cursor_t *c = cursor->impl;
   bson_error_t berr;
   char reason[sizeof berr.message + 64];
   rec_status_t status;
   const char *text;
   size_t len;
   char *why = NULL;
   mn_cursor_status_t bad;

   if (c->has_projected) {
      bson_destroy(&c->projected);
      c->has_projected = false;
   }
   if (c->has_doc) {
      bson_destroy(&c->doc);
      c->has_doc = false;
   }
   if (c->finished) {
      return MN_CURSOR_END;
   }
   if (c->mode == MODE_UNKNOWN) {
      detect_mode(c);
   }

   status = c->mode == MODE_LINES ? next_line(c) : next_object(c);
   switch (status) {
   case REC_ERROR: return mn_cursor__fail(cursor, &c->file.error);
   case REC_NONE:
      if (c->file.cut_short) {
         c->finished = true;
         c->rec_len = 0;
         return json_bad(cursor, c->line, "compressed file ends early: unexpected end of file");
      }
      if (c->array_open && !c->array_closed) {
         c->finished = true;
         c->rec_len = 0;
         return json_bad(cursor, c->line, "file ends before the array's closing \"]\"");
      }
      return MN_CURSOR_END;
   case REC_TRUNCATED:
      c->finished = true;
      return json_bad(cursor, c->rec_line, "file ends inside a document");
   case REC_OK: break;
   }

   if (c->rec_overflow) {
      snprintf(reason, sizeof reason, "record longer than %zu MiB", MAX_RECORD >> 20);
      return json_bad(cursor, c->rec_line, reason);
   }
   text = c->rec;
   len = c->rec_len;
   while (len > 0 && is_space((unsigned char)*text)) {
      text++;
      len--;
   }
   if (len == 0 || *text != '{') {
      return json_bad(cursor, c->rec_line, "invalid JSON: expected a document (\"{...}\")");
   }
   if (!single_object(text, len)) {
      return json_bad(cursor, c->rec_line, "invalid JSON: text after the end of the document");
   }
   if (!mn_ejson__check(text, len, &why)) {
      bad = json_bad(cursor, c->rec_line, why);
      bson_free(why);
      return bad;
   }
   if (!bson_init_from_json(&c->doc, text, (ssize_t)len, &berr)) {
      snprintf(reason, sizeof reason, "invalid JSON: %s", berr.message);
      return json_bad(cursor, c->rec_line, reason);
   }
   c->has_doc = true;
   *doc = &c->doc;
   if (c->ids_only && mn_source__project_id(&c->doc, &c->projected)) {
      c->has_projected = true;
      *doc = &c->projected;
   }
   return MN_CURSOR_DOC;
}

static void
json_progress(const mn_cursor_t *cursor, uint64_t *done, uint64_t *total)
{
   const json_cursor_t *c = cursor->impl;

   mn_source__file_progress(&c->file, done, total);
}

static void
json_destroy(void *impl)
{
   json_cursor_t *c = impl;

   if (!c) {
      return;
   }
   if (c->has_projected) {
      bson_destroy(&c->projected);
   }
   if (c->has_doc) {
      bson_destroy(&c->doc);
   }
   mn_source__file_close(&c->file);
   bson_free(c->rec);
   bson_free(c->name);
   bson_free(c);
}

static const mn_cursor__ops_t json_ops = {
   json_next,
   json_progress,
   json_destroy,
};

mn_cursor_t *
mn_source__json_cursor(const char *path, const char *name, const mn_find_opts_t *opts,
                       mn_error_t *error)
{
   json_cursor_t *c = bson_malloc0(sizeof *c);

   if (!mn_source__file_open(&c->file, path, error)) {
      json_destroy(c);
      return NULL;
   }
   c->name = bson_strdup(name);
   c->ids_only = opts->ids_only;
   c->line = 1;
   return mn_cursor__new(&json_ops, c);
}
