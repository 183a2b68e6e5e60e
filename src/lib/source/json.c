/*
 * json.c - read a mongoexport "<collection>.json" or ".json.gz" file.
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
 *
 * A line may hold several documents one after another ({"_id":1}{"_id":2} or
 * {"_id":1} {"_id":2}: hand-edited or concatenated files; libbson would read the
 * first and drop the rest).  When the line is nothing but whole objects
 * (mn_ejson__object_end()) separated by blanks, each is a record of its own, judged
 * alone, its location numbered on the line ("users.json line 7, document 2"), as
 * mongoimport reads concatenated JSON.  Anything else after the first object makes
 * the whole line one BAD record, its text whole ("text after the end of the
 * document").  Records of an array that start on one line are numbered the same way.
 */
#include "source/source_private.h"

#include "source/ejson_check.h"

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
   char *name;                  /* file name for locations, e.g. "users.json" */
   mn_source__projection_t out; /* what next() hands out: doc, or its {_id} */
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
   bool finished; /* a final BAD was returned: END next */
   /* MODE_LINES, a line holding several documents one after another: */
   bool pieces;       /* rec is being handed out document by document */
   size_t piece_pos;  /* offset in rec just past the last one handed out */
   unsigned piece_no; /* number of the last one handed out on the line, from 1 */
   /* MODE_OBJECTS, several records starting on one line: */
   uint64_t last_line; /* line where the previous record started */
   unsigned on_line;   /* records that started on it so far */
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
 * Between records: skip white space, commas and the array's own brackets among the avail
 * bytes at p, counting lines.  Returns how many bytes that is; *started when a record
 * starts after them (*junk when it does not start with '{'), its line in rec_line.
 */
static size_t
skip_separators(json_cursor_t *c, const unsigned char *p, size_t avail, bool *started, bool *junk)
{
   size_t i;

   for (i = 0; i < avail; i++) {
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
         *started = true;
         *junk = ch != '{';
         c->rec_line = c->line;
         break;
      }
   }
   return i;
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
         i = skip_separators(c, p, avail, &started, &junk);
         if (junk) {
            /* Take the first byte now: it may itself be a delimiter. */
            rec_append(c, &p[i], 1);
            mn_source__file_consume(&c->file, i + 1);
            p += i + 1;
            avail -= i + 1;
            i = 0;
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

/* "users.json line 7", or "users.json line 7, document 2" for a later record starting on
 * the same line. */
static void
format_location(const json_cursor_t *c, uint64_t line, unsigned no, char *buf, size_t size)
{
   if (no > 1) {
      snprintf(buf, size, "%s line %" PRIu64 ", document %u", c->name, line, no);
   } else {
      snprintf(buf, size, "%s line %" PRIu64, c->name, line);
   }
}

/* A BAD record of text (len bytes) starting at line, the no-th record starting there. */
static mn_cursor_status_t
json_bad_text(mn_cursor_t *cursor, uint64_t line, unsigned no, const char *reason, const char *text,
              size_t len)
{
   json_cursor_t *c = cursor->impl;
   char location[512];

   format_location(c, line, no, location, sizeof location);
   mn_cursor__set_bad(cursor, location, reason, text, len, false);
   return MN_CURSOR_BAD;
}

/* A BAD record of the whole current record text. */
static mn_cursor_status_t
json_bad(mn_cursor_t *cursor, uint64_t line, const char *reason)
{
   json_cursor_t *c = cursor->impl;

   return json_bad_text(cursor, line, 1, reason, c->rec, c->rec_len);
}

/*
 * How many whole objects text holds one after another, separated by blanks only
 * ({"_id":1}{"_id":2}, {"_id":1} {"_id":2}); 0 when anything else is there.
 */
static size_t
count_objects(const char *text, size_t len)
{
   size_t pos = 0;
   size_t end;
   size_t n = 0;

   for (;;) {
      while (pos < len && is_space((unsigned char)text[pos])) {
         pos++;
      }
      if (pos == len) {
         return n;
      }
      if (text[pos] != '{' || !mn_ejson__object_end(text + pos, len - pos, &end)) {
         return 0;
      }
      pos += end;
      n++;
   }
}

/* The next document of a line that holds several: [*text, *text + *len). False at its end. */
static bool
next_piece(json_cursor_t *c, const char **text, size_t *len, unsigned *no)
{
   size_t pos = c->piece_pos;
   size_t end = 0;

   while (pos < c->rec_len && is_space((unsigned char)c->rec[pos])) {
      pos++;
   }
   if (pos == c->rec_len || !mn_ejson__object_end(c->rec + pos, c->rec_len - pos, &end)) {
      c->pieces = false; /* (count_objects() vouched for every piece) */
      return false;
   }
   *text = c->rec + pos;
   *len = end;
   *no = ++c->piece_no;
   c->piece_pos = pos + end;
   return true;
}

/* One record's text as a document, or BAD with the record's own text and location. */
static mn_cursor_status_t
parse_record(mn_cursor_t *cursor, const char *text, size_t len, uint64_t line, unsigned no,
             const bson_t **doc)
{
   json_cursor_t *c = cursor->impl;
   bson_error_t berr;
   char reason[sizeof berr.message + 64];
   char *why = NULL;
   mn_cursor_status_t bad;

   if (!mn_ejson__check(text, len, &why)) {
      bad = json_bad_text(cursor, line, no, why, text, len);
      bson_free(why);
      return bad;
   }
   if (!bson_init_from_json(&c->doc, text, (ssize_t)len, &berr)) {
      snprintf(reason, sizeof reason, "invalid JSON: %s", berr.message);
      return json_bad_text(cursor, line, no, reason, text, len);
   }
   c->has_doc = true;
   *doc = mn_source__project(&c->out, &c->doc);
   return MN_CURSOR_DOC;
}

/*
 * Read the next record into c->rec (its number on its line into *no, for a file of
 * objects).  False when there is none, with *status what json_next() returns: END, ERROR,
 * or BAD for a file that ends early (a cut gzip stream, an unclosed array, a document
 * cut off).
 */
static bool
next_record(mn_cursor_t *cursor, unsigned *no, mn_cursor_status_t *status)
{
   json_cursor_t *c = cursor->impl;
   rec_status_t got;

   if (c->mode == MODE_UNKNOWN) {
      detect_mode(c);
   }
   got = c->mode == MODE_LINES ? next_line(c) : next_object(c);
   switch (got) {
   case REC_ERROR: *status = mn_cursor__fail(cursor, &c->file.error); return false;
   case REC_NONE:
      *status = MN_CURSOR_END;
      if (c->file.cut_short) {
         c->finished = true;
         c->rec_len = 0;
         *status = json_bad(cursor, c->line, "compressed file ends early: unexpected end of file");
      } else if (c->array_open && !c->array_closed) {
         c->finished = true;
         c->rec_len = 0;
         *status = json_bad(cursor, c->line, "file ends before the array's closing \"]\"");
      }
      return false;
   case REC_TRUNCATED:
      c->finished = true;
      *status = json_bad(cursor, c->rec_line, "file ends inside a document");
      return false;
   case REC_OK: break;
   }
   if (c->mode == MODE_OBJECTS) {
      /* several records may start on one line ([{...},{...}] written on one line) */
      c->on_line = c->rec_line == c->last_line ? c->on_line + 1 : 1;
      c->last_line = c->rec_line;
      *no = c->on_line;
   }
   return true;
}

/*
 * The next document of the JSON file: the next piece of a line holding several documents,
 * else the next record (a line, or an array element), which must be one object; a line
 * of whole documents one after another is split into pieces.  A record that is no
 * object, or too long, is BAD with its own text.
 */
static mn_cursor_status_t
json_next(mn_cursor_t *cursor, const bson_t **doc)
{
   json_cursor_t *c = cursor->impl;
   char reason[128];
   mn_cursor_status_t status;
   const char *text;
   size_t len;
   unsigned no = 1;

   mn_source__projection_release(&c->out);
   if (c->has_doc) {
      bson_destroy(&c->doc);
      c->has_doc = false;
   }
   if (c->pieces && next_piece(c, &text, &len, &no)) {
      return parse_record(cursor, text, len, c->rec_line, no, doc);
   }
   if (c->finished) {
      return MN_CURSOR_END;
   }
   if (!next_record(cursor, &no, &status)) {
      return status;
   }
   if (c->rec_overflow) {
      snprintf(reason, sizeof reason, "record longer than %zu MiB", MAX_RECORD >> 20);
      return json_bad_text(cursor, c->rec_line, no, reason, c->rec, c->rec_len);
   }
   text = c->rec;
   len = c->rec_len;
   while (len > 0 && is_space((unsigned char)*text)) {
      text++;
      len--;
   }
   if (len == 0 || *text != '{') {
      return json_bad_text(cursor, c->rec_line, no, "invalid JSON: expected a document (\"{...}\")",
                           c->rec, c->rec_len);
   }
   if (!single_object(text, len)) {
      /* Documents one after another on a line (concatenated files): each is a record of
       * its own, when the line is nothing but whole documents; else the line is one. */
      if (c->mode == MODE_OBJECTS || count_objects(text, len) < 2) {
         return json_bad_text(cursor, c->rec_line, no,
                              "invalid JSON: text after the end of the document", c->rec,
                              c->rec_len);
      }
      c->pieces = true;
      c->piece_pos = (size_t)(text - c->rec);
      c->piece_no = 0;
      next_piece(c, &text, &len, &no);
   }
   return parse_record(cursor, text, len, c->rec_line, no, doc);
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
   mn_source__projection_release(&c->out);
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
   c->out.ids_only = opts->ids_only;
   c->line = 1;
   return mn_cursor__new(&json_ops, c);
}
