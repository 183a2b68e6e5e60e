/*
 * state.c - the converter's own schema (see state.h).
 */
#include "pg/pg_private.h"
#include "util/uuidset.h"

#include <mongonorm/state.h>

#include <errno.h>
#include <glib.h>
#include <poll.h>
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
   "  row_counts int[],"
   "  PRIMARY KEY (collection, doc_id));"
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS rejected boolean NOT NULL "
   "  DEFAULT false;"
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS reject_path text;"
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS reason text;"
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS context integer NOT NULL "
   "  DEFAULT 0;"
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS rows_digest bytea;"
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS refs bytea;"
   /* the row counts packed (mn_state_pack_counts()); records written before keep their
    * int[] and no counts */
   "ALTER TABLE mongonorm.documents ADD COLUMN IF NOT EXISTS counts bytea;"
   "ALTER TABLE mongonorm.documents ALTER COLUMN row_counts DROP NOT NULL;"
   "ALTER TABLE mongonorm.collections ADD COLUMN IF NOT EXISTS context_mapping text;"
   "ALTER TABLE mongonorm.collections ADD COLUMN IF NOT EXISTS mapping_context integer;"
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

/*
 * Run DDL (CREATE ... IF NOT EXISTS, ADD COLUMN IF NOT EXISTS) only when the objects it
 * makes are not there as it makes them.  PostgreSQL checks those statements against the
 * owner even when nothing is to be done, so running them every time would make every
 * loading role the owner of mongonorm's schema.  The DDL leaves a mark, a comment on
 * `object` (a schema or table: `kind` is "SCHEMA" or "TABLE") holding a digest of the
 * DDL's text; when the comment is that mark, nothing runs.  A new version of the DDL has
 * another digest, so its first run (as the owner) applies it.
 */
static bool
ensure_ddl(PGconn *conn, const char *ddl, const char *kind, const char *object, const char *catalog,
           const char *doing, mn_error_t *error)
{
   uint8_t dg[MN_DIGEST_SIZE];
   char mark[64], *sql;
   const char *params[3] = {mark, object, catalog};
   PGresult *res;
   bool current, ok;

   mn_digest(ddl, strlen(ddl), dg);
   memcpy(mark, "mongonorm ", 10);
   for (int i = 0; i < 16; i++) {
      snprintf(mark + 10 + 2 * i, 3, "%02x", dg[i]);
   }
   /* to_regclass / to_regnamespace give NULL (no error) for what does not exist */
   res = mn_pg__query(conn,
                      strcmp(kind, "SCHEMA") == 0
                         ? "SELECT obj_description(to_regnamespace($2)::oid, $3) = $1"
                         : "SELECT obj_description(to_regclass($2)::oid, $3) = $1",
                      3, params, PGRES_TUPLES_OK, doing, error);
   if (!res) {
      return false;
   }
   current = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
   PQclear(res);
   if (current) {
      return true;
   }
   /* Concurrent CREATE ... IF NOT EXISTS can still race; the run lock is held here. */
   sql = g_strdup_printf("%s; COMMENT ON %s %s IS '%s'", ddl, kind, object, mark);
   res = PQexec(conn, sql);
   ok = PQresultStatus(res) == PGRES_COMMAND_OK;
   if (!ok) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, doing);
   }
   PQclear(res);
   g_free(sql);
   return ok;
}

bool
mn_state_ensure_schema(PGconn *conn, mn_error_t *error)
{
   return ensure_ddl(conn, STATE_SQL, "SCHEMA", "mongonorm", "pg_namespace",
                     "could not create the mongonorm schema", error);
}

/*
 * The recorded documents of a collection, read with one binary COPY: no text to parse
 * (hex digests, array literals) and no PGresult per row (single-row mode allocated one
 * for each of a re-run's 140,000 records).  The entries live in blocks of ENTRY_BLOCK,
 * each with its id and row counts beside it, so the set is freed in a few calls.
 */
typedef struct {
   mn_doc_entry_t e;
   uint8_t id[16];
   uint32_t seq;     /* its place in the blocks: the seq-th record read */
   int32_t counts[]; /* n_tables, when the digests were asked for */
} rec_t;

#define ENTRY_BLOCK 4096

struct mn_doc_state {
   mn_idmap_t entries; /* rec_t.id -> the rec_t (in blocks), open addressing: a lookup per
                          document read, where a GHashTable's arrays of hashes, keys and
                          values cost a cache miss each */
   size_t count;       /* records (each in one slot of the blocks, in the COPY's order) */
   size_t hint;        /* the seq of the record after the one found last: a source read
                          in the order it was loaded asks for the records in their order,
                          found without a probe of `entries` (a cache miss each) */
   size_t n_tables;
   bool with_digest;
   size_t rec_size;       /* bytes of one rec_t with its counts, aligned */
   GPtrArray *blocks;     /* ENTRY_BLOCK records each */
   size_t used;           /* records used in the last block */
   GStringChunk *strings; /* reject paths and reasons */
};

static rec_t *
new_rec(mn_doc_state_t *st)
{
   rec_t *r;

   if (st->blocks->len == 0 || st->used == ENTRY_BLOCK) {
      g_ptr_array_add(st->blocks, g_malloc(st->rec_size * ENTRY_BLOCK));
      st->used = 0;
   }
   r = (rec_t *)((char *)g_ptr_array_index(st->blocks, st->blocks->len - 1) +
                 st->rec_size * st->used++);
   memset(r, 0, st->rec_size);
   r->seq = (uint32_t)((st->blocks->len - 1) * ENTRY_BLOCK + st->used - 1);
   return r;
}

static uint32_t
be32(const char *p)
{
   const unsigned char *u = (const unsigned char *)p;
   return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* A binary int4[] into counts (missing entries stay 0); false when it is not one. */
static bool
parse_counts(const char *a, int32_t len, int32_t *counts, size_t n)
{
   const char *end = a + len;
   uint32_t ndim, items;

   if (len < 12 || (ndim = be32(a)) > 1) {
      return false;
   }
   if (ndim == 0) {
      return true; /* '{}' */
   }
   if (len < 20) {
      return false;
   }
   items = be32(a + 12);
   a += 20;
   for (uint32_t i = 0; i < items; i++) {
      int32_t vlen;
      if (end - a < 4) {
         return false;
      }
      vlen = (int32_t)be32(a);
      a += 4;
      if (vlen < 0) {
         continue; /* NULL: 0 */
      }
      if (vlen != 4 || end - a < 4) {
         return false;
      }
      if (i < n) {
         counts[i] = (int32_t)be32(a);
      }
      a += 4;
   }
   return true;
}

/* One field of a binary COPY row: its bytes and length (-1: NULL); false past the end. */
static bool
next_field(const char **p, const char *end, const char **value, int32_t *len)
{
   if (end - *p < 4) {
      return false;
   }
   *len = (int32_t)be32(*p);
   *p += 4;
   *value = *p;
   if (*len > 0) {
      if (end - *p < *len) {
         return false;
      }
      *p += *len;
   }
   return true;
}

/* Index every record read, in one table of the size they need (no growth, no rehash:
 * building it as they came was a tenth of a re-run that changed little).  false when an id
 * is there twice, which the records' primary key rules out: a table that is not what
 * this version made. */
static bool
index_records(mn_doc_state_t *st)
{
   mn_idmap__reserve(&st->entries, st->count);
   for (guint b = 0; b < st->blocks->len; b++) {
      char *block = g_ptr_array_index(st->blocks, b);
      size_t n = b + 1 == st->blocks->len ? st->used : ENTRY_BLOCK;
      for (size_t i = 0; i < n; i++) {
         rec_t *r = (rec_t *)(block + st->rec_size * i);
         if (mn_idmap__add(&st->entries, r->id, (uint64_t)(uintptr_t)r) != 0) {
            return false;
         }
      }
   }
   return true;
}

size_t
mn_state_pack_counts(const int32_t *counts, size_t n, uint8_t *out)
{
   size_t at = 0;

   for (size_t t = 0; t < n; t++) {
      uint32_t v = counts && counts[t] > 0 ? (uint32_t)counts[t] : 0;
      while (v >= 0x80) {
         out[at++] = (uint8_t)(v | 0x80);
         v >>= 7;
      }
      out[at++] = (uint8_t)v;
   }
   return at;
}

bool
mn_state_unpack_counts(const uint8_t *p, size_t len, int32_t *counts, size_t n)
{
   const uint8_t *end = p + len;

   memset(counts, 0, n * sizeof *counts);
   for (size_t t = 0; p < end; t++) {
      uint64_t v = 0;
      unsigned shift = 0;
      uint8_t b;
      if (t == n) {
         return false;
      }
      do {
         if (p == end || shift > 28) {
            return false;
         }
         b = *p++;
         v |= (uint64_t)(b & 0x7f) << shift;
         shift += 7;
      } while (b & 0x80);
      if (v > INT32_MAX) {
         return false;
      }
      counts[t] = (int32_t)v;
   }
   return true;
}

/* The row counts of a record: the int[] (fields[4]) when it has one, written by a
 * mongonorm from before `counts` (also over a record of this one's: it leaves `counts`
 * as it was), else its packed counts (fields[3]), this mongonorm writing NULL there. */
static bool
record_counts(const mn_doc_state_t *st, const char *const *v, const int32_t *len, int32_t *counts)
{
   if (len[4] >= 0) {
      return parse_counts(v[4], len[4], counts, st->n_tables);
   }
   return len[3] < 0 ||
          mn_state_unpack_counts((const uint8_t *)v[3], (size_t)len[3], counts, st->n_tables);
}

/* One row of the COPY: doc_id, rejected[, digest, counts, row_counts, reject_path,
 * reason, context, rows_digest, refs] into a new record.  false: not such a row. */
static bool
parse_row(mn_doc_state_t *st, const char *p, const char *end)
{
   const char *v[10];
   int32_t len[10];
   int nf = st->with_digest ? 10 : 2;
   rec_t *r;

   if (end - p < 2 || (int)(((unsigned char)p[0] << 8) | (unsigned char)p[1]) != nf) {
      return false;
   }
   p += 2;
   for (int i = 0; i < nf; i++) {
      if (!next_field(&p, end, &v[i], &len[i])) {
         return false;
      }
   }
   if (len[0] != 16 || len[1] != 1) {
      return false;
   }
   r = new_rec(st);
   memcpy(r->id, v[0], 16);
   r->e.rejected = v[1][0] != 0;
   if (st->with_digest) {
      memcpy(r->e.digest, v[2],
             len[2] < MN_DIGEST_SIZE ? (size_t)(len[2] > 0 ? len[2] : 0) : MN_DIGEST_SIZE);
      r->e.row_counts = r->counts;
      if (!record_counts(st, v, len, r->counts)) {
         return false;
      }
      r->e.context = len[7] == 4 ? (int32_t)be32(v[7]) : 0;
      /* an older record's digest of all tables at once (32 bytes) is not of this format */
      r->e.has_rows_digest = len[8] > 0 && len[8] % MN_ROWS_DIGEST_ENTRY == 0;
      if (r->e.has_rows_digest) {
         r->e.rows_digest = (const uint8_t *)g_string_chunk_insert_len(st->strings, v[8], len[8]);
         r->e.rows_digest_len = (size_t)len[8];
      }
      r->e.has_refs = len[9] >= 0;
      if (len[9] > 0) {
         r->e.refs = (const uint8_t *)g_string_chunk_insert_len(st->strings, v[9], len[9]);
         r->e.refs_len = (size_t)len[9];
      }
      if (r->e.rejected && len[6] >= 0) {
         r->e.reject_path =
            g_string_chunk_insert_len(st->strings, len[5] > 0 ? v[5] : "", len[5] > 0 ? len[5] : 0);
         r->e.reason = g_string_chunk_insert_len(st->strings, v[6], len[6]);
      }
   }
   st->count++;
   return true;
}

/* The rows of one CopyData message; the first one starts with the binary header. */
static bool
parse_copy_data(mn_doc_state_t *st, const char *buf, int n, bool *header_done)
{
   static const char sig[11] = "PGCOPY\n\377\r\n";
   const char *p = buf, *end = buf + n;

   if (!*header_done) {
      if (n < 19 || memcmp(p, sig, 11) != 0) {
         return false;
      }
      p += 19 + be32(p + 15); /* signature, flags, header extension */
      *header_done = true;
   }
   if (p < end && end - p == 2 && p[0] == '\377' && p[1] == '\377') {
      return true; /* the trailer */
   }
   return p >= end || parse_row(st, p, end);
}

static mn_doc_state_t *
doc_state_new(size_t n_tables, bool with_digest)
{
   mn_doc_state_t *st = g_new0(mn_doc_state_t, 1);
   size_t align = sizeof(void *);

   mn_idmap__init(&st->entries);
   st->n_tables = n_tables;
   st->with_digest = with_digest;
   st->rec_size = sizeof(rec_t) + (with_digest ? n_tables * sizeof(int32_t) : 0);
   st->rec_size = (st->rec_size + align - 1) / align * align;
   st->blocks = g_ptr_array_new_with_free_func(g_free);
   st->strings = g_string_chunk_new(4096);
   return st;
}

mn_doc_state_t *
mn_doc_state_load(PGconn *conn, const char *collection, size_t n_tables, bool with_digest,
                  mn_error_t *error)
{
   char *lit = PQescapeLiteral(conn, collection, strlen(collection));
   char *sql = NULL;
   mn_doc_state_t *st = NULL;
   PGresult *res = NULL;
   bool header_done = false, ok = false;
   char *buf = NULL;
   int n;

   if (!lit) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, NULL, "could not read the recorded documents");
      return NULL;
   }
   sql = g_strdup_printf(
      "COPY (SELECT doc_id, rejected%s FROM mongonorm.documents "
      "WHERE collection = %s) TO STDOUT (FORMAT binary)",
      with_digest ? ", digest, counts, row_counts, reject_path, reason, context, rows_digest, refs"
                  : "",
      lit);
   PQfreemem(lit);
   res = PQexec(conn, sql);
   if (PQresultStatus(res) != PGRES_COPY_OUT) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not read the recorded documents");
      goto cleanup;
   }
   PQclear(res);
   res = NULL;
   st = doc_state_new(n_tables, with_digest);
   ok = true;
   while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
      ok = ok && parse_copy_data(st, buf, n, &header_done);
      PQfreemem(buf);
   }
   res = PQgetResult(conn);
   if (n == -2 || PQresultStatus(res) != PGRES_COMMAND_OK) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not read the recorded documents");
      ok = false;
   } else if (!ok) {
      mn_set_error(error, MN_ERROR_PG, MN_PG_QUERY,
                   "could not read the recorded documents: unexpected COPY data");
   } else if (!(ok = index_records(st))) {
      mn_set_error(error, MN_ERROR_PG, MN_PG_QUERY,
                   "could not read the recorded documents: a document of collection \"%s\" is "
                   "recorded twice (mongonorm.documents has lost its primary key?)",
                   collection);
   }
cleanup:
   PQclear(res);
   while ((res = PQgetResult(conn))) {
      PQclear(res);
   }
   g_free(sql);
   if (!ok) {
      mn_doc_state_destroy(st);
      st = NULL;
   }
   return st;
}

void
mn_doc_state_destroy(mn_doc_state_t *st)
{
   if (!st) {
      return;
   }
   mn_idmap__cleanup(&st->entries);
   g_ptr_array_free(st->blocks, TRUE);
   g_string_chunk_free(st->strings);
   g_free(st);
}

size_t
mn_doc_state_count(const mn_doc_state_t *st)
{
   return st ? st->count : 0;
}

mn_doc_entry_t *
mn_doc_state_find(mn_doc_state_t *st, const mn_uuid_t *id)
{
   rec_t *r = NULL;

   if (!st) {
      return NULL;
   }
   if (st->hint < st->count) {
      r = (rec_t *)((char *)g_ptr_array_index(st->blocks, st->hint / ENTRY_BLOCK) +
                    st->rec_size * (st->hint % ENTRY_BLOCK));
      if (memcmp(r->id, id->bytes, 16) != 0) {
         r = NULL;
      }
   }
   if (!r) {
      r = (rec_t *)(uintptr_t)mn_idmap__get(&st->entries, id->bytes);
   }
   if (r) {
      st->hint = (size_t)r->seq + 1;
   }
   return r ? &r->e : NULL;
}

/* Call fn for every entry, or only for those not marked seen. */
static void
foreach_entry(mn_doc_state_t *st, bool unseen_only,
              void (*fn)(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *e), void *ctx)
{
   if (!st) {
      return;
   }
   for (guint b = 0; b < st->blocks->len; b++) {
      char *block = g_ptr_array_index(st->blocks, b);
      size_t n = b + 1 == st->blocks->len ? st->used : ENTRY_BLOCK;
      for (size_t i = 0; i < n; i++) {
         rec_t *r = (rec_t *)(block + st->rec_size * i);
         mn_uuid_t id;
         if (unseen_only && r->e.seen) {
            continue;
         }
         memcpy(id.bytes, r->id, 16);
         fn(ctx, &id, &r->e);
      }
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

/* Run an upsert or update of a collection's record returning one row: its first column as
 * a number into *number, its second (when flag is not NULL) as a boolean into *flag. */
static bool
collection_row(PGconn *conn, const char *sql, const char *const params[2], int32_t *number,
               bool *flag, mn_error_t *error)
{
   PGresult *res =
      mn_pg__query(conn, sql, 2, params, PGRES_TUPLES_OK, "could not record the collection", error);
   bool ok = res && PQntuples(res) == 1;

   if (ok) {
      *number = (int32_t)strtol(PQgetvalue(res, 0, 0), NULL, 10);
      if (flag) {
         *flag = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
      }
   } else if (res) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not record the collection");
   }
   PQclear(res);
   return ok;
}

bool
mn_state_enter_context(PGconn *conn, const char *collection, const char *digest, int32_t *context,
                       bool *changed, mn_error_t *error)
{
   const char *params[2] = {collection, digest};

   return collection_row(
      conn,
      "INSERT INTO mongonorm.collections AS c (collection, context_digest, context) "
      "VALUES ($1, $2, 1) ON CONFLICT (collection) DO UPDATE SET "
      "context_digest = EXCLUDED.context_digest, "
      "context = CASE WHEN c.context_digest IS NOT DISTINCT FROM EXCLUDED.context_digest "
      "THEN c.context ELSE c.context + 1 END "
      "RETURNING context, xmax = 0 OR context <> (SELECT context FROM mongonorm.collections "
      "WHERE collection = $1)",
      params, context, changed, error);
}

bool
mn_state_mapping_context(PGconn *conn, const char *collection, const char *mapping, int32_t *first,
                         mn_error_t *error)
{
   const char *params[2] = {collection, mapping};

   /* the right-hand sides of SET read the row as it was */
   return collection_row(
      conn,
      "UPDATE mongonorm.collections SET mapping_context = CASE WHEN context_mapping IS NOT "
      "DISTINCT FROM $2 AND mapping_context IS NOT NULL THEN mapping_context ELSE context END, "
      "context_mapping = $2 WHERE collection = $1 RETURNING mapping_context",
      params, first, NULL, error);
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

/* ---- the work table of shared loads (run --jobs, --join) ---- */

static const char WORK_SQL[] = "CREATE SCHEMA IF NOT EXISTS mongonorm;"
                               "CREATE TABLE IF NOT EXISTS mongonorm.work ("
                               "  load text NOT NULL,"
                               "  generation integer NOT NULL,"
                               "  unit integer NOT NULL,"
                               "  collections text[] NOT NULL,"
                               "  depends_on integer[] NOT NULL,"
                               "  mapping_digest text NOT NULL,"
                               "  state text NOT NULL DEFAULT 'pending'"
                               "    CHECK (state IN ('pending', 'done')),"
                               "  worker text,"
                               "  created_at timestamptz NOT NULL DEFAULT now(),"
                               "  claimed_at timestamptz,"
                               "  done_at timestamptz,"
                               "  finished_by text,"
                               "  PRIMARY KEY (load, generation, unit));"
                               /* a table made before finished_by: the column added only then
                                * (ALTER TABLE would wait for every claim in progress) */
                               "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute "
                               "WHERE attrelid = 'mongonorm.work'::regclass "
                               "AND attname = 'finished_by' AND NOT attisdropped) THEN "
                               "ALTER TABLE mongonorm.work ADD COLUMN finished_by text; "
                               "END IF; END $$";

/* The processes that hold a shared load's lock, other than this session: SQL over $1, the
 * load's name. */
#define LOAD_HOLDERS                                                                               \
   "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "                     \
   "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "            \
   "AND l.classid = " MN_STATE_LOAD_LOCK_CLASS " AND l.objsubid = 2 "                              \
   "AND l.pid <> pg_backend_pid() "

bool
mn_state_work_ensure(PGconn *conn, mn_error_t *error)
{
   return ensure_ddl(conn, WORK_SQL, "TABLE", "mongonorm.work", "pg_class",
                     "could not create the work table", error);
}

/* End the open transaction: COMMIT when ok, else ROLLBACK (its error is already set). */
static bool
end_transaction(PGconn *conn, bool ok, mn_error_t *error)
{
   if (!ok) {
      PQclear(PQexec(conn, "ROLLBACK"));
      return false;
   }
   return command(conn, "COMMIT", 0, NULL, "could not commit", error);
}

/* A shared load other than `load` whose processes are alive: false with MN_PG_LOCKED set,
 * naming it when the work table does. */
static bool
no_other_load(PGconn *conn, const char *load, mn_error_t *error)
{
   const char *params[1] = {load};
   PGresult *res = mn_pg__query(
      conn,
      "SELECT (SELECT min(w.load) FROM mongonorm.work w WHERE hashtext(w.load)::oid = h.objid), "
      "  h.objid FROM (SELECT l.objid FROM pg_locks l WHERE l.locktype = 'advisory' "
      "  AND l.granted AND l.database = (SELECT oid FROM pg_database "
      "  WHERE datname = current_database()) AND l.classid = " MN_STATE_LOAD_LOCK_CLASS
      "  AND l.objsubid = 2 AND l.objid <> hashtext($1)::oid LIMIT 1) h",
      1, params, PGRES_TUPLES_OK, "could not take the run lock", error);
   bool ok = res != NULL && PQntuples(res) == 0;

   if (res && !ok) {
      mn_set_error(error, MN_ERROR_PG, MN_PG_LOCKED,
                   "another shared load (\"%s\") is running on this target database: start "
                   "this process with --join %s to share it, or when it has finished",
                   PQgetisnull(res, 0, 0) ? "?" : PQgetvalue(res, 0, 0),
                   PQgetisnull(res, 0, 0) ? "NAME" : PQgetvalue(res, 0, 0));
   }
   PQclear(res);
   return ok;
}

/* Run a query whose rows do not matter; false with error set ("<doing>: ..."). */
static bool
select_ok(PGconn *conn, const char *sql, int n, const char *const *params, const char *doing,
          mn_error_t *error)
{
   PGresult *res = mn_pg__query(conn, sql, n, params, PGRES_TUPLES_OK, doing, error);

   PQclear(res);
   return res != NULL;
}

/* pg_try_advisory_lock_shared() of the run lock: false with MN_PG_LOCKED when an ordinary
 * run holds it. */
static bool
run_lock_shared(PGconn *conn, mn_error_t *error)
{
   PGresult *res = mn_pg__query(conn, "SELECT pg_try_advisory_lock_shared(" MN_PG_RUN_LOCK_KEY ")",
                                0, NULL, PGRES_TUPLES_OK, "could not take the run lock", error);
   bool ok = res && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

   if (res && !ok) {
      mn_set_error(error, MN_ERROR_PG, MN_PG_LOCKED,
                   "another mongonorm run is using this target database");
   }
   PQclear(res);
   return ok;
}

bool
mn_state_work_lock(PGconn *conn, const char *load, mn_error_t *error)
{
   const char *params[1] = {load};
   bool ok, run_locked = false;

   if (!command(conn, "BEGIN", 0, NULL, "could not take the run lock", error)) {
      return false;
   }
   /* the work table is created here, under the lock: no_other_load() reads it */
   ok =
      select_ok(conn, "SELECT pg_advisory_xact_lock(" MN_STATE_WORK_LOCK_KEY ")", 0, NULL,
                "could not take the run lock", error) &&
      mn_state_work_ensure(conn, error) && no_other_load(conn, load, error) &&
      (run_locked = run_lock_shared(conn, error)) &&
      /* session locks outlive the transaction; a shared one never waits */
      select_ok(conn, "SELECT pg_advisory_lock_shared(" MN_STATE_LOAD_LOCK_CLASS ", hashtext($1))",
                1, params, "could not take the run lock", error);
   if (!end_transaction(conn, ok, error)) {
      if (run_locked) {
         mn_state_work_unlock(conn, load);
      }
      return false;
   }
   return true;
}

void
mn_state_work_unlock(PGconn *conn, const char *load)
{
   const char *params[1] = {load};

   if (conn && PQstatus(conn) == CONNECTION_OK) {
      PQclear(PQexec(conn, "ROLLBACK"));
      PQclear(PQexecParams(conn,
                           "SELECT pg_advisory_unlock_shared(" MN_PG_RUN_LOCK_KEY "), "
                           "pg_advisory_unlock_shared(" MN_STATE_LOAD_LOCK_CLASS ", hashtext($1))",
                           1, NULL, params, NULL, NULL, 0));
   }
}

/* Record the units of a new generation (the load's older rows go). */
static bool
insert_units(PGconn *conn, const char *load, int32_t generation, const char *digest,
             const mn_work_unit_t *units, size_t n_units, mn_error_t *error)
{
   char gen[16];
   const char *params[1] = {load};
   bool ok = command(conn, "DELETE FROM mongonorm.work WHERE load = $1", 1, params,
                     "could not record the units of work", error);

   snprintf(gen, sizeof gen, "%d", (int)generation);
   for (size_t u = 0; ok && u < n_units; u++) {
      bson_t names = BSON_INITIALIZER;
      GString *deps = g_string_new("{");
      char unit[24], *json;
      const char *p[6];

      for (size_t i = 0; i < units[u].n_collections; i++) {
         char key[24];
         snprintf(key, sizeof key, "%zu", i);
         BSON_APPEND_UTF8(&names, key, units[u].collections[i]);
      }
      for (size_t i = 0; i < units[u].n_depends; i++) {
         g_string_append_printf(deps, "%s%d", i ? "," : "", units[u].depends_on[i]);
      }
      g_string_append_c(deps, '}');
      snprintf(unit, sizeof unit, "%zu", u);
      json = bson_array_as_json(&names, NULL);
      p[0] = load, p[1] = gen, p[2] = unit, p[3] = json, p[4] = deps->str, p[5] = digest;
      ok = command(conn,
                   "INSERT INTO mongonorm.work (load, generation, unit, collections, depends_on, "
                   "mapping_digest) VALUES ($1, $2, $3, "
                   "ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::integer[], $6)",
                   6, p, "could not record the units of work", error);
      bson_free(json);
      bson_destroy(&names);
      g_string_free(deps, TRUE);
   }
   return ok;
}

/*
 * The load's latest generation, as mn_state_work_start() judges it: *generation (0 when
 * none), its pending units, whether every row has this mapping digest, its units, and
 * whether another process holds the load's lock.
 */
static bool
latest_generation(PGconn *conn, const char *load, const char *digest, int32_t *generation,
                  long *pending, bool *same, long *units, bool *alive, mn_error_t *error)
{
   const char *params[2] = {load, digest};
   PGresult *res = mn_pg__query(
      conn,
      "SELECT coalesce(max(w.generation), 0), count(*) FILTER (WHERE w.state <> 'done'), "
      "  coalesce(bool_and(w.mapping_digest = $2), true), count(*), "
      "  EXISTS (" LOAD_HOLDERS "AND l.objid = hashtext($1)::oid) "
      "FROM mongonorm.work w WHERE w.load = $1 AND w.generation = "
      "  (SELECT max(generation) FROM mongonorm.work WHERE load = $1)",
      2, params, PGRES_TUPLES_OK, "could not read the units of work", error);

   if (!res) {
      return false;
   }
   *generation = (int32_t)strtol(PQgetvalue(res, 0, 0), NULL, 10);
   *pending = strtol(PQgetvalue(res, 0, 1), NULL, 10);
   *same = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
   *units = strtol(PQgetvalue(res, 0, 3), NULL, 10);
   *alive = strcmp(PQgetvalue(res, 0, 4), "t") == 0;
   PQclear(res);
   return true;
}

/*
 * In the transaction of a new generation of a shared load: wait (up to
 * MN_PG_LOADER_LOCK_WAIT seconds) until no session holds the loader lock, as mn_pg_lock()
 * does: the loader of a run killed or cut off may still be ending its last batch.  (A
 * generation joined is not held back: its processes' loaders are alive; a dead one's
 * unit is held back by the unit's lock, mn_state_work_hold_unit().)
 */
static bool
no_loader(PGconn *conn, mn_error_t *error)
{
   /* the timeout stays for the rest of this short transaction */
   return mn_pg__wait_loader_lock(conn, "could not read the units of work", error);
}

bool
mn_state_work_start(PGconn *conn, const char *load, const char *mapping_digest,
                    const mn_work_unit_t *units, size_t n_units, bool join, int32_t *generation,
                    bool *created, mn_error_t *error)
{
   long pending = 0, n = 0;
   bool same = true, alive = false, ok;

   *created = false;
   if (!command(conn, "BEGIN", 0, NULL, "could not read the units of work", error)) {
      return false;
   }
   ok =
      select_ok(conn, "SELECT pg_advisory_xact_lock(" MN_STATE_WORK_LOCK_KEY ")", 0, NULL,
                "could not read the units of work", error) &&
      latest_generation(conn, load, mapping_digest, generation, &pending, &same, &n, &alive, error);
   if (ok && join && pending > 0 && alive) {
      /* another process is loading this generation: share it */
      if (!same || n != (long)n_units) {
         mn_set_error(error, MN_ERROR_PG, MN_PG_LOCKED,
                      "a process of shared load \"%s\" runs another mapping: every process of a "
                      "load needs the same mapping file",
                      load);
         ok = false;
      }
   } else if (ok) {
      *generation += 1;
      *created = true;
      ok = (!join || no_loader(conn, error)) &&
           insert_units(conn, load, *generation, mapping_digest, units, n_units, error);
   }
   return end_transaction(conn, ok, error);
}

bool
mn_state_work_claim(PGconn *claim, const char *load, int32_t generation, const char *worker,
                    int *unit, bool *finished, mn_error_t *error)
{
   char gen[16];
   const char *params[2] = {load, gen};
   PGresult *res;
   bool ok;

   *unit = -1;
   *finished = false;
   snprintf(gen, sizeof gen, "%d", (int)generation);
   if (!command(claim, "BEGIN", 0, NULL, "could not claim a unit of work", error)) {
      return false;
   }
   /* a unit another worker holds is skipped; one whose units are not all done waits */
   res = mn_pg__query(claim,
                      "SELECT w.unit FROM mongonorm.work w WHERE w.load = $1 AND "
                      "w.generation = $2 AND w.state = 'pending' AND NOT EXISTS (SELECT 1 FROM "
                      "mongonorm.work d WHERE d.load = w.load AND d.generation = w.generation "
                      "AND d.unit = ANY (w.depends_on) AND d.state <> 'done') "
                      "ORDER BY w.unit LIMIT 1 FOR UPDATE OF w SKIP LOCKED",
                      2, params, PGRES_TUPLES_OK, "could not claim a unit of work", error);
   ok = res != NULL;
   if (ok && PQntuples(res) == 1) {
      const char *set[4] = {load, gen, worker, PQgetvalue(res, 0, 0)};
      *unit = (int)strtol(set[3], NULL, 10);
      ok = command(claim,
                   "UPDATE mongonorm.work SET worker = $3, claimed_at = now() "
                   "WHERE load = $1 AND generation = $2 AND unit = $4",
                   4, set, "could not claim a unit of work", error);
      PQclear(res);
      if (!ok) {
         *unit = -1;
         end_transaction(claim, false, error);
      }
      return ok;
   }
   PQclear(res);
   if (!end_transaction(claim, ok, error)) {
      return false;
   }
   res = mn_pg__query(claim,
                      "SELECT count(*) FILTER (WHERE state <> 'done') = 0 FROM mongonorm.work "
                      "WHERE load = $1 AND generation = $2",
                      2, params, PGRES_TUPLES_OK, "could not read the units of work", error);
   if (!res) {
      return false;
   }
   *finished = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
   PQclear(res);
   return true;
}

bool
mn_state_work_done(PGconn *claim, const char *load, int32_t generation, int unit, mn_error_t *error)
{
   char gen[16], u[16];
   const char *params[3] = {load, gen, u};
   bool ok;

   snprintf(gen, sizeof gen, "%d", (int)generation);
   snprintf(u, sizeof u, "%d", unit);
   ok = command(claim,
                "UPDATE mongonorm.work SET state = 'done', done_at = now() "
                "WHERE load = $1 AND generation = $2 AND unit = $3",
                3, params, "could not mark a unit of work done", error) &&
        select_ok(claim, "SELECT pg_notify('mongonorm_work', $1)", 1, params,
                  "could not mark a unit of work done", error);
   return end_transaction(claim, ok, error);
}

void
mn_state_work_release(PGconn *claim)
{
   if (claim && PQstatus(claim) == CONNECTION_OK) {
      PQclear(PQexec(claim, "ROLLBACK"));
   }
}

bool
mn_state_work_wait(PGconn *claim, int timeout_ms, mn_error_t *error)
{
   struct pollfd pfd = {.fd = PQsocket(claim), .events = POLLIN};
   PGnotify *n;

   /* LISTEN is idempotent: the first wait subscribes, notifications queue from then on */
   if (!command(claim, "LISTEN mongonorm_work", 0, NULL, "could not wait for a unit of work",
                error)) {
      return false;
   }
   if ((n = PQnotifies(claim)) == NULL && pfd.fd >= 0) {
      if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) {
         mn_set_error(error, MN_ERROR_PG, MN_PG_QUERY, "could not wait for a unit of work: %s",
                      strerror(errno));
         return false;
      }
      if (!PQconsumeInput(claim)) {
         mn_pg__set_error(error, MN_PG_QUERY, claim, NULL, "could not wait for a unit of work");
         return false;
      }
   }
   for (; n || (n = PQnotifies(claim)) != NULL; n = NULL) {
      PQfreemem(n);
   }
   return true;
}

bool
mn_state_work_done_units(PGconn *conn, const char *load, int32_t generation, bool *done,
                         size_t n_units, mn_error_t *error)
{
   char gen[16];
   const char *params[2] = {load, gen};
   PGresult *res;

   snprintf(gen, sizeof gen, "%d", (int)generation);
   res = mn_pg__query(conn,
                      "SELECT unit FROM mongonorm.work WHERE load = $1 AND generation = $2 "
                      "AND state = 'done'",
                      2, params, PGRES_TUPLES_OK, "could not read the units of work", error);
   if (!res) {
      return false;
   }
   memset(done, 0, n_units * sizeof *done);
   for (int r = 0; r < PQntuples(res); r++) {
      long u = strtol(PQgetvalue(res, r, 0), NULL, 10);
      if (u >= 0 && (size_t)u < n_units) {
         done[u] = true;
      }
   }
   PQclear(res);
   return true;
}

void
mn_state_work_unit_lock_sql(int unit, char *buf, size_t size)
{
   snprintf(buf, size, "SELECT pg_advisory_lock_shared(" MN_STATE_UNIT_LOCK_CLASS ", %d)", unit);
}

bool
mn_state_work_hold_unit(PGconn *conn, int unit, mn_error_t *error)
{
   char wait[128], take[96];
   bool ok;

   /* exclusive for a moment: every session that holds it (a dead worker's) has ended */
   snprintf(wait, sizeof wait, "SELECT pg_advisory_xact_lock(" MN_STATE_UNIT_LOCK_CLASS ", %d)",
            unit);
   mn_state_work_unit_lock_sql(unit, take, sizeof take);
   if (!command(conn, "BEGIN", 0, NULL, "could not take the lock of a unit of work", error)) {
      return false;
   }
   ok = select_ok(conn, wait, 0, NULL, "could not take the lock of a unit of work", error);
   return end_transaction(conn, ok, error) &&
          select_ok(conn, take, 0, NULL, "could not take the lock of a unit of work", error);
}

void
mn_state_work_drop_unit(PGconn *conn, int unit)
{
   char sql[128];

   snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock_shared(" MN_STATE_UNIT_LOCK_CLASS ", %d)",
            unit);
   if (conn && PQstatus(conn) == CONNECTION_OK) {
      PQclear(PQexec(conn, sql));
   }
}

bool
mn_state_work_finish(PGconn *conn, const char *load, int32_t generation, const char *who,
                     bool *mine, mn_error_t *error)
{
   char gen[16];
   const char *params[3] = {load, gen, who};
   PGresult *res;

   snprintf(gen, sizeof gen, "%d", (int)generation);
   res = mn_pg__query(conn,
                      "UPDATE mongonorm.work w SET finished_by = $3 WHERE w.load = $1 AND "
                      "w.generation = $2 AND w.unit = 0 AND w.finished_by IS NULL AND NOT EXISTS "
                      "(SELECT 1 FROM mongonorm.work d WHERE d.load = $1 AND d.generation = $2 "
                      "AND d.state <> 'done') RETURNING w.unit",
                      3, params, PGRES_TUPLES_OK, "could not end the units of work", error);
   *mine = res && PQntuples(res) == 1;
   PQclear(res);
   return res != NULL;
}
