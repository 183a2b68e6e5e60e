/*
 * state.c - the converter's own schema (see state.h).
 */
#include "pg/pg_private.h"
#include "util/uuidset.h"

#include <mongonorm/state.h>

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char STATE_SQL[] =
   "CREATE SCHEMA IF NOT EXISTS mongonorm;"
   "CREATE TABLE IF NOT EXISTS mongonorm.runs ("
   "  id bigserial PRIMARY KEY,"
   "  started_at timestamptz NOT NULL DEFAULT now(),"
   "  finished_at timestamptz,"
   "  source text NOT NULL,"
   "  mapping text NOT NULL,"
   "  outcome text NOT NULL DEFAULT 'running',"
   "  report jsonb);"
   "CREATE TABLE IF NOT EXISTS mongonorm.collections ("
   "  collection text PRIMARY KEY,"
   "  mapping_digest text,"
   "  watermark text,"
   "  updated_at timestamptz NOT NULL DEFAULT now());"
   "CREATE TABLE IF NOT EXISTS mongonorm.documents ("
   "  collection text NOT NULL,"
   "  doc_id uuid NOT NULL,"
   "  digest bytea NOT NULL,"
   "  row_counts int[] NOT NULL,"
   "  PRIMARY KEY (collection, doc_id));"
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS rejected boolean NOT NULL "
   "  DEFAULT false;"
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS reject_path text;"
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS reason text;"
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS context integer NOT NULL "
   "  DEFAULT 0;"
   "ALTER TABLE mongonorm.collections ADD COLUMN IF NOT EXISTS context_digest text;"
   "ALTER TABLE mongonorm.collections ADD COLUMN IF NOT EXISTS context integer NOT NULL "
   "  DEFAULT 0;"
   "ALTER TABLE mongonorm.collections ADD COLUMN IF NOT EXISTS full_read_at timestamptz;"
   "ALTER TABLE mongonorm.runs ADD COLUMN IF NOT EXISTS backend_pid integer;"
   "CREATE TABLE IF NOT EXISTS mongonorm.streams ("
   "  source text PRIMARY KEY,"
   "  resume_token text NOT NULL,"
   "  updated_at timestamptz NOT NULL DEFAULT now());"
   "CREATE TABLE IF NOT EXISTS mongonorm.deferred_refs ("
   "  collection text NOT NULL,"
   "  tbl text NOT NULL,"
   "  col text NOT NULL,"
   "  ref_tbl text NOT NULL,"
   "  row_id uuid NOT NULL,"
   "  ref_id uuid NOT NULL);"
   /* the phase record of a bulk load (bulk.c): what it dropped, each row deleted in the
    * transaction that puts its object back */
   "CREATE TABLE IF NOT EXISTS mongonorm.bulk_objects ("
   "  id serial PRIMARY KEY,"
   "  kind text NOT NULL CHECK (kind IN ('index', 'foreign key')),"
   "  table_schema text NOT NULL,"
   "  table_name text NOT NULL,"
   "  name text NOT NULL,"
   "  definition text NOT NULL,"
   "  comment text,"
   "  clustered boolean NOT NULL DEFAULT false,"
   "  added boolean NOT NULL DEFAULT false,"
   "  dropped_at timestamptz NOT NULL DEFAULT now())";

bool
mn_state_ensure_schema(PGconn *conn, mn_error_t *error)
{
   PGresult *res;
   bool ok;

   /* Concurrent CREATE ... IF NOT EXISTS can still race; the run lock is held here. */
   res = PQexec(conn, STATE_SQL);
   ok = PQresultStatus(res) == PGRES_COMMAND_OK;
   if (!ok) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not create the mongonorm schema");
   }
   PQclear(res);
   return ok;
}

struct mn_doc_state {
   GHashTable *entries; /* 16-byte id -> mn_doc_entry_t* */
   size_t n_tables;
};

static void
entry_free(gpointer p)
{
   mn_doc_entry_t *e = p;
   g_free(e->row_counts);
   g_free(e->reject_path);
   g_free(e->reason);
   g_free(e);
}

static int
hex_nibble(char c)
{
   if (c >= '0' && c <= '9') {
      return c - '0';
   }
   if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
   }
   return -1;
}

/* "{1,0,3}" -> counts (missing entries stay 0) */
static void
parse_counts(const char *text, int32_t *counts, size_t n)
{
   const char *p = text;
   size_t i = 0;

   if (*p == '{') {
      p++;
   }
   while (*p && *p != '}' && i < n) {
      char *end = NULL;
      long v = strtol(p, &end, 10);
      if (end == p) {
         break;
      }
      counts[i++] = (int32_t)v;
      p = end;
      if (*p == ',') {
         p++;
      }
   }
}

mn_doc_state_t *
mn_doc_state_load(PGconn *conn, const char *collection, size_t n_tables, bool with_digest,
                  mn_error_t *error)
{
   const char *params[1] = {collection};
   mn_doc_state_t *st;
   PGresult *res;

   /* Single-row mode keeps libpq from holding the whole result in memory twice. */
   if (!PQsendQueryParams(conn,
                          with_digest ? "SELECT doc_id, rejected, encode(digest, 'hex'), "
                                        "row_counts, reject_path, reason, context "
                                        "FROM mongonorm.documents WHERE collection = $1"
                                      : "SELECT doc_id, rejected FROM mongonorm.documents "
                                        "WHERE collection = $1",
                          1, NULL, params, NULL, NULL, 0) ||
       !PQsetSingleRowMode(conn)) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, NULL, "could not read the recorded documents");
      return NULL;
   }
   st = g_new0(mn_doc_state_t, 1);
   st->entries = mn_uuid__table_new(entry_free);
   st->n_tables = n_tables;
   while ((res = PQgetResult(conn))) {
      ExecStatusType status = PQresultStatus(res);
      if (status == PGRES_SINGLE_TUPLE) {
         mn_uuid_t id;
         mn_doc_entry_t *e = g_new0(mn_doc_entry_t, 1);
         if (!mn_uuid_parse(PQgetvalue(res, 0, 0), &id)) {
            entry_free(e);
            PQclear(res);
            continue;
         }
         e->rejected = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
         if (with_digest) {
            const char *hex = PQgetvalue(res, 0, 2);
            for (int i = 0; i < MN_DIGEST_SIZE && hex[2 * i] && hex[2 * i + 1]; i++) {
               e->digest[i] = (uint8_t)(hex_nibble(hex[2 * i]) << 4 | hex_nibble(hex[2 * i + 1]));
            }
            e->row_counts = g_new0(int32_t, n_tables ? n_tables : 1);
            parse_counts(PQgetvalue(res, 0, 3), e->row_counts, n_tables);
            e->context = (int32_t)strtol(PQgetvalue(res, 0, 6), NULL, 10);
            if (e->rejected && !PQgetisnull(res, 0, 5)) {
               e->reject_path = g_strdup(PQgetvalue(res, 0, 4));
               e->reason = g_strdup(PQgetvalue(res, 0, 5));
            }
         }
         g_hash_table_replace(st->entries, g_memdup2(id.bytes, 16), e);
      } else if (status != PGRES_TUPLES_OK) {
         mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not read the recorded documents");
         PQclear(res);
         while ((res = PQgetResult(conn))) {
            PQclear(res);
         }
         mn_doc_state_destroy(st);
         return NULL;
      }
      PQclear(res);
   }
   return st;
}

void
mn_doc_state_destroy(mn_doc_state_t *st)
{
   if (!st) {
      return;
   }
   g_hash_table_destroy(st->entries);
   g_free(st);
}

size_t
mn_doc_state_count(const mn_doc_state_t *st)
{
   return st ? g_hash_table_size(st->entries) : 0;
}

mn_doc_entry_t *
mn_doc_state_find(mn_doc_state_t *st, const mn_uuid_t *id)
{
   return st ? g_hash_table_lookup(st->entries, id->bytes) : NULL;
}

/* Call fn for every entry, or only for those not marked seen. */
static void
foreach_entry(mn_doc_state_t *st, bool unseen_only,
              void (*fn)(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *e), void *ctx)
{
   GHashTableIter it;
   gpointer k, v;

   if (!st) {
      return;
   }
   g_hash_table_iter_init(&it, st->entries);
   while (g_hash_table_iter_next(&it, &k, &v)) {
      mn_uuid_t id;
      if (unseen_only && ((mn_doc_entry_t *)v)->seen) {
         continue;
      }
      memcpy(id.bytes, k, 16);
      fn(ctx, &id, v);
   }
}

void
mn_doc_state_foreach(mn_doc_state_t *st,
                     void (*fn)(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *e), void *ctx)
{
   foreach_entry(st, false, fn, ctx);
}

void
mn_doc_state_foreach_unseen(mn_doc_state_t *st,
                            void (*fn)(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *e),
                            void *ctx)
{
   foreach_entry(st, true, fn, ctx);
}

bool
mn_state_get_collection(PGconn *conn, const char *collection, char **mapping_digest,
                        char **watermark, mn_error_t *error)
{
   const char *params[1] = {collection};
   PGresult *res =
      mn_pg__query(conn,
                   "SELECT mapping_digest, watermark FROM mongonorm.collections "
                   "WHERE collection = $1",
                   1, params, PGRES_TUPLES_OK, "could not read the collection record", error);

   *mapping_digest = NULL;
   *watermark = NULL;
   if (!res) {
      return false;
   }
   if (PQntuples(res) > 0) {
      if (!PQgetisnull(res, 0, 0)) {
         *mapping_digest = bson_strdup(PQgetvalue(res, 0, 0));
      }
      if (!PQgetisnull(res, 0, 1)) {
         *watermark = bson_strdup(PQgetvalue(res, 0, 1));
      }
   }
   PQclear(res);
   return true;
}

/* Run a command of mongonorm's own tables; false with error set ("<doing>: ..."). */
static bool
command(PGconn *conn, const char *sql, int n, const char *const *params, const char *doing,
        mn_error_t *error)
{
   PGresult *res = mn_pg__query(conn, sql, n, params, PGRES_COMMAND_OK, doing, error);

   PQclear(res);
   return res != NULL;
}

bool
mn_state_set_collection(PGconn *conn, const char *collection, const char *mapping_digest,
                        const char *watermark, mn_error_t *error)
{
   const char *params[3] = {collection, mapping_digest, watermark};

   return command(conn,
                  "INSERT INTO mongonorm.collections (collection, mapping_digest, watermark) "
                  "VALUES ($1, $2, $3) ON CONFLICT (collection) DO UPDATE SET "
                  "mapping_digest = EXCLUDED.mapping_digest, "
                  "watermark = COALESCE(EXCLUDED.watermark, mongonorm.collections.watermark), "
                  "updated_at = now()",
                  3, params, "could not record the collection", error);
}

bool
mn_state_full_read_age(PGconn *conn, const char *collection, double *seconds, mn_error_t *error)
{
   const char *params[1] = {collection};
   PGresult *res =
      mn_pg__query(conn,
                   "SELECT extract(epoch FROM now() - full_read_at) "
                   "FROM mongonorm.collections WHERE collection = $1",
                   1, params, PGRES_TUPLES_OK, "could not read the collection record", error);

   *seconds = -1;
   if (!res) {
      return false;
   }
   if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
      double age = g_ascii_strtod(PQgetvalue(res, 0, 0), NULL);
      *seconds = age < 0 ? 0 : age;
   }
   PQclear(res);
   return true;
}

bool
mn_state_set_full_read(PGconn *conn, const char *collection, double seconds_ago, mn_error_t *error)
{
   char ago[32];
   const char *params[2] = {collection, ago};

   g_ascii_formatd(ago, sizeof ago, "%.3f", seconds_ago > 0 ? seconds_ago : 0);
   return command(conn,
                  "UPDATE mongonorm.collections SET full_read_at = "
                  "now() - make_interval(secs => $2::double precision) "
                  "WHERE collection = $1",
                  2, params, "could not record the collection", error);
}

bool
mn_state_enter_context(PGconn *conn, const char *collection, const char *digest, int32_t *context,
                       bool *changed, mn_error_t *error)
{
   const char *params[2] = {collection, digest};
   PGresult *res = mn_pg__query(
      conn,
      "INSERT INTO mongonorm.collections AS c (collection, context_digest, context) "
      "VALUES ($1, $2, 1) ON CONFLICT (collection) DO UPDATE SET "
      "context_digest = EXCLUDED.context_digest, "
      "context = CASE WHEN c.context_digest IS NOT DISTINCT FROM EXCLUDED.context_digest "
      "THEN c.context ELSE c.context + 1 END "
      "RETURNING context, xmax = 0 OR context <> (SELECT context FROM mongonorm.collections "
      "WHERE collection = $1)",
      2, params, PGRES_TUPLES_OK, "could not record the collection", error);
   bool ok = res && PQntuples(res) == 1;

   if (ok) {
      *context = (int32_t)strtol(PQgetvalue(res, 0, 0), NULL, 10);
      *changed = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
   } else if (res) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not record the collection");
   }
   PQclear(res);
   return ok;
}

bool
mn_state_get_resume_token(PGconn *conn, const char *source, char **token, mn_error_t *error)
{
   const char *params[1] = {source};
   PGresult *res =
      mn_pg__query(conn, "SELECT resume_token FROM mongonorm.streams WHERE source = $1", 1, params,
                   PGRES_TUPLES_OK, "could not read the resume token", error);

   *token = NULL;
   if (!res) {
      return false;
   }
   if (PQntuples(res) > 0) {
      *token = bson_strdup(PQgetvalue(res, 0, 0));
   }
   PQclear(res);
   return true;
}

bool
mn_state_set_resume_token(PGconn *conn, const char *source, const char *token, mn_error_t *error)
{
   const char *params[2] = {source, token};

   return command(conn,
                  "INSERT INTO mongonorm.streams (source, resume_token) VALUES ($1, $2) "
                  "ON CONFLICT (source) DO UPDATE SET resume_token = EXCLUDED.resume_token, "
                  "updated_at = now()",
                  2, params, "could not store the resume token", error);
}

bool
mn_state_bulk_pending(PGconn *conn, mn_bulk_pending_t *pending, mn_error_t *error)
{
   /* status and check, which write nothing, may read a schema that no run of this version
    * has extended yet: no record table, nothing pending */
   PGresult *res =
      mn_pg__query(conn, "SELECT to_regclass('mongonorm.bulk_objects') IS NOT NULL", 0, NULL,
                   PGRES_TUPLES_OK, "could not read the bulk load record", error);
   bool exists = res && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

   memset(pending, 0, sizeof *pending);
   PQclear(res);
   if (!res || !exists) {
      return res != NULL;
   }
   res = mn_pg__query(conn,
                      "SELECT count(*) FILTER (WHERE kind = 'index'), "
                      "count(*) FILTER (WHERE kind = 'foreign key'), min(dropped_at)::text "
                      "FROM mongonorm.bulk_objects",
                      0, NULL, PGRES_TUPLES_OK, "could not read the bulk load record", error);
   if (!res) {
      return false;
   }
   pending->indexes = (size_t)g_ascii_strtoull(PQgetvalue(res, 0, 0), NULL, 10);
   pending->foreign_keys = (size_t)g_ascii_strtoull(PQgetvalue(res, 0, 1), NULL, 10);
   if (!PQgetisnull(res, 0, 2)) {
      snprintf(pending->since, sizeof pending->since, "%s", PQgetvalue(res, 0, 2));
   }
   PQclear(res);
   return true;
}
