/*
 * sink.c - loading rows into PostgreSQL with COPY, one transaction per batch.
 *
 * Direct mode (a collection whose tables are empty, and none under row-level
 * security for the role): COPY into the target tables.  Merge mode: COPY into
 * temporary staging tables, delete the child rows of the batch's documents that
 * are no longer produced, then upsert parents before children, writing only rows
 * whose values differ.  References held back by the converter (targets not loaded
 * yet) are kept in a temporary table and applied when the collection ends.
 *
 * Overlap (mn_pg_sink_submit): in direct mode a batch is handed to a loader (loader.c: a
 * second session and a thread) and loaded there by the sink's twin, a second sink
 * object that borrows this one's names and settings and owns the batch's queue and
 * results, while mn_pg_sink_add() fills this one's queue with the next batch.  The next
 * call that needs the batch's outcome or the connection waits for it and takes its
 * results over (mn_pg_sink_wait): the same ones, in the same order, as a synchronous
 * flush gives.
 */
#include "pg/pg_private.h"
#include "mapping/plan.h"
#include "util/ascii.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What every load transaction runs first: the schema's triggers leave the converter's
 * values alone (sql/001_schema.sql). */
#define LOADING "SET LOCAL mongonorm.loading = 'on'"

/* A unique index of a target table (besides the primary key), for vacating. */
typedef struct {
   char **columns; /* quoted column names; owned */
   size_t n_columns;
   int placeholder; /* PH_*: the value `vacate` takes while the key moves */
   int max_length;  /* for PH_TEXT: the column's length limit, 0 = none */
   char *vacate;    /* the quoted column that takes it, or NULL (none can); owned */
   bool declared;   /* the mapping declares this key run-wide (the converter vouches) */
} uindex_t;

typedef struct {
   char *qname;   /* "schema"."table" */
   char *stage;   /* temp staging table name (already a safe identifier) */
   char *collist; /* "c1", "c2", ... */
   char *qkey;
   char *qdoc; /* quoted document-id column */
   size_t n_columns;
   GString *buf; /* COPY data of the queued rows: text, or binary tuples (binary.c) */
   uint64_t rows;
   bool binary;              /* its rows are copied in the binary format (load_kinds) */
   mn_pg__bin_kind_t *kinds; /* per column, when binary; owned */
   bool referenced;          /* some foreign key points at the table: rows are updated in place */
   char *pkey;               /* its primary key's constraint name, or NULL; owned */
   uindex_t *uindex;         /* its unique indexes; owned */
   size_t n_uindex;
} tbl_t;

/* Where one queued document starts in every buffer (its end is where the next starts). */
typedef struct {
   size_t docs, deferred, deletes, state;
   uint64_t deleted_docs;
   bool rows;       /* mn_pg_sink_add: a document to load (a load failure rejects it) */
   bool unrecorded; /* no target row is its own: mongonorm.documents has no record of it,
                       or records it rejected (replaces) */
   bool replaces;   /* recorded as rejected: a direct copy replaces its record */
   uint64_t keep;   /* bit t: its rows of table t are the target's (kept_tables): queued,
                       but neither staged nor deleted, unless a row of them is taken */
   int32_t *kept;   /* per table: its rows there when kept, else 0; NULL when keep was
                       never set; owned */
   mn_uuid_t id;
   char *id_json; /* owned */
   bson_t *doc;   /* a copy, for the reject file; owned */
   uint8_t digest[MN_DIGEST_SIZE];
} seg_t;

typedef struct {
   mn_uuid_t id;
   char *id_json;
   bson_t *doc;
   char *reason;
} load_reject_t;

/* What one table's rows did in a batch. */
typedef struct {
   uint64_t inserted, updated, deleted, unchanged;
} delta_t;

struct mn_pg_sink {
   PGconn *conn;
   const mn_mapping_t *m;
   mn_stats_t *stats;
   tbl_t *tables;
   size_t n_tables;
   bool *direct;      /* per collection */
   bool *copy_new;    /* per collection: COPY may write unrecorded documents' rows (no RLS) */
   size_t collection; /* the collection being loaded */
   GString *docs;     /* COPY text: document ids of the batch */
   size_t n_docs;
   size_t n_records;  /* documents queued with their record only (unchanged rows) */
   GString *deferred; /* COPY text: deferred references of the batch */
   GString *deletes;  /* COPY text: documents whose rows go (gone from the source, or
                         rejected now after being loaded before) */
   GString *state;    /* COPY text: mongonorm.documents rows of the batch */
   char *qcollection; /* the collection name as an SQL literal */
   uint64_t pending_deleted_docs;
   int32_t context; /* the collection's conversion context (mn_state_enter_context) */
   bool final;      /* refusals are final: the refused documents are rejected (else retried) */
   bool (*seen)(void *ctx, const mn_uuid_t *holder,
                const mn_uuid_t *doc); /* does holder come before doc in the source? */
   void *seen_ctx;
   GArray *pending_taken; /* mn_uuid_t: documents whose rows the open transaction takes */
   GArray *taken;         /* ... committed: to be converted again (mn_pg_sink_taken) */
   GArray *segs;          /* seg_t per queued document */
   GArray *seg_offsets;   /* size_t per segment and table: byte offset, then row offset */
   GArray *load_rejects;  /* load_reject_t of the last flushes, until taken */
   size_t doc_bytes;      /* bytes of the queued document copies */
   char *truncate_stage;  /* TRUNCATE of every staging table */
   char *create_stage;    /* CREATE TEMP TABLE of every staging table (ensure_staging) */
   bool staged;           /* the staging tables exist in the session */
   bool stage_dirty;      /* a piece of the open batch left rows in the staging tables */
   char *deferred_again;  /* SET CONSTRAINTS ... DEFERRED of the initially deferred
                             constraints the tables' rows meet, or NULL when none is
                             deferrable (see check_deferred) */
   bool any_deferrable;   /* some constraint the tables' rows meet is deferrable */
   delta_t *flush_deltas; /* per table: what the pieces of the open batch wrote */
   size_t pieces_copied;  /* pieces of the open batch copied straight in merge mode */
   uint64_t flush_partly; /* documents of the open batch's pieces that kept some tables */
   uint8_t *rows_dg;      /* the last queued document's rows digest (rows_digest) */
   uint8_t *packed;       /* room for a record's packed row counts (mn_state_pack_counts) */
   mn_pg_sink_guard_fn guard;
   void *guard_ctx;
   void (*warning)(void *ctx, const char *message); /* mn_pg_sink_set_warning */
   void *warning_ctx;
   const bool *loaded; /* per collection: loaded by now (mn_pg_sink_set_loaded), or NULL */
   /* the last failed statement: SQLSTATE and what it names (no values) */
   char sqlstate[6];
   bool policy_refused; /* the failure is a row-level security policy's WITH CHECK */
   char failed_table[160];
   char failed_detail[512];
   /* overlap (mn_pg_sink_submit): a batch loaded on a second session while the next one
    * is queued here */
   mn_pg__loader_t *loader; /* the second session and its thread, once needed; owned */
   mn_pg_sink_t *twin;      /* the loader's sink: its queue is the batch in flight; owned */
   bool sync_only;          /* never overlap (MN_SYNC_LOAD, or no loader could be had) */
   char *loader_sql;        /* run first on the loader's session (mn_pg_sink_set_loader_sql) */
   bool is_twin;            /* a twin: names, indexes and settings borrowed from its sink */
};

/* Documents queued with their record only that weigh as one in a batch's size. */
#define RECORDS_PER_DOC 8

/* The reason of a document refused for a row id another document's row has. */
#define ROW_ID_TAKEN                                                                               \
   "a row id is already the id of a row of another document (a sub-document _id two "              \
   "documents carry)"

static void
append_copy_value(GString *out, const char *v)
{
   if (!v) {
      g_string_append_len(out, "\\N", 2);
      return;
   }
   /* COPY text format: backslash, newline, carriage return and tab are escaped
    * (PostgreSQL manual, COPY, "Text Format").  They are rare: the runs between them
    * are copied whole. */
   for (;;) {
      size_t run = strcspn(v, "\\\n\r\t");
      g_string_append_len(out, v, (gssize)run);
      v += run;
      switch (*v) {
      case '\0': return;
      case '\\': g_string_append_len(out, "\\\\", 2); break;
      case '\n': g_string_append_len(out, "\\n", 2); break;
      case '\r': g_string_append_len(out, "\\r", 2); break;
      default: g_string_append_len(out, "\\t", 2); break;
      }
      v++;
   }
}

/* The same, for verify.c (pg_private.h): one COPY escaping for every writer. */
void
mn_pg__append_copy_value(GString *out, const char *v)
{
   append_copy_value(out, v);
}

/*
 * Whether a failure is a row-level security policy refusing a row (SQLSTATE 42501 from
 * the executor's check of the policies' WITH CHECK expressions, "new row violates
 * row-level security policy ..."), not a missing privilege (also 42501): the routine
 * that raised it tells them apart in any server language; the English message is taken
 * too, should the routine be renamed.
 */
static bool
policy_refusal(const PGresult *res)
{
   const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
   const char *routine = res ? PQresultErrorField(res, PG_DIAG_SOURCE_FUNCTION) : NULL;
   const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

   return state && strcmp(state, "42501") == 0 &&
          ((routine && strcmp(routine, "ExecWithCheckOptions") == 0) ||
           (primary && strncmp(primary, "new row violates row-level security policy", 42) == 0));
}

/*
 * Keep what a failed statement names, for the reject reason of a document that cannot
 * be loaded: its SQLSTATE, and the primary message with the constraint and column
 * (never DETAIL, which quotes row values).
 */
/* Whether constraint is the primary key of a table of sub-document rows (their ids come
 * from the sub-documents' `_id`s, or from the document's `_id` and the element's place). */
static bool
is_row_id_key(const mn_pg_sink_t *s, const char *constraint)
{
   for (size_t t = 0; constraint && t < s->n_tables; t++) {
      const mn_table_t *mt = &s->m->tables[t];
      if (!mt->is_primary && mt->doc_id_column > 0 && s->tables[t].pkey &&
          strcmp(s->tables[t].pkey, constraint) == 0) {
         return true;
      }
   }
   return false;
}

static void
note_failure(mn_pg_sink_t *s, const PGresult *res)
{
   const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
   const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
   const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
   const char *column = res ? PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;
   GString *d;

   snprintf(s->sqlstate, sizeof s->sqlstate, "%s", state ? state : "");
   s->policy_refused = policy_refusal(res);
   if (state && strcmp(state, "23505") == 0 && is_row_id_key(s, constraint)) {
      /* as check_row_owners says it in merge mode, so a full load and a re-run agree */
      snprintf(s->failed_detail, sizeof s->failed_detail, "%s", ROW_ID_TAKEN);
      return;
   }
   if (state && strcmp(state, "22P03") == 0) {
      /* binary.c wrote a field the server refuses: a text it does not read as the type */
      snprintf(s->failed_detail, sizeof s->failed_detail,
               "a value could not be written in COPY's binary format for its column's type "
               "(%s; MN_COPY_FORMAT=text loads the table in the text format)",
               primary ? primary : "incorrect binary data format");
      return;
   }
   d = g_string_new(primary ? primary : "the server refused the rows");
   if (constraint && *constraint) {
      g_string_append_printf(d, " (constraint \"%s\")", constraint);
   }
   if (column && *column) {
      g_string_append_printf(d, " (column \"%s\")", column);
   }
   snprintf(s->failed_detail, sizeof s->failed_detail, "%s", d->str);
   g_string_free(d, TRUE);
}

/* Run sql: the result when it succeeded (a command, or rows; with one_row, exactly one
 * row), which the caller clears; else NULL, with the failure noted and error set. */
static PGresult *
sink_exec(mn_pg_sink_t *s, const char *sql, bool one_row, const char *doing, mn_error_t *error)
{
   PGresult *res = PQexec(s->conn, sql);
   ExecStatusType st = PQresultStatus(res);
   bool ok = one_row ? st == PGRES_TUPLES_OK && PQntuples(res) == 1
                     : st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

   if (!ok) {
      note_failure(s, res);
      mn_pg__set_error(error, MN_PG_QUERY, s->conn, res, doing);
      PQclear(res);
      return NULL;
   }
   return res;
}

static bool
exec_ok(mn_pg_sink_t *s, const char *sql, const char *doing, mn_error_t *error)
{
   PGresult *res = sink_exec(s, sql, false, doing, error);

   PQclear(res);
   return res != NULL;
}

/* Run a statement and return its affected-row count, or -1 on error. */
static int64_t
exec_count(mn_pg_sink_t *s, const char *sql, const char *doing, mn_error_t *error)
{
   PGresult *res = sink_exec(s, sql, false, doing, error);
   const char *t = res ? PQcmdTuples(res) : NULL;
   int64_t n = !res ? -1 : t && *t ? g_ascii_strtoll(t, NULL, 10) : 0;

   PQclear(res);
   return n;
}

/* A statement returning two counts in one row (an upsert's inserted and updated). */
static bool
exec_pair(mn_pg_sink_t *s, const char *sql, const char *doing, uint64_t *a, uint64_t *b,
          mn_error_t *error)
{
   PGresult *res = sink_exec(s, sql, true, doing, error);

   if (res) {
      *a = g_ascii_strtoull(PQgetvalue(res, 0, 0), NULL, 10);
      *b = g_ascii_strtoull(PQgetvalue(res, 0, 1), NULL, 10);
   }
   PQclear(res);
   return res != NULL;
}

/*
 * COPY len bytes of data into target, in chunks of 1 MiB: text-format lines, or with
 * `binary` tuples of the binary format, which get the format's header and trailer here.
 * On failure the COPY is ended and its results drained, so the connection is ready for
 * the ROLLBACK, and the failure is noted (note_failure) for the reject reason.
 */
static bool
copy_in(mn_pg_sink_t *s, const char *target, const char *collist, bool binary, const char *data,
        size_t len, mn_error_t *error)
{
   char *sql = g_strdup_printf("COPY %s (%s) FROM STDIN%s", target, collist,
                               binary ? " (FORMAT binary)" : "");
   PGresult *res = PQexec(s->conn, sql);
   size_t frame_len;
   const char *frame;
   bool ok = false;
   char doing[512];

   snprintf(doing, sizeof doing, "could not load rows into %s", target);
   g_free(sql);
   if (PQresultStatus(res) != PGRES_COPY_IN) {
      note_failure(s, res);
      mn_pg__set_error(error, MN_PG_COPY, s->conn, res, doing);
      PQclear(res);
      return false;
   }
   PQclear(res);
   if (binary) {
      frame = mn_pg__bin_header(&frame_len);
      if (PQputCopyData(s->conn, frame, (int)frame_len) != 1) {
         goto failed;
      }
   }
   for (size_t off = 0; off < len;) {
      size_t chunk = MIN((size_t)(1 << 20), len - off);
      if (PQputCopyData(s->conn, data + off, (int)chunk) != 1) {
         goto failed;
      }
      off += chunk;
   }
   if (binary) {
      frame = mn_pg__bin_trailer(&frame_len);
      if (PQputCopyData(s->conn, frame, (int)frame_len) != 1) {
         goto failed;
      }
   }
   if (PQputCopyEnd(s->conn, NULL) != 1) {
      note_failure(s, NULL);
      mn_pg__set_error(error, MN_PG_COPY, s->conn, NULL, doing);
      goto drain;
   }
   ok = true;
   goto drain;
failed:
   note_failure(s, NULL);
   mn_pg__set_error(error, MN_PG_COPY, s->conn, NULL, doing);
   PQputCopyEnd(s->conn, "aborted");
drain:
   while ((res = PQgetResult(s->conn))) {
      if (PQresultStatus(res) != PGRES_COMMAND_OK && ok) {
         note_failure(s, res);
         mn_pg__set_error(error, MN_PG_COPY, s->conn, res, doing);
         ok = false;
      }
      PQclear(res);
   }
   return ok;
}

static bool
copy_all(mn_pg_sink_t *s, const char *target, const char *collist, const GString *data,
         mn_error_t *error)
{
   return copy_in(s, target, collist, false, data->str, data->len, error);
}

/* Whether the mapping declares a run-wide unique key on exactly these columns. */
static bool
declared_unique(const mn_pg_sink_t *s, size_t t, char *const *names, size_t n)
{
   const mn_mapping_t *m = s->m;

   for (size_t c = 0; c < m->n_collections; c++) {
      for (size_t ei = 0; ei < m->collections[c].n_entries; ei++) {
         const mn_entry_t *e = &m->collections[c].entries[ei];
         size_t hits = 0;
         if ((size_t)e->table_index != t || !e->n_unique || e->unique_per_doc || e->n_unique != n) {
            continue;
         }
         for (size_t k = 0; k < e->n_unique; k++) {
            for (size_t j = 0; j < n; j++) {
               hits += strcmp(m->tables[t].columns[e->unique[k]], names[j]) == 0;
            }
         }
         if (hits == n) {
            return true;
         }
      }
   }
   return false;
}

enum { PH_NONE = 0, PH_NULL, PH_TEXT, PH_UUID };

/*
 * The value a row's unique column takes while its key moves to another row of the batch
 * (a swap or a shift inside one transaction: PostgreSQL checks a non-deferrable unique
 * index at every row, so the batch must never pass through a state with two holders).
 * NULL where the column allows it (NULLs never collide, and pass CHECKs); else text
 * derived from the row id; else a uuid derived from it; else none.  Never a column of a
 * foreign key.
 */
static int
placeholder_for(const char *category, const char *type, bool notnull, int typmod, bool is_fk,
                int *max_length)
{
   *max_length = 0;
   if (is_fk) {
      return PH_NONE;
   }
   if (!notnull) {
      return PH_NULL;
   }
   if (strcmp(category, "S") == 0) {
      *max_length = typmod > 4 ? typmod - 4 : 0; /* varchar(n), char(n): atttypmod = n + 4 */
      return *max_length && *max_length < 16 ? PH_NONE : PH_TEXT;
   }
   return strcmp(type, "uuid") == 0 ? PH_UUID : PH_NONE;
}

/* The SQL expression of a placeholder for the row aliased t, keyed by qkey. */
static void
append_placeholder(GString *sql, const uindex_t *u, const char *qkey)
{
   switch (u->placeholder) {
   case PH_TEXT:
      if (u->max_length && u->max_length < 36) {
         g_string_append_printf(sql, "left(md5(t.%s::text), %d)", qkey, u->max_length);
      } else {
         g_string_append_printf(sql, "'~mn:' || md5(t.%s::text)", qkey);
      }
      break;
   case PH_UUID: g_string_append_printf(sql, "md5('mongonorm:' || t.%s::text)::uuid", qkey); break;
   default: g_string_append(sql, "NULL"); break;
   }
}

/* The unique index whose catalog rows (load_catalog's query) start at row *r, added to
 * table t; *r is moved past them. */
static void
add_uindex(mn_pg_sink_t *s, size_t t, const PGresult *res, int *r)
{
   tbl_t *tb = &s->tables[t];
   const char *idx = PQgetvalue(res, *r, 0);
   GPtrArray *names = g_ptr_array_new();
   uindex_t u;
   int first = *r, n = PQntuples(res);

   memset(&u, 0, sizeof u);
   for (; *r < n && strcmp(PQgetvalue(res, *r, 0), idx) == 0; (*r)++) {
      g_ptr_array_add(names, g_strdup(PQgetvalue(res, *r, 1)));
   }
   u.n_columns = names->len;
   u.declared = declared_unique(s, t, (char *const *)names->pdata, names->len);
   u.columns = g_new0(char *, u.n_columns);
   for (size_t k = 0; k < u.n_columns; k++) {
      int row = first + (int)k;
      u.columns[k] = mn_pg_quote_ident(s->conn, g_ptr_array_index(names, k));
      if (!u.vacate) {
         u.placeholder = placeholder_for(PQgetvalue(res, row, 3), PQgetvalue(res, row, 4),
                                         strcmp(PQgetvalue(res, row, 2), "t") == 0,
                                         atoi(PQgetvalue(res, row, 5)),
                                         strcmp(PQgetvalue(res, row, 6), "t") == 0, &u.max_length);
         if (u.placeholder != PH_NONE) {
            u.vacate = mn_pg_quote_ident(s->conn, PQgetvalue(res, row, 1));
         }
      }
      g_free(g_ptr_array_index(names, k));
   }
   g_ptr_array_free(names, TRUE);
   tb->uindex = g_renew(uindex_t, tb->uindex, tb->n_uindex + 1);
   tb->uindex[tb->n_uindex++] = u;
}

/* A table's foreign-key standing and unique indexes, from the catalog. */
static bool
load_catalog(mn_pg_sink_t *s, size_t t, mn_error_t *error)
{
   tbl_t *tb = &s->tables[t];
   const char *params[1] = {tb->qname};
   PGresult *res = mn_pg__query(
      s->conn,
      "SELECT x.indexrelid, a.attname, a.attnotnull, ty.typcategory, ty.typname, a.atttypmod, "
      "  EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = x.indrelid AND c.contype = 'f' "
      "          AND a.attnum = ANY (c.conkey)) "
      "FROM pg_index x CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, o) "
      "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum "
      "JOIN pg_type ty ON ty.oid = a.atttypid "
      "WHERE x.indrelid = $1::regclass AND x.indisunique AND NOT x.indisprimary "
      "  AND x.indexprs IS NULL AND x.indpred IS NULL "
      "ORDER BY x.indexrelid, k.o",
      1, params, PGRES_TUPLES_OK, "could not read the target's indexes", error);
   PGresult *ref = NULL;

   if (!res) {
      return false;
   }
   ref = mn_pg__query(s->conn,
                      "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' "
                      "AND confrelid = $1::regclass), (SELECT conname FROM pg_constraint "
                      "WHERE contype = 'p' AND conrelid = $1::regclass)",
                      1, params, PGRES_TUPLES_OK, "could not read the target's keys", error);
   if (!ref) {
      PQclear(res);
      return false;
   }
   tb->referenced = strcmp(PQgetvalue(ref, 0, 0), "t") == 0;
   tb->pkey = PQgetisnull(ref, 0, 1) ? NULL : g_strdup(PQgetvalue(ref, 0, 1));
   for (int r = 0; r < PQntuples(res);) {
      add_uindex(s, t, res, &r);
   }
   PQclear(res);
   PQclear(ref);
   return true;
}

/*
 * The deferrable constraints the tables' rows meet (their own, and foreign keys that
 * point at them).  A batch is loaded in pieces inside one transaction (mn_pg_sink_flush),
 * so their checks are brought forward to the end of each piece (SET CONSTRAINTS ALL
 * IMMEDIATE), and those deferred by default are deferred again when the next piece starts
 * (SET CONSTRAINTS ... DEFERRED; by schema-qualified name, which also names any other
 * constraint of that name in the schema).
 */
static bool
load_deferrable(mn_pg_sink_t *s, mn_error_t *error)
{
   GString *again = g_string_new(NULL);
   GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

   for (size_t t = 0; t < s->n_tables; t++) {
      const char *params[1] = {s->tables[t].qname};
      PGresult *res = mn_pg__query(
         s->conn,
         "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.conname), c.condeferred "
         "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
         "WHERE c.condeferrable AND (c.conrelid = $1::regclass OR c.confrelid = $1::regclass)",
         1, params, PGRES_TUPLES_OK, "could not read the target's constraints", error);
      if (!res) {
         g_string_free(again, TRUE);
         g_hash_table_destroy(names);
         return false;
      }
      for (int r = 0; r < PQntuples(res); r++) {
         s->any_deferrable = true;
         if (strcmp(PQgetvalue(res, r, 1), "t") == 0 &&
             g_hash_table_add(names, g_strdup(PQgetvalue(res, r, 0)))) {
            g_string_append_printf(again, "%s%s", again->len ? ", " : "SET CONSTRAINTS ",
                                   PQgetvalue(res, r, 0));
         }
      }
      PQclear(res);
   }
   if (again->len) {
      g_string_append(again, " DEFERRED");
      s->deferred_again = g_string_free(again, FALSE);
   } else {
      g_string_free(again, TRUE);
   }
   g_hash_table_destroy(names);
   return true;
}

/*
 * Whether table t's rows go in COPY's binary format: every column's type (a domain's base
 * type) has a binary kind and the mapping's writers all fit it (mn_pg__bin_table_fits);
 * MN_COPY_FORMAT=text keeps every table in the text format.
 */
static bool
load_kinds(mn_pg_sink_t *s, size_t t, mn_error_t *error)
{
   const mn_table_t *mt = &s->m->tables[t];
   tbl_t *tb = &s->tables[t];
   const char *format = g_getenv("MN_COPY_FORMAT");
   const char *params[1] = {tb->qname};
   PGresult *res;

   tb->binary = false;
   if (s->stats) {
      mn_stats_table(s->stats, mt->name)->copy_format = MN_COPY_FORMAT_TEXT;
   }
   if (format && strcmp(format, "text") == 0) {
      return true;
   }
   res =
      mn_pg__query(s->conn,
                   "SELECT a.attname, b.oid, b.typtype FROM pg_attribute a "
                   "JOIN pg_type ty ON ty.oid = a.atttypid "
                   "JOIN pg_type b ON b.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype "
                   "  ELSE ty.oid END "
                   "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
                   1, params, PGRES_TUPLES_OK, "could not read the target's column types", error);
   if (!res) {
      return false;
   }
   tb->kinds = g_new0(mn_pg__bin_kind_t, mt->n_columns ? mt->n_columns : 1);
   for (int r = 0; r < PQntuples(res); r++) {
      for (size_t c = 0; c < mt->n_columns; c++) {
         if (strcmp(PQgetvalue(res, r, 0), mt->columns[c]) == 0) {
            tb->kinds[c] =
               mn_pg__bin_kind(strtoul(PQgetvalue(res, r, 1), NULL, 10), PQgetvalue(res, r, 2)[0]);
         }
      }
   }
   PQclear(res);
   tb->binary = mn_pg__bin_table_fits(s->m, t, tb->kinds);
   if (s->stats && tb->binary) {
      mn_stats_table(s->stats, mt->name)->copy_format = MN_COPY_FORMAT_BINARY;
   }
   return true;
}

/* Table i's quoted names and column list, the statement of its staging table (appended
 * to create, run by ensure_staging), and what the catalog says of its keys (load_catalog). */
static bool
open_table(mn_pg_sink_t *s, size_t i, const char *qschema, GString *create, mn_error_t *error)
{
   const mn_table_t *t = &s->m->tables[i];
   tbl_t *tb = &s->tables[i];
   GString *cols = g_string_new(NULL);
   char *qt = mn_pg_quote_ident(s->conn, t->name);

   for (size_t c = 0; c < t->n_columns; c++) {
      char *q = mn_pg_quote_ident(s->conn, t->columns[c]);
      if (c) {
         g_string_append(cols, ", ");
      }
      g_string_append(cols, q);
      bson_free(q);
   }
   tb->qname = g_strdup_printf("%s.%s", qschema, qt);
   bson_free(qt);
   tb->stage = g_strdup_printf("mn_stage_%zu", i);
   tb->collist = g_string_free(cols, FALSE);
   tb->qkey = mn_pg_quote_ident(s->conn, t->columns[0]);
   tb->qdoc = mn_pg_quote_ident(s->conn, t->columns[t->doc_id_column < 0 ? 0 : t->doc_id_column]);
   tb->n_columns = t->n_columns;
   tb->buf = g_string_new(NULL);
   g_string_append_printf(create,
                          "CREATE TEMP TABLE IF NOT EXISTS %s ON COMMIT DELETE ROWS AS "
                          "SELECT %s FROM %s WITH NO DATA;",
                          tb->stage, tb->collist, tb->qname);
   return load_catalog(s, i, error) && load_kinds(s, i, error);
}

static void clear_segments(mn_pg_sink_t *s);

/* A sink's queue and results, empty: what mn_pg_sink_new() and the twin start with. */
static mn_pg_sink_t *
alloc_queue(const mn_mapping_t *m)
{
   mn_pg_sink_t *s = g_new0(mn_pg_sink_t, 1);

   s->m = m;
   s->n_tables = m->n_tables;
   s->tables = g_new0(tbl_t, m->n_tables ? m->n_tables : 1);
   s->direct = g_new0(bool, m->n_collections ? m->n_collections : 1);
   s->copy_new = g_new0(bool, m->n_collections ? m->n_collections : 1);
   s->rows_dg = g_new(uint8_t, MN_ROWS_DIGEST_ENTRY * (m->n_tables + 1));
   s->packed = g_new(uint8_t, MN_PACKED_COUNTS_MAX(m->n_tables) + 1);
   s->docs = g_string_new(NULL);
   s->deferred = g_string_new(NULL);
   s->deletes = g_string_new(NULL);
   s->state = g_string_new(NULL);
   s->segs = g_array_new(FALSE, FALSE, sizeof(seg_t));
   s->seg_offsets = g_array_new(FALSE, FALSE, sizeof(size_t));
   s->load_rejects = g_array_new(FALSE, FALSE, sizeof(load_reject_t));
   s->pending_taken = g_array_new(FALSE, FALSE, sizeof(mn_uuid_t));
   s->taken = g_array_new(FALSE, FALSE, sizeof(mn_uuid_t));
   s->flush_deltas = g_new0(delta_t, m->n_tables ? m->n_tables : 1);
   return s;
}

mn_pg_sink_t *
mn_pg_sink_new(PGconn *conn, const mn_mapping_t *m, mn_stats_t *stats, mn_error_t *error)
{
   mn_pg_sink_t *s = alloc_queue(m);
   char *qschema = mn_pg_quote_ident(conn, m->schema);
   const char *sync = g_getenv("MN_SYNC_LOAD");
   GString *create = g_string_new(NULL);

   s->conn = conn;
   s->stats = stats;
   /* a dry run is one transaction of conn: no second session */
   s->sync_only = (sync && *sync && strcmp(sync, "0") != 0) || mn_pg_is_dry_run(conn);
   for (size_t i = 0; i < m->n_tables; i++) {
      if (!open_table(s, i, qschema, create, error)) {
         bson_free(qschema);
         g_string_free(create, TRUE);
         mn_pg_sink_destroy(s);
         return NULL;
      }
   }
   bson_free(qschema);
   g_string_append(
      create, "CREATE TEMP TABLE IF NOT EXISTS mn_stage_docs (id uuid, keep bigint) "
              "ON COMMIT DELETE ROWS;"
              "CREATE TEMP TABLE IF NOT EXISTS mn_stage_deletes (id uuid) ON COMMIT DELETE ROWS;"
              "CREATE TEMP TABLE IF NOT EXISTS mn_stage_state (doc_id uuid, digest bytea, "
              "counts bytea, rejected boolean, reject_path text, reason text, context integer, "
              "rows_digest bytea, refs bytea) "
              "ON COMMIT DELETE ROWS");
   s->create_stage = g_string_free(create, FALSE);
   if (!load_deferrable(s, error)) {
      mn_pg_sink_destroy(s);
      return NULL;
   }
   {
      GString *t = g_string_new("TRUNCATE mn_stage_docs, mn_stage_deletes, mn_stage_state");
      for (size_t i = 0; i < s->n_tables; i++) {
         g_string_append_printf(t, ", %s", s->tables[i].stage);
      }
      s->truncate_stage = g_string_free(t, FALSE);
   }
   return s;
}

/* What a sink and its twin both own: the queue, the results, the per-table arrays. */
static void
free_queue(mn_pg_sink_t *s)
{
   for (size_t i = 0; i < s->n_tables; i++) {
      if (s->tables[i].buf) {
         g_string_free(s->tables[i].buf, TRUE);
      }
   }
   if (s->segs) {
      clear_segments(s);
      g_array_free(s->segs, TRUE);
      g_array_free(s->seg_offsets, TRUE);
   }
   if (s->load_rejects) {
      mn_pg_sink_clear_load_rejects(s);
      g_array_free(s->load_rejects, TRUE);
   }
   if (s->taken) {
      g_array_free(s->pending_taken, TRUE);
      g_array_free(s->taken, TRUE);
   }
   g_free(s->tables);
   g_free(s->direct);
   g_free(s->copy_new);
   g_free(s->rows_dg);
   g_free(s->packed);
   g_free(s->flush_deltas);
   g_string_free(s->docs, TRUE);
   g_string_free(s->deferred, TRUE);
   g_string_free(s->deletes, TRUE);
   g_string_free(s->state, TRUE);
   g_free(s);
}

void
mn_pg_sink_destroy(mn_pg_sink_t *s)
{
   if (!s) {
      return;
   }
   /* a batch in flight ends first (committed or not), as a synchronous flush would have */
   mn_pg__loader_destroy(s->loader);
   g_free(s->loader_sql);
   if (s->twin) {
      free_queue(s->twin);
   }
   for (size_t i = 0; i < s->n_tables; i++) {
      tbl_t *tb = &s->tables[i];
      g_free(tb->qname);
      g_free(tb->stage);
      g_free(tb->collist);
      bson_free(tb->qkey);
      bson_free(tb->qdoc);
      g_free(tb->pkey);
      g_free(tb->kinds);
      for (size_t u = 0; u < tb->n_uindex; u++) {
         for (size_t k = 0; k < tb->uindex[u].n_columns; k++) {
            bson_free(tb->uindex[u].columns[k]);
         }
         g_free(tb->uindex[u].columns);
         bson_free(tb->uindex[u].vacate);
      }
      g_free(tb->uindex);
   }
   g_free(s->truncate_stage);
   g_free(s->create_stage);
   g_free(s->deferred_again);
   if (s->qcollection) {
      PQfreemem(s->qcollection);
   }
   free_queue(s);
}

/*
 * Run-wide unique keys already in the target, for the converter (merge mode): every
 * entry of the collection with a key that is unique across documents (not per document)
 * reads the rows that hold one, so the converter can tell a key another document holds
 * from one this document keeps.
 */
static bool
preload_unique(mn_pg_sink_t *s, size_t collection, mn_converter_t *conv, mn_error_t *error)
{
   const mn_collection_t *coll = &s->m->collections[collection];

   for (size_t ei = 0; ei < coll->n_entries; ei++) {
      const mn_entry_t *e = &coll->entries[ei];
      const mn_table_t *mt = &s->m->tables[e->table_index];
      tbl_t *tb = &s->tables[e->table_index];
      GString *cols = g_string_new(NULL), *set = g_string_new(NULL);
      char *sql;
      PGresult *res;

      if (!e->n_unique || e->unique_per_doc) {
         g_string_free(cols, TRUE);
         g_string_free(set, TRUE);
         continue;
      }
      for (size_t i = 0; i < e->n_unique; i++) {
         char *q = mn_pg_quote_ident(s->conn, mt->columns[e->unique[i]]);
         g_string_append_printf(cols, ", %s", q);
         g_string_append_printf(set, " AND %s IS NOT NULL", q);
         bson_free(q);
      }
      sql = g_strdup_printf("SELECT %s%s FROM %s WHERE true%s", tb->qdoc, cols->str, tb->qname,
                            set->str);
      g_string_free(cols, TRUE);
      g_string_free(set, TRUE);
      res = mn_pg__query(s->conn, sql, 0, NULL, PGRES_TUPLES_OK,
                         "could not read existing unique keys", error);
      g_free(sql);
      if (!res) {
         return false;
      }
      for (int r = 0; r < PQntuples(res); r++) {
         const char *values[64];
         mn_uuid_t doc;
         size_t n = MIN(e->n_unique, (size_t)64);
         for (size_t i = 0; i < n; i++) {
            values[i] = PQgetvalue(res, r, (int)i + 1);
         }
         if (mn_uuid_parse(PQgetvalue(res, r, 0), &doc)) {
            mn_converter_add_unique_key(conv, (size_t)e->table_index, values, n, &doc);
         }
      }
      PQclear(res);
   }
   return true;
}

/* The ids of the rows the collection's primary table holds, given to the converter. */
static bool
read_target_ids(mn_pg_sink_t *s, size_t collection, mn_converter_t *conv, mn_error_t *error)
{
   const mn_collection_t *coll = &s->m->collections[collection];
   tbl_t *tb = &s->tables[coll->entries[0].table_index];
   char *q = g_strdup_printf("SELECT %s FROM %s", tb->qkey, tb->qname);
   PGresult *res =
      mn_pg__query(s->conn, q, 0, NULL, PGRES_TUPLES_OK, "could not read existing ids", error);

   g_free(q);
   if (!res) {
      return false;
   }
   for (int r = 0; r < PQntuples(res); r++) {
      mn_uuid_t u;
      if (mn_uuid_parse(PQgetvalue(res, r, 0), &u)) {
         mn_converter_add_target_id(conv, collection, &u);
      }
   }
   PQclear(res);
   return true;
}

/*
 * Whether row-level security applies to the connected role on a table the collection
 * writes (row_security_active(): a role that is not the owner, or the owner under FORCE
 * ROW LEVEL SECURITY; never a superuser or a role with BYPASSRLS).  PostgreSQL refuses
 * COPY FROM into such a table, so the collection is loaded in merge mode: COPY into the
 * staging tables, then INSERT ... SELECT, which the policies check, and so are the rows of
 * its unrecorded documents later (see load_range).  When warn, each such table is named to
 * the sink's warning callback.
 */
static bool
row_security(mn_pg_sink_t *s, size_t collection, bool warn, bool *active, mn_error_t *error)
{
   const mn_collection_t *coll = &s->m->collections[collection];

   *active = false;
   for (size_t i = 0; i < s->n_tables; i++) {
      const char *params[1] = {s->tables[i].qname};
      bool writes = false;
      PGresult *res;

      for (size_t ei = 0; ei < coll->n_entries; ei++) {
         writes = writes || coll->entries[ei].table_index == (int)i;
      }
      if (!writes) {
         continue;
      }
      res = mn_pg__query(s->conn, "SELECT row_security_active($1::regclass), current_user", 1,
                         params, PGRES_TUPLES_OK, "could not inspect the target tables", error);
      if (!res) {
         return false;
      }
      if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
         *active = true;
         if (warn && s->warning) {
            char *msg = g_strdup_printf(
               "table \"%s.%s\" has row-level security for role \"%s\": loading it with INSERT "
               "instead of COPY; the owner or a role with BYPASSRLS loads it faster",
               s->m->schema, s->m->tables[i].name, PQgetvalue(res, 0, 1));
            s->warning(s->warning_ctx, msg);
            g_free(msg);
         }
      }
      PQclear(res);
   }
   return true;
}

void
mn_pg_sink_set_warning(mn_pg_sink_t *s, void (*warning)(void *ctx, const char *message), void *ctx)
{
   s->warning = warning;
   s->warning_ctx = ctx;
}

bool
mn_pg_sink_begin_collection(mn_pg_sink_t *s, size_t collection, bool want_ids, mn_converter_t *conv,
                            mn_error_t *error)
{
   GString *sql;
   PGresult *res;
   bool empty, rls = false;

   if (!mn_pg_sink_wait(s, error)) {
      return false;
   }
   sql = g_string_new("SELECT true");
   s->collection = collection;
   for (size_t i = 0; i < s->n_tables; i++) {
      if ((size_t)s->m->tables[i].collection == collection) {
         g_string_append_printf(sql, " AND NOT EXISTS (SELECT 1 FROM %s)", s->tables[i].qname);
      }
   }
   res = mn_pg__query(s->conn, sql->str, 0, NULL, PGRES_TUPLES_OK,
                      "could not inspect the target tables", error);
   g_string_free(sql, TRUE);
   if (!res) {
      return false;
   }
   empty = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
   PQclear(res);
   if (!row_security(s, collection, empty, &rls, error)) {
      return false;
   }
   s->direct[collection] = empty && !rls;
   s->copy_new[collection] = !rls;
   if (s->qcollection) {
      PQfreemem(s->qcollection);
   }
   s->qcollection = PQescapeLiteral(s->conn, s->m->collections[collection].name,
                                    strlen(s->m->collections[collection].name));
   if (empty) {
      /* Nothing of the collection is loaded: whatever is recorded of it is stale. */
      char *reset = g_strdup_printf("DELETE FROM mongonorm.documents WHERE collection = %s;"
                                    "DELETE FROM mongonorm.deferred_refs WHERE collection = %s",
                                    s->qcollection, s->qcollection);
      bool ok = exec_ok(s, reset, "could not reset the recorded documents", error);
      g_free(reset);
      if (!ok) {
         return false;
      }
   }
   if (!empty && !preload_unique(s, collection, conv, error)) {
      return false;
   }
   return empty || !want_ids || read_target_ids(s, collection, conv, error);
}

void
mn_pg__append_copy_uuid(GString *out, const mn_uuid_t *id)
{
   char text[MN_UUID_TEXT_LEN + 1];

   mn_uuid_format(id, text);
   g_string_append(out, text);
}

/* Append bytes as a bytea in hex, its backslash escaped for COPY text. */
static void
append_copy_bytea(GString *out, const uint8_t *data, size_t len)
{
   static const char hex[] = "0123456789abcdef";
   size_t at = out->len;

   g_string_set_size(out, at + 3 + 2 * len);
   memcpy(out->str + at, "\\\\x", 3);
   for (size_t i = 0; i < len; i++) {
      out->str[at + 3 + 2 * i] = hex[data[i] >> 4];
      out->str[at + 4 + 2 * i] = hex[data[i] & 15];
   }
}

void
mn_pg__append_copy_digest(GString *out, const uint8_t digest[MN_DIGEST_SIZE])
{
   append_copy_bytea(out, digest, MN_DIGEST_SIZE);
}

/* Append an int in decimal (no printf: once per table per queued document). */
static void
append_int(GString *out, int64_t v)
{
   char text[MN_ASCII_INT_SIZE];

   g_string_append_len(out, text, (gssize)mn_ascii__format_int(v, text));
}

/* A mongonorm.documents line: id, digest (bytea hex, its backslash escaped for COPY),
 * row counts (packed, bytea hex; NULL = all zero), rejected, reject path and reason,
 * context, the rows' digest (rows_dg_len bytes; NULL: none), what its conversion looked
 * up (rows' mn_rowset_refs(); rows NULL: not known). */
static void
append_state(const mn_pg_sink_t *s, GString *out, const mn_uuid_t *id,
             const uint8_t digest[MN_DIGEST_SIZE], const int32_t *counts, const char *path,
             const char *reason, const uint8_t *rows_dg, size_t rows_dg_len,
             const mn_rowset_t *rows)
{
   const uint8_t *refs;
   size_t refs_len;

   bool rejected = reason != NULL;

   mn_pg__append_copy_uuid(out, id);
   g_string_append_c(out, '\t');
   mn_pg__append_copy_digest(out, digest);
   g_string_append_c(out, '\t');
   append_copy_bytea(out, s->packed, mn_state_pack_counts(counts, s->m->n_tables, s->packed));
   g_string_append_len(out, rejected ? "\tt\t" : "\tf\t", 3);
   append_copy_value(out, rejected ? path : NULL);
   g_string_append_c(out, '\t');
   append_copy_value(out, reason);
   g_string_append_c(out, '\t');
   append_int(out, (int)s->context);
   g_string_append_c(out, '\t');
   if (rows_dg) {
      append_copy_bytea(out, rows_dg, rows_dg_len);
   } else {
      g_string_append_len(out, "\\N", 2);
   }
   g_string_append_c(out, '\t');
   if (rows) {
      refs = mn_rowset_refs(rows, &refs_len);
      append_copy_bytea(out, refs, refs_len);
   } else {
      g_string_append_len(out, "\\N", 2);
   }
   g_string_append_c(out, '\n');
}

/* ---- the queue: one segment per queued document ---- */

/*
 * Start the segment of one queued document: where it begins in every buffer.  A
 * document's rows are contiguous in each buffer, so any run of segments [lo, hi) is one
 * slice of each buffer: a failed batch can be loaded again in halves without copying.
 */
static seg_t *
begin_segment(mn_pg_sink_t *s, const mn_uuid_t *id)
{
   seg_t g;

   memset(&g, 0, sizeof g);
   g.docs = s->docs->len;
   g.deferred = s->deferred->len;
   g.deletes = s->deletes->len;
   g.state = s->state->len;
   g.deleted_docs = s->pending_deleted_docs;
   g.id = *id;
   for (size_t t = 0; t < s->n_tables; t++) {
      size_t bytes = s->tables[t].buf->len;
      size_t rows = (size_t)s->tables[t].rows;
      g_array_append_val(s->seg_offsets, bytes);
      g_array_append_val(s->seg_offsets, rows);
   }
   g_array_append_val(s->segs, g);
   return &g_array_index(s->segs, seg_t, s->segs->len - 1);
}

static void
clear_segments(mn_pg_sink_t *s)
{
   for (guint i = 0; i < s->segs->len; i++) {
      seg_t *g = &g_array_index(s->segs, seg_t, i);
      bson_free(g->id_json);
      if (g->doc) {
         bson_destroy(g->doc);
      }
      g_free(g->kept);
   }
   g_array_set_size(s->segs, 0);
   g_array_set_size(s->seg_offsets, 0);
   s->doc_bytes = 0;
}

void
mn_pg_sink_record_rejected(mn_pg_sink_t *s, size_t collection, const mn_uuid_t *id,
                           const uint8_t digest[MN_DIGEST_SIZE], const char *path,
                           const char *reason, bool recorded, const mn_rowset_t *rows)
{
   (void)collection;
   begin_segment(s, id)->unrecorded = !recorded;
   append_state(s, s->state, id, digest, NULL, path ? path : "", reason ? reason : "rejected", NULL,
                0, rows);
}

/* The rows digest of the last queued document into s->rows_dg (see MN_ROWS_DIGEST_ENTRY:
 * per table holding some of its rows, the table index and 16 bytes of the SHA-256 of the
 * index, the byte count and the segment's slice of the table's buffer); returns its length. */
static size_t
rows_digest(mn_pg_sink_t *s, const int32_t *counts)
{
   size_t n = 0;
   const size_t *off =
      &g_array_index(s->seg_offsets, size_t, s->seg_offsets->len - 2 * s->n_tables);

   for (size_t t = 0; t < s->n_tables; t++) {
      const GString *buf = s->tables[t].buf;
      uint64_t head[2] = {(uint64_t)t, (uint64_t)(buf->len - off[2 * t])};
      const void *data[2] = {head, buf->str + off[2 * t]};
      size_t len[2] = {sizeof head, buf->len - off[2 * t]};
      uint8_t d[MN_DIGEST_SIZE];
      uint8_t *e = s->rows_dg + n;

      if (!counts[t]) {
         continue;
      }
      mn_digest_parts(2, data, len, d);
      e[0] = (uint8_t)(t >> 8);
      e[1] = (uint8_t)(t & 0xff);
      memcpy(e + 2, d, MN_ROWS_DIGEST_ENTRY - 2);
      n += MN_ROWS_DIGEST_ENTRY;
   }
   return n;
}

/* The table index of a rows digest entry. */
static size_t
entry_table(const uint8_t *e)
{
   return (size_t)e[0] << 8 | e[1];
}

/* Tables a bit of mongonorm.stage_docs.keep can name (bit 63 is the sign). */
#define KEEP_BITS 63

/*
 * Which tables of the last queued document hold what the target holds already: the
 * recorded row count and, when it has rows, the recorded entry of the rows digest
 * (rows_dg, rows_dg_len: this conversion's).  *all: every table does.  The result has
 * bit t set for each such table t < KEEP_BITS with rows.
 */
static uint64_t
kept_tables(const mn_pg_sink_t *s, const mn_doc_entry_t *recorded, const int32_t *counts,
            size_t rows_dg_len, bool *all)
{
   const uint8_t *o = recorded->rows_digest, *o_end = o + recorded->rows_digest_len;
   const uint8_t *n = s->rows_dg, *n_end = n + rows_dg_len;
   uint64_t keep = 0;

   *all = true;
   for (size_t t = 0; t < s->n_tables; t++) {
      bool had = o < o_end && entry_table(o) == t, has = n < n_end && entry_table(n) == t;
      bool same = recorded->row_counts[t] == counts[t] && had == has &&
                  (!has || memcmp(o, n, MN_ROWS_DIGEST_ENTRY) == 0);
      if (!same) {
         *all = false;
      } else if (has && t < KEEP_BITS) {
         keep |= (uint64_t)1 << t;
      }
      o += had ? MN_ROWS_DIGEST_ENTRY : 0;
      n += has ? MN_ROWS_DIGEST_ENTRY : 0;
   }
   if (o != o_end) { /* not a digest of this mapping's tables in order */
      *all = false;
      return 0;
   }
   return keep;
}

/* Take back the rows of the last segment (they equal the recorded ones). */
static void
drop_segment_rows(mn_pg_sink_t *s)
{
   const size_t *off =
      &g_array_index(s->seg_offsets, size_t, s->seg_offsets->len - 2 * s->n_tables);

   for (size_t t = 0; t < s->n_tables; t++) {
      g_string_truncate(s->tables[t].buf, off[2 * t]);
      s->tables[t].rows = off[2 * t + 1];
   }
}

/* A row of a binary table: a tuple of the binary format (binary.c).  A text binary.c does
 * not read (never the converter's: mn_pg__bin_table_fits) is a field COPY refuses, so the
 * document is rejected as any other refused row. */
static void
append_binary_row(tbl_t *tb, const mn_rowset_t *rows, size_t i)
{
   mn_pg__bin_append_tuple(tb->buf, tb->n_columns);
   for (size_t c = 0; c < tb->n_columns; c++) {
      size_t len;
      const char *v = mn_rowset_value_len(rows, i, c, &len);
      if (!v) {
         mn_pg__bin_append_null(tb->buf);
      } else if (!mn_pg__bin_append(tb->buf, tb->kinds[c], v, len)) {
         mn_pg__bin_append_refused(tb->buf, tb->kinds[c]);
      }
   }
}

/* The COPY data of a document's rows, table by table; counts receives rows per table. */
static void
append_rows(mn_pg_sink_t *s, const mn_rowset_t *rows, int32_t *counts)
{
   for (size_t i = 0; i < mn_rowset_n_rows(rows); i++) {
      size_t t = mn_rowset_row_table(rows, i);
      tbl_t *tb = &s->tables[t];
      if (tb->binary) {
         append_binary_row(tb, rows, i);
         tb->rows++;
         counts[t]++;
         continue;
      }
      for (size_t c = 0; c < tb->n_columns; c++) {
         if (c) {
            g_string_append_c(tb->buf, '\t');
         }
         append_copy_value(tb->buf, mn_rowset_value(rows, i, c));
      }
      g_string_append_c(tb->buf, '\n');
      tb->rows++;
      counts[t]++;
   }
}

/* The deferred references of a queued document, for mongonorm.deferred_refs. */
static void
append_deferred(mn_pg_sink_t *s, const mn_rowset_t *rows)
{
   for (size_t i = 0; i < mn_rowset_n_deferred(rows); i++) {
      size_t table, column, ref_table;
      const mn_uuid_t *row_id;
      const mn_uuid_t *ref_id;

      mn_rowset_deferred(rows, i, &table, &column, &row_id, &ref_id, &ref_table);
      append_copy_value(s->deferred, s->m->collections[s->collection].name);
      g_string_append_c(s->deferred, '\t');
      append_copy_value(s->deferred, s->m->tables[table].name);
      g_string_append_c(s->deferred, '\t');
      append_copy_value(s->deferred, s->m->tables[table].columns[column]);
      g_string_append_c(s->deferred, '\t');
      append_copy_value(s->deferred, s->m->tables[ref_table].name);
      g_string_append_c(s->deferred, '\t');
      mn_pg__append_copy_uuid(s->deferred, row_id);
      g_string_append_c(s->deferred, '\t');
      mn_pg__append_copy_uuid(s->deferred, ref_id);
      g_string_append_c(s->deferred, '\n');
   }
}

/* The keep field of a line of mn_stage_docs: KEEP_DIGITS decimal digits, so that unkeep()
 * can rewrite it in place; after the id (MN_UUID_TEXT_LEN) and a tab. */
#define KEEP_DIGITS 19
#define KEEP_AT (MN_UUID_TEXT_LEN + 1)

static void
format_keep(char *at, uint64_t keep)
{
   char text[24]; /* keep < 2^63 < 10^19: exactly KEEP_DIGITS digits */

   snprintf(text, sizeof text, "%0*" PRIu64, KEEP_DIGITS, keep);
   memcpy(at, text, KEEP_DIGITS);
}

/* A line of mn_stage_docs: the document id and the tables whose rows it keeps. */
static void
append_stage_doc(mn_pg_sink_t *s, const mn_uuid_t *id, uint64_t keep)
{
   size_t at;

   mn_pg__append_copy_uuid(s->docs, id);
   g_string_append_c(s->docs, '\t');
   at = s->docs->len;
   g_string_set_size(s->docs, at + KEEP_DIGITS);
   format_keep(s->docs->str + at, keep);
   g_string_append_c(s->docs, '\n');
}

bool
mn_pg_sink_add(mn_pg_sink_t *s, size_t collection, const mn_rowset_t *rows, const bson_t *doc,
               const uint8_t digest[MN_DIGEST_SIZE], const mn_doc_entry_t *recorded, bool compare)
{
   size_t n_tables = s->m->n_tables;
   int32_t *counts = g_new0(int32_t, n_tables ? n_tables : 1);
   seg_t *g = begin_segment(s, mn_rowset_doc_id(rows));
   size_t rd_len = 0;
   uint64_t keep = 0;
   bool all = false;
   /* a deferred reference is set after the rows are written: the rows alone do not say
    * what the target holds */
   bool digested = mn_rowset_n_deferred(rows) == 0;

   (void)collection;
   /* a rejected document's rows went with the record saying so (mn_pg_sink_delete) */
   g->unrecorded = recorded == NULL || recorded->rejected;
   g->replaces = recorded && recorded->rejected;
   append_rows(s, rows, counts);
   if (digested) {
      rd_len = rows_digest(s, counts);
   }
   if (digested && compare && recorded && !recorded->rejected && recorded->has_rows_digest &&
       recorded->row_counts) {
      keep = kept_tables(s, recorded, counts, rd_len, &all);
   }
   if (all) {
      /* the same rows as the target holds: only the record, with this run's context */
      drop_segment_rows(s);
      s->n_records++;
      append_state(s, s->state, mn_rowset_doc_id(rows), digest, counts, NULL, NULL, s->rows_dg,
                   rd_len, rows);
      g_free(counts);
      return false;
   }
   if (keep && !s->direct[s->collection]) {
      /* some tables' rows are the target's: they stay queued (should one be taken, see
       * unkeep), but are neither staged nor deleted (merge mode only: in direct mode
       * nothing of the batch is in the tables) */
      g->keep = keep;
      g->kept = g_new0(int32_t, n_tables);
      for (size_t t = 0; t < n_tables && t < KEEP_BITS; t++) {
         g->kept[t] = (keep >> t & 1) ? counts[t] : 0;
      }
   } else {
      keep = 0;
   }
   g->rows = true;
   g->id_json = bson_strdup(mn_rowset_doc_id_json(rows));
   memcpy(g->digest, digest, MN_DIGEST_SIZE);
   if (doc) {
      g->doc = bson_copy(doc);
      s->doc_bytes += doc->len;
   }
   append_stage_doc(s, mn_rowset_doc_id(rows), keep);
   s->n_docs++;
   append_state(s, s->state, mn_rowset_doc_id(rows), digest, counts, NULL, NULL,
                digested ? s->rows_dg : NULL, rd_len, rows);
   g_free(counts);
   append_deferred(s, rows);
   return true;
}

void
mn_pg_sink_delete(mn_pg_sink_t *s, size_t collection, const mn_uuid_t *id)
{
   (void)collection;
   begin_segment(s, id);
   mn_pg__append_copy_uuid(s->deletes, id);
   g_string_append_c(s->deletes, '\n');
   append_stage_doc(s, id, 0);
   s->n_docs++;
   s->pending_deleted_docs++;
}

void
mn_pg_sink_set_final(mn_pg_sink_t *s, bool final)
{
   s->final = final;
}

void
mn_pg_sink_set_context(mn_pg_sink_t *s, int32_t context)
{
   s->context = context;
}

size_t
mn_pg_sink_pending_docs(const mn_pg_sink_t *s)
{
   /* a record alone is a line of COPY text and a segment: RECORDS_PER_DOC of them weigh
    * as one document in the batch's size, so a batch stays bounded when most of a
    * collection converts to its recorded rows, without a transaction per 1000 records */
   return s->n_docs + s->n_records / RECORDS_PER_DOC;
}

size_t
mn_pg_sink_pending_bytes(const mn_pg_sink_t *s)
{
   size_t n = s->docs->len + s->deferred->len + s->state->len + s->deletes->len + s->doc_bytes;

   for (size_t i = 0; i < s->n_tables; i++) {
      n += s->tables[i].buf->len;
   }
   return n;
}

/* A buffer of an empty queue that grew past 1 MiB, given back (the end of a collection:
 * the next may never need as much). */
static void
shrink_buffer(GString **b)
{
   if ((*b)->allocated_len > ((gsize)1 << 20)) {
      g_string_free(*b, TRUE);
      *b = g_string_new(NULL);
   }
}

/* Give back the large buffers of s's queue, which is empty (end of a collection). */
static void
shrink_queue(mn_pg_sink_t *s)
{
   for (size_t i = 0; i < s->n_tables; i++) {
      shrink_buffer(&s->tables[i].buf);
   }
   shrink_buffer(&s->docs);
   shrink_buffer(&s->deferred);
   shrink_buffer(&s->deletes);
   shrink_buffer(&s->state);
}

static void
reset_queue(mn_pg_sink_t *s)
{
   for (size_t i = 0; i < s->n_tables; i++) {
      g_string_truncate(s->tables[i].buf, 0);
      s->tables[i].rows = 0;
   }
   g_string_truncate(s->docs, 0);
   g_string_truncate(s->deferred, 0);
   g_string_truncate(s->deletes, 0);
   g_string_truncate(s->state, 0);
   s->n_docs = 0;
   s->n_records = 0;
   s->pending_deleted_docs = 0;
   clear_segments(s);
}

/* ---- one transaction over a view of the queue ---- */

typedef struct {
   const char *p;
   size_t len;
} slice_t;

/* What one transaction loads: slices of the queue (or of a one-document reject batch). */
typedef struct {
   slice_t *rows;    /* per table */
   uint64_t *n_rows; /* per table */
   uint64_t *kept;   /* per table: rows its documents keep (not staged), or NULL */
   uint64_t partly;  /* its documents that keep some */
   GString **owned;  /* per table: the rows of a range some of whose documents keep the
                        table, without theirs (view_range); NULL, or entries NULL */
   slice_t docs, deferred, deletes, state;
   uint64_t deleted_docs;
   bool direct;
   const char *replaced; /* direct: the records the copy replaces, a uuid[] literal; or NULL */
} view_t;

static slice_t
slice_of(const GString *buf, size_t from, size_t to)
{
   slice_t sl = {buf->str + from, to - from};
   return sl;
}

/* Table t's rows of segments [lo, hi) but those of the documents that keep it, into v
 * (one segment: none; more: a buffer of v's own, v->owned). */
static void
without_kept(const mn_pg_sink_t *s, size_t lo, size_t hi, size_t t, view_t *v)
{
   const size_t *off = (const size_t *)(void *)s->seg_offsets->data;
   size_t nt = s->n_tables, n_segs = s->segs->len;
   const tbl_t *tb = &s->tables[t];
   GString *buf;

   if (hi - lo == 1) {
      v->rows[t].len = 0;
      v->n_rows[t] = 0;
      return;
   }
   if (!v->owned) {
      v->owned = g_new0(GString *, nt);
   }
   buf = v->owned[t] = g_string_new(NULL);
   v->n_rows[t] = 0;
   for (size_t i = lo; i < hi; i++) {
      const seg_t *g = &g_array_index(s->segs, seg_t, i);
      size_t b0 = off[i * 2 * nt + 2 * t], r0 = off[i * 2 * nt + 2 * t + 1];
      size_t b1 = i + 1 < n_segs ? off[(i + 1) * 2 * nt + 2 * t] : tb->buf->len;
      size_t r1 = i + 1 < n_segs ? off[(i + 1) * 2 * nt + 2 * t + 1] : (size_t)tb->rows;
      if (!(g->keep >> t & 1)) {
         g_string_append_len(buf, tb->buf->str + b0, (gssize)(b1 - b0));
         v->n_rows[t] += r1 - r0;
      }
   }
   v->rows[t] = slice_of(buf, 0, buf->len);
}

/* The view of segments [lo, hi) of the queue (without the rows its documents keep: free
 * with view_free()). */
static void
view_range(const mn_pg_sink_t *s, size_t lo, size_t hi, view_t *v)
{
   uint64_t keeps = 0;
   size_t n_segs = s->segs->len;
   const seg_t *first = &g_array_index(s->segs, seg_t, lo);
   const seg_t *end = hi < n_segs ? &g_array_index(s->segs, seg_t, hi) : NULL;
   const size_t *off = (const size_t *)(void *)s->seg_offsets->data;
   size_t nt = s->n_tables;

   v->docs = slice_of(s->docs, first->docs, end ? end->docs : s->docs->len);
   v->deferred = slice_of(s->deferred, first->deferred, end ? end->deferred : s->deferred->len);
   v->deletes = slice_of(s->deletes, first->deletes, end ? end->deletes : s->deletes->len);
   v->state = slice_of(s->state, first->state, end ? end->state : s->state->len);
   v->deleted_docs = (end ? end->deleted_docs : s->pending_deleted_docs) - first->deleted_docs;
   for (size_t t = 0; t < nt; t++) {
      const tbl_t *tb = &s->tables[t];
      size_t b0 = off[lo * 2 * nt + 2 * t], r0 = off[lo * 2 * nt + 2 * t + 1];
      size_t b1 = end ? off[hi * 2 * nt + 2 * t] : tb->buf->len;
      size_t r1 = end ? off[hi * 2 * nt + 2 * t + 1] : (size_t)tb->rows;
      v->rows[t] = slice_of(tb->buf, b0, b1);
      v->n_rows[t] = r1 - r0;
   }
   for (size_t i = lo; i < hi; i++) {
      const seg_t *g = &g_array_index(s->segs, seg_t, i);
      if (!g->keep) {
         continue;
      }
      v->partly++;
      for (size_t t = 0; t < nt && v->kept; t++) {
         v->kept[t] += (uint64_t)g->kept[t];
      }
      keeps |= g->keep;
   }
   for (size_t t = 0; t < nt && t < KEEP_BITS; t++) {
      if (keeps >> t & 1) {
         without_kept(s, lo, hi, t, v);
      }
   }
   v->direct = s->direct[s->collection];
}

/* Free what view_range() made for v (the filtered rows). */
static void
view_free(view_t *v, size_t n_tables)
{
   for (size_t t = 0; v->owned && t < n_tables; t++) {
      if (v->owned[t]) {
         g_string_free(v->owned[t], TRUE);
      }
   }
   g_free(v->owned);
   v->owned = NULL;
}

/* The statement that moves the holders of unique index u aside (vacate_keys), in the
 * savepoint mn_vacate: the documents whose rows were moved aside are recorded with no
 * digest in the same statement, so a run killed before their turn converts them again
 * next time (their placeholder must never pass as their value). */
static GString *
vacate_sql(mn_pg_sink_t *s, const tbl_t *tb, const uindex_t *u)
{
   GString *sql = g_string_new("SAVEPOINT mn_vacate; WITH v AS (");
   GString *tk = g_string_new(NULL), *sk = g_string_new(NULL), *s2k = g_string_new(NULL);

   for (size_t k = 0; k < u->n_columns; k++) {
      g_string_append_printf(tk, "%st.%s", k ? ", " : "", u->columns[k]);
      g_string_append_printf(sk, "%ss.%s", k ? ", " : "", u->columns[k]);
      g_string_append_printf(s2k, "%ss2.%s", k ? ", " : "", u->columns[k]);
   }
   g_string_append_printf(sql, "UPDATE %s t SET %s = ", tb->qname, u->vacate);
   append_placeholder(sql, u, tb->qkey);
   g_string_append_printf(sql,
                          " FROM %s s WHERE (%s) = (%s) AND t.%s <> s.%s "
                          "AND NOT EXISTS (SELECT 1 FROM %s s2 WHERE s2.%s = t.%s "
                          "AND (%s) IS NOT DISTINCT FROM (%s))",
                          tb->stage, tk->str, sk->str, tb->qkey, tb->qkey, tb->stage, tb->qkey,
                          tb->qkey, s2k->str, tk->str);
   if (!u->declared) {
      g_string_append_printf(sql, " AND EXISTS (SELECT 1 FROM %s s3 WHERE s3.%s = t.%s)", tb->stage,
                             tb->qkey, tb->qkey);
   }
   g_string_append_printf(sql,
                          " RETURNING t.%s AS doc) UPDATE mongonorm.documents d "
                          "SET digest = '\\x'::bytea FROM v WHERE d.collection = %s "
                          "AND d.doc_id = v.doc",
                          tb->qdoc, s->qcollection);
   g_string_free(tk, TRUE);
   g_string_free(sk, TRUE);
   g_string_free(s2k, TRUE);
   return sql;
}

/*
 * Move unique keys out of the way before the rows of the batch are written: every row of
 * the table that holds the key of a staged row with another id, and that will not hold it
 * in the new state, takes a placeholder in one column of the key.  Such a holder is a row
 * staged in this batch with other values (a swap, a rotation, an array element shifted
 * into a neighbour's key), or, for a key the mapping declares run-wide, any other row:
 * the converter judged the key against the whole new source, so its holder gives it up
 * later in this run.  Best effort, in a savepoint: a placeholder the table refuses (a
 * CHECK) leaves the rows as they are, and a remaining conflict rejects the document.
 */
static bool
vacate_keys(mn_pg_sink_t *s, size_t t, mn_error_t *error)
{
   tbl_t *tb = &s->tables[t];

   for (size_t i = 0; i < tb->n_uindex; i++) {
      const uindex_t *u = &tb->uindex[i];
      GString *sql;
      PGresult *res;
      bool moved;

      if (!u->vacate) {
         continue;
      }
      sql = vacate_sql(s, tb, u);
      res = PQexec(s->conn, sql->str);
      moved = PQresultStatus(res) == PGRES_COMMAND_OK;
      PQclear(res);
      /* the savepoint ends here: kept, or rolled back to when the table refused */
      PQclear(PQexec(s->conn, moved ? "RELEASE SAVEPOINT mn_vacate"
                                    : "ROLLBACK TO SAVEPOINT mn_vacate; "
                                      "RELEASE SAVEPOINT mn_vacate"));
      g_string_free(sql, TRUE);
      if (PQstatus(s->conn) != CONNECTION_OK) {
         mn_pg__set_error(error, MN_PG_QUERY, s->conn, NULL, "could not move unique keys");
         return false;
      }
   }
   return true;
}

/* The staged row's columns after the key: "s.c1, s.c2, ..." (EXCLUDED exists only in
 * ON CONFLICT). */
static GString *
staged_columns(mn_pg_sink_t *s, const mn_table_t *mt)
{
   GString *staged = g_string_new(NULL);

   for (size_t c = 1; c < mt->n_columns; c++) {
      char *q = mn_pg_quote_ident(s->conn, mt->columns[c]);
      g_string_append_printf(staged, "%ss.%s", c > 1 ? ", " : "", q);
      bson_free(q);
   }
   return staged;
}

/* merge_table for a table nothing points at: a changed row is deleted and inserted
 * again, so no intermediate state of the batch can hold a unique key twice.  old: the
 * target row's columns after the key ("t.c1, ..."). */
static bool
merge_replace(mn_pg_sink_t *s, size_t t, const char *old, const char *doing, uint64_t *ins,
              uint64_t *upd, mn_error_t *error)
{
   const mn_table_t *mt = &s->m->tables[t];
   tbl_t *tb = &s->tables[t];
   GString *staged = staged_columns(s, mt);
   GString *sql = g_string_new(NULL);
   bool ok;

   /* each staged row probes the table by its key (a LATERAL subquery that OFFSET 0 keeps
    * from being flattened), and the row found is deleted by its ctid: planned as a join
    * of the never analysed staging table, this hashed the whole target table at every
    * batch (45,990 symptoms rows for 500 staged: 10-13 ms, 1.2-2.9 ms so) */
   g_string_printf(sql,
                   "WITH gone AS (DELETE FROM %s d USING %s s, LATERAL (SELECT t.ctid AS tid "
                   "FROM %s t WHERE t.%s = s.%s AND (%s%s) IS DISTINCT FROM (%s%s) OFFSET 0) g "
                   "WHERE d.ctid = g.tid RETURNING 1) "
                   "SELECT count(*), 0 FROM gone",
                   tb->qname, tb->stage, tb->qname, tb->qkey, tb->qkey, old,
                   mt->n_columns == 2 ? ", NULL" : "", staged->str,
                   mt->n_columns == 2 ? ", NULL" : "");
   ok = exec_pair(s, sql->str, doing, upd, ins, error);
   if (ok) {
      g_string_printf(sql,
                      "WITH up AS (INSERT INTO %s (%s) SELECT %s FROM %s "
                      "ON CONFLICT (%s) DO NOTHING RETURNING 1) SELECT count(*), 0 FROM up",
                      tb->qname, tb->collist, tb->collist, tb->stage, tb->qkey);
      ok = exec_pair(s, sql->str, doing, ins, &(uint64_t){0}, error);
      *ins = *ins >= *upd ? *ins - *upd : 0;
   }
   g_string_free(sql, TRUE);
   g_string_free(staged, TRUE);
   return ok;
}

/*
 * The upsert of one table from its staging table; counts inserted, updated and unchanged
 * in d.  Only rows whose values differ are written (IS DISTINCT FROM), so an unchanged
 * row costs no new tuple; a table nothing references replaces changed rows instead
 * (merge_replace), a table of the key alone only inserts.
 */
static bool
merge_table(mn_pg_sink_t *s, size_t t, uint64_t staged, delta_t *d, mn_error_t *error)
{
   const mn_table_t *mt = &s->m->tables[t];
   tbl_t *tb = &s->tables[t];
   GString *sql = g_string_new(NULL);
   GString *set = g_string_new(NULL);
   GString *old = g_string_new(NULL);
   GString *new = g_string_new(NULL);
   char doing[512];
   uint64_t ins = 0, upd = 0;
   bool ok;

   for (size_t c = 1; c < mt->n_columns; c++) {
      char *q = mn_pg_quote_ident(s->conn, mt->columns[c]);
      g_string_append_printf(set, "%s%s = EXCLUDED.%s", c > 1 ? ", " : "", q, q);
      g_string_append_printf(old, "%st.%s", c > 1 ? ", " : "", q);
      g_string_append_printf(new, "%sEXCLUDED.%s", c > 1 ? ", " : "", q);
      bson_free(q);
   }
   snprintf(doing, sizeof doing, "could not merge rows into %s", tb->qname);
   if (!tb->referenced && mt->n_columns > 1) {
      ok = merge_replace(s, t, old->str, doing, &ins, &upd, error);
   } else if (mt->n_columns > 1) {
      g_string_printf(sql,
                      "WITH up AS (INSERT INTO %s AS t (%s) SELECT %s FROM %s "
                      "ON CONFLICT (%s) DO UPDATE SET %s WHERE (%s%s) IS DISTINCT FROM (%s%s) "
                      "RETURNING (xmax = 0) AS ins) "
                      "SELECT count(*) FILTER (WHERE ins), count(*) FILTER (WHERE NOT ins) FROM up",
                      tb->qname, tb->collist, tb->collist, tb->stage, tb->qkey, set->str, old->str,
                      mt->n_columns == 2 ? ", NULL" : "", new->str,
                      mt->n_columns == 2 ? ", NULL" : "");
      ok = exec_pair(s, sql->str, doing, &ins, &upd, error);
   } else {
      g_string_printf(sql,
                      "WITH up AS (INSERT INTO %s AS t (%s) SELECT %s FROM %s "
                      "ON CONFLICT (%s) DO NOTHING RETURNING true AS ins) "
                      "SELECT count(*), 0 FROM up",
                      tb->qname, tb->collist, tb->collist, tb->stage, tb->qkey);
      ok = exec_pair(s, sql->str, doing, &ins, &upd, error);
   }
   if (ok) {
      d->inserted = ins;
      d->updated = upd;
      d->unchanged = staged >= ins + upd ? staged - ins - upd : 0;
   }
   g_string_free(sql, TRUE);
   g_string_free(set, TRUE);
   g_string_free(old, TRUE);
   g_string_free(new, TRUE);
   return ok;
}

/* Delete the records of the documents `ids` (a uuid[] literal) of the collection, which
 * the view's records replace (documents recorded as rejected, loaded now). */
static bool
drop_records(mn_pg_sink_t *s, const char *ids, mn_error_t *error)
{
   const char *params[2] = {s->m->collections[s->collection].name, ids};
   PGresult *res = PQexecParams(s->conn,
                                "DELETE FROM mongonorm.documents WHERE collection = $1 "
                                "AND doc_id = ANY ($2::uuid[])",
                                2, NULL, params, NULL, NULL, 0);
   bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

   if (!ok) {
      note_failure(s, res);
      mn_pg__set_error(error, MN_PG_QUERY, s->conn, res, "could not record the documents");
   }
   PQclear(res);
   return ok;
}

/* The state lines of a view, each prefixed with the collection, for a direct COPY. */
static bool
copy_state_direct(mn_pg_sink_t *s, const slice_t *state, mn_error_t *error)
{
   GString *rows = g_string_sized_new(state->len + 64);
   const char *end = state->p + state->len;
   bool ok;

   for (const char *p = state->p; p < end;) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      append_copy_value(rows, s->m->collections[s->collection].name);
      g_string_append_c(rows, '\t');
      g_string_append_len(rows, p, nl - p + 1);
      p = nl + 1;
   }
   ok = copy_all(s, "mongonorm.documents",
                 "collection, doc_id, digest, counts, rejected, reject_path, reason, context, "
                 "rows_digest, refs",
                 rows, error);
   g_string_free(rows, TRUE);
   return ok;
}

/* The condition, ending in AND, that the document d of mn_stage_docs keeps no row of
 * table t (mn_pg_sink_add: its rows there are not staged, and stay as they are). */
static void
not_kept_sql(size_t t, char out[64])
{
   if (t < KEEP_BITS) {
      snprintf(out, 64, "(d.keep & %" PRId64 ") = 0 AND", (int64_t)((uint64_t)1 << t));
   } else {
      out[0] = '\0';
   }
}

/* This document takes a row another document (holder) holds: the holder is converted
 * again, in this run (pending_taken) and, as its record is forgotten in the same
 * transaction, by the next one if this run is killed before the holder's turn. */
static bool
take_row(mn_pg_sink_t *s, const mn_uuid_t *holder, mn_error_t *error)
{
   char text[MN_UUID_TEXT_LEN + 1];
   char *forget;
   bool forgot;

   g_array_append_val(s->pending_taken, *holder);
   mn_uuid_format(holder, text);
   forget = g_strdup_printf("UPDATE mongonorm.documents SET digest = '\\x'::bytea "
                            "WHERE collection = %s AND doc_id = '%s'",
                            s->qcollection, text);
   forgot = exec_ok(s, forget, "could not record a document to convert again", error);
   g_free(forget);
   return forgot;
}

/*
 * A queued document holding a row of table t another one stages: when it keeps its rows of
 * t (not staged, see mn_pg_sink_add), it keeps them no more, from now on (its line of
 * mn_stage_docs rewritten), so that its own piece stages them and PostgreSQL judges them
 * as when nothing is kept: a row taken from it makes its own load fail.  Whether it kept
 * them.
 */
static bool
unkeep(mn_pg_sink_t *s, const mn_uuid_t *holder, size_t t)
{
   for (guint i = 0; t < KEEP_BITS && i < s->segs->len; i++) {
      seg_t *g = &g_array_index(s->segs, seg_t, i);
      if ((g->keep >> t & 1) && memcmp(g->id.bytes, holder->bytes, sizeof g->id.bytes) == 0) {
         g->keep &= ~((uint64_t)1 << t);
         g->kept[t] = 0;
         format_keep(s->docs->str + g->docs + KEEP_AT, g->keep);
         return true;
      }
   }
   return false;
}

/*
 * A staged row whose id is the id of a row of another document, which is not in this
 * piece (or keeps its rows of the table: they stay its own): a sub-document `_id` two
 * documents carry.  The upsert would move the row to
 * this document and the other one would lose it silently, so this document is refused
 * like a primary-key violation in direct mode (the batch is split down to it, and it is
 * rejected with the reason).  Two documents of the batch staging one row id are split
 * apart the same way.  A row moving to this document from one of the same batch that no
 * longer has it is fine: that one's rows were deleted first.
 */
static bool
check_row_owners(mn_pg_sink_t *s, size_t t, mn_error_t *error)
{
   const mn_table_t *mt = &s->m->tables[t];
   tbl_t *tb = &s->tables[t];
   char *sql;
   PGresult *res;
   bool clash = false;
   char keeps_none[64];

   if (mt->is_primary || mt->doc_id_column <= 0) {
      return true;
   }
   not_kept_sql(t, keeps_none);
   /* the holders of staged row ids, outside the batch; then row ids two documents of the
    * batch stage (NULL holder).  Each staged row probes the table by its key (a LATERAL
    * subquery that OFFSET 0 keeps from being flattened): the staging table is never
    * analysed, and a join planned without its size hashed the whole target table. */
   sql = g_strdup_printf("SELECT DISTINCT h.holder, s.%s, "
                         "EXISTS (SELECT 1 FROM mn_stage_docs d WHERE d.id = h.holder) "
                         "FROM %s s, LATERAL (SELECT t.%s AS holder "
                         "FROM %s t WHERE t.%s = s.%s OFFSET 0) h "
                         "WHERE h.holder <> s.%s "
                         "AND NOT EXISTS (SELECT 1 FROM mn_stage_docs d WHERE %s d.id = h.holder) "
                         "UNION ALL (SELECT NULL, NULL, false FROM %s GROUP BY %s "
                         "HAVING count(DISTINCT %s) > 1 LIMIT 1)",
                         tb->qdoc, tb->stage, tb->qdoc, tb->qname, tb->qkey, tb->qkey, tb->qdoc,
                         keeps_none, tb->stage, tb->qkey, tb->qdoc);
   res = sink_exec(s, sql, false, "could not check the rows' documents", error);
   g_free(sql);
   if (!res) {
      return false;
   }
   for (int r = 0; r < PQntuples(res) && !clash; r++) {
      mn_uuid_t holder, stager;
      /* A holder the pass has not reached yet comes later in the source: this document is
       * the first to carry the sub-document, so it takes the row, and the holder is
       * converted again when its turn comes (and refused).  A holder already passed, or
       * two documents of the batch: the later one is refused.  A holder of this piece that
       * kept the table stages it from now on (unkeep): the piece is split as for two
       * documents staging the row; one of a later piece stages it there, and is refused. */
      if (PQgetisnull(res, r, 0) || !mn_uuid_parse(PQgetvalue(res, r, 0), &holder) ||
          !mn_uuid_parse(PQgetvalue(res, r, 1), &stager) || !s->seen ||
          (unkeep(s, &holder, t) && strcmp(PQgetvalue(res, r, 2), "t") == 0) ||
          s->seen(s->seen_ctx, &holder, &stager)) {
         clash = true;
      } else if (!take_row(s, &holder, error)) {
         PQclear(res);
         return false;
      }
   }
   PQclear(res);
   if (clash) {
      snprintf(s->sqlstate, sizeof s->sqlstate, "23505");
      snprintf(s->failed_detail, sizeof s->failed_detail, "%s", ROW_ID_TAKEN);
      mn_set_error(error, MN_ERROR_PG, MN_PG_QUERY, "could not merge rows into %s: %s", tb->qname,
                   s->failed_detail);
      return false;
   }
   return true;
}

void
mn_pg_sink_set_seen(mn_pg_sink_t *s,
                    bool (*seen)(void *ctx, const mn_uuid_t *holder, const mn_uuid_t *doc),
                    void *ctx)
{
   s->seen = seen;
   s->seen_ctx = ctx;
}

size_t
mn_pg_sink_n_taken(const mn_pg_sink_t *s)
{
   return s->taken->len;
}

const mn_uuid_t *
mn_pg_sink_taken(const mn_pg_sink_t *s, size_t i)
{
   return &g_array_index(s->taken, mn_uuid_t, i);
}

void
mn_pg_sink_clear_taken(mn_pg_sink_t *s)
{
   g_array_set_size(s->taken, 0);
}

/* Children first: the rows of the staged documents that their new contents no longer
 * have (but for the tables a document keeps), counted in deltas. */
static bool
delete_dropped_rows(mn_pg_sink_t *s, delta_t *deltas, mn_error_t *error)
{
   for (size_t k = s->n_tables; k-- > 0;) {
      const mn_table_t *mt = &s->m->tables[k];
      tbl_t *tb = &s->tables[k];
      char *sql;
      int64_t n;
      char keeps_none[64];

      if (mt->is_primary || (size_t)mt->collection != s->collection) {
         continue;
      }
      not_kept_sql(k, keeps_none);
      sql = g_strdup_printf("DELETE FROM %s t USING mn_stage_docs d WHERE t.%s = d.id AND %s "
                            "NOT EXISTS (SELECT 1 FROM %s s WHERE s.%s = t.%s)",
                            tb->qname, tb->qdoc, keeps_none, tb->stage, tb->qkey, tb->qkey);
      snprintf(s->failed_table, sizeof s->failed_table, "%s", mt->name);
      n = exec_count(s, sql, "could not remove rows no longer in the source", error);
      g_free(sql);
      if (n < 0) {
         return false;
      }
      deltas[k].deleted = (uint64_t)n;
   }
   return true;
}

/*
 * Merge mode, after the staging COPYs: the rows the staged documents no longer have and
 * the documents gone from the source are deleted first, then each table is merged,
 * parents first (row owners checked, unique keys moved aside, the upsert), and last the
 * documents' records, so that a batch commits the rows and their records together.
 */
static bool
merge_view(mn_pg_sink_t *s, const view_t *v, delta_t *deltas, mn_error_t *error)
{
   char *sql;
   int64_t n;

   if (!delete_dropped_rows(s, deltas, error)) {
      return false;
   }
   if (v->deletes.len) {
      size_t k = (size_t)s->m->collections[s->collection].entries[0].table_index;
      tbl_t *tb = &s->tables[k];
      sql = g_strdup_printf("DELETE FROM %s t USING mn_stage_deletes d WHERE t.%s = d.id;"
                            "DELETE FROM mongonorm.documents m USING mn_stage_deletes d "
                            "WHERE m.collection = %s AND m.doc_id = d.id",
                            tb->qname, tb->qkey, s->qcollection);
      snprintf(s->failed_table, sizeof s->failed_table, "%s", s->m->tables[k].name);
      n = exec_count(s, sql, "could not remove documents no longer in the source", error);
      g_free(sql);
      if (n < 0) {
         return false;
      }
      /* exec_count reports the last statement; count the primary rows separately */
      deltas[k].deleted += v->deleted_docs;
   }
   for (size_t t = 0; t < s->n_tables; t++) {
      if (v->n_rows[t] == 0) {
         continue;
      }
      snprintf(s->failed_table, sizeof s->failed_table, "%s", s->m->tables[t].name);
      if (!check_row_owners(s, t, error) || !vacate_keys(s, t, error) ||
          !merge_table(s, t, v->n_rows[t], &deltas[t], error)) {
         return false;
      }
   }
   if (v->state.len) {
      sql = g_strdup_printf(
         "INSERT INTO mongonorm.documents (collection, doc_id, digest, counts, "
         "rejected, reject_path, reason, context, rows_digest, refs) "
         "SELECT %s, doc_id, digest, counts, rejected, reject_path, reason, "
         "context, rows_digest, refs FROM mn_stage_state "
         "ON CONFLICT (collection, doc_id) DO UPDATE "
         "SET digest = EXCLUDED.digest, counts = EXCLUDED.counts, row_counts = NULL, "
         "rejected = EXCLUDED.rejected, reject_path = EXCLUDED.reject_path, "
         "reason = EXCLUDED.reason, context = EXCLUDED.context, "
         "rows_digest = EXCLUDED.rows_digest, refs = EXCLUDED.refs",
         s->qcollection);
      n = exec_count(s, sql, "could not record the documents", error);
      g_free(sql);
      if (n < 0) {
         return false;
      }
   }
   return true;
}

/* COPY the view's rows: straight into the tables (direct mode) or into the staging tables. */
static bool
copy_view(mn_pg_sink_t *s, const view_t *v, delta_t *deltas, mn_error_t *error)
{
   for (size_t t = 0; t < s->n_tables; t++) {
      tbl_t *tb = &s->tables[t];
      if (v->n_rows[t] == 0) {
         continue;
      }
      snprintf(s->failed_table, sizeof s->failed_table, "%s", s->m->tables[t].name);
      if (!copy_in(s, v->direct ? tb->qname : tb->stage, tb->collist, tb->binary, v->rows[t].p,
                   v->rows[t].len, error)) {
         return false;
      }
      if (v->direct) {
         deltas[t].inserted = v->n_rows[t];
      }
   }
   s->failed_table[0] = '\0';
   if (v->direct) {
      return !v->state.len || ((!v->replaced || drop_records(s, v->replaced, error)) &&
                               copy_state_direct(s, &v->state, error));
   }
   return copy_in(s, "mn_stage_docs", "id, keep", false, v->docs.p, v->docs.len, error) &&
          (!v->deletes.len ||
           copy_in(s, "mn_stage_deletes", "id", false, v->deletes.p, v->deletes.len, error)) &&
          (!v->state.len ||
           copy_in(
              s, "mn_stage_state",
              "doc_id, digest, counts, rejected, reject_path, reason, context, rows_digest, refs",
              false, v->state.p, v->state.len, error));
}

/*
 * One piece of the open batch transaction, in a savepoint: the view's rows, deletions and
 * records.  Kept (released) when PostgreSQL takes them, with their statistics added to the
 * batch's; rolled back to the savepoint when it refuses them, leaving the batch as it was.
 * Deferrable constraints are checked at the end of the piece, so a refusal is known (and
 * its documents found) before anything commits.
 */
static bool
apply_view(mn_pg_sink_t *s, const view_t *v, mn_error_t *error)
{
   delta_t *deltas = g_new0(delta_t, s->n_tables ? s->n_tables : 1);
   guint taken_before = s->pending_taken->len;
   bool ok = false;

   s->sqlstate[0] = '\0';
   s->failed_table[0] = '\0';
   /* the staging tables hold an earlier piece's rows until the batch commits */
   if (s->stage_dirty &&
       !exec_ok(s, s->truncate_stage, "could not clear the staging tables", error)) {
      goto cleanup;
   }
   s->stage_dirty = false;
   if (!exec_ok(s, "SAVEPOINT mn_piece", "could not start a batch", error) ||
       (s->deferred_again && !exec_ok(s, s->deferred_again, "could not start a batch", error))) {
      goto cleanup;
   }
   if (!copy_view(s, v, deltas, error) || (!v->direct && !merge_view(s, v, deltas, error))) {
      goto rollback;
   }
   s->failed_table[0] = '\0';
   if (v->deferred.len &&
       !copy_in(s, "mongonorm.deferred_refs", "collection, tbl, col, ref_tbl, row_id, ref_id",
                false, v->deferred.p, v->deferred.len, error)) {
      goto rollback;
   }
   if (s->any_deferrable &&
       !exec_ok(s, "SET CONSTRAINTS ALL IMMEDIATE", "could not check the batch", error)) {
      goto rollback;
   }
   if (!exec_ok(s, "RELEASE SAVEPOINT mn_piece", "could not load a batch", error)) {
      goto rollback;
   }
   s->stage_dirty = !v->direct;
   for (size_t t = 0; t < s->n_tables; t++) {
      s->flush_deltas[t].inserted += deltas[t].inserted;
      s->flush_deltas[t].updated += deltas[t].updated;
      s->flush_deltas[t].deleted += deltas[t].deleted;
      s->flush_deltas[t].unchanged += deltas[t].unchanged + (v->kept ? v->kept[t] : 0);
   }
   s->flush_partly += v->partly;
   ok = true;
   goto cleanup;

rollback:
   PQclear(PQexec(s->conn, "ROLLBACK TO SAVEPOINT mn_piece; RELEASE SAVEPOINT mn_piece"));
   g_array_set_size(s->pending_taken, taken_before);
cleanup:
   g_free(deltas);
   return ok;
}

/*
 * Whether the last failure is the data's, not the server's: a data exception (22), an
 * integrity constraint (23: not null, foreign key, unique, check), an upsert meeting one
 * row twice (21000: two documents of the batch with one row id), a program limit (54:
 * a row too big for an index), an exception a trigger raised (P0) or a row-level security
 * policy refusing a row (42501, policy_refusal: not a missing privilege).  Then the batch is
 * split to find the documents at fault; anything else (a lost connection, a server
 * restarting) stops the run with nothing of the batch written.
 */
static bool
document_error(const mn_pg_sink_t *s)
{
   return PQstatus(s->conn) == CONNECTION_OK &&
          (strncmp(s->sqlstate, "22", 2) == 0 || strncmp(s->sqlstate, "23", 2) == 0 ||
           strcmp(s->sqlstate, "21000") == 0 || strncmp(s->sqlstate, "54", 2) == 0 ||
           strncmp(s->sqlstate, "P0", 2) == 0 || s->policy_refused);
}

/*
 * A document PostgreSQL will not take: it is rejected (its reason names the table and
 * PostgreSQL's primary message, never values), its record says so, and rows an earlier
 * run loaded for it go, as a fresh load would not have them.  A piece of the batch of its own.
 */
static bool
reject_segment(mn_pg_sink_t *s, size_t i, mn_error_t *error)
{
   seg_t *g = &g_array_index(s->segs, seg_t, i);
   GString *docs = g_string_new(NULL), *deletes = g_string_new(NULL), *state = g_string_new(NULL);
   slice_t *none = g_new0(slice_t, s->n_tables ? s->n_tables : 1);
   uint64_t *zero = g_new0(uint64_t, s->n_tables ? s->n_tables : 1);
   load_reject_t lr;
   view_t v;
   bool ok;

   memset(&lr, 0, sizeof lr);
   lr.id = g->id;
   lr.id_json = g->id_json;
   lr.doc = g->doc;
   g->id_json = NULL;
   g->doc = NULL;
   lr.reason = g_strdup_printf("PostgreSQL refused the rows of table \"%s\": %s",
                               *s->failed_table ? s->failed_table : "?", s->failed_detail);
   if (!s->final) {
      /* It will be tried again (mn_pg_sink_set_final): its rows from an earlier run stay
       * until then, since removing them would also remove, or clear, through the target's
       * foreign keys, the rows of other documents that refer to it. */
      g_array_append_val(s->load_rejects, lr);
      g_string_free(docs, TRUE);
      g_string_free(deletes, TRUE);
      g_string_free(state, TRUE);
      g_free(none);
      g_free(zero);
      return true;
   }
   mn_pg__append_copy_uuid(deletes, &g->id);
   g_string_append_c(deletes, '\n');
   g_string_append_len(docs, deletes->str, (gssize)deletes->len - 1);
   g_string_append(docs, "\t0\n");
   /* Recorded with no digest: what PostgreSQL refused may depend on other documents (a
    * foreign key, a key another document held), so the next run converts it again. */
   memset(g->digest, 0, sizeof g->digest);
   append_state(s, state, &g->id, g->digest, NULL, "", lr.reason, NULL, 0, NULL);
   memset(&v, 0, sizeof v);
   v.rows = none;
   v.n_rows = zero;
   v.docs = slice_of(docs, 0, docs->len);
   v.deletes = slice_of(deletes, 0, deletes->len);
   v.deleted_docs = 0;
   v.state = slice_of(state, 0, state->len);
   v.direct = false;
   mn_error_clear(error);
   ok = apply_view(s, &v, error);
   if (ok) {
      g_array_append_val(s->load_rejects, lr);
   } else {
      bson_free(lr.id_json);
      if (lr.doc) {
         bson_destroy(lr.doc);
      }
      g_free(lr.reason);
   }
   g_string_free(docs, TRUE);
   g_string_free(deletes, TRUE);
   g_string_free(state, TRUE);
   g_free(none);
   g_free(zero);
   return ok;
}

/* The ids of the documents of segments [lo, hi) recorded as rejected, whose records a
 * direct copy replaces, as a uuid[] literal; NULL when there are none. */
static char *
replaced_records(const mn_pg_sink_t *s, size_t lo, size_t hi)
{
   GString *ids = NULL;

   for (size_t i = lo; i < hi; i++) {
      const seg_t *g = &g_array_index(s->segs, seg_t, i);
      if (!g->replaces) {
         continue;
      }
      if (!ids) {
         ids = g_string_new("{");
      } else {
         g_string_append_c(ids, ',');
      }
      mn_pg__append_copy_uuid(ids, &g->id);
   }
   if (!ids) {
      return NULL;
   }
   g_string_append_c(ids, '}');
   return g_string_free(ids, FALSE);
}

/* Whether every segment of [lo, hi) is a document no row of the target is its own. */
static bool
range_unrecorded(const mn_pg_sink_t *s, size_t lo, size_t hi)
{
   for (size_t i = lo; i < hi; i++) {
      if (!g_array_index(s->segs, seg_t, i).unrecorded) {
         return false;
      }
   }
   return true;
}

/*
 * The view of the segments of [lo, hi) that are unrecorded (or recorded: `unrecorded`
 * false), in their order, in buffers of its own: bufs, n_tables + 4 of them, which the
 * caller frees (free_part); v's per-table arrays are the caller's, zeroed.
 */
static void
view_part(const mn_pg_sink_t *s, size_t lo, size_t hi, bool unrecorded, view_t *v, GString **bufs)
{
   size_t nt = s->n_tables;
   slice_t *rows = g_new0(slice_t, nt ? nt : 1);
   uint64_t *n_rows = g_new0(uint64_t, nt ? nt : 1);
   uint64_t *kept = g_new0(uint64_t, nt ? nt : 1);
   slice_t *parts[4] = {&v->docs, &v->deferred, &v->deletes, &v->state};

   for (size_t b = 0; b < nt + 4; b++) {
      bufs[b] = g_string_new(NULL);
   }
   for (size_t i = lo; i < hi; i++) {
      view_t one;
      if (g_array_index(s->segs, seg_t, i).unrecorded != unrecorded) {
         continue;
      }
      memset(&one, 0, sizeof one);
      memset(kept, 0, sizeof(uint64_t) * (nt ? nt : 1));
      one.rows = rows;
      one.n_rows = n_rows;
      one.kept = kept;
      view_range(s, i, i + 1, &one);
      for (size_t t = 0; t < nt; t++) {
         g_string_append_len(bufs[t], one.rows[t].p, (gssize)one.rows[t].len);
         v->n_rows[t] += one.n_rows[t];
         v->kept[t] += one.kept[t];
      }
      g_string_append_len(bufs[nt], one.docs.p, (gssize)one.docs.len);
      g_string_append_len(bufs[nt + 1], one.deferred.p, (gssize)one.deferred.len);
      g_string_append_len(bufs[nt + 2], one.deletes.p, (gssize)one.deletes.len);
      g_string_append_len(bufs[nt + 3], one.state.p, (gssize)one.state.len);
      v->deleted_docs += one.deleted_docs;
      v->partly += one.partly;
   }
   for (size_t t = 0; t < nt; t++) {
      v->rows[t] = slice_of(bufs[t], 0, bufs[t]->len);
   }
   for (size_t b = 0; b < 4; b++) {
      *parts[b] = slice_of(bufs[nt + b], 0, bufs[nt + b]->len);
   }
   g_free(rows);
   g_free(n_rows);
   g_free(kept);
}

/* One part of a split batch (load_split): its unrecorded documents copied straight in, or
 * its recorded ones merged; a piece of its own (apply_view). */
static bool
apply_part(mn_pg_sink_t *s, size_t lo, size_t hi, bool unrecorded, mn_error_t *error)
{
   size_t nt = s->n_tables;
   GString **bufs = g_new0(GString *, nt + 4);
   view_t v;
   bool ok;

   memset(&v, 0, sizeof v);
   v.rows = g_new0(slice_t, nt ? nt : 1);
   v.n_rows = g_new0(uint64_t, nt ? nt : 1);
   v.kept = g_new0(uint64_t, nt ? nt : 1);
   view_part(s, lo, hi, unrecorded, &v, bufs);
   v.direct = unrecorded;
   v.replaced = unrecorded ? replaced_records(s, lo, hi) : NULL;
   ok = apply_view(s, &v, error);
   g_free((char *)v.replaced);
   g_free(v.rows);
   g_free(v.n_rows);
   g_free(v.kept);
   for (size_t b = 0; b < nt + 4; b++) {
      g_string_free(bufs[b], TRUE);
   }
   g_free(bufs);
   return ok;
}

/* Whether [lo, hi) mixes documents to copy (unrecorded, with rows) with recorded ones. */
static bool
range_mixed(const mn_pg_sink_t *s, size_t lo, size_t hi)
{
   bool copy = false, merge = false;

   for (size_t i = lo; i < hi && !(copy && merge); i++) {
      const seg_t *g = &g_array_index(s->segs, seg_t, i);
      copy = copy || (g->unrecorded && g->rows);
      merge = merge || !g->unrecorded;
   }
   return copy && merge;
}

/*
 * A merge-mode batch that mixes unrecorded documents with recorded ones: the unrecorded
 * ones are copied straight in (as a range of them alone is, see load_range), then the
 * recorded ones merged, each part a piece, both in one savepoint.  The result is the
 * whole batch merged whenever neither part is refused and no row changes owner: every
 * document's rows land, and the unrecorded ones had none to compare with.  When
 * PostgreSQL refuses a part, or a recorded document takes a row a copied one holds
 * (take_row), everything is rolled back to the savepoint and the batch is merged whole,
 * so who keeps a key or a row is what the source order says.
 * Returns 1 when loaded, 0 when rolled back (error cleared), -1 on any other failure.
 */
static int
load_split(mn_pg_sink_t *s, size_t lo, size_t hi, mn_error_t *error)
{
   size_t nt = s->n_tables ? s->n_tables : 1;
   delta_t *deltas = g_memdup2(s->flush_deltas, sizeof(delta_t) * nt);
   uint64_t partly = s->flush_partly;
   guint taken = s->pending_taken->len;
   int r = -1;

   if (!exec_ok(s, "SAVEPOINT mn_split", "could not load a batch", error)) {
      g_free(deltas);
      return -1;
   }
   if (apply_part(s, lo, hi, true, error) && apply_part(s, lo, hi, false, error) &&
       s->pending_taken->len == taken) {
      r = exec_ok(s, "RELEASE SAVEPOINT mn_split", "could not load a batch", error) ? 1 : -1;
      s->pieces_copied += r == 1;
   } else if (PQstatus(s->conn) == CONNECTION_OK &&
              (s->pending_taken->len != taken || document_error(s))) {
      mn_error_clear(error);
      r = exec_ok(s, "ROLLBACK TO SAVEPOINT mn_split; RELEASE SAVEPOINT mn_split",
                  "could not load a batch", error)
             ? 0
             : -1;
      memcpy(s->flush_deltas, deltas, sizeof(delta_t) * nt);
      s->flush_partly = partly;
      g_array_set_size(s->pending_taken, taken);
      s->stage_dirty = true;
   }
   g_free(deltas);
   return r;
}

/*
 * Load segments [lo, hi); on a document's failure, halves until it is found (as pgloader).
 *
 * In merge mode, a range of unrecorded documents only (new in the source, or never loaded)
 * is first copied straight into the tables, as a full load does: no row of the target is
 * theirs (a document's rows and its record commit together), so the merge's deletions and
 * replacements have nothing to do, and its probes by key cost as much as the rows.  When
 * PostgreSQL refuses that (a row id or a unique key another document holds, which the merge
 * settles: first in the source wins), the range is merged as usual.  A whole batch that
 * mixes them with recorded documents is split first (load_split).
 */
static bool
load_range(mn_pg_sink_t *s, size_t lo, size_t hi, mn_error_t *error)
{
   slice_t *rows;
   uint64_t *n_rows, *kept;
   view_t v;
   bool ok;

   if (lo == 0 && hi == s->segs->len && !s->direct[s->collection] && s->copy_new[s->collection] &&
       range_mixed(s, lo, hi)) {
      int split = load_split(s, lo, hi, error);
      if (split != 0) {
         return split > 0;
      }
   }
   rows = g_new0(slice_t, s->n_tables ? s->n_tables : 1);
   n_rows = g_new0(uint64_t, s->n_tables ? s->n_tables : 1);
   kept = g_new0(uint64_t, s->n_tables ? s->n_tables : 1);
   memset(&v, 0, sizeof v);
   v.rows = rows;
   v.n_rows = n_rows;
   v.kept = kept;
   view_range(s, lo, hi, &v);
   if (!v.direct && s->copy_new[s->collection] && range_unrecorded(s, lo, hi)) {
      char *replaced = replaced_records(s, lo, hi);
      v.direct = true;
      v.replaced = replaced;
      ok = apply_view(s, &v, error);
      v.replaced = NULL;
      g_free(replaced);
      s->pieces_copied += ok;
      if (!ok && document_error(s)) {
         mn_error_clear(error);
         v.direct = false;
         ok = apply_view(s, &v, error);
      }
   } else {
      ok = apply_view(s, &v, error);
   }
   view_free(&v, s->n_tables);
   g_free(rows);
   g_free(n_rows);
   g_free(kept);
   if (ok || !document_error(s)) {
      return ok;
   }
   if (hi - lo == 1) {
      if (!g_array_index(s->segs, seg_t, lo).rows) {
         return false; /* a deletion the target refuses: not a document's fault */
      }
      return reject_segment(s, lo, error);
   }
   mn_error_clear(error);
   return load_range(s, lo, lo + (hi - lo) / 2, error) &&
          load_range(s, lo + (hi - lo) / 2, hi, error);
}

/*
 * The staging tables of a merge-mode batch, or of a final one (reject_segment records a
 * refused document through them in direct mode too), created in s's session by one
 * statement before the first such batch, outside its transaction (a batch rolled back,
 * or a dry run's savepoint, would take them away): a run that only loads directly, or a
 * re-run that changes nothing, never creates them.
 */
static bool
ensure_staging(mn_pg_sink_t *s, mn_error_t *error)
{
   if (s->staged || s->is_twin || (s->direct[s->collection] && !s->final)) {
      return true;
   }
   s->staged = exec_ok(s, s->create_stage, "could not create a staging table", error);
   return s->staged;
}

/*
 * The batch transaction of s's queue: BEGIN, every piece (load_range), in final mode the
 * caller's last word (the guard), the one COMMIT; what the pieces wrote is left in
 * s->flush_deltas, the rows taken in s->taken, the refused documents in s->load_rejects.
 * Touches only s's queue, results and connection, so it runs as well on the loader's
 * thread for the twin (load_job) as on the caller's for the sink itself.
 */
static bool
load_batch(mn_pg_sink_t *s, mn_error_t *error)
{
   bool ok;

   memset(s->flush_deltas, 0, sizeof(delta_t) * (s->n_tables ? s->n_tables : 1));
   s->pieces_copied = 0;
   s->flush_partly = 0;
   g_array_set_size(s->pending_taken, 0);
   if (!ensure_staging(s, error) ||
       !mn_pg__begin(s->conn, LOADING, "could not start a batch", error)) {
      return false;
   }
   /* a dry run's savepoints keep the staging rows a COMMIT deletes */
   s->stage_dirty = s->staged && mn_pg_is_dry_run(s->conn);
   ok = load_range(s, 0, s->segs->len, error) &&
        (!s->final || !s->guard || s->guard(s->guard_ctx, error));
   if (!ok) {
      mn_pg__rollback(s->conn);
      return false;
   }
   if (!mn_pg__commit(s->conn, "could not commit a batch", error)) {
      return false;
   }
   g_array_append_vals(s->taken, s->pending_taken->data, s->pending_taken->len);
   g_array_set_size(s->pending_taken, 0);
   return true;
}

/* A committed batch of `collection` in the statistics (on the sink's thread only). */
static void
count_batch(mn_pg_sink_t *s, size_t collection, const delta_t *deltas, bool overlapped, bool copied,
            uint64_t partly)
{
   mn_collection_counts_t *k = mn_stats_collection(s->stats, s->m->collections[collection].name);

   for (size_t t = 0; t < s->n_tables; t++) {
      mn_table_counts_t *c = mn_stats_table(s->stats, s->m->tables[t].name);
      c->inserted += deltas[t].inserted;
      c->updated += deltas[t].updated;
      c->deleted += deltas[t].deleted;
      c->unchanged += deltas[t].unchanged;
   }
   k->batches++;
   k->batches_overlapped += overlapped;
   k->batches_copied += copied;
   k->partly_unchanged += partly;
}

static bool
queue_empty(const mn_pg_sink_t *s)
{
   return s->n_docs == 0 && s->segs->len == 0;
}

bool
mn_pg_sink_flush(mn_pg_sink_t *s, mn_error_t *error)
{
   if (!mn_pg_sink_wait(s, error)) {
      return false;
   }
   if (queue_empty(s)) {
      return true;
   }
   if (!load_batch(s, error)) {
      return false;
   }
   count_batch(s, s->collection, s->flush_deltas, false, s->pieces_copied > 0, s->flush_partly);
   reset_queue(s);
   return true;
}

/* ---- overlap: the loader and the sink's twin ---- */

/*
 * The twin of s: a sink object for the loader's session that borrows s's mapping, table
 * names, indexes and constraint settings (never freed through it: free_queue) and owns
 * only a queue and its results.  It loads direct, non-final batches only, so it needs none
 * of the staging tables (temporary tables of s's session), the guard, the source order or
 * the statistics.
 */
static mn_pg_sink_t *
twin_new(const mn_pg_sink_t *s)
{
   mn_pg_sink_t *t = alloc_queue(s->m);

   t->is_twin = true;
   memcpy(t->tables, s->tables, sizeof(tbl_t) * s->n_tables);
   for (size_t i = 0; i < s->n_tables; i++) {
      t->tables[i].buf = g_string_new(NULL);
      t->tables[i].rows = 0;
   }
   t->truncate_stage = s->truncate_stage;
   t->deferred_again = s->deferred_again;
   t->any_deferrable = s->any_deferrable;
   return t;
}

static void
swap_string(GString **a, GString **b)
{
   GString *t = *a;

   *a = *b;
   *b = t;
}

static void
swap_array(GArray **a, GArray **b)
{
   GArray *t = *a;

   *a = *b;
   *b = t;
}

static void
swap_count(uint64_t *a, uint64_t *b)
{
   uint64_t t = *a;

   *a = *b;
   *b = t;
}

static void
swap_size(size_t *a, size_t *b)
{
   size_t t = *a;

   *a = *b;
   *b = t;
}

/* Exchange the queues of a and b (buffers, segments, counts); capacity is kept, so the
 * two queues take turns without growing again. */
static void
swap_queue(mn_pg_sink_t *a, mn_pg_sink_t *b)
{
   for (size_t i = 0; i < a->n_tables; i++) {
      swap_string(&a->tables[i].buf, &b->tables[i].buf);
      swap_count(&a->tables[i].rows, &b->tables[i].rows);
   }
   swap_string(&a->docs, &b->docs);
   swap_string(&a->deferred, &b->deferred);
   swap_string(&a->deletes, &b->deletes);
   swap_string(&a->state, &b->state);
   swap_array(&a->segs, &b->segs);
   swap_array(&a->seg_offsets, &b->seg_offsets);
   swap_size(&a->n_docs, &b->n_docs);
   swap_size(&a->n_records, &b->n_records);
   swap_count(&a->pending_deleted_docs, &b->pending_deleted_docs);
   swap_size(&a->doc_bytes, &b->doc_bytes);
}

/* The loader's thread: the twin's batch on the loader's session. */
static bool
load_job(void *ctx, PGconn *conn, mn_error_t *error)
{
   mn_pg_sink_t *twin = ctx;

   twin->conn = conn;
   return load_batch(twin, error);
}

/* The loader's first job: mn_pg_sink_set_loader_sql()'s statement. */
static bool
setup_job(void *ctx, PGconn *conn, mn_error_t *error)
{
   return mn_pg_exec(conn, ctx, error);
}

/* Whether batches can be overlapped: the loader and the twin, made at the first call.
 * When no second session can be had (a connection limit, the loader lock held, its setup
 * statement failing), every batch is loaded synchronously, as before overlap existed. */
static bool
have_loader(mn_pg_sink_t *s)
{
   mn_error_t ignored = {0};

   if (!s->loader && !s->sync_only) {
      s->loader = mn_pg__loader_new(s->conn, &ignored);
      if (s->loader && s->loader_sql) {
         mn_pg__loader_start(s->loader, setup_job, s->loader_sql);
         if (!mn_pg__loader_wait(s->loader, &ignored)) {
            mn_pg__loader_destroy(s->loader);
            s->loader = NULL;
         }
      }
      s->sync_only = s->loader == NULL;
      s->twin = s->loader ? twin_new(s) : NULL;
   }
   return s->loader != NULL;
}

void
mn_pg_sink_set_loader_sql(mn_pg_sink_t *s, const char *sql)
{
   g_free(s->loader_sql);
   s->loader_sql = g_strdup(sql);
}

bool
mn_pg_sink_submit(mn_pg_sink_t *s, mn_error_t *error)
{
   mn_pg_sink_t *t;

   if (!mn_pg_sink_wait(s, error)) {
      return false;
   }
   if (queue_empty(s)) {
      return true;
   }
   if (s->final || !s->direct[s->collection] || !have_loader(s)) {
      return mn_pg_sink_flush(s, error);
   }
   /* what the batch is loaded under, as this sink has it now; then its queue */
   t = s->twin;
   t->collection = s->collection;
   t->direct[s->collection] = true;
   t->final = false;
   t->context = s->context;
   t->qcollection = s->qcollection;
   swap_queue(s, t);
   mn_pg__loader_start(s->loader, load_job, t);
   return true;
}

bool
mn_pg_sink_in_flight(const mn_pg_sink_t *s)
{
   return mn_pg__loader_busy(s->loader);
}

bool
mn_pg_sink_wait(mn_pg_sink_t *s, mn_error_t *error)
{
   mn_pg_sink_t *t = s->twin;
   bool ok;

   if (!mn_pg__loader_busy(s->loader)) {
      return true;
   }
   ok = mn_pg__loader_wait(s->loader, error);
   /* the refused documents move over (owned by the sink now), also when the batch failed
    * after finding them, as a synchronous flush keeps them listed */
   g_array_append_vals(s->load_rejects, t->load_rejects->data, t->load_rejects->len);
   g_array_set_size(t->load_rejects, 0);
   if (ok) {
      g_array_append_vals(s->taken, t->taken->data, t->taken->len);
      g_array_set_size(t->taken, 0);
      count_batch(s, t->collection, t->flush_deltas, true, false, 0);
   }
   reset_queue(t);
   return ok;
}

void
mn_pg_sink_set_guard(mn_pg_sink_t *s, mn_pg_sink_guard_fn guard, void *ctx)
{
   s->guard = guard;
   s->guard_ctx = ctx;
}

size_t
mn_pg_sink_n_load_rejects(const mn_pg_sink_t *s)
{
   return s->load_rejects->len;
}

void
mn_pg_sink_load_reject(const mn_pg_sink_t *s, size_t i, const mn_uuid_t **id, const char **id_json,
                       const bson_t **doc, const char **reason)
{
   const load_reject_t *lr = &g_array_index(s->load_rejects, load_reject_t, i);

   *id = &lr->id;
   *id_json = lr->id_json ? lr->id_json : "null";
   *doc = lr->doc;
   *reason = lr->reason;
}

void
mn_pg_sink_clear_load_rejects(mn_pg_sink_t *s)
{
   for (guint i = 0; i < s->load_rejects->len; i++) {
      load_reject_t *lr = &g_array_index(s->load_rejects, load_reject_t, i);
      bson_free(lr->id_json);
      if (lr->doc) {
         bson_destroy(lr->doc);
      }
      g_free(lr->reason);
   }
   g_array_set_size(s->load_rejects, 0);
}

/* NULL one reference column of a table where its target row is gone; counts them. */
static bool
sweep_column(mn_pg_sink_t *s, size_t t, const mn_column_t *c, mn_error_t *error)
{
   const mn_collection_t *target = &s->m->collections[c->ref_collection];
   tbl_t *tb = &s->tables[t];
   tbl_t *rt = &s->tables[target->entries[0].table_index];
   char *col = mn_pg_quote_ident(s->conn, s->m->tables[t].columns[c->table_column]);
   char *sql = g_strdup_printf("UPDATE %s t SET %s = NULL WHERE t.%s IS NOT NULL AND NOT EXISTS "
                               "(SELECT 1 FROM %s r WHERE r.%s = t.%s)",
                               tb->qname, col, col, rt->qname, rt->qkey, col);
   const char *doing = "could not clear references to documents gone";
   int64_t n = mn_pg__begin(s->conn, LOADING, doing, error) ? exec_count(s, sql, doing, error) : -2;
   bool ok = n >= 0 && mn_pg__commit(s->conn, doing, error);

   if (n == -1) {
      mn_pg__rollback(s->conn);
   }
   for (int64_t k = 0; ok && k < n; k++) {
      mn_stats_count_coercion(s->stats, s->m->tables[t].name, c->name,
                              "reference to a document not loaded stored as NULL");
   }
   g_free(sql);
   bson_free(col);
   return ok;
}

bool
mn_pg_sink_sweep_references(mn_pg_sink_t *s, size_t collection, mn_error_t *error)
{
   const mn_collection_t *coll = &s->m->collections[collection];

   if (!mn_pg_sink_wait(s, error)) {
      return false;
   }
   for (size_t ei = 0; ei < coll->n_entries; ei++) {
      const mn_entry_t *e = &coll->entries[ei];
      for (size_t k = 0; k <= e->n_shapes; k++) {
         const mn_column_t *cols = k == 0 ? e->columns : e->shapes[k - 1].columns;
         size_t nc = k == 0 ? e->n_columns : e->shapes[k - 1].n_columns;
         for (size_t i = 0; i < nc; i++) {
            /* a hashed or redacted reference holds no row id to look up (docs/mapping.md) */
            if (cols[i].ref_collection == (int)collection && !MN_COLUMN_IS_PHI(&cols[i]) &&
                !sweep_column(s, (size_t)e->table_index, &cols[i], error)) {
               return false;
            }
         }
      }
   }
   return true;
}

/* Set the deferred references of one group (row g of `groups`: collection, table t,
 * column, referenced table r) and drop the group from mongonorm.deferred_refs; t < 0
 * (a table the mapping no longer has): only dropped.  The references set, or -1. */
static int64_t
apply_deferred_group(mn_pg_sink_t *s, const PGresult *groups, int g, int t, int r,
                     mn_error_t *error)
{
   const char *from = PQgetvalue(groups, g, 0), *tbl = PQgetvalue(groups, g, 1);
   const char *colname = PQgetvalue(groups, g, 2), *ref = PQgetvalue(groups, g, 3);
   char *qf = PQescapeLiteral(s->conn, from, strlen(from));
   char *qt = PQescapeLiteral(s->conn, tbl, strlen(tbl));
   char *qc = PQescapeLiteral(s->conn, colname, strlen(colname));
   char *qr = PQescapeLiteral(s->conn, ref, strlen(ref));
   char *sql;
   int64_t n = 0;

   if (t >= 0) {
      char *col = mn_pg_quote_ident(s->conn, colname);
      sql = g_strdup_printf(
         "UPDATE %s t SET %s = d.ref_id FROM mongonorm.deferred_refs d "
         "WHERE d.collection = %s AND d.tbl = %s AND d.col = %s AND d.ref_tbl = %s "
         "AND t.%s = d.row_id AND EXISTS (SELECT 1 FROM %s r WHERE r.%s = d.ref_id)",
         s->tables[t].qname, col, qf, qt, qc, qr, s->tables[t].qkey, s->tables[r].qname,
         s->tables[r].qkey);
      n = exec_count(s, sql, "could not set deferred references", error);
      g_free(sql);
      bson_free(col);
   }
   if (n >= 0) {
      sql = g_strdup_printf("DELETE FROM mongonorm.deferred_refs WHERE collection = %s AND "
                            "tbl = %s AND col = %s AND ref_tbl = %s",
                            qf, qt, qc, qr);
      if (!exec_ok(s, sql, "could not set deferred references", error)) {
         n = -1;
      }
      g_free(sql);
   }
   PQfreemem(qf);
   PQfreemem(qt);
   PQfreemem(qc);
   PQfreemem(qr);
   return n;
}

void
mn_pg_sink_set_loaded(mn_pg_sink_t *s, const bool *loaded)
{
   s->loaded = loaded;
}

/* Whether a group of deferred references (held by collection `from`, into table r) is set
 * at the end of `collection`: its target is loaded by now; with mn_pg_sink_set_loaded(),
 * also one of the two is `collection` and the other loaded (another connection may be
 * loading any other collection). */
static bool
deferred_group_due(const mn_pg_sink_t *s, const char *from, size_t r, size_t collection)
{
   size_t target = mn_mapping_table_collection(s->m, r);
   int f = mn_mapping_collection_index(s->m, from);

   if (!s->loaded) {
      return target <= collection;
   }
   if (f < 0) {
      return target == collection; /* held by a collection the mapping no longer has */
   }
   if ((size_t)f == collection) {
      return target == collection || s->loaded[target];
   }
   return target == collection && s->loaded[f];
}

/*
 * Set the deferred references (mongonorm.deferred_refs) whose target collection is loaded
 * by now: `collection` or an earlier one in mapping order.  So references into the
 * collection itself are set at its end, and references of an earlier collection into
 * this one (a forward reference) at the end of this one, once its rows are there.  The
 * others wait in the table, which a crashed run leaves as it was: they are set when their
 * target's collection ends, in this run or the next.  What finds no target row stays
 * NULL, counted.  All in one transaction.
 */
bool
mn_pg_sink_end_collection(mn_pg_sink_t *s, size_t collection, mn_error_t *error)
{
   PGresult *groups;
   bool begun = false;

   if (!mn_pg_sink_flush(s, error)) {
      return false;
   }
   /* nothing queued, nothing in flight (the flush waited) */
   shrink_queue(s);
   if (s->twin) {
      shrink_queue(s->twin);
   }
   groups = mn_pg__query(s->conn,
                         "SELECT collection, tbl, col, ref_tbl, count(*) "
                         "FROM mongonorm.deferred_refs GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
                         0, NULL, PGRES_TUPLES_OK, "could not read deferred references", error);
   if (!groups) {
      return false;
   }
   for (int g = 0; g < PQntuples(groups); g++) {
      int t = mn_pg__find_table(s->m, PQgetvalue(groups, g, 1));
      int r = mn_pg__find_table(s->m, PQgetvalue(groups, g, 3));
      uint64_t count = g_ascii_strtoull(PQgetvalue(groups, g, 4), NULL, 10);
      bool own = strcmp(PQgetvalue(groups, g, 0), s->m->collections[collection].name) == 0;
      int64_t n;

      if (t < 0 || r < 0) {
         if (!own) {
            continue;
         }
         t = -1; /* the mapping no longer has the table: only dropped */
      } else if (!deferred_group_due(s, PQgetvalue(groups, g, 0), (size_t)r, collection)) {
         continue; /* its target loads later: set at the end of that collection */
      }
      if (!begun && !mn_pg__begin(s->conn, LOADING, "could not start a batch", error)) {
         PQclear(groups);
         return false;
      }
      begun = true;
      if ((n = apply_deferred_group(s, groups, g, t, r, error)) < 0) {
         mn_pg__rollback(s->conn);
         PQclear(groups);
         return false;
      }
      for (uint64_t k = (uint64_t)n; t >= 0 && k < count; k++) {
         mn_stats_count_coercion(s->stats, s->m->tables[t].name, PQgetvalue(groups, g, 2),
                                 "reference to a document not loaded stored as NULL");
      }
   }
   PQclear(groups);
   return !begun || mn_pg__commit(s->conn, "could not commit deferred references", error);
}
