/*
 * rejects.c - the reject file: one JSON object per line, one line per document or record
 * a run does not load, and the counting that goes with each line (run_private.h).
 *
 * The lines are built on the caller's thread (without their document, which goes last
 * when it can) and handed, with a copy of the document, to a writer thread that encodes
 * the document and the line as Extended JSON and writes them, in order; at most
 * WRITER_QUEUE lines or WRITER_BYTES of documents wait for it.  mn_rejects__sync() waits
 * for it, so a line is on disk before the batch that records its document commits.
 */
#include <mongonorm/convert.h>
#include <mongonorm/files.h>
#include <mongonorm/mapping.h>

#include "run/run_private.h"
#include "source/ejson_check.h"
#include "util/bson_private.h"
#include "util/ejson.h"

#include <errno.h>
#include <glib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WRITER_QUEUE 256
#define WRITER_BYTES ((size_t)2 << 20)

/* One line for the writer: its fields, and what goes after them. */
typedef struct {
   bson_t *line;   /* owned */
   bson_t *doc;    /* owned: appended last (append_document), or NULL */
   char *doc_json; /* owned: the line's "document" already encoded, or NULL */
} job_t;

struct mn_rejects_writer {
   pthread_t thread;
   pthread_mutex_t lock;
   pthread_cond_t changed;
   GQueue jobs;  /* job_t *, in order */
   size_t bytes; /* of the queued documents */
   bool busy;    /* a job taken and not done yet */
   bool stop;    /* no more jobs: end when the queue is empty */
   bool failed;  /* a line could not be encoded or written: error says why */
   mn_error_t error;
};

static bool write_line(mn_rejects_t *r, bson_t *line, char *doc_json, mn_error_t *error);
static bool write_line_then(mn_rejects_t *r, bson_t *line, const bson_t *doc, mn_error_t *error);
static char *append_document(bson_t *line, const bson_t *doc);

static void *
writer_main(void *data)
{
   mn_rejects_t *r = data;
   mn_rejects_writer_t *w = r->writer;

   pthread_mutex_lock(&w->lock);
   for (;;) {
      job_t *j;
      mn_error_t e;
      bool ok;
      while (g_queue_is_empty(&w->jobs) && !w->stop) {
         pthread_cond_wait(&w->changed, &w->lock);
      }
      if (g_queue_is_empty(&w->jobs)) {
         break;
      }
      j = g_queue_pop_head(&w->jobs);
      w->bytes -= j->doc ? j->doc->len : 0;
      w->busy = true;
      pthread_cond_broadcast(&w->changed);
      pthread_mutex_unlock(&w->lock);
      if (j->doc) {
         ok = write_line_then(r, j->line, j->doc, &e); /* frees the line */
         bson_destroy(j->doc);
      } else {
         ok = write_line(r, j->line, j->doc_json, &e); /* frees both */
      }
      g_free(j);
      pthread_mutex_lock(&w->lock);
      if (!ok && !w->failed) {
         w->failed = true;
         w->error = e;
      }
      w->busy = false;
      pthread_cond_broadcast(&w->changed);
   }
   pthread_mutex_unlock(&w->lock);
   return NULL;
}

/* Hand a line to the writer (started with the first one): line (stolen: destroyed here),
 * then, last, doc (copied) or doc_json (stolen), or neither.  Waits while the writer is
 * too far behind.  false with error set when the writer cannot be started (the line is
 * dropped). */
static bool
queue_line(mn_rejects_t *r, bson_t *line, const bson_t *doc, char *doc_json, mn_error_t *error)
{
   mn_rejects_writer_t *w = r->writer;
   job_t *j;

   if (!r->path) {
      bson_destroy(line); /* a dry run without a reject file */
      bson_free(doc_json);
      return true;
   }
   if (!w) {
      w = r->writer = g_new0(mn_rejects_writer_t, 1);
      pthread_mutex_init(&w->lock, NULL);
      pthread_cond_init(&w->changed, NULL);
      g_queue_init(&w->jobs);
      if (pthread_create(&w->thread, NULL, writer_main, r) != 0) {
         pthread_mutex_destroy(&w->lock);
         pthread_cond_destroy(&w->changed);
         g_free(w);
         r->writer = NULL;
         bson_destroy(line);
         bson_free(doc_json);
         mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE,
                      "could not start the writer of reject file \"%s\"", r->path);
         return false;
      }
   }
   j = g_new0(job_t, 1);
   j->line = bson_copy(line);
   bson_destroy(line);
   j->doc = doc ? bson_copy(doc) : NULL;
   j->doc_json = doc_json;
   pthread_mutex_lock(&w->lock);
   while (g_queue_get_length(&w->jobs) >= WRITER_QUEUE ||
          (w->bytes >= WRITER_BYTES && !g_queue_is_empty(&w->jobs))) {
      pthread_cond_wait(&w->changed, &w->lock);
   }
   w->bytes += j->doc ? j->doc->len : 0;
   g_queue_push_tail(&w->jobs, j);
   pthread_cond_broadcast(&w->changed);
   pthread_mutex_unlock(&w->lock);
   return true;
}

/* Wait until the writer has written every line given; its first failure into error. */
static bool
writer_wait(mn_rejects_t *r, mn_error_t *error)
{
   mn_rejects_writer_t *w = r->writer;
   bool ok;

   if (!w) {
      return true;
   }
   pthread_mutex_lock(&w->lock);
   while (!g_queue_is_empty(&w->jobs) || w->busy) {
      pthread_cond_wait(&w->changed, &w->lock);
   }
   ok = !w->failed;
   if (!ok && error) {
      *error = w->error;
   }
   pthread_mutex_unlock(&w->lock);
   return ok;
}

/* Stop the writer after its last line (if it was started). */
static void
writer_stop(mn_rejects_t *r)
{
   mn_rejects_writer_t *w = r->writer;

   if (!w) {
      return;
   }
   pthread_mutex_lock(&w->lock);
   w->stop = true;
   pthread_cond_broadcast(&w->changed);
   pthread_mutex_unlock(&w->lock);
   pthread_join(w->thread, NULL);
   pthread_mutex_destroy(&w->lock);
   pthread_cond_destroy(&w->changed);
   g_free(w);
   r->writer = NULL;
}

/* A new private file (see files.h): an old reader, a link or a 0644 file at the path never
 * sees patient records. */
bool
mn_rejects__open(mn_rejects_t *r, const char *path, mn_error_t *error)
{
   int fd;

   r->path = path;
   r->dirty = false;
   r->writer = NULL;
   if (!path) {
      r->f = NULL;
      return true;
   }
   fd = mn_private_file_create(path, "reject file", error);
   r->f = fd < 0 ? NULL : fdopen(fd, "w");
   if (fd >= 0 && !r->f) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not create reject file \"%s\": %s", path,
                   strerror(errno));
      close(fd);
   }
   return r->f != NULL;
}

/* Flush and fsync what was written since the last sync: before a batch commits, so that a
 * document the target records as rejected always has its line on disk. */
bool
mn_rejects__sync(mn_rejects_t *r, mn_error_t *error)
{
   if (!writer_wait(r, error)) {
      return false;
   }
   if (!r->f || !r->dirty) {
      return true;
   }
   if (fflush(r->f) != 0 || fsync(fileno(r->f)) != 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write reject file \"%s\": %s",
                   r->path, strerror(errno));
      return false;
   }
   r->dirty = false;
   return true;
}

/* Write one line of the reject file (its canonical Extended JSON), and destroy the line
 * (bson_copy'd), written or not: the writer thread's job.  doc_json: NULL, or the text of
 * the line's "document" (append_document), written as it is rather than encoded again;
 * freed here. */
static bool
write_line(mn_rejects_t *r, bson_t *line, char *doc_json, mn_error_t *error)
{
   size_t len = 0;
   char *json;
   bool ok;

   json = mn_ejson__canonical(line, doc_json ? "document" : NULL, doc_json, &len);
   bson_destroy(line);
   bson_free(doc_json);
   if (!json) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not encode a reject record");
      return false;
   }
   ok = fwrite(json, 1, len, r->f) == len && fputc('\n', r->f) != EOF;
   r->dirty = true;
   bson_free(json);
   if (!ok) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write reject file \"%s\": %s",
                   r->path, strerror(errno));
   }
   return ok;
}

/*
 * Write one line of the reject file whose document goes last (a queued doc): the text
 * append_document() and write_line() would write, the line's own text with the
 * document's after it, but without copying the document into the line or its text into
 * the line's: the line is encoded alone, its closing " }" cut, then `, "document" : `,
 * the document's text and " }" are written after it.  The common line of a re-run (an
 * unchanged rejected document, written again whole), so the copies mattered.  A document
 * the fast writer does not write alone (mn_ejson__plain) goes the way of the others.
 * Destroys the line, written or not; doc is borrowed.
 */
static bool
write_line_then(mn_rejects_t *r, bson_t *line, const bson_t *doc, mn_error_t *error)
{
   static const char key[] = ", \"document\" : ";
   static const char close[] = " }\n";
   size_t head_len = 0, doc_len = 0;
   char *doc_json = mn_ejson__plain(doc, &doc_len);
   char *head = doc_json ? mn_ejson__canonical(line, NULL, NULL, &head_len) : NULL;
   bool ok;

   /* the line's text is "{ " elements " }" (it always has elements): else, or for a
    * document of another kind, the document goes into the line */
   if (!head || head_len < 5 || memcmp(head, "{ ", 2) != 0 ||
       memcmp(head + head_len - 2, " }", 2) != 0) {
      bson_free(head);
      bson_free(doc_json);
      return write_line(r, line, append_document(line, doc), error);
   }
   bson_destroy(line);
   head_len -= 2;
   ok = fwrite(head, 1, head_len, r->f) == head_len &&
        fwrite(key, 1, sizeof key - 1, r->f) == sizeof key - 1 &&
        fwrite(doc_json, 1, doc_len, r->f) == doc_len &&
        fwrite(close, 1, sizeof close - 1, r->f) == sizeof close - 1;
   r->dirty = true;
   bson_free(head);
   bson_free(doc_json);
   if (!ok) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write reject file \"%s\": %s",
                   r->path, strerror(errno));
   }
   return ok;
}

bool
mn_rejects__close(mn_rejects_t *r, mn_error_t *error)
{
   mn_error_t e;
   bool ok = writer_wait(r, &e);

   writer_stop(r);
   if (!ok && error) {
      *error = e;
   }
   if (r->f) {
      bool written = fflush(r->f) == 0 && fsync(fileno(r->f)) == 0;
      written = fclose(r->f) == 0 && written;
      r->f = NULL;
      if (!written && ok) {
         mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write reject file \"%s\": %s",
                      r->path, strerror(errno));
      }
      ok = ok && written;
   }
   return ok;
}

/*
 * Text for a reject line: a reason or path may quote a source string that is not valid
 * UTF-8, which Extended JSON cannot carry; its invalid bytes are written as \xHH.
 */
static void
append_text(bson_t *b, const char *key, const char *s)
{
   GString *esc;
   const char *p = s;
   const char *end = s + strlen(s);

   if (bson_utf8_validate(s, strlen(s), false)) {
      BSON_APPEND_UTF8(b, key, s);
      return;
   }
   esc = g_string_new(NULL);
   while (p < end) {
      const char *next = NULL;
      if (g_utf8_validate(p, end - p, &next)) {
         g_string_append(esc, p);
         break;
      }
      g_string_append_len(esc, p, next - p);
      g_string_append_printf(esc, "\\x%02x", (unsigned char)*next);
      p = next + 1;
   }
   BSON_APPEND_UTF8(b, key, esc->str);
   g_string_free(esc, TRUE);
}

/* The document of a reject line: as Extended JSON when it can be (valid BSON and UTF-8),
 * its raw bytes otherwise.  @return its Extended JSON for write_line() (bson_free), or
 * NULL when it went as bytes. */
static char *
append_document(bson_t *line, const bson_t *doc)
{
   /* a document the fast writer writes alone is valid (mn_ejson__plain): the common
    * case, one walk; else validated first */
   char *json = mn_ejson__plain(doc, NULL);

   /* Extended JSON needs valid UTF-8 in every string (libbson's BSON_VALIDATE_UTF8 does
    * not check values): try it */
   if (json || (mn_convert_depth_ok(doc) && bson_validate(doc, BSON_VALIDATE_NONE, NULL) &&
                (json = mn_ejson__canonical(doc, NULL, NULL, NULL)))) {
      BSON_APPEND_DOCUMENT(line, "document", doc);
   } else {
      BSON_APPEND_BINARY(line, "document_bytes", BSON_SUBTYPE_BINARY, bson_get_data(doc), doc->len);
   }
   return json;
}

/*
 * The `_id` of a reject line: the document's own value whenever its `_id` element can be
 * read and written as Extended JSON (mn_convert_id_json: also for a document rejected
 * before it is converted); a string `_id` that is not valid UTF-8 as "_id": null and its
 * exact bytes in "_id_bytes"; null when there is no `_id` to read.
 */
static void
append_id(bson_t *line, const bson_t *doc)
{
   bson_iter_t it;
   bool exact = false;
   char *json = NULL;

   if (doc && bson_iter_init_find(&it, doc, "_id")) {
      json = mn_convert_id_json(&it, &exact);
   }
   if (json && exact) {
      mn_bson__append_iter(line, "_id", 3, &it); /* no libbson warning for an array _id */
   } else {
      BSON_APPEND_NULL(line, "_id");
      if (json && BSON_ITER_HOLDS_UTF8(&it)) {
         uint32_t len = 0;
         const char *s = bson_iter_utf8(&it, &len);
         BSON_APPEND_BINARY(line, "_id_bytes", BSON_SUBTYPE_BINARY, (const uint8_t *)s, len);
      }
   }
   bson_free(json);
}

static bool
is_json_space(char c)
{
   return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Past the JSON white space at *p and then `token`: false when token does not come next. */
static bool
expect_token(const char **p, const char *token)
{
   size_t n = strlen(token);

   while (is_json_space(**p)) {
      (*p)++;
   }
   if (strncmp(*p, token, n) != 0) {
      return false;
   }
   *p += n;
   return true;
}

/*
 * The `_id` a JSON record that does not parse still shows: its first member, when it is
 * "_id" (mongoexport writes it first) and its value is complete and valid Extended JSON
 * on its own (ejson_check.c, as the reader checks records).  *wrapper receives
 * {"_id": value} (destroy it when true is returned).
 */
static bool
json_record_id(const char *raw, bson_t *wrapper)
{
   const char *p = raw;
   const char *v;
   int depth = 0;
   bool in_string = false, complete = false;
   char *text, *why = NULL;
   bool ok;

   if (!expect_token(&p, "{") || !expect_token(&p, "\"_id\"") || !expect_token(&p, ":")) {
      return false;
   }
   while (is_json_space(*p)) {
      p++;
   }
   /* the value's extent: a string, an object or array (brackets matched outside strings),
    * or a scalar up to the next delimiter; never cut short by the end of the text */
   for (v = p; *p && !complete; p++) {
      if (in_string) {
         if (*p == '\\' && p[1]) {
            p++;
         } else if (*p == '"') {
            in_string = false;
            complete = depth == 0;
         }
      } else if (*p == '"') {
         in_string = true;
      } else if (*p == '{' || *p == '[') {
         depth++;
      } else if (*p == '}' || *p == ']' || *p == ',' || is_json_space(*p)) {
         if (depth == 0) {
            break; /* the end of a scalar */
         }
         if (*p == '}' || *p == ']') {
            complete = --depth == 0;
         }
      }
   }
   if (!complete && (!*p || p == v || depth > 0)) {
      return false;
   }
   text = bson_strdup_printf("{\"_id\": %.*s}", (int)(p - v), v);
   ok = mn_ejson__check(text, strlen(text), &why) &&
        bson_init_from_json(wrapper, text, (ssize_t)strlen(text), NULL);
   bson_free(why);
   bson_free(text);
   return ok;
}

/*
 * The `_id` an unreadable span of a .bson file still shows: the first element of the
 * document it starts with (raw: hex of its first bytes), when it is "_id" and whole within
 * them.  *wrapper receives {"_id": value} (destroy it when true is returned).
 */
static bool
span_record_id(const char *hex, bson_t *wrapper)
{
   size_t n = strlen(hex) / 2;
   uint8_t *buf;
   bson_t doc;
   bson_iter_t it;
   bool ok = false;

   if (n < 5 + 4) {
      return false;
   }
   /* the span's bytes after its (damaged) length, framed as a document of their own */
   buf = bson_malloc(n + 1);
   for (size_t i = 4; i < n; i++) {
      unsigned hi = (unsigned)g_ascii_xdigit_value(hex[2 * i]);
      unsigned lo = (unsigned)g_ascii_xdigit_value(hex[2 * i + 1]);
      buf[i] = (uint8_t)(hi << 4 | lo);
   }
   buf[n] = 0;
   {
      uint32_t len = BSON_UINT32_TO_LE((uint32_t)n + 1);
      memcpy(buf, &len, 4);
   }
   if (bson_init_static(&doc, buf, n + 1) && bson_iter_init(&it, &doc) && bson_iter_next(&it) &&
       strcmp(bson_iter_key(&it), "_id") == 0) {
      bson_init(wrapper);
      ok = bson_append_iter(wrapper, "_id", 3, &it);
      if (!ok) {
         bson_destroy(wrapper);
      }
   }
   bson_free(buf);
   return ok;
}

/* A row value for a reject line: text, or its exact bytes as binary when not UTF-8. */
static void
append_value(bson_t *b, const char *key, const char *v)
{
   if (bson_utf8_validate(v, strlen(v), false)) {
      BSON_APPEND_UTF8(b, key, v);
   } else {
      BSON_APPEND_BINARY(b, key, BSON_SUBTYPE_BINARY, (const uint8_t *)v, (uint32_t)strlen(v));
   }
}

/* A rejected document: reasons, the document itself, the rows it would have produced. */
static bool
document_line(mn_rejects_t *r, const mn_mapping_t *m, const char *collection, const bson_t *doc,
              const mn_rowset_t *rows, mn_error_t *error)
{
   bson_t line = BSON_INITIALIZER;
   bson_t reasons, arr;
   const char *path = "";
   const char *message = "rejected";
   char *doc_json;

   if (mn_rowset_n_rejects(rows) > 0) {
      mn_rowset_reject(rows, 0, &path, &message);
   }
   BSON_APPEND_UTF8(&line, "collection", collection);
   append_id(&line, doc);
   append_text(&line, "path", path);
   append_text(&line, "reason", message);
   BSON_APPEND_ARRAY_BEGIN(&line, "reasons", &reasons);
   for (size_t i = 0; i < mn_rowset_n_rejects(rows); i++) {
      char key[24];
      bson_t one;
      mn_rowset_reject(rows, i, &path, &message);
      snprintf(key, sizeof key, "%zu", i);
      BSON_APPEND_DOCUMENT_BEGIN(&reasons, key, &one);
      append_text(&one, "path", path);
      append_text(&one, "reason", message);
      bson_append_document_end(&reasons, &one);
   }
   bson_append_array_end(&line, &reasons);
   /* The document as Extended JSON when it can be (valid BSON and UTF-8); its raw bytes
    * otherwise. */
   doc_json = append_document(&line, doc);
   BSON_APPEND_ARRAY_BEGIN(&line, "rows", &arr);
   for (size_t i = 0; i < mn_rowset_n_rows(rows); i++) {
      size_t t = mn_rowset_row_table(rows, i);
      char key[24];
      bson_t row, values;
      snprintf(key, sizeof key, "%zu", i);
      BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &row);
      BSON_APPEND_UTF8(&row, "table", mn_mapping_table_name(m, t));
      BSON_APPEND_DOCUMENT_BEGIN(&row, "values", &values);
      for (size_t c = 0; c < mn_mapping_table_n_columns(m, t); c++) {
         const char *v = mn_rowset_value(rows, i, c);
         const char *col = mn_mapping_table_column(m, t, c);
         if (v) {
            append_value(&values, col, v);
         } else {
            BSON_APPEND_NULL(&values, col);
         }
      }
      bson_append_document_end(&row, &values);
      bson_append_document_end(&arr, &row);
   }
   bson_append_array_end(&line, &arr);
   return queue_line(r, &line, NULL, doc_json, error);
}

/* A record the source could not parse: no document, only its text. */
static bool
bad_line(mn_rejects_t *r, const char *collection, const mn_cursor_bad_t *bad, mn_error_t *error)
{
   bson_t line = BSON_INITIALIZER;
   bson_t id;

   BSON_APPEND_UTF8(&line, "collection", collection);
   /* the _id its beginning still shows, if it reads */
   if (bad->raw && (bad->skipped ? span_record_id(bad->raw, &id) : json_record_id(bad->raw, &id))) {
      append_id(&line, &id);
      bson_destroy(&id);
   } else {
      BSON_APPEND_NULL(&line, "_id");
   }
   BSON_APPEND_UTF8(&line, "path", "");
   BSON_APPEND_UTF8(&line, "reason", bad->reason ? bad->reason : "record does not parse");
   BSON_APPEND_UTF8(&line, "location", bad->location ? bad->location : "");
   if (bad->skipped) {
      /* an unreadable span of a .bson file: where it is, and where its bytes are kept */
      BSON_APPEND_UTF8(&line, "file", bad->file ? bad->file : "");
      BSON_APPEND_INT64(&line, "offset", (int64_t)bad->offset);
      BSON_APPEND_INT64(&line, "length", (int64_t)bad->skipped);
      if (bad->kept) {
         BSON_APPEND_UTF8(&line, "kept", bad->kept);
      } else {
         BSON_APPEND_NULL(&line, "kept");
      }
   }
   if (bad->raw && bson_utf8_validate(bad->raw, strlen(bad->raw), false)) {
      BSON_APPEND_UTF8(&line, "raw", bad->raw);
   } else if (bad->raw) {
      BSON_APPEND_BINARY(&line, "raw_bytes", BSON_SUBTYPE_BINARY, (const uint8_t *)bad->raw,
                         (uint32_t)strlen(bad->raw));
   }
   return queue_line(r, &line, NULL, NULL, error);
}

/* `path` without its array indexes ("allergies.3.name" -> "allergies.name") into clean. */
static void
path_without_indexes(const char *path, char *clean, size_t size)
{
   size_t o = 0;
   bool digits = false;

   for (const char *p = path; *p && o + 1 < size; p++) {
      if (*p >= '0' && *p <= '9' && (p == path || p[-1] == '.')) {
         digits = true;
         continue;
      }
      if (digits && *p == '.') {
         digits = false;
         if (o && clean[o - 1] == '.') {
            continue;
         }
      }
      if (*p >= '0' && *p <= '9' && digits) {
         continue;
      }
      digits = false;
      clean[o++] = *p;
   }
   while (o && clean[o - 1] == '.') {
      o--;
   }
   clean[o] = '\0';
}

/* Whether the quoted text that starts at `quote` (in `text`) names a schema object: the word
 * before it is one of the words our messages and PostgreSQL's put before a name
 * (`collection "users"`, `table "public.users"`, `constraint "users_email_key"`, `column "c"
 * of relation "t"`).  Everything else in quotes is a value, or a field name of the data. */
static bool
quotes_a_name(const char *text, const char *quote)
{
   static const char *const words[] = {"collection", "table", "column", "constraint",
                                       "relation",   "index", "schema", "entry"};
   const char *end = quote;
   const char *start;

   if (end == text || end[-1] != ' ') {
      return false;
   }
   end--;
   start = end;
   while (start > text && ((start[-1] >= 'a' && start[-1] <= 'z') || start[-1] == '_')) {
      start--;
   }
   for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
      if ((size_t)(end - start) == strlen(words[i]) &&
          !strncmp(start, words[i], strlen(words[i]))) {
         return true;
      }
   }
   return false;
}

/* The short kind of a reject reason, for the statistics: the field path without indexes and
 * the reason, with every quoted value blanked out ("...") and names of collections, tables,
 * columns and constraints kept (quotes_a_name). */
const char *
mn_rejects__reason_kind_of(const char *path, const char *message, char *buf, size_t size)
{
   /* message is "document X, field "P": reason"; keep what follows the field */
   const char *colon = strncmp(message, "document ", 9) ? NULL : strstr(message, "\": ");
   char clean[256];
   char in[300];
   char *o = buf;
   char *end = buf + size - 6;
   bool in_quote = false;
   bool keep = false;

   path_without_indexes(path, clean, sizeof clean);
   snprintf(in, sizeof in, "%s: %s", *clean ? clean : "(document)", colon ? colon + 3 : message);
   for (const char *p = in; *p && o < end; p++) {
      if (in_quote && *p == '\\' && p[1]) {
         /* an escaped character inside the quotes (\" or \\) */
         if (keep && o + 1 < end) {
            *o++ = *p;
            *o++ = p[1];
         }
         p++;
         continue;
      }
      if (*p == '"') {
         if (!in_quote) {
            keep = quotes_a_name(in, p);
         }
         *o++ = '"';
         if (!in_quote && !keep) {
            memcpy(o, "...", 3);
            o += 3;
         }
         in_quote = !in_quote;
         continue;
      }
      if (!in_quote || keep) {
         *o++ = *p;
      }
   }
   *o = '\0';
   return buf;
}

static const char *
reason_kind(const mn_rowset_t *rows, char *buf, size_t size)
{
   const char *path = "";
   const char *message = "";

   if (mn_rowset_n_rejects(rows) == 0) {
      return "rejected";
   }
   mn_rowset_reject(rows, 0, &path, &message);
   return mn_rejects__reason_kind_of(path, message, buf, size);
}

/* The start of a reject line: the collection and the document's _id. */
static void
reject_line_begin(bson_t *line, const char *collection, const bson_t *doc)
{
   BSON_APPEND_UTF8(line, "collection", collection);
   append_id(line, doc);
}

/*
 * A rejected document whose bytes did not change since the run that rejected it: not
 * converted again; its line names the recorded reason and says it is unchanged (the full
 * record, with the rows it would have produced, is in the reject file of that run).
 */
static bool
unchanged_line(mn_rejects_t *r, const char *collection, const bson_t *doc,
               const mn_doc_entry_t *entry, mn_error_t *error)
{
   bson_t line = BSON_INITIALIZER;

   reject_line_begin(&line, collection, doc);
   BSON_APPEND_UTF8(&line, "path", entry->reject_path ? entry->reject_path : "");
   append_text(&line, "reason", entry->reason ? entry->reason : "rejected");
   BSON_APPEND_BOOL(&line, "unchanged", true);
   /* the document too: a line torn or lost by a killed run can be rebuilt from any later
    * run's file */
   return queue_line(r, &line, doc, NULL, error);
}

/* A second document with an _id already read in this pass. */
static bool
duplicate_id_line(mn_rejects_t *r, const char *collection, const bson_t *doc, mn_error_t *error)
{
   bson_t line = BSON_INITIALIZER;

   reject_line_begin(&line, collection, doc);
   BSON_APPEND_UTF8(&line, "path", "_id");
   BSON_APPEND_UTF8(&line, "reason", MN_REJECTS_DUPLICATE_ID_REASON);
   return queue_line(r, &line, doc, NULL, error);
}

/* A document PostgreSQL refused at load: its rows are not in the target. */
static bool
at_load_line(mn_rejects_t *r, const char *collection, const bson_t *doc, const char *reason,
             mn_error_t *error)
{
   bson_t line = BSON_INITIALIZER;

   reject_line_begin(&line, collection, doc);
   BSON_APPEND_UTF8(&line, "path", "");
   BSON_APPEND_UTF8(&line, "reason", reason);
   BSON_APPEND_UTF8(&line, "stage", "load");
   return queue_line(r, &line, doc, NULL, error);
}

/* ---- a reject counted and written: the lines with the statistics they go with ---- */

/* The target column a reason of the converter names, into buf ("table.column"): a
 * column's reason reads `document <id>, field "<path>", column "<table.column>": ...`
 * (convert.c).  NULL when the reason names no column. */
static const char *
reason_column(const char *id_json, const char *path, const char *message, char *buf, size_t size)
{
   char *lead = g_strdup_printf("document %s, field \"%s\", column \"", id_json ? id_json : "",
                                path ? path : "");
   const char *at = NULL;
   const char *end = NULL;

   if (!strncmp(message, lead, strlen(lead))) {
      at = message + strlen(lead);
      end = strstr(at, "\": ");
   }
   g_free(lead);
   if (!end || (size_t)(end - at) >= size) {
      return NULL;
   }
   memcpy(buf, at, (size_t)(end - at));
   buf[end - at] = '\0';
   return buf;
}

/* Count a reject of `doc` under its kind, with the document's _id, the reason's path and
 * its column as an example (mn_stats_count_reject_example). */
static void
count_with_example(mn_stats_t *stats, const char *collection, const char *kind, const bson_t *doc,
                   const char *id_json, const char *path, const char *message)
{
   bson_iter_t it;
   char *own = NULL;
   char column[256];

   if (!id_json && doc && bson_iter_init_find(&it, doc, "_id")) {
      id_json = own = mn_convert_id_json(&it, NULL);
   }
   mn_stats_count_reject_example(
      stats, collection, kind, id_json, path,
      message ? reason_column(id_json, path, message, column, sizeof column) : NULL);
   bson_free(own);
}

bool
mn_rejects__document(mn_rejects_t *r, mn_stats_t *stats, const mn_mapping_t *m,
                     const char *collection, const bson_t *doc, const mn_rowset_t *rows,
                     mn_error_t *error)
{
   char kind[300];

   const char *path = "";
   const char *message = NULL;

   if (mn_rowset_n_rejects(rows) > 0) {
      mn_rowset_reject(rows, 0, &path, &message);
   }
   mn_stats_collection(stats, collection)->rejected++;
   count_with_example(stats, collection, reason_kind(rows, kind, sizeof kind), doc,
                      mn_rowset_doc_id_json(rows), path, message);
   return document_line(r, m, collection, doc, rows, error);
}

bool
mn_rejects__bad(mn_rejects_t *r, mn_stats_t *stats, const char *collection,
                const mn_cursor_bad_t *bad, const char *kept_dir, mn_error_t *error)
{
   mn_collection_counts_t *counts = mn_stats_collection(stats, collection);
   bson_t id;
   bool has_id;

   counts->read++;
   counts->rejected++;
   if (bad->skipped) {
      mn_stats_count_skipped(stats, collection, bad->file, bad->skipped,
                             bad->kept ? kept_dir : NULL);
   }
   /* the _id its beginning still shows, as in its line */
   has_id =
      bad->raw && (bad->skipped ? span_record_id(bad->raw, &id) : json_record_id(bad->raw, &id));
   count_with_example(stats, collection,
                      bad->skipped ? "(record): unreadable bytes skipped"
                                   : "(record): does not parse",
                      has_id ? &id : NULL, NULL, NULL, NULL);
   if (has_id) {
      bson_destroy(&id);
   }
   return bad_line(r, collection, bad, error);
}

bool
mn_rejects__unchanged(mn_rejects_t *r, mn_stats_t *stats, const char *collection, const bson_t *doc,
                      const mn_doc_entry_t *entry, mn_error_t *error)
{
   mn_collection_counts_t *counts = mn_stats_collection(stats, collection);
   char kind[300];

   counts->read++;
   counts->rejected++;
   count_with_example(stats, collection,
                      mn_rejects__reason_kind_of(entry->reject_path ? entry->reject_path : "",
                                                 entry->reason, kind, sizeof kind),
                      doc, NULL, entry->reject_path, entry->reason);
   return unchanged_line(r, collection, doc, entry, error);
}

bool
mn_rejects__duplicate_id(mn_rejects_t *r, mn_stats_t *stats, const char *collection,
                         const bson_t *doc, mn_error_t *error)
{
   mn_collection_counts_t *counts = mn_stats_collection(stats, collection);

   counts->read++;
   counts->rejected++;
   count_with_example(stats, collection, "_id: " MN_REJECTS_DUPLICATE_ID_REASON, doc, NULL, "_id",
                      NULL);
   return duplicate_id_line(r, collection, doc, error);
}

bool
mn_rejects__at_load(mn_rejects_t *r, mn_stats_t *stats, const char *collection, const bson_t *doc,
                    const char *reason, mn_error_t *error)
{
   char kind[300];

   count_with_example(stats, collection, mn_rejects__reason_kind_of("", reason, kind, sizeof kind),
                      doc, NULL, NULL, NULL);
   mn_stats_collection(stats, collection)->rejected++;
   return at_load_line(r, collection, doc, reason, error);
}
