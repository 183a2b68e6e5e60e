/*
 * status.c - recorded runs and pending differences (see status.h).
 */
#include "pg/pg_private.h"
#include "run/run_private.h"

#include <mongonorm/keys.h>
#include <mongonorm/mapping.h>
#include <mongonorm/source.h>
#include <mongonorm/state.h>
#include <mongonorm/status.h>

#include <glib.h>
#include <stdio.h>
#include <string.h>

/* {"bulk_load": {indexes, foreign_keys, since}} when a bulk load is in progress. */
static bool
append_bulk_load(PGconn *conn, bson_t *out, mn_error_t *error)
{
   mn_bulk_pending_t pending;
   bson_t bulk;

   if (!mn_state_bulk_pending(conn, &pending, error)) {
      return false;
   }
   if (pending.indexes + pending.foreign_keys > 0) {
      BSON_APPEND_DOCUMENT_BEGIN(out, "bulk_load", &bulk);
      BSON_APPEND_INT64(&bulk, "indexes", (int64_t)pending.indexes);
      BSON_APPEND_INT64(&bulk, "foreign_keys", (int64_t)pending.foreign_keys);
      BSON_APPEND_UTF8(&bulk, "since", pending.since);
      bson_append_document_end(out, &bulk);
   }
   return true;
}

bool
mn_status_runs(const char *conninfo, int limit, bson_t *out, mn_error_t *error)
{
   PGconn *conn = mn_pg_connect(conninfo, error);
   char lim[16];
   const char *params[1] = {lim};
   PGresult *res = NULL;
   bson_t runs;
   bool ok = false;

   if (!conn) {
      return false;
   }
   snprintf(lim, sizeof lim, "%d", limit);
   /* A run recorded as running is alive while its session holds the run lock (a run
    * recorded before backend_pid existed: while any session holds it); otherwise it was
    * killed or cut off by a server restart: interrupted, and how long it ran is unknown. */
   res = PQexecParams(
      conn,
      "SELECT r.id, r.started_at, r.finished_at, "
      "CASE WHEN r.finished_at IS NOT NULL OR live.held "
      "  THEN extract(epoch FROM coalesce(r.finished_at, now()) - r.started_at) END, "
      "r.source, r.mapping, "
      "CASE WHEN r.outcome = 'running' AND NOT live.held THEN 'interrupted' "
      "  ELSE r.outcome END, "
      "r.report::text "
      "FROM mongonorm.runs r CROSS JOIN LATERAL (SELECT r.outcome = 'running' AND EXISTS ("
      "  SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
      "  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "  AND (l.classid::bigint << 32 | l.objid::bigint) = " MN_PG_RUN_LOCK_KEY
      "  AND l.objsubid = 1 AND (p.pid IS NULL OR l.pid = p.pid)) AS held "
      /* read through to_jsonb: status, which writes nothing, also works on a schema a
       * run of this version has not extended yet */
      "  FROM (SELECT (to_jsonb(r) ->> 'backend_pid')::integer AS pid) p) live "
      "ORDER BY r.id DESC LIMIT $1",
      1, NULL, params, NULL, NULL, 0);
   if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      mn_pg__set_error(error, MN_PG_SCHEMA, conn, res, "could not read the recorded runs");
      goto cleanup;
   }
   BSON_APPEND_ARRAY_BEGIN(out, "runs", &runs);
   for (int r = 0; r < PQntuples(res); r++) {
      char key[16];
      bson_t run;
      snprintf(key, sizeof key, "%d", r);
      BSON_APPEND_DOCUMENT_BEGIN(&runs, key, &run);
      BSON_APPEND_INT64(&run, "id", g_ascii_strtoll(PQgetvalue(res, r, 0), NULL, 10));
      BSON_APPEND_UTF8(&run, "started_at", PQgetvalue(res, r, 1));
      if (!PQgetisnull(res, r, 2)) {
         BSON_APPEND_UTF8(&run, "finished_at", PQgetvalue(res, r, 2));
      }
      if (!PQgetisnull(res, r, 3)) {
         BSON_APPEND_DOUBLE(&run, "seconds", g_ascii_strtod(PQgetvalue(res, r, 3), NULL));
      }
      BSON_APPEND_UTF8(&run, "source", PQgetvalue(res, r, 4));
      BSON_APPEND_UTF8(&run, "mapping", PQgetvalue(res, r, 5));
      BSON_APPEND_UTF8(&run, "outcome", PQgetvalue(res, r, 6));
      if (!PQgetisnull(res, r, 7)) {
         bson_t *report = bson_new_from_json((const uint8_t *)PQgetvalue(res, r, 7), -1, NULL);
         if (report) {
            BSON_APPEND_DOCUMENT(&run, "report", report);
            bson_destroy(report);
         }
      }
      bson_append_document_end(&runs, &run);
   }
   bson_append_array_end(out, &runs);
   ok = append_bulk_load(conn, out, error);

cleanup:
   PQclear(res);
   PQfinish(conn);
   return ok;
}

typedef struct {
   int64_t deleted;
} unseen_t;

static void
count_unseen(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *entry)
{
   (void)id;
   (void)entry;
   ((unseen_t *)ctx)->deleted++;
}

/*
 * Whether a watermark read ({field: {$gte: recorded}}) returns the document: its field
 * holds a value of the recorded one's kind (dates, ObjectIds, numbers) that is not lower.
 * MongoDB's $gte compares within a type bracket, so anything else is not returned.
 */
static bool
past_watermark(const bson_t *doc, const char *field, const bson_t *recorded)
{
   bson_iter_t v, w;

   if (!field || !recorded || !bson_iter_init_find(&v, doc, field) ||
       !bson_iter_init_find(&w, recorded, "v")) {
      return false;
   }
   if (BSON_ITER_HOLDS_NUMBER(&v) && BSON_ITER_HOLDS_NUMBER(&w)) {
      return bson_iter_as_double(&v) >= bson_iter_as_double(&w);
   }
   if (bson_iter_type(&v) != bson_iter_type(&w)) {
      return false;
   }
   switch (bson_iter_type(&v)) {
   case BSON_TYPE_DATE_TIME: return bson_iter_date_time(&v) >= bson_iter_date_time(&w);
   case BSON_TYPE_OID: return bson_oid_compare(bson_iter_oid(&v), bson_iter_oid(&w)) >= 0;
   default: return false;
   }
}

/* What one collection's source holds against its records (pending_collection()). */
typedef struct {
   mn_doc_state_t *st;
   const char *wm_field;
   const bson_t *wm; /* the recorded watermark, {"v": value}, or NULL */
   int64_t source, new_docs, changed, rejected, same;
   int64_t missed; /* changed, but a watermark read would not return it */
} pending_t;

/* pending_collection(), one record: new, changed, rejected before, or the same. */
static bool
count_pending(void *ctx, mn_cursor_t *cur, mn_cursor_status_t cs, const bson_t *doc,
              mn_error_t *error)
{
   pending_t *pd = ctx;
   mn_uuid_t id;
   mn_doc_entry_t *e;
   uint8_t dg[MN_DIGEST_SIZE];

   (void)error;
   if (cs == MN_CURSOR_END) {
      return true;
   }
   pd->source++;
   if (!mn_run__doc_id(doc, NULL, &id)) {
      pd->new_docs++;
      return true;
   }
   e = mn_doc_state_find(pd->st, &id);
   if (!e) {
      pd->new_docs++;
      return true;
   }
   e->seen = true;
   mn_cursor_digest(cur, doc, dg);
   if (memcmp(dg, e->digest, MN_DIGEST_SIZE) != 0) {
      pd->changed++;
      if (pd->wm && !past_watermark(doc, pd->wm_field, pd->wm)) {
         pd->missed++;
      }
   } else if (e->rejected) {
      pd->rejected++;
   } else {
      pd->same++;
   }
   return true;
}

/* The counts of one collection (pending_t) as its document in colls. */
static bool
append_pending(PGconn *conn, const char *name, const pending_t *pd, bson_t *colls,
               mn_error_t *error)
{
   unseen_t unseen = {0};
   bson_t d;

   mn_doc_state_foreach_unseen(pd->st, count_unseen, &unseen);
   BSON_APPEND_DOCUMENT_BEGIN(colls, name, &d);
   BSON_APPEND_INT64(&d, "source", pd->source);
   BSON_APPEND_INT64(&d, "new", pd->new_docs);
   BSON_APPEND_INT64(&d, "changed", pd->changed);
   BSON_APPEND_INT64(&d, "deleted", unseen.deleted);
   BSON_APPEND_INT64(&d, "rejected_before", pd->rejected);
   BSON_APPEND_INT64(&d, "unchanged", pd->same);
   if (pd->wm_field) {
      double age = -1;
      BSON_APPEND_UTF8(&d, "watermark_field", pd->wm_field);
      BSON_APPEND_INT64(&d, "changed_behind_watermark", pd->missed);
      if (!mn_state_full_read_age(conn, name, &age, error)) {
         return false;
      }
      if (age >= 0) {
         BSON_APPEND_DOUBLE(&d, "seconds_since_full_read", age);
      }
   }
   bson_append_document_end(colls, &d);
   return true;
}

/*
 * One collection of mn_status_pending(): its records and recorded watermark, a read of
 * its documents (an `optional` collection the source lacks is empty), and its counts appended to
 * colls.  *any_changed_mapping is set when its records were written under another
 * mapping.
 */
static bool
pending_collection(PGconn *conn, mn_source_t *src, const mn_mapping_t *m, size_t c, bson_t *colls,
                   bool *any_changed_mapping, mn_error_t *error)
{
   const char *name = mn_mapping_collection_name(m, c);
   char *digest = NULL, *watermark = NULL;
   pending_t pd = {.wm_field = mn_mapping_watermark(m, c)};
   bson_t *wm = NULL;
   bool ok;

   if (!mn_state_get_collection(conn, name, &digest, &watermark, error)) {
      return false;
   }
   if (!digest || strcmp(digest, mn_mapping_digest(m)) != 0) {
      *any_changed_mapping = *any_changed_mapping || digest != NULL;
   }
   bson_free(digest);
   if (pd.wm_field && watermark) {
      wm = bson_new_from_json((const uint8_t *)watermark, -1, NULL);
   }
   bson_free(watermark);
   pd.wm = wm;
   pd.st = mn_doc_state_load(conn, name, mn_mapping_n_tables(m), true, error);
   ok = pd.st && mn_run__read_collection(src, name, NULL, true, count_pending, &pd, error) &&
        append_pending(conn, name, &pd, colls, error);
   if (wm) {
      bson_destroy(wm);
   }
   mn_doc_state_destroy(pd.st);
   return ok;
}

bool
mn_status_pending(const char *conninfo, const char *source, const char *database,
                  const char *mapping_path, bson_t *out, mn_error_t *error)
{
   mn_mapping_t *m = NULL;
   mn_source_t *src = NULL;
   PGconn *conn = NULL;
   bson_t colls;
   bool any_changed_mapping = false;
   bool ok = false;

   if (!(m = mn_mapping_load(mapping_path, error)) ||
       !(src = mn_source_open(source, database, error)) ||
       !mn_run__check_collections(src, m, "a run would stop there, writing nothing", error) ||
       !(conn = mn_pg_connect(conninfo, error)) ||
       !mn_pg_exec(conn, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", error)) {
      goto cleanup;
   }
   BSON_APPEND_DOCUMENT_BEGIN(out, "collections", &colls);
   for (size_t c = 0; c < mn_mapping_n_collections(m); c++) {
      if (!pending_collection(conn, src, m, c, &colls, &any_changed_mapping, error)) {
         goto cleanup;
      }
   }
   bson_append_document_end(out, &colls);
   BSON_APPEND_BOOL(out, "mapping_changed", any_changed_mapping);
   ok = true;

cleanup:
   PQfinish(conn);
   mn_source_destroy(src);
   mn_mapping_destroy(m);
   return ok;
}
