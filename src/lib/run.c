/*
 * run.c - the main job (see run.h for the order of work).
 */
#include <mongonorm/convert.h>
#include <mongonorm/mapping.h>
#include <mongonorm/pg.h>
#include <mongonorm/run.h>
#include <mongonorm/source.h>

#include "pg_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
now_seconds(void)
{
   struct timespec ts;

   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the reject file: one JSON object per line ---- */

typedef struct {
   FILE *f;
   const char *path;
} rejects_t;

static bool
rejects_open(rejects_t *r, const char *path, mn_error_t *error)
{
   int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

   r->path = path;
   r->f = NULL;
   if (fd < 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not create reject file \"%s\": %s",
                   path, strerror(errno));
      return false;
   }
   /* An existing file keeps its mode with O_CREAT: make sure it is private. */
   if (fchmod(fd, 0600) != 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not protect reject file \"%s\": %s",
                   path, strerror(errno));
      close(fd);
      return false;
   }
   r->f = fdopen(fd, "w");
   return r->f != NULL;
}

static bool
rejects_write(rejects_t *r, const bson_t *line, mn_error_t *error)
{
   char *json = bson_as_canonical_extended_json(line, NULL);
   bool ok;

   if (!json) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not encode a reject record");
      return false;
   }
   ok = fputs(json, r->f) >= 0 && fputc('\n', r->f) != EOF;
   bson_free(json);
   if (!ok) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write reject file \"%s\": %s",
                   r->path, strerror(errno));
   }
   return ok;
}

static bool
rejects_close(rejects_t *r, mn_error_t *error)
{
   bool ok = true;

   if (r->f) {
      ok = fflush(r->f) == 0 && fsync(fileno(r->f)) == 0;
      ok = fclose(r->f) == 0 && ok;
      r->f = NULL;
      if (!ok) {
         mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write reject file \"%s\": %s",
                      r->path, strerror(errno));
      }
   }
   return ok;
}

/* A rejected document: reasons, the document itself, the rows it would have produced. */
static bool
reject_document(rejects_t *r, const mn_mapping_t *m, const char *collection, const bson_t *doc,
                const mn_rowset_t *rows, mn_error_t *error)
{
   bson_t line = BSON_INITIALIZER;
   bson_t reasons, arr;
   bson_iter_t id;
   const char *path = "";
   const char *message = "rejected";
   bool ok;
   char *probe;

   if (mn_rowset_n_rejects(rows) > 0) {
      mn_rowset_reject(rows, 0, &path, &message);
   }
   BSON_APPEND_UTF8(&line, "collection", collection);
   if (bson_validate(doc, BSON_VALIDATE_NONE, NULL) && bson_iter_init_find(&id, doc, "_id")) {
      bson_append_iter(&line, "_id", 3, &id);
   } else {
      BSON_APPEND_NULL(&line, "_id");
   }
   BSON_APPEND_UTF8(&line, "path", path);
   BSON_APPEND_UTF8(&line, "reason", message);
   BSON_APPEND_ARRAY_BEGIN(&line, "reasons", &reasons);
   for (size_t i = 0; i < mn_rowset_n_rejects(rows); i++) {
      char key[24];
      bson_t one;
      mn_rowset_reject(rows, i, &path, &message);
      snprintf(key, sizeof key, "%zu", i);
      BSON_APPEND_DOCUMENT_BEGIN(&reasons, key, &one);
      BSON_APPEND_UTF8(&one, "path", path);
      BSON_APPEND_UTF8(&one, "reason", message);
      bson_append_document_end(&reasons, &one);
   }
   bson_append_array_end(&line, &reasons);
   /* The document as Extended JSON when it can be; its raw bytes otherwise. */
   probe = bson_validate(doc, BSON_VALIDATE_UTF8, NULL) ? bson_as_canonical_extended_json(doc, NULL)
                                                        : NULL;
   if (probe) {
      BSON_APPEND_DOCUMENT(&line, "document", doc);
   } else {
      BSON_APPEND_BINARY(&line, "document_bytes", BSON_SUBTYPE_BINARY, bson_get_data(doc), doc->len);
   }
   bson_free(probe);
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
            BSON_APPEND_UTF8(&values, col, v);
         } else {
            BSON_APPEND_NULL(&values, col);
         }
      }
      bson_append_document_end(&row, &values);
      bson_append_document_end(&arr, &row);
   }
   bson_append_array_end(&line, &arr);
   ok = rejects_write(r, &line, error);
   bson_destroy(&line);
   return ok;
}

/* A record the source could not parse: no document, only its text. */
static bool
reject_bad(rejects_t *r, const char *collection, const mn_cursor_bad_t *bad, mn_error_t *error)
{
   bson_t line = BSON_INITIALIZER;
   bool ok;

   BSON_APPEND_UTF8(&line, "collection", collection);
   BSON_APPEND_NULL(&line, "_id");
   BSON_APPEND_UTF8(&line, "path", "");
   BSON_APPEND_UTF8(&line, "reason", bad->reason ? bad->reason : "record does not parse");
   BSON_APPEND_UTF8(&line, "location", bad->location ? bad->location : "");
   if (bad->raw && bson_utf8_validate(bad->raw, strlen(bad->raw), false)) {
      BSON_APPEND_UTF8(&line, "raw", bad->raw);
   } else if (bad->raw) {
      BSON_APPEND_BINARY(&line, "raw_bytes", BSON_SUBTYPE_BINARY, (const uint8_t *)bad->raw,
                         (uint32_t)strlen(bad->raw));
   }
   ok = rejects_write(r, &line, error);
   bson_destroy(&line);
   return ok;
}

/* The short kind of a reject reason, for the statistics (no values in it). */
static const char *
reason_kind(const mn_rowset_t *rows, char *buf, size_t size)
{
   const char *path = "";
   const char *message = "";
   const char *colon;

   if (mn_rowset_n_rejects(rows) == 0) {
      return "rejected";
   }
   mn_rowset_reject(rows, 0, &path, &message);
   /* message is "document X, field "P": reason"; keep the field path without indexes and
    * the reason's first words up to a quote (values are always quoted). */
   colon = strstr(message, "\": ");
   {
      char clean[256];
      size_t o = 0;
      bool digits = false;
      for (const char *p = path; *p && o + 1 < sizeof clean; p++) {
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
      snprintf(buf, size, "%s: %s", *clean ? clean : "(document)", colon ? colon + 3 : message);
   }
   {
      /* values are always in double quotes: blank them out */
      char in[300];
      char *o = buf;
      char *end = buf + size - 6;
      bool in_quote = false;
      snprintf(in, sizeof in, "%s", buf);
      for (const char *p = in; *p && o < end; p++) {
         if (*p == '"') {
            if (!in_quote) {
               *o++ = '"';
               *o++ = '.';
               *o++ = '.';
               *o++ = '.';
            } else {
               *o++ = '"';
            }
            in_quote = !in_quote;
            continue;
         }
         if (!in_quote) {
            *o++ = *p;
         }
      }
      *o = '\0';
   }
   return buf;
}

static bool
prepass_ids(mn_source_t *src, const mn_mapping_t *m, mn_converter_t *conv, mn_error_t *error)
{
   for (size_t c = 0; c < mn_mapping_n_collections(m); c++) {
      const char *name = mn_mapping_collection_name(m, c);
      mn_find_opts_t opts = {.ids_only = true};
      mn_cursor_t *cur;
      mn_cursor_status_t st;
      const bson_t *doc;

      if (!mn_converter_is_referenced(conv, c)) {
         continue;
      }
      cur = mn_source_find(src, name, &opts, error);
      if (!cur) {
         if (error && error->domain == MN_ERROR_MONGO && error->code == MN_MONGO_NOT_FOUND) {
            continue;
         }
         return false;
      }
      while ((st = mn_cursor_next(cur, &doc)) == MN_CURSOR_DOC || st == MN_CURSOR_BAD) {
         bson_iter_t id;
         if (st == MN_CURSOR_DOC && bson_iter_init_find(&id, doc, "_id")) {
            mn_converter_add_source_id(conv, c, &id);
         }
      }
      if (st == MN_CURSOR_ERROR) {
         mn_cursor_error(cur, error);
         mn_cursor_destroy(cur);
         return false;
      }
      mn_cursor_destroy(cur);
   }
   return true;
}

static bool
record_run_start(PGconn *conn, const char *source, const char *mapping, char *run_id,
                 size_t size, mn_error_t *error)
{
   const char *params[2] = {source, mapping};
   PGresult *res = PQexecParams(conn,
                                "INSERT INTO mongonorm.runs (source, mapping) VALUES ($1, $2) "
                                "RETURNING id",
                                2, NULL, params, NULL, NULL, 0);
   bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;

   if (ok) {
      snprintf(run_id, size, "%s", PQgetvalue(res, 0, 0));
   } else {
      mn_pg__set_error(error, MN_PG_SCHEMA, conn, res, "could not record the run");
   }
   PQclear(res);
   return ok;
}

static void
record_run_end(PGconn *conn, const char *run_id, const char *outcome, const mn_stats_t *stats)
{
   char *json = mn_stats_to_json(stats);
   const char *params[3] = {run_id, outcome, json};
   PGresult *res = PQexecParams(conn,
                                "UPDATE mongonorm.runs SET finished_at = now(), outcome = $2, "
                                "report = $3::jsonb WHERE id = $1",
                                3, NULL, params, NULL, NULL, 0);
   PQclear(res);
   bson_free(json);
}

/* Flush and count the documents of the batch as loaded. */
static bool
flush(mn_pg_sink_t *sink, mn_collection_counts_t *counts, uint64_t *pending, mn_error_t *error)
{
   if (!mn_pg_sink_flush(sink, error)) {
      return false;
   }
   counts->loaded += *pending;
   *pending = 0;
   return true;
}

static bool
load_collection(mn_source_t *src, const mn_mapping_t *m, size_t c, mn_converter_t *conv,
                mn_pg_sink_t *sink, rejects_t *rejects, const mn_run_opts_t *opts,
                mn_stats_t *stats, mn_error_t *error)
{
   const char *name = mn_mapping_collection_name(m, c);
   mn_collection_counts_t *counts = mn_stats_collection(stats, name);
   size_t batch_docs = opts->batch_docs ? opts->batch_docs : 1000;
   size_t batch_bytes = opts->batch_bytes ? opts->batch_bytes : (size_t)16 << 20;
   mn_rowset_t *rows = mn_rowset_new();
   mn_cursor_t *cur = NULL;
   mn_cursor_status_t st;
   const bson_t *doc;
   uint64_t pending = 0;
   double started = now_seconds();
   bool ok = false;

   for (size_t t = 0; t < mn_mapping_n_tables(m); t++) {
      if (mn_mapping_table_collection(m, t) == c) {
         (void)mn_stats_table(stats, mn_mapping_table_name(m, t));
      }
   }
   if (!mn_pg_sink_begin_collection(sink, c, mn_converter_is_referenced(conv, c), conv, error)) {
      goto cleanup;
   }
   cur = mn_source_find(src, name, NULL, error);
   if (!cur) {
      if (error && error->domain == MN_ERROR_MONGO && error->code == MN_MONGO_NOT_FOUND) {
         /* a collection absent from a dump is empty, not an error */
         ok = true;
      }
      goto cleanup;
   }
   while ((st = mn_cursor_next(cur, &doc)) == MN_CURSOR_DOC || st == MN_CURSOR_BAD) {
      counts->read++;
      if (st == MN_CURSOR_BAD) {
         counts->rejected++;
         mn_stats_count_reject(stats, name, "(record): does not parse");
         if (!reject_bad(rejects, name, mn_cursor_bad(cur), error)) {
            goto cleanup;
         }
      } else if (mn_convert_document(conv, c, doc, rows)) {
         mn_pg_sink_add(sink, c, rows);
         pending++;
      } else {
         char kind[300];
         counts->rejected++;
         mn_stats_count_reject(stats, name, reason_kind(rows, kind, sizeof kind));
         if (!reject_document(rejects, m, name, doc, rows, error)) {
            goto cleanup;
         }
      }
      if (mn_pg_sink_pending_docs(sink) >= batch_docs ||
          mn_pg_sink_pending_bytes(sink) >= batch_bytes) {
         if (!flush(sink, counts, &pending, error)) {
            goto cleanup;
         }
      }
      if (opts->progress && (counts->read & 255) == 0) {
         uint64_t done, total;
         mn_cursor_progress(cur, &done, &total);
         opts->progress(opts->progress_ctx, name, counts->read, done, total);
      }
   }
   if (st == MN_CURSOR_ERROR) {
      mn_cursor_error(cur, error);
      goto cleanup;
   }
   if (!flush(sink, counts, &pending, error) || !mn_pg_sink_end_collection(sink, c, error)) {
      goto cleanup;
   }
   if (opts->progress) {
      uint64_t done, total;
      mn_cursor_progress(cur, &done, &total);
      opts->progress(opts->progress_ctx, name, counts->read, done, total);
   }
   ok = true;

cleanup:
   counts->seconds += now_seconds() - started;
   mn_cursor_destroy(cur);
   mn_rowset_destroy(rows);
   return ok;
}

bool
mn_run(const mn_run_opts_t *opts, mn_stats_t *stats, mn_error_t *error)
{
   mn_mapping_t *m = NULL;
   mn_source_t *src = NULL;
   PGconn *conn = NULL;
   mn_converter_t *conv = NULL;
   mn_pg_sink_t *sink = NULL;
   rejects_t rejects = {0};
   char run_id[32] = "";
   double started = now_seconds();
   bool ok = false;

   if (!(m = mn_mapping_load(opts->mapping_path, error))) {
      goto cleanup;
   }
   if (!(src = mn_source_open(opts->source, opts->database, error))) {
      goto cleanup;
   }
   if (!(conn = mn_pg_connect(opts->pg_conninfo, error))) {
      goto cleanup;
   }
   if (!mn_pg_lock(conn, error) || !mn_pg_check_mapping(conn, m, error)) {
      goto cleanup;
   }
   if (!record_run_start(conn, mn_source_describe(src), opts->mapping_path, run_id,
                         sizeof run_id, error)) {
      goto cleanup;
   }
   if (!rejects_open(&rejects, opts->reject_path, error)) {
      goto cleanup;
   }
   conv = mn_converter_new(m, stats);
   if (!prepass_ids(src, m, conv, error)) {
      goto cleanup;
   }
   if (!(sink = mn_pg_sink_new(conn, m, stats, error))) {
      goto cleanup;
   }
   for (size_t c = 0; c < mn_mapping_n_collections(m); c++) {
      if (!load_collection(src, m, c, conv, sink, &rejects, opts, stats, error)) {
         goto cleanup;
      }
   }
   if (!rejects_close(&rejects, error)) {
      goto cleanup;
   }
   ok = true;

cleanup:
   mn_stats_set_seconds(stats, now_seconds() - started);
   if (conn && *run_id) {
      record_run_end(conn, run_id, ok ? "success" : "failed", stats);
   }
   rejects_close(&rejects, NULL);
   mn_pg_sink_destroy(sink);
   mn_converter_destroy(conv);
   PQfinish(conn);
   mn_source_destroy(src);
   mn_mapping_destroy(m);
   return ok;
}
