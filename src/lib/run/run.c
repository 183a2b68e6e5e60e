/*
 * run.c - the main job (see run.h for the order of work).
 */
#include <mongonorm/convert.h>
#include <mongonorm/files.h>
#include <mongonorm/mapping.h>
#include <mongonorm/pg.h>
#include <mongonorm/run.h>
#include <mongonorm/source.h>
#include <mongonorm/state.h>

#include "run/run_private.h"
#include "util/bson_private.h"
#include "pg/pg_private.h"
#include "util/spillmap.h"
#include "util/uuidset.h"

#include <errno.h>
#include <glib.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#include <pthread.h>
#endif
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* pass_t.window values: position << 1, and this bit when the document was skipped */
#define WINDOW_SKIPPED 1u

static double
now_seconds(void)
{
   struct timespec ts;

   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#ifdef __GLIBC__
static pthread_mutex_t trim_lock = PTHREAD_MUTEX_INITIALIZER; /* pass_cleanup's malloc_trim */
#endif

/* A batch the sink loads while the next one is converted (mn_pg_sink_submit()): what
 * flush() knew of it, for its results once it is waited for (settle()). */
typedef struct {
   bool active;                    /* handed over and not waited for */
   size_t collection;              /* its collection */
   mn_collection_counts_t *counts; /* ... and its counts */
   uint64_t docs;                  /* its converted documents, counted loaded once it commits */
   GPtrArray *retry;               /* where the documents PostgreSQL refused in it go */
} in_flight_t;

/* The state of one run, shared by the collections. */
typedef struct {
   const mn_run_opts_t *opts;
   const mn_mapping_t *m;
   mn_source_t *src;
   PGconn *conn;
   mn_converter_t *conv;
   mn_pg_sink_t *sink;
   mn_rejects_t *rejects;
   mn_stats_t *stats;
   bool load_rejected;    /* PostgreSQL refused a document of the collection being loaded */
   mn_idset_t *forced;    /* the pass's set of documents to convert again (pass_t.forced) */
   mn_idset_t *reread;    /* ... and of documents already passed to read again (pass_t.reread) */
   mn_idmap_t *window;    /* pass_t.window */
   mn_doc_state_t *state; /* the recorded documents of the collection being loaded */
   /* pass_t.seen_ids and .processed, checked before each batch (sets_ok) */
   mn_spillmap_t *seen_ids, *processed;
   /* the reject limits (run.h), per pass: the totals when it began, and the rejects since
    * of documents the records listed as rejected already */
   uint64_t read_base, rejected_base, known_rejects;
   const char *collection;      /* the collection being loaded, for the limits' message */
   GHashTable *warned;          /* the warnings said (a follow session's passes repeat them) */
   in_flight_t in_flight;       /* the batch the sink is loading, if any */
   mn_run__prefetch_t prefetch; /* the next collection's records, read meanwhile */
   /* a unit of work of a shared load (mn_run__load_unit()), else NULL and 0 */
   mn_run_jobs_t *jobs;
   size_t slot;              /* the unit's slot in jobs */
   const size_t *unit_colls; /* the unit's collections */
   size_t n_unit_colls;
} run_t;

/* The sink's warnings, each said once per run (opts->warning). */
static void
warn_once(void *ctx, const char *message)
{
   run_t *r = ctx;

   if (r->jobs) {
      mn_run__jobs_warn(r->jobs, message);
   } else if (r->opts->warning && g_hash_table_add(r->warned, g_strdup(message))) {
      r->opts->warning(r->opts->warning_ctx, message);
   }
}

/* opts->progress (another worker's thread may call it too under a shared load). */
static void
progress(const run_t *r, const char *collection, uint64_t documents, uint64_t done, uint64_t total)
{
   if (r->jobs) {
      mn_run__jobs_progress(r->jobs, collection, documents, done, total);
   } else if (r->opts->progress) {
      r->opts->progress(r->opts->progress_ctx, collection, documents, done, total);
   }
}

/* Documents read and rejected so far in the run, all collections together (a unit of a
 * shared load: its own collections). */
static void
run_totals(const run_t *r, uint64_t *read, uint64_t *rejected)
{
   size_t n = r->unit_colls ? r->n_unit_colls : mn_mapping_n_collections(r->m);

   *read = 0;
   *rejected = 0;
   for (size_t i = 0; i < n; i++) {
      size_t c = r->unit_colls ? r->unit_colls[i] : i;
      const mn_collection_counts_t *k =
         mn_stats_collection(r->stats, mn_mapping_collection_name(r->m, c));
      *read += k->read;
      *rejected += k->rejected;
   }
}

/* Whether the records listed the document as rejected when its collection started. */
static bool
known_reject(const run_t *r, const mn_uuid_t *id)
{
   const mn_doc_entry_t *entry = r->state ? mn_doc_state_find(r->state, id) : NULL;

   return entry && entry->rejected;
}

/* known_reject() of a document by its _id (false without one). */
static bool
known_reject_doc(const run_t *r, const bson_t *doc)
{
   mn_uuid_t id;

   return mn_run__doc_id(doc, NULL, &id) && known_reject(r, &id);
}

/*
 * The reject limits (run.h): false, with MN_CONVERT_TOO_MANY_REJECTS set, when the
 * rejects of the pass so far, and `more` the batch about to commit adds, are more than
 * they allow.
 */
static bool
check_rejects(const run_t *r, uint64_t more, mn_error_t *error)
{
   const mn_run_opts_t *o = r->opts;
   uint64_t read, rejected, counted, known_rejects;
   char known[160] = "";

   if (!o->limit_rejects && !(o->max_reject_ratio > 0)) {
      return true;
   }
   run_totals(r, &read, &rejected);
   read -= r->read_base;
   rejected -= r->rejected_base;
   known_rejects = r->known_rejects;
   if (r->jobs) {
      /* every worker of the process so far */
      mn_run__jobs_totals(r->jobs, r->slot, read, rejected, known_rejects, &read, &rejected,
                          &known_rejects);
   }
   counted = rejected + more;
   if (!o->count_known_rejects) {
      counted -= known_rejects <= counted ? known_rejects : counted;
      if (known_rejects) {
         snprintf(known, sizeof known,
                  " (not counted: %llu rejected by an earlier run and still rejected)",
                  (unsigned long long)known_rejects);
      }
   }
   if (o->limit_rejects && counted > o->max_rejects) {
      mn_set_error(error, MN_ERROR_CONVERT, MN_CONVERT_TOO_MANY_REJECTS,
                   "too many rejected documents: %llu rejected in this run (of %llu read), more "
                   "than the %llu --max-rejects allows%s; stopped in collection \"%s\" before "
                   "committing the batch that crossed the limit",
                   (unsigned long long)counted, (unsigned long long)read,
                   (unsigned long long)o->max_rejects, known, r->collection ? r->collection : "");
      return false;
   }
   if (o->max_reject_ratio > 0 && read >= MN_RUN_REJECT_RATIO_MIN &&
       (double)counted > o->max_reject_ratio * (double)read) {
      mn_set_error(error, MN_ERROR_CONVERT, MN_CONVERT_TOO_MANY_REJECTS,
                   "too many rejected documents: %llu of the %llu read in this run (%.1f%%), "
                   "more than the %g%% --max-reject-ratio allows%s; stopped in collection "
                   "\"%s\" before committing the batch that crossed the limit",
                   (unsigned long long)counted, (unsigned long long)read,
                   100.0 * (double)counted / (double)read, 100.0 * o->max_reject_ratio, known,
                   r->collection ? r->collection : "");
      return false;
   }
   return true;
}

/* The sink's guard (mn_pg_sink_set_guard): the limits, with the batch's refused documents.
 * Called for final flushes only: the others reject nothing (their refused documents are
 * tried again), so the limits checked before the flush (flush()) already decided. */
static bool
guard_batch(void *ctx, mn_error_t *error)
{
   run_t *r = ctx;
   uint64_t more = 0;

   for (size_t i = 0; i < mn_pg_sink_n_load_rejects(r->sink); i++) {
      const mn_uuid_t *id;
      const char *id_json, *reason;
      const bson_t *doc;
      mn_pg_sink_load_reject(r->sink, i, &id, &id_json, &doc, &reason);
      more += r->opts->count_known_rejects || !known_reject(r, id);
   }
   return check_rejects(r, more, error);
}

static bool check_deletions(const run_t *r, const char *collection, size_t recorded, size_t gone,
                            mn_error_t *error);

typedef struct {
   mn_converter_t *conv;
   size_t collection;
   size_t gone; /* loaded documents the source no longer has */
} membership_t;

static void
check_member(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *entry)
{
   membership_t *mb = ctx;

   if (!entry->rejected && !mn_converter_has_source_id(mb->conv, mb->collection, id)) {
      mb->gone++;
   }
}

/*
 * The --max-delete check of a referenced collection, whose _id set the pre-pass read:
 * known before anything is written, so a run stops here rather than midway.
 */
static bool
check_referenced_deletions(run_t *r, size_t c, mn_error_t *error)
{
   mn_doc_state_t *st =
      mn_doc_state_load(r->conn, mn_mapping_collection_name(r->m, c), 0, false, error);
   membership_t mb = {r->conv, c, 0};
   bool ok;

   if (!st) {
      return false;
   }
   mn_doc_state_foreach_unseen(st, check_member, &mb);
   ok = check_deletions(r, mn_mapping_collection_name(r->m, c), mn_doc_state_count(st), mb.gone,
                        error);
   mn_doc_state_destroy(st);
   return ok;
}

/* The share of recorded documents a run may delete from one collection (see run.h). */
static bool
check_deletions(const run_t *r, const char *collection, size_t recorded, size_t gone,
                mn_error_t *error)
{
   int percent = r->opts->max_delete_percent > 0 ? r->opts->max_delete_percent : 50;

   if (percent >= 100 || gone < MN_RUN_MAX_DELETE_MIN || gone * 100 <= recorded * (size_t)percent) {
      return true;
   }
   mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_TOO_MANY_DELETES,
                "collection \"%s\": the source lacks %zu of the %zu documents loaded from it "
                "(%.1f%%), more than the %d%% a run may delete; nothing was deleted (if the "
                "source is complete, rerun with --max-delete 100)",
                collection, gone, recorded, 100.0 * (double)gone / (double)recorded, percent);
   return false;
}

static bool
record_run_start(PGconn *conn, const char *source, const char *mapping, char *run_id, size_t size,
                 mn_error_t *error)
{
   const char *params[2] = {source, mapping};
   /* The run lock is held: a run still recorded as running whose session does not hold
    * it (the processes of a shared load hold it together) is no longer (killed, or its
    * session cut off by a server restart); it is marked interrupted. */
   PGresult *res = PQexecParams(
      conn,
      "WITH stale AS (UPDATE mongonorm.runs r SET outcome = 'interrupted' "
      "WHERE outcome = 'running' AND NOT EXISTS (SELECT 1 FROM pg_locks l "
      "WHERE l.locktype = 'advisory' AND l.granted AND l.pid = r.backend_pid "
      "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
      "AND (l.classid::bigint << 32 | l.objid::bigint) = " MN_PG_RUN_LOCK_KEY
      " AND l.objsubid = 1)) "
      "INSERT INTO mongonorm.runs (source, mapping, backend_pid) "
      "VALUES ($1, $2, pg_backend_pid()) RETURNING id",
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

/*
 * What a committed batch of collection c gives the run: the documents PostgreSQL refused
 * go to `retry` (copies) when it is given: what was refused may depend on rows of other
 * documents later in the pass (a sub-document moving between documents), so they are
 * tried once more when the collection ends.  Without `retry`, they are rejected.  Rows it
 * took from documents are noted (converted or read again), and its `docs` documents but
 * the refused ones are counted loaded.
 */
static bool
take_results(run_t *r, size_t c, mn_collection_counts_t *counts, uint64_t docs, GPtrArray *retry,
             mn_error_t *error)
{
   const char *name = mn_mapping_collection_name(r->m, c);
   size_t n = mn_pg_sink_n_load_rejects(r->sink);
   bool ok = true;

   for (size_t i = 0; i < n && ok; i++) {
      const mn_uuid_t *id;
      const char *id_json, *reason;
      const bson_t *doc;

      mn_pg_sink_load_reject(r->sink, i, &id, &id_json, &doc, &reason);
      mn_converter_forget_loaded(r->conv, c, id);
      r->load_rejected = true; /* references to it may need clearing at the end */
      if (retry && doc) {
         g_ptr_array_add(retry, bson_copy(doc));
         continue;
      }
      mn_converter_mark_rejected(r->conv, c, id);
      ok = mn_rejects__at_load(r->rejects, r->stats, name, doc, reason, error);
      r->known_rejects += known_reject(r, id);
      r->load_rejected = true;
   }
   mn_pg_sink_clear_load_rejects(r->sink);
   for (size_t i = 0; r->forced && i < mn_pg_sink_n_taken(r->sink); i++) {
      const mn_uuid_t *taken = mn_pg_sink_taken(r->sink, i);
      /* read already in this batch and skipped as unchanged: read again at the end (one
       * converted in this batch is judged by its own load) */
      if (r->window && (mn_idmap__get(r->window, taken->bytes) & WINDOW_SKIPPED)) {
         mn_idset__add(r->reread, taken->bytes);
      } else {
         mn_idset__add(r->forced, taken->bytes);
      }
   }
   mn_pg_sink_clear_taken(r->sink);
   counts->loaded += docs >= n ? docs - n : 0;
   return ok;
}

/*
 * Wait for the batch the sink is loading, if any, and take its results (take_results()),
 * as a synchronous flush would have given them before the next batch: nothing the run
 * does with them feeds the conversion of a direct-mode batch (the only kind overlapped:
 * references into the collection being loaded are deferred, its `_id`s are not in the
 * target, and rows are taken only in merge mode).  Its failure is reported here.
 */
static bool
settle(run_t *r, mn_error_t *error)
{
   in_flight_t b = r->in_flight;

   if (!b.active) {
      return true;
   }
   r->in_flight.active = false;
   return mn_pg_sink_wait(r->sink, error) &&
          take_results(r, b.collection, b.counts, b.docs, b.retry, error);
}

/* Whether the sets that spill to disk are whole (mn_spillmap__ok): else nothing decided
 * with them may commit. */
static bool
sets_ok(const run_t *r, mn_error_t *error)
{
   return mn_converter_ok(r->conv, error) &&
          (!r->seen_ids || mn_spillmap__ok(r->seen_ids, error)) &&
          (!r->processed || mn_spillmap__ok(r->processed, error));
}

/*
 * Flush the queued batch, after the one in flight (settle()) and the reject limits.  With
 * `overlap` it may be loaded while the caller goes on (mn_pg_sink_submit(): direct mode,
 * `retry` given), its results taken by the next settle(); else they are taken here.
 * Without `retry`, the documents PostgreSQL refuses are rejected (final mode).
 */
static bool
flush(run_t *r, size_t c, mn_collection_counts_t *counts, uint64_t *pending, GPtrArray *retry,
      bool overlap, mn_error_t *error)
{
   const char *name = mn_mapping_collection_name(r->m, c);
   size_t n;
   bool ok;

   if (!settle(r, error) || !sets_ok(r, error)) {
      return false;
   }
   mn_pg_sink_set_final(r->sink, retry == NULL);
   /* the limits, with the batch's conversion rejects (the guard adds PostgreSQL's) */
   if (!mn_rejects__sync(r->rejects, error) || !check_rejects(r, 0, error)) {
      return false;
   }
   ok = overlap ? mn_pg_sink_submit(r->sink, error) : mn_pg_sink_flush(r->sink, error);
   if (!ok) {
      if (error && error->domain == MN_ERROR_CONVERT &&
          error->code == MN_CONVERT_TOO_MANY_REJECTS && retry == NULL) {
         /* the guard rolled the batch back: its refused documents are listed anyway */
         n = mn_pg_sink_n_load_rejects(r->sink);
         for (size_t i = 0; i < n; i++) {
            const mn_uuid_t *id;
            const char *id_json, *reason;
            const bson_t *doc;
            mn_pg_sink_load_reject(r->sink, i, &id, &id_json, &doc, &reason);
            if (!mn_rejects__at_load(r->rejects, r->stats, name, doc, reason, NULL)) {
               break;
            }
         }
         mn_pg_sink_clear_load_rejects(r->sink);
      }
      return false;
   }
   if (mn_pg_sink_in_flight(r->sink)) {
      r->in_flight = (in_flight_t){true, c, counts, *pending, retry};
      *pending = 0;
      return true;
   }
   ok = take_results(r, c, counts, *pending, retry, error);
   *pending = 0;
   return ok;
}

/* Removal of the recorded documents the source no longer has. */
typedef struct {
   run_t *r;
   size_t collection;
   mn_collection_counts_t *counts;
} gone_t;

static void
delete_gone(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *entry)
{
   gone_t *g = ctx;

   mn_pg_sink_delete(g->r->sink, g->collection, id);
   if (!entry->rejected) {
      g->counts->deleted++;
   }
}

static void
count_gone(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *entry)
{
   (void)id;
   *(size_t *)ctx += entry->rejected ? 0 : 1;
}

/* One collection's pass. */
typedef struct {
   run_t *r;
   size_t c;
   const char *name;
   mn_collection_counts_t *counts;
   mn_rowset_t *rows;
   mn_doc_state_t *state;
   bool skip_unchanged;
   int32_t context;         /* the collection's conversion context number (state.h) */
   int32_t mapping_context; /* the first context number with this mapping */
   bool same_context;       /* the same context as the last run's */
   uint64_t pending;
   const char *wm_field;     /* watermark field, or NULL */
   bson_t wm_max;            /* {"v": highest watermark value seen}, empty when none */
   mn_spillmap_t *processed; /* ids handled in this pass (watermark mode reads twice) */
   mn_spillmap_t *seen_ids;  /* _ids read in this pass that have no record (a recorded
                                one is marked seen): a second document with one is
                                rejected */
   mn_idset_t forced;        /* unchanged documents whose outcome the claims pass changed */
   mn_idset_t reread;        /* unchanged documents passed already that lost a row: again */
   GPtrArray *retry;         /* documents PostgreSQL refused, tried again at the end */
   mn_idmap_t window;        /* documents read since the last flush while some document was
                                queued, and those converted -> position (1-based) */
   guint position;
   bool lost_members;   /* a document loaded before is rejected now */
   bool gained_members; /* a document rejected before is loaded now */
   size_t unreadable;   /* records the read could not read: no deletion (delete_unseen) */
   bool self_ref;       /* the collection references itself */
   mn_idset_t skipped;  /* self_ref: documents skipped as unchanged and loaded */
   /* each table's statistics (mapping order), looked up by name once, at the first
    * unchanged document */
   mn_table_counts_t **table_counts;
} pass_t;

/* Give the document read last its place in the window, if it has none since the last
 * flush (in watermark mode the window is not used). */
static void
window_place(pass_t *p, const mn_uuid_t *id)
{
   if (!p->processed && !mn_idmap__get(&p->window, id->bytes)) {
      mn_idmap__put(&p->window, id->bytes, (uint64_t)(++p->position << 1));
   }
}

/* Mark a document of the window as skipped (unchanged, not converted). */
static void
window_skipped(pass_t *p, const mn_uuid_t *id)
{
   uint64_t v;

   if (!p->processed && (v = mn_idmap__get(&p->window, id->bytes))) {
      mn_idmap__put(&p->window, id->bytes, v | WINDOW_SKIPPED);
   }
}

/* Whether the pass read a document with this _id: a recorded one is marked seen in its
 * record when read (outside watermark mode, where nothing else marks it), the others are
 * in seen_ids, which a re-run then hardly fills. */
static bool
pass_read(const pass_t *p, const mn_uuid_t *id)
{
   const mn_doc_entry_t *entry = mn_doc_state_find(p->state, id);

   return entry ? entry->seen : mn_spillmap__get(p->seen_ids, id->bytes, NULL);
}

/*
 * For the sink (see mn_pg_sink_set_seen()): does `holder` come before `doc` in the
 * source?  Documents read since the last flush have their position in the window (but
 * those read while nothing was queued and not converted: they come before every queued
 * one); one read before comes first; one not read yet comes later.  In watermark mode, documents
 * not read are unchanged ones, anywhere in the source: first.
 */
static bool
pass_comes_first(void *ctx, const mn_uuid_t *holder, const mn_uuid_t *doc)
{
   const pass_t *p = ctx;
   uint64_t h = mn_idmap__get(&p->window, holder->bytes);
   uint64_t d = mn_idmap__get(&p->window, doc->bytes);

   if (p->processed) {
      return true;
   }
   if (h && d) {
      return h >> 1 < d >> 1;
   }
   return h != 0 || pass_read(p, holder);
}

/* Whether a recorded document can be skipped: same bytes, not marked by the claims pass,
 * and the same conversion context, or one with the same mapping in which every lookup its
 * conversion made of other documents gives the same answer now (mn_rowset_refs()): the
 * same bytes, mapping and answers convert to the same rows and outcome.  The claims pass
 * runs before the pass learns which of the collection's own documents (and later ones')
 * are rejected: it asks with claims set, an answer true whenever the pass's may be. */
static bool
unchanged(const pass_t *p, const mn_doc_entry_t *entry, const mn_uuid_t *id,
          const uint8_t digest[MN_DIGEST_SIZE], bool claims)
{
   if (!p->skip_unchanged || mn_idset__has(&p->forced, id->bytes) ||
       memcmp(entry->digest, digest, MN_DIGEST_SIZE) != 0) {
      return false;
   }
   return entry->context == p->context ||
          (entry->has_refs && entry->context >= p->mapping_context && entry->context < p->context &&
           mn_converter_refs_hold(p->r->conv, entry->refs, entry->refs_len,
                                  claims ? p->c : SIZE_MAX));
}

static uint32_t
le32_at(const uint8_t *p)
{
   return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The size of a top-level value of a simple type at v (its element ending before end),
 * checked at least as strictly as bson_iter_next checks it; false for any other type or
 * anything bson_iter_next might refuse. */
static bool
simple_value_size(uint8_t type, const uint8_t *v, const uint8_t *end, size_t *size)
{
   size_t room = (size_t)(end - v);
   uint32_t l;

   switch (type) {
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_DATE_TIME:
   case BSON_TYPE_INT64:
   case BSON_TYPE_TIMESTAMP: *size = 8; break;
   case BSON_TYPE_INT32: *size = 4; break;
   case BSON_TYPE_OID: *size = 12; break;
   case BSON_TYPE_DECIMAL128: *size = 16; break;
   case BSON_TYPE_NULL:
   case BSON_TYPE_UNDEFINED:
   case BSON_TYPE_MINKEY:
   case BSON_TYPE_MAXKEY: *size = 0; break;
   case BSON_TYPE_BOOL:
      if (room < 1 || v[0] > 1) {
         return false;
      }
      *size = 1;
      break;
   case BSON_TYPE_UTF8:
   case BSON_TYPE_CODE:
   case BSON_TYPE_SYMBOL:
      if (room < 5 || (l = le32_at(v)) == 0 || l > room - 4 || v[4 + l - 1] != 0) {
         return false;
      }
      *size = 4 + (size_t)l;
      break;
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY:
      if (room < 5 || (l = le32_at(v)) < 5 || l > room) {
         return false;
      }
      *size = l;
      break;
   default: return false;
   }
   return *size <= room;
}

/*
 * bson_iter_init_find(it, doc, key) for a top-level key, faster: the elements before it
 * are stepped over by their sizes (simple_value_size), without bson_iter_next's full
 * decoding, and the element found is decoded by libbson (bson_iter_init_from_data_at_
 * offset).  Anything the quick step does not vouch for (another type, a doubtful size)
 * is left to bson_iter_init_find, so the answer is always libbson's.  The watermark field
 * is read from every document of a pass and is often the last one (updatedAt).
 */
static bool
find_top_level(bson_iter_t *it, const bson_t *doc, const char *key)
{
   size_t klen = strlen(key);
   const uint8_t *data = bson_get_data(doc);
   const uint8_t *end = data + doc->len - 1; /* the document's final NUL */
   const uint8_t *q = data + 4;

   if (!bson_iter_init(it, doc)) {
      return false;
   }
   while (q < end) {
      uint8_t type = *q;
      const uint8_t *k = q + 1;
      const uint8_t *nul = memchr(k, 0, (size_t)(end - k));
      size_t size;
      if (!nul) {
         break;
      }
      if ((size_t)(nul - k) == klen && memcmp(k, key, klen) == 0) {
         return bson_iter_init_from_data_at_offset(it, data, doc->len, (uint32_t)(q - data),
                                                   (uint32_t)klen);
      }
      if (!simple_value_size(type, nul + 1, end, &size)) {
         break;
      }
      q = nul + 1 + size;
   }
   return q == end ? false : bson_iter_init_find(it, doc, key);
}

/* Keep the highest watermark value (dates, ObjectIds and numbers compare). */
static void
track_watermark(pass_t *p, const bson_t *doc)
{
   bson_iter_t it, cur;
   bool higher = false;

   if (!p->wm_field || !find_top_level(&it, doc, p->wm_field)) {
      return;
   }
   if (!bson_iter_init_find(&cur, &p->wm_max, "v")) {
      higher =
         BSON_ITER_HOLDS_DATE_TIME(&it) || BSON_ITER_HOLDS_OID(&it) || BSON_ITER_HOLDS_NUMBER(&it);
   } else if (bson_iter_type(&it) == bson_iter_type(&cur)) {
      switch (bson_iter_type(&it)) {
      case BSON_TYPE_DATE_TIME:
         higher = bson_iter_date_time(&it) > bson_iter_date_time(&cur);
         break;
      case BSON_TYPE_OID:
         higher = bson_oid_compare(bson_iter_oid(&it), bson_iter_oid(&cur)) > 0;
         break;
      case BSON_TYPE_INT32:
      case BSON_TYPE_INT64:
      case BSON_TYPE_DOUBLE: higher = bson_iter_as_double(&it) > bson_iter_as_double(&cur); break;
      default: break;
      }
   }
   if (higher) {
      bson_reinit(&p->wm_max);
      bson_append_iter(&p->wm_max, "v", 1, &it);
   }
}

/* The rows a recorded document left unchanged, counted in their tables. */
static void
count_unchanged_rows(pass_t *p, const mn_doc_entry_t *entry)
{
   const mn_mapping_t *m = p->r->m;
   size_t n = mn_mapping_n_tables(m);

   if (!entry->row_counts) {
      return;
   }
   if (!p->table_counts) {
      /* the statistics keep their tables in the order first asked for: all, in order */
      p->table_counts = g_new(mn_table_counts_t *, n ? n : 1);
      for (size_t t = 0; t < n; t++) {
         p->table_counts[t] = mn_stats_table(p->r->stats, mn_mapping_table_name(m, t));
      }
   }
   for (size_t t = 0; t < n; t++) {
      p->table_counts[t]->unchanged += (uint64_t)entry->row_counts[t];
   }
}

/* Whether a recorded document's rows in the target are what its last conversion gave,
 * for mn_pg_sink_add() to compare with: its bytes are the recorded ones and the claims
 * pass did not mark it (nor did a row of it move to another document). */
static bool
same_bytes(const pass_t *p, const mn_doc_entry_t *entry, const mn_uuid_t *id,
           const uint8_t digest[MN_DIGEST_SIZE])
{
   return p->skip_unchanged && entry && !entry->rejected && !mn_idset__has(&p->forced, id->bytes) &&
          memcmp(entry->digest, digest, MN_DIGEST_SIZE) == 0;
}

/* A loaded document that did not change: not converted, counted loaded and unchanged. */
static void
skip_unchanged(pass_t *p, const mn_doc_entry_t *entry, const mn_uuid_t *id)
{
   p->counts->read++;
   p->counts->loaded++;
   p->counts->unchanged++;
   window_skipped(p, id);
   if (p->self_ref) {
      mn_idset__add(&p->skipped, id->bytes);
   }
   mn_converter_mark_accepted(p->r->conv, p->c, id);
   count_unchanged_rows(p, entry);
}

/*
 * Convert a document read (entry: its record, or NULL): accepted, its rows go to the
 * sink; rejected, its line to the reject file, and what an earlier run loaded of it is
 * deleted, and it is recorded as rejected (when it has an `_id`).
 */
static bool
convert_read(pass_t *p, const bson_t *doc, const mn_doc_entry_t *entry, const mn_uuid_t *id,
             bool has_id, const uint8_t digest[MN_DIGEST_SIZE], mn_error_t *error)
{
   run_t *r = p->r;
   const char *path = "", *message = "rejected";

   p->counts->read++;
   if (mn_convert_document(r->conv, p->c, doc, p->rows)) {
      if (!mn_pg_sink_add(r->sink, p->c, p->rows, doc, digest, entry,
                          same_bytes(p, entry, id, digest))) {
         /* converted in another context, to the same rows: unchanged */
         p->counts->read--;
         skip_unchanged(p, entry, id);
         return true;
      }
      p->pending++;
      if (entry && entry->rejected) {
         p->gained_members = true; /* rejected before, loaded now */
      }
      return true;
   }
   r->known_rejects += entry && entry->rejected;
   if (!mn_rejects__document(r->rejects, r->stats, r->m, p->name, doc, p->rows, error)) {
      return false;
   }
   if (entry && !entry->rejected) {
      /* loaded before, rejected now: its old rows go, as a fresh load would not have
       * them, and documents referring to it must be converted again */
      mn_pg_sink_delete(r->sink, p->c, id);
      p->counts->deleted++;
      p->lost_members = true;
   }
   if (has_id) {
      if (mn_rowset_n_rejects(p->rows)) {
         mn_rowset_reject(p->rows, 0, &path, &message);
      }
      mn_pg_sink_record_rejected(r->sink, p->c, id, digest, path, message, entry != NULL, p->rows);
   }
   return true;
}

/*
 * One document of the pass: its place in the window; read twice in watermark mode, or a
 * second document with an `_id` already read (rejected); then, against its record, skipped
 * when unchanged (a rejected one keeps its recorded reason), else converted (convert_read).
 */
static bool
process_document(pass_t *p, mn_cursor_t *cur, const bson_t *doc, mn_error_t *error)
{
   run_t *r = p->r;
   uint8_t digest[MN_DIGEST_SIZE];
   mn_doc_entry_t *entry = NULL;
   mn_uuid_t id = {{0}}; /* the row id of the _id, also when the document is not valid BSON
                            and the converter stops before deriving it */

   if (!mn_run__doc_id(doc, NULL, &id)) {
      mn_cursor_digest(cur, doc, digest);
      return convert_read(p, doc, NULL, &id, false, digest, error);
   }
   /* Its place in the window, when some document is queued: one read while the queue is
    * empty and not converted comes before every document of the next batch, which
    * pass_comes_first() knows from seen_ids, so a re-run that changes nothing keeps the
    * window empty (a converted one takes its place below). */
   if (mn_pg_sink_pending_docs(r->sink) > 0) {
      window_place(p, &id);
   }
   entry = mn_doc_state_find(p->state, &id);
   if (p->processed) {
      if (!mn_spillmap__add(p->processed, id.bytes)) {
         return true; /* read twice in watermark mode: once is enough */
      }
   } else if (entry ? entry->seen : !mn_spillmap__add(p->seen_ids, id.bytes)) {
      /* The same _id again (merged or repeated dumps): the first occurrence wins, so
       * every run keeps the same one, and this one is accounted for as rejected.  A
       * recorded document's record says whether it was read (pass_read()). */
      return mn_rejects__duplicate_id(r->rejects, r->stats, p->name, doc, error);
   }
   if (entry) {
      entry->seen = true;
   }
   mn_cursor_digest(cur, doc, digest);
   track_watermark(p, doc);
   if (entry && entry->rejected && unchanged(p, entry, &id, digest, false) && entry->reason) {
      r->known_rejects++;
      mn_converter_mark_rejected(r->conv, p->c, &id);
      window_skipped(p, &id);
      return mn_rejects__unchanged(r->rejects, r->stats, p->name, doc, entry, error);
   }
   if (entry && !entry->rejected && unchanged(p, entry, &id, digest, false)) {
      skip_unchanged(p, entry, &id);
      return true;
   }
   window_place(p, &id); /* it is queued (or rejected): in the window */
   return convert_read(p, doc, entry, &id, true, digest, error);
}
/* Stream one cursor through process_document, flushing batch by batch. */
static bool
drain(pass_t *p, mn_cursor_t *cur, mn_error_t *error)
{
   run_t *r = p->r;
   size_t batch_docs = r->opts->batch_docs ? r->opts->batch_docs : 1000;
   size_t batch_bytes = r->opts->batch_bytes ? r->opts->batch_bytes : (size_t)16 << 20;
   mn_cursor_status_t st;
   const bson_t *doc;
   char skipped_dir[4096];

   /* unreadable spans of a .bson file are kept whole next to the reject file (that of
    * the run: a unit of a shared load writes its lines to a part file) */
   snprintf(skipped_dir, sizeof skipped_dir, "%s.skipped",
            r->opts->reject_path ? r->opts->reject_path : "mongonorm-rejects.jsonl");
   mn_cursor_keep_skipped(cur, skipped_dir, p->name);
   /* a file is read and digested on a thread of the cursor's while documents are
    * converted (a server cursor's client is the run's) */
   if (mn_source_kind(r->src) != MN_SOURCE_MONGODB && mn_run__read_ahead()) {
      mn_cursor_read_ahead(cur);
   }
   while ((st = mn_cursor_next(cur, &doc)) == MN_CURSOR_DOC || st == MN_CURSOR_BAD) {
      if (r->jobs && mn_run__jobs_cancelled(r->jobs)) {
         mn_set_error(error, MN_ERROR_PG, MN_PG_QUERY,
                      "stopped in collection \"%s\": another worker of the run failed", p->name);
         return false;
      }
      if (st == MN_CURSOR_BAD) {
         p->unreadable++;
         if (!mn_rejects__bad(r->rejects, r->stats, p->name, mn_cursor_bad(cur), skipped_dir,
                              error)) {
            return false;
         }
      } else if (!process_document(p, cur, doc, error)) {
         return false;
      }
      if (mn_pg_sink_pending_docs(r->sink) >= batch_docs ||
          mn_pg_sink_pending_bytes(r->sink) >= batch_bytes) {
         if (!flush(r, p->c, p->counts, &p->pending, p->retry, true, error)) {
            return false;
         }
         mn_idmap__clear(&p->window);
      }
      if (r->opts->progress && (p->counts->read & 255) == 0) {
         uint64_t done, total;
         mn_cursor_progress(cur, &done, &total);
         progress(r, p->name, p->counts->read, done, total);
      }
   }
   if (st == MN_CURSOR_ERROR) {
      mn_cursor_error(cur, error);
      return false;
   }
   if (r->opts->progress) {
      uint64_t done, total;
      mn_cursor_progress(cur, &done, &total);
      progress(r, p->name, p->counts->read, done, total);
   }
   return true;
}

/*
 * Watermark mode, 1: list the _id set (marking the recorded documents seen, for
 * deletions), and put in by_id ({"0": id, ...}) the documents not recorded, or rejected.
 */
static bool
list_unrecorded(pass_t *p, bson_t *by_id, mn_error_t *error)
{
   mn_find_opts_t ids_opts = {.ids_only = true};
   mn_cursor_t *cur = mn_source_find(p->r->src, p->name, &ids_opts, error);
   uint32_t n_by_id = 0;
   const bson_t *doc;
   mn_cursor_status_t st;
   bson_iter_t it;
   bool ok = true;

   if (!cur) {
      return false;
   }
   while ((st = mn_cursor_next(cur, &doc)) == MN_CURSOR_DOC) {
      mn_uuid_t id;
      if (mn_run__doc_id(doc, &it, &id)) {
         mn_doc_entry_t *entry = mn_doc_state_find(p->state, &id);
         if (entry) {
            entry->seen = true;
         }
         if (!entry || entry->rejected) {
            /* new, or rejected before: read whatever its watermark, so a rejected document
             * is listed again with its reason as in a full read */
            char key[16];
            snprintf(key, sizeof key, "%u", n_by_id++);
            bson_append_iter(by_id, key, -1, &it);
         }
      }
   }
   if (st == MN_CURSOR_ERROR) {
      mn_cursor_error(cur, error);
      ok = false;
   }
   mn_cursor_destroy(cur);
   return ok;
}

/* Read the documents `filter` selects through drain(). */
static bool
drain_filtered(pass_t *p, const bson_t *filter, mn_error_t *error)
{
   mn_find_opts_t opts = {.filter = filter};
   mn_cursor_t *cur = mn_source_find(p->r->src, p->name, &opts, error);
   bool ok = cur && drain(p, cur, error);

   mn_cursor_destroy(cur);
   return ok;
}

/* Watermark mode, 2: the documents changed since the recorded watermark (its JSON,
 * {"v": value}): {field: {$gte: value}}. */
static bool
read_changed(pass_t *p, const char *recorded, mn_error_t *error)
{
   bson_t *wm = bson_new_from_json((const uint8_t *)recorded, -1, NULL);
   bson_t filter = BSON_INITIALIZER;
   bson_t cond;
   bson_iter_t it;
   bool ok = true;

   if (wm && bson_iter_init_find(&it, wm, "v")) {
      BSON_APPEND_DOCUMENT_BEGIN(&filter, p->wm_field, &cond);
      bson_append_iter(&cond, "$gte", 4, &it);
      bson_append_document_end(&filter, &cond);
      bson_append_iter(&p->wm_max, "v", 1, &it);
      ok = drain_filtered(p, &filter, error);
   }
   bson_destroy(&filter);
   if (wm) {
      bson_destroy(wm);
   }
   return ok;
}

/* Watermark mode, 3: the documents of by_id, whatever their watermark (missing, or
 * older), 500 at a time ({_id: {$in: [...]}}). */
static bool
read_by_ids(pass_t *p, const bson_t *by_id, mn_error_t *error)
{
   bson_iter_t it;
   bool more;

   if (!bson_iter_init(&it, by_id)) {
      return true;
   }
   more = bson_iter_next(&it);
   while (more) {
      bson_t chunk = BSON_INITIALIZER;
      bson_t in, arr;
      uint32_t k = 0;
      bool chunk_ok;

      BSON_APPEND_DOCUMENT_BEGIN(&chunk, "_id", &in);
      BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
      for (; more && k < 500; k++, more = bson_iter_next(&it)) {
         char key[16];
         snprintf(key, sizeof key, "%u", k);
         bson_append_iter(&arr, key, -1, &it);
      }
      bson_append_array_end(&in, &arr);
      bson_append_document_end(&chunk, &in);
      chunk_ok = drain_filtered(p, &chunk, error);
      bson_destroy(&chunk);
      if (!chunk_ok) {
         return false;
      }
   }
   return true;
}

/*
 * Watermark mode (a live source, a declared watermark, a recorded value): list the _id set
 * to find deletions and new documents, read what changed since the watermark
 * ({field: {$gte: value}}), then the new documents by _id.  Unchanged documents are not
 * read at all.
 */
static bool
read_since_watermark(pass_t *p, const char *recorded, mn_error_t *error)
{
   bson_t *by_id = bson_new(); /* {"0": id, ...}: documents not recorded, or rejected */
   bool ok;

   p->processed = mn_spillmap__new(0, 0);
   p->r->processed = p->processed;
   ok = list_unrecorded(p, by_id, error) && read_changed(p, recorded, error) &&
        read_by_ids(p, by_id, error);
   bson_destroy(by_id);
   return ok;
}

/* claims_pass(), one document (see there) */
typedef struct {
   pass_t *p;
   mn_idset_t seen;
   bool begun; /* the collection is in the source: the claims began */
} claims_t;

static bool
claim_document(void *ctx, mn_cursor_t *cur, mn_cursor_status_t st, const bson_t *doc,
               mn_error_t *error)
{
   claims_t *cl = ctx;
   pass_t *p = cl->p;
   mn_uuid_t id;
   uint8_t digest[MN_DIGEST_SIZE];
   const mn_doc_entry_t *entry;
   bool same = false, accepted;

   (void)error;
   if (!cl->begun) {
      mn_converter_begin_claims(p->r->conv, p->c);
      cl->begun = true;
   }
   if (st != MN_CURSOR_DOC || !mn_run__doc_id(doc, NULL, &id)) {
      return true;
   }
   if (!mn_idset__add(&cl->seen, id.bytes)) {
      return true; /* a duplicate _id: rejected, claims nothing */
   }
   entry = mn_doc_state_find(p->state, &id);
   if (entry) {
      mn_cursor_digest(cur, doc, digest);
      same = unchanged(p, entry, &id, digest, true);
   }
   if (same && !entry->rejected && mn_converter_claim_held(p->r->conv, p->c, &id)) {
      return true;
   }
   accepted = mn_convert_document(p->r->conv, p->c, doc, p->rows);
   if (same && (!entry->rejected || accepted)) {
      mn_idset__add(&p->forced, id.bytes);
   }
   return true;
}

/*
 * The claims pass (see convert.h): stream the collection once, in source order, so that
 * run-wide unique keys are judged against the new state of the source, as a fresh load
 * would judge them.  Unchanged documents claim the keys the target holds for them without
 * being converted; the others are converted, counting nothing.  Unchanged documents whose
 * outcome this changes (a key taken by an earlier document, or a rejected document whose
 * key was freed) are marked to be converted again in the load that follows.
 */
static bool
claims_pass(pass_t *p, mn_error_t *error)
{
   claims_t cl = {.p = p};
   bool ok;

   mn_idset__init(&cl.seen);
   /* claim_document() begins the claims: a collection the source lacks claims nothing */
   ok = mn_run__read_collection(p->r->src, p->name, NULL, true, claim_document, &cl, error);
   if (cl.begun) {
      mn_converter_end_claims(p->r->conv, p->c);
   }
   mn_idset__cleanup(&cl.seen);
   return ok;
}

/* What convert_again passes as the record of a document PostgreSQL refused: any record
 * (a document's earlier rows, if any, stay, so it is merged, never copied straight in). */
static const mn_doc_entry_t refused_entry;

/*
 * Convert and load the documents of p->retry once more (p->retry is emptied).  Those
 * PostgreSQL refuses again go to `refused` (copies; their earlier rows stay), or, when it
 * is NULL, are rejected.
 */
static bool
convert_again(pass_t *p, GPtrArray *refused, mn_error_t *error)
{
   run_t *r = p->r;

   for (guint i = 0; i < p->retry->len; i++) {
      const bson_t *doc = g_ptr_array_index(p->retry, i);
      uint8_t digest[MN_DIGEST_SIZE];

      mn_digest(bson_get_data(doc), doc->len, digest);
      if (mn_convert_document(r->conv, p->c, doc, p->rows)) {
         /* refused before: whatever it holds stays, so it is merged */
         mn_pg_sink_add(r->sink, p->c, p->rows, doc, digest, &refused_entry, false);
         p->pending++;
         mn_uuid_t id;
         if (mn_run__doc_id(doc, NULL, &id)) {
            const mn_doc_entry_t *entry = mn_doc_state_find(p->state, &id);
            p->gained_members = p->gained_members || (entry && entry->rejected);
         }
      } else {
         r->known_rejects += known_reject_doc(r, doc);
         if (!mn_rejects__document(r->rejects, r->stats, r->m, p->name, doc, p->rows, error)) {
            return false;
         }
      }
   }
   g_ptr_array_set_size(p->retry, 0);
   return flush(r, p->c, p->counts, &p->pending, refused, false, error);
}

/* gather_rereads(), one document */
typedef struct {
   pass_t *p;
   bool regain;
   mn_idset_t *done;
} rereads_t;

static bool
gather_reread(void *ctx, mn_cursor_t *cur, mn_cursor_status_t st, const bson_t *doc,
              mn_error_t *error)
{
   rereads_t *g = ctx;
   pass_t *p = g->p;
   mn_uuid_t id;

   (void)cur;
   (void)error;
   if (st == MN_CURSOR_DOC && mn_run__doc_id(doc, NULL, &id)) {
      if ((mn_idset__has(&p->reread, id.bytes) ||
           (g->regain && mn_idset__has(&p->skipped, id.bytes))) &&
          mn_idset__add(g->done, id.bytes) && p->counts->loaded && p->counts->unchanged) {
         p->counts->loaded--;
         p->counts->unchanged--;
         g_ptr_array_add(p->retry, bson_copy(doc));
      }
   }
   return true;
}

/*
 * Add to p->retry, in source order, the unchanged documents to read again: those a later
 * batch took a row from (p->reread), and, with `regain`, those skipped as unchanged.
 * `done` keeps each to once (a later duplicate _id stays rejected).
 */
static bool
gather_rereads(pass_t *p, bool regain, mn_idset_t *done, mn_error_t *error)
{
   rereads_t g = {p, regain, done};

   return mn_run__read_collection(p->r->src, p->name, NULL, false, gather_reread, &g, error);
}
/* Whether gather_rereads() may have documents to add. */
static bool
rereads_pending(const pass_t *p, bool regain)
{
   return regain || !mn_idset__empty(&p->reread);
}

static guint
source_position(GHashTable *order, const bson_t *doc)
{
   mn_uuid_t id;

   if (!mn_run__doc_id(doc, NULL, &id)) {
      return G_MAXUINT;
   }
   return GPOINTER_TO_UINT(g_hash_table_lookup(order, id.bytes));
}

static gint
by_source_position(gconstpointer a, gconstpointer b, gpointer ctx)
{
   GHashTable *order = ctx;
   guint pa = source_position(order, *(const bson_t *const *)a);
   guint pb = source_position(order, *(const bson_t *const *)b);

   return pa < pb ? -1 : pa > pb;
}

/* sort_by_source(), one record: its position, when it is a document wanted */
typedef struct {
   GHashTable *wanted; /* row id -> position in the source (1-based), 0 until found */
   guint position;
} positions_t;

static bool
note_position(void *ctx, mn_cursor_t *cur, mn_cursor_status_t st, const bson_t *doc,
              mn_error_t *error)
{
   positions_t *ps = ctx;
   mn_uuid_t id;

   (void)cur;
   (void)error;
   if (st == MN_CURSOR_END) {
      return true;
   }
   ps->position++;
   if (mn_run__doc_id(doc, NULL, &id)) {
      if (g_hash_table_lookup_extended(ps->wanted, id.bytes, NULL, NULL) &&
          !g_hash_table_lookup(ps->wanted, id.bytes)) {
         g_hash_table_insert(ps->wanted, g_memdup2(id.bytes, 16), GUINT_TO_POINTER(ps->position));
      }
   }
   return true;
}

/* Sort `docs` (bson_t *) into their order in the source (one _id-only read). */
static bool
sort_by_source(pass_t *p, GPtrArray *docs, mn_error_t *error)
{
   mn_find_opts_t ids_only = {.ids_only = true};
   positions_t ps = {mn_uuid__table_new(NULL), 0};
   bool ok;

   for (guint i = 0; i < docs->len; i++) {
      mn_uuid_t id;
      if (mn_run__doc_id(g_ptr_array_index(docs, i), NULL, &id)) {
         g_hash_table_insert(ps.wanted, g_memdup2(id.bytes, 16), GUINT_TO_POINTER(0));
      }
   }
   ok = mn_run__read_collection(p->r->src, p->name, &ids_only, false, note_position, &ps, error);
   if (ok) {
      g_ptr_array_sort_with_data(docs, by_source_position, ps.wanted);
   }
   g_hash_table_destroy(ps.wanted);
   return ok;
}
/* Documents still refused at the end that are settled one by one, in source order. */
#define SETTLE_ONE_BY_ONE_MAX 64

/*
 * At the end of a collection, every other document being in place: the documents
 * PostgreSQL refused during the pass, and the unchanged documents to read again (those a
 * later batch took a row from, and, when a document rejected before is loaded now in a
 * collection that references itself, those skipped as unchanged, so a reference to it
 * may resolve).
 *
 * Rounds without rejecting anything (refused documents keep their earlier rows) go on
 * while a round loads some of them.  What is still refused then is settled as a fresh
 * load settles it: one by one in source order, each refused again rejected, so that a
 * rejected document's rows (a sub-document `_id` it also carries, a unique value) are
 * free for a later one.  Beyond SETTLE_ONE_BY_ONE_MAX documents, in one batch.
 */
static bool
retry_refused(pass_t *p, mn_error_t *error)
{
   GPtrArray *again = g_ptr_array_new_with_free_func((GDestroyNotify)bson_destroy);
   guint again_last = G_MAXUINT; /* refused by the last round when it loaded none */
   mn_idset_t done;
   bool ok = false;

   mn_idset__init(&done);
   for (;;) {
      bool regain = p->gained_members && p->self_ref;
      guint before = p->retry->len;
      guint tried;

      /* documents to read again that were not read again yet */
      if (rereads_pending(p, regain) && !gather_rereads(p, regain, &done, error)) {
         goto cleanup;
      }
      mn_idset__cleanup(&p->reread);
      mn_idset__init(&p->reread);
      p->gained_members = false;
      tried = p->retry->len;
      /* nothing to try, or only what a round refused already with nothing new: stop */
      if (tried == 0 || (tried == before && before == again_last)) {
         g_ptr_array_extend_and_steal(again, p->retry);
         p->retry = g_ptr_array_new_with_free_func((GDestroyNotify)bson_destroy);
         break;
      }
      if (!convert_again(p, again, error)) {
         goto cleanup;
      }
      if (again->len == 0) {
         break;
      }
      /* some refused: another round if it loaded some, or finds more to read again */
      again_last = again->len == tried ? again->len : G_MAXUINT;
      g_ptr_array_extend_and_steal(p->retry, again);
      again = g_ptr_array_new_with_free_func((GDestroyNotify)bson_destroy);
   }
   if (again->len > 1 && again->len <= SETTLE_ONE_BY_ONE_MAX && !sort_by_source(p, again, error)) {
      goto cleanup;
   }
   for (guint i = 0; i < again->len; i++) {
      g_ptr_array_add(p->retry, bson_copy(g_ptr_array_index(again, i)));
      if ((again->len <= SETTLE_ONE_BY_ONE_MAX || i + 1 == again->len) &&
          !convert_again(p, NULL, error)) {
         goto cleanup;
      }
   }
   /* rows the settled documents took from documents skipped as unchanged */
   {
      bool regain = p->gained_members && p->self_ref;
      if (rereads_pending(p, regain) &&
          (!gather_rereads(p, regain, &done, error) || !convert_again(p, NULL, error))) {
         goto cleanup;
      }
   }
   ok = true;

cleanup:
   mn_idset__cleanup(&done);
   g_ptr_array_free(again, TRUE);
   return ok;
}

/* A recorded document watermark mode did not read (unchanged, or a rejected one gone
 * between the listing and its read): its outcome stands, references into its collection
 * must know it, and a loaded one is counted as unchanged, as a full read counts it. */
static void
mark_unread(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *entry)
{
   pass_t *p = ctx;

   if (!entry->seen || mn_spillmap__get(p->processed, id->bytes, NULL)) {
      return;
   }
   if (entry->rejected) {
      mn_converter_mark_rejected(p->r->conv, p->c, id);
      return;
   }
   mn_converter_mark_accepted(p->r->conv, p->c, id);
   p->counts->read++;
   p->counts->loaded++;
   p->counts->unchanged++;
   p->counts->not_read++;
   count_unchanged_rows(p, entry);
}

/*
 * Whether this run may read the collection past its watermark only: a live source, a
 * declared watermark and a recorded value, the same conversion context, nothing the
 * claims pass wants converted again, not `--full`, and a read of every document recorded
 * less than `full_every` seconds ago.  Edits that leave the watermark field alone are
 * invisible to a watermark read; the whole read every `full_every` (and `--full`, for the
 * final run of a cutover) is what applies them.
 */
static bool
watermark_read_allowed(pass_t *p, const char *recorded_watermark, bool *allowed, mn_error_t *error)
{
   const mn_run_opts_t *o = p->r->opts;
   double every = o->full_every == 0 ? MN_RUN_FULL_EVERY_DEFAULT : o->full_every;
   double age = -1;

   *allowed = false;
   if (!p->wm_field || o->full || !p->same_context || !recorded_watermark ||
       !mn_idset__empty(&p->forced) || mn_source_kind(p->r->src) != MN_SOURCE_MONGODB ||
       mn_doc_state_count(p->state) == 0) {
      return true;
   }
   if (!mn_state_full_read_age(p->r->conn, p->name, &age, error)) {
      return false;
   }
   *allowed = age >= 0 && (every < 0 || age < every);
   return true;
}

/* Set up the pass over collection c, and point the run's view of it (run_t) at it. */
static void
pass_init(pass_t *p, run_t *r, size_t c)
{
   memset(p, 0, sizeof *p);
   r->load_rejected = false;
   p->r = r;
   p->c = c;
   p->name = mn_mapping_collection_name(r->m, c);
   p->counts = mn_run__collection_stats(r->stats, r->m, c);
   p->rows = mn_rowset_new();
   p->wm_field = mn_mapping_watermark(r->m, c);
   bson_init(&p->wm_max);
   p->seen_ids = mn_spillmap__new(0, 0);
   r->seen_ids = p->seen_ids;
   mn_idset__init(&p->forced);
   p->retry = g_ptr_array_new_with_free_func((GDestroyNotify)bson_destroy);
   r->forced = &p->forced;
   mn_idset__init(&p->reread);
   mn_idset__init(&p->skipped);
   p->self_ref = mn_converter_references(r->conv, c, c);
   r->reread = &p->reread;
   mn_idmap__init(&p->window);
   r->window = &p->window;
   mn_pg_sink_set_seen(r->sink, pass_comes_first, p);
}

/* Free what pass_init() and the pass set up, and detach the run from it. */
static void
pass_cleanup(pass_t *p)
{
   run_t *r = p->r;

   bson_destroy(&p->wm_max);
   mn_spillmap__destroy(p->processed);
   r->state = NULL;
   mn_doc_state_destroy(p->state);
   mn_spillmap__destroy(p->seen_ids);
   p->seen_ids = NULL;
   r->seen_ids = r->processed = NULL;
   mn_pg_sink_set_seen(r->sink, NULL, NULL);
   r->forced = NULL;
   r->reread = NULL;
   r->window = NULL;
   mn_idset__cleanup(&p->reread);
   mn_idset__cleanup(&p->skipped);
   mn_idset__cleanup(&p->forced);
   g_ptr_array_free(p->retry, TRUE);
   mn_idmap__cleanup(&p->window);
   mn_rowset_destroy(p->rows);
   g_free(p->table_counts);
#ifdef __GLIBC__
   /* what the pass freed (its sets, its batches' buffers) back to the system: the next
    * collection's peak then starts from the run's floor.  One thread at a time: a shared
    * load's workers end their passes concurrently, and two first calls at once crashed in
    * glibc's arena walk under AddressSanitizer (whose allocator leaves glibc's to
    * malloc_trim to set up) */
   pthread_mutex_lock(&trim_lock);
   malloc_trim(0);
   pthread_mutex_unlock(&trim_lock);
#endif
}

/*
 * What was loaded before: a document whose bytes are the same and that was converted in
 * the same context (the mapping, and which documents its references can name) is
 * skipped.  The context is recorded before anything of the collection is written, so a
 * run killed midway skips, when started again, what it had committed.
 */
static bool
load_recorded(pass_t *p, mn_error_t *error)
{
   run_t *r = p->r;
   char context[2 * MN_DIGEST_SIZE + 1];
   bool changed = true;

   p->skip_unchanged = true;
   p->state = mn_run__prefetch_take(&r->prefetch, p->name);
   if (!p->state) {
      p->state = mn_doc_state_load(r->conn, p->name, mn_mapping_n_tables(r->m), true, error);
   }
   if (!p->state) {
      return false;
   }
   /* the next collection's records while this one loads: in one process (a shared load's
    * workers write records of other collections meanwhile), not in a dry run (its schema
    * and writes are one uncommitted transaction) */
   if (p->c + 1 < mn_mapping_n_collections(r->m) && !r->jobs && !mn_pg_is_dry_run(r->conn)) {
      mn_run__prefetch_start(&r->prefetch, r->conn, mn_mapping_collection_name(r->m, p->c + 1),
                             mn_mapping_n_tables(r->m));
   }
   r->state = p->state;
   r->collection = p->name;
   mn_converter_context_digest(r->conv, p->c, context);
   if (!mn_state_enter_context(r->conn, p->name, context, &p->context, &changed, error) ||
       !mn_state_mapping_context(r->conn, p->name, mn_mapping_digest(r->m), &p->mapping_context,
                                 error)) {
      return false;
   }
   p->same_context = !changed;
   mn_pg_sink_set_context(r->sink, p->context);
   return true;
}

/* Read every document of the collection (one absent from a dump is empty). */
static bool
read_whole(pass_t *p, mn_error_t *error)
{
   mn_cursor_t *cur = mn_source_find(p->r->src, p->name, NULL, error);
   bool ok;

   if (!cur) {
      if (!(error && error->domain == MN_ERROR_MONGO && error->code == MN_MONGO_NOT_FOUND)) {
         return false;
      }
      mn_error_clear(error);
      return true;
   }
   ok = drain(p, cur, error);
   mn_cursor_destroy(cur);
   return ok;
}

/*
 * Delete the recorded documents the source no longer has (within --max-delete).  Not when
 * the read met records it could not read (a truncated or damaged file, a line that is no
 * JSON): the documents not seen may be in them, and an unreadable input never deletes
 * anything.  They stay, rows and records, until a clean read.
 */
static bool
delete_unseen(pass_t *p, mn_error_t *error)
{
   gone_t g = {p->r, p->c, p->counts};
   size_t gone = 0;

   mn_doc_state_foreach_unseen(p->state, count_gone, &gone);
   if (p->unreadable && gone) {
      char *msg = g_strdup_printf(
         "collection \"%s\": %zu document(s) loaded before and not read now were not deleted: "
         "the source has %zu unreadable record(s), which may hold them (a run that reads it "
         "whole deletes them)",
         p->name, gone, p->unreadable);
      warn_once(p->r, msg);
      g_free(msg);
      return true;
   }
   if (!check_deletions(p->r, p->name, mn_doc_state_count(p->state), gone, error)) {
      return false;
   }
   mn_doc_state_foreach_unseen(p->state, delete_gone, &g);
   return true;
}

/*
 * The end of a collection: the last batch, the end-of-collection retries, the sink's end
 * (deferred references), the sweep of references to documents rejected or refused in a
 * collection that references itself, then the records: the mapping digest and highest
 * watermark value, and the duration of a whole read.
 */
static bool
finish_collection(pass_t *p, bool by_watermark, double read_started, mn_error_t *error)
{
   run_t *r = p->r;
   size_t c = p->c;
   char *wm_json = NULL;
   bool ok;

   if (p->wm_field && !bson_empty(&p->wm_max)) {
      wm_json = bson_as_canonical_extended_json(&p->wm_max, NULL);
   }
   ok = flush(r, c, p->counts, &p->pending, p->retry, false, error) && retry_refused(p, error) &&
        mn_pg_sink_end_collection(r->sink, c, error) &&
        (!((p->lost_members || r->load_rejected) && mn_converter_references(r->conv, c, c)) ||
         mn_pg_sink_sweep_references(r->sink, c, error)) &&
        mn_state_set_collection(r->conn, p->name, mn_mapping_digest(r->m), wm_json, error) &&
        (by_watermark ||
         mn_state_set_full_read(r->conn, p->name, now_seconds() - read_started, error));
   bson_free(wm_json);
   return ok;
}

/*
 * One collection's pass: its records, the claims pass when run-wide unique keys need
 * one, a read past the watermark or of every document, the deletions, then the end of
 * the collection (finish_collection()).
 */
static bool
load_collection(run_t *r, size_t c, mn_error_t *error)
{
   pass_t p;
   char *recorded_digest = NULL;
   char *recorded_watermark = NULL;
   double started = now_seconds();
   double read_started;
   bool by_watermark = false;
   bool ok = false;

   pass_init(&p, r, c);
   if (!mn_state_get_collection(r->conn, p.name, &recorded_digest, &recorded_watermark, error) ||
       !mn_pg_sink_begin_collection(r->sink, c, mn_converter_is_referenced(r->conv, c), r->conv,
                                    error) ||
       !load_recorded(&p, error) ||
       (mn_converter_needs_claims(r->conv, c) && !claims_pass(&p, error)) ||
       !watermark_read_allowed(&p, recorded_watermark, &by_watermark, error)) {
      goto cleanup;
   }
   read_started = now_seconds();
   if (by_watermark) {
      p.counts->by_watermark = true;
      if (!read_since_watermark(&p, recorded_watermark, error)) {
         goto cleanup;
      }
      mn_doc_state_foreach(p.state, mark_unread, &p);
   } else if (!read_whole(&p, error)) {
      goto cleanup;
   }
   if (!delete_unseen(&p, error) || !finish_collection(&p, by_watermark, read_started, error)) {
      goto cleanup;
   }
   ok = true;

cleanup:
   if (!ok && r->in_flight.active) {
      /* A batch still in flight ended before what failed here, in the order of a run
       * without overlap: its failure is the run's; else its results count. */
      mn_error_t batch = {0};
      if (!settle(r, &batch) && error) {
         *error = batch;
      }
   }
   p.counts->seconds += now_seconds() - started;
   bson_free(recorded_digest);
   bson_free(recorded_watermark);
   pass_cleanup(&p);
   return ok;
}
/*
 * The start of a pass: a fresh converter, the pre-pass of referenced _id sets into it,
 * and the --max-delete check of every referenced collection (before anything is written);
 * `shared`: for the units of a shared load, which take their _id sets from it.
 */
static bool
begin_pass(run_t *r, bool shared, mn_error_t *error)
{
   r->conv = mn_converter_new(r->m, r->stats);
   /* each pass is judged on its own by the reject limits (the units of a shared load count
    * in statistics of their own, and the run's shows only the collections it loaded) */
   if (!shared) {
      run_totals(r, &r->read_base, &r->rejected_base);
   }
   r->known_rejects = 0;
   if (!mn_run__prepass(r->src, r->m, r->conv, error)) {
      return false;
   }
   for (size_t c = 0; c < mn_mapping_n_collections(r->m); c++) {
      if (mn_converter_is_referenced(r->conv, c) && !check_referenced_deletions(r, c, error)) {
         return false;
      }
   }
   return true;
}

/*
 * One pass over every collection: the pre-pass of referenced _id sets, the membership
 * check, then each collection in mapping order.  A fresh converter and sink each time,
 * so passes of a follow session do not share stale sets.
 */
static bool
one_pass(run_t *r, mn_error_t *error)
{
   const mn_mapping_t *m = r->m;
   bool ok = false;

   if (!begin_pass(r, false, error) || !(r->sink = mn_pg_sink_new(r->conn, m, r->stats, error))) {
      goto cleanup;
   }
   mn_pg_sink_set_guard(r->sink, guard_batch, r);
   mn_pg_sink_set_warning(r->sink, warn_once, r);
   for (size_t c = 0; c < mn_mapping_n_collections(m); c++) {
      if (!load_collection(r, c, error)) {
         goto cleanup;
      }
   }
   ok = true;

cleanup:
   mn_run__prefetch_end(&r->prefetch, true);
   mn_pg_sink_destroy(r->sink);
   r->sink = NULL;
   mn_converter_destroy(r->conv);
   r->conv = NULL;
   return ok;
}

/* learn_outcomes(), one recorded document of an earlier collection */
typedef struct {
   mn_converter_t *conv;
   size_t collection;
} outcome_t;

static void
learn_outcome(void *ctx, const mn_uuid_t *id, const mn_doc_entry_t *entry)
{
   outcome_t *o = ctx;

   if (entry->rejected) {
      mn_converter_mark_rejected(o->conv, o->collection, id);
   } else {
      mn_converter_mark_accepted(o->conv, o->collection, id);
   }
}

static bool
in_unit(const mn_run_unit_t *u, size_t c)
{
   for (size_t i = 0; i < u->n_collections; i++) {
      if (u->collections[i] == c) {
         return true;
      }
   }
   return false;
}

/*
 * What one pass's converter knows when it reaches the unit's collections, besides the
 * pre-pass: the outcome of every document of each earlier collection they reference
 * (another unit, done: its records are that outcome), which their conversion contexts and
 * reference checks read.
 */
static bool
learn_outcomes(run_t *r, const mn_run_unit_t *u, mn_error_t *error)
{
   size_t n = mn_mapping_n_collections(r->m);
   bool *wanted = g_new0(bool, n);
   bool ok = true;

   for (size_t i = 0; i < u->n_collections; i++) {
      for (size_t a = 0; a < u->collections[i]; a++) {
         wanted[a] =
            wanted[a] || (!in_unit(u, a) && mn_converter_references(r->conv, u->collections[i], a));
      }
   }
   for (size_t a = 0; a < n && ok; a++) {
      mn_doc_state_t *st = NULL;
      outcome_t o = {r->conv, a};
      if (wanted[a] && (ok = (st = mn_doc_state_load(r->conn, mn_mapping_collection_name(r->m, a),
                                                     0, false, error)) != NULL)) {
         mn_doc_state_foreach(st, learn_outcome, &o);
      }
      mn_doc_state_destroy(st);
   }
   g_free(wanted);
   return ok;
}

/* One collection of a unit, its reject lines into its part file. */
static bool
load_into_part(run_t *r, size_t c, mn_error_t *error)
{
   char path[4096];
   mn_rejects_t rejects = {0};
   bool ok;

   mn_run__reject_part(r->opts->reject_path, c, path, sizeof path);
   if (!mn_rejects__open(&rejects, path, error)) {
      return false;
   }
   r->rejects = &rejects;
   ok = load_collection(r, c, error);
   ok = mn_rejects__close(&rejects, ok ? error : NULL) && ok;
   r->rejects = NULL;
   return ok;
}

bool
mn_run__load_unit(const mn_run_unit_t *u, mn_error_t *error)
{
   char lock_sql[96];
   run_t r = {0};
   bool ok = false;

   r.opts = u->opts;
   r.m = u->m;
   r.src = u->src;
   r.conn = u->conn;
   r.stats = u->stats;
   r.jobs = u->jobs;
   r.slot = u->slot;
   r.unit_colls = u->collections;
   r.n_unit_colls = u->n_collections;
   r.conv = mn_converter_new(u->m, u->stats);
   mn_converter_copy_source_ids(r.conv, u->prepass);
   if (!learn_outcomes(&r, u, error) ||
       !(r.sink = mn_pg_sink_new(u->conn, u->m, u->stats, error))) {
      goto cleanup;
   }
   mn_pg_sink_set_guard(r.sink, guard_batch, &r);
   mn_pg_sink_set_warning(r.sink, warn_once, &r);
   mn_pg_sink_set_loaded(r.sink, u->loaded);
   /* the sink's loader holds the unit's lock too (mn_state_work_hold_unit()) */
   mn_state_work_unit_lock_sql((int)u->slot, lock_sql, sizeof lock_sql);
   mn_pg_sink_set_loader_sql(r.sink, lock_sql);
   for (size_t i = 0; i < u->n_collections; i++) {
      if (!load_into_part(&r, u->collections[i], error)) {
         goto cleanup;
      }
      u->loaded[u->collections[i]] = true;
   }
   ok = true;

cleanup:
   mn_pg_sink_destroy(r.sink);
   mn_converter_destroy(r.conv);
   return ok;
}

/*
 * Follow mode: the change stream was opened before the first pass, so nothing written
 * since is missed.  Each time events arrive, an incremental pass applies them (the same
 * ground truth as an ordinary run: digests skip what did not change); then the resume
 * token after those events is stored, so a restarted session resumes there.
 */
static bool
follow(run_t *r, mn_watch_t *watch, char **token, mn_error_t *error)
{
   const char *source = mn_source_describe(r->src);

   if (*token && !mn_state_set_resume_token(r->conn, source, *token, error)) {
      return false;
   }
   while (!(r->opts->stop && *r->opts->stop)) {
      bool changed = false;
      char *next;

      if (!mn_watch_wait(watch, &changed, error)) {
         return false;
      }
      next = mn_watch_token(watch);
      if (changed) {
         if (r->opts->progress) {
            r->opts->progress(r->opts->progress_ctx, "(changes)", 0, 0, 0);
         }
         if (!one_pass(r, error)) {
            bson_free(next);
            return false;
         }
      }
      if (next && (!*token || strcmp(next, *token) != 0)) {
         if (!mn_state_set_resume_token(r->conn, source, next, error)) {
            bson_free(next);
            return false;
         }
         bson_free(*token);
         *token = next;
      } else {
         bson_free(next);
      }
   }
   return true;
}

/*
 * Follow mode: open the change stream before the first pass, so that changes made during
 * it are not missed.  A stored token resumes the last session; one the server no longer
 * knows is dropped (the first pass is the ground truth anyway).  *token receives the
 * stream's token (free with bson_free()).
 */
static mn_watch_t *
open_watch(PGconn *conn, mn_source_t *src, char **token, mn_error_t *error)
{
   char *stored = NULL;
   mn_watch_t *watch;

   if (!mn_state_get_resume_token(conn, mn_source_describe(src), &stored, error)) {
      return NULL;
   }
   watch = mn_source_watch(src, stored, error);
   if (!watch && stored) {
      mn_error_clear(error);
      watch = mn_source_watch(src, NULL, error);
   }
   bson_free(stored);
   if (watch) {
      *token = mn_watch_token(watch);
   }
   return watch;
}

/*
 * Connect, take the run lock (shared with the other processes of a shared load), check
 * the mapping against the target, and create mongonorm's own schema if missing (and,
 * for a shared load, create or join its units of work).
 */
static PGconn *
open_target(const mn_run_opts_t *opts, mn_mapping_t *m, mn_run_jobs_t **jobs, mn_error_t *error)
{
   PGconn *conn = mn_pg_connect(opts->pg_conninfo, error);
   bool shared = (opts->jobs > 1 || opts->join) && !opts->follow;

   if (!conn) {
      return NULL;
   }
   if (shared && !(*jobs = mn_run__jobs_new(opts, m, conn, error))) {
      PQfinish(conn);
      return NULL;
   }
   if (!(*jobs ? mn_run__jobs_lock(*jobs, conn, error) : mn_pg_lock(conn, error))) {
      PQfinish(conn);
      return NULL;
   }
   if ((opts->dry_run && !mn_pg_begin_dry_run(conn, error)) ||
       !mn_pg_check_mapping(conn, m, error) ||
       !(*jobs ? mn_run__jobs_start(*jobs, conn, error) : mn_state_ensure_schema(conn, error))) {
      if (*jobs) {
         mn_run__jobs_unlock(*jobs, conn);
      } else {
         mn_pg_unlock(conn);
      }
      PQfinish(conn);
      return NULL;
   }
   return conn;
}

/* The load: one pass in this thread, or the units of a shared load by its workers. */
static bool
load_all(run_t *r, mn_run_jobs_t *jobs, mn_error_t *error)
{
   bool ok;

   if (!jobs) {
      return one_pass(r, error);
   }
   ok = begin_pass(r, true, error) && mn_run__jobs_load(jobs, r->conv, r->stats, error);
   mn_converter_destroy(r->conv);
   r->conv = NULL;
   return ok;
}

bool
mn_run(const mn_run_opts_t *opts, mn_stats_t *stats, mn_error_t *error)
{
   mn_mapping_t *m = NULL;
   mn_source_t *src = NULL;
   PGconn *conn = NULL;
   mn_watch_t *watch = NULL;
   mn_pg_bulk_t *bulk = NULL;
   mn_run_jobs_t *jobs = NULL;
   char *token = NULL;
   mn_rejects_t rejects = {0};
   run_t r = {0};
   char run_id[32] = "";
   double started = now_seconds();
   bool ok = false;

   mn_stats_set_show_drift(stats, opts->show_drift);
   mn_stats_set_dry_run(stats, opts->dry_run);
   if (opts->dry_run && (opts->follow || opts->jobs > 1 || opts->join)) {
      mn_set_error(error, MN_ERROR_USAGE, 0, "a dry run cannot be used with %s",
                   opts->follow ? "follow"
                   : opts->join ? "join"
                                : "jobs above 1");
      goto cleanup;
   }
   if (!(m = mn_mapping_load(opts->mapping_path, error))) {
      goto cleanup;
   }
   if (!(src = mn_source_open(opts->source, opts->database, error)) ||
       !mn_run__check_collections(src, m, "nothing was written", error)) {
      goto cleanup;
   }
   if (!(conn = open_target(opts, m, &jobs, error))) {
      goto cleanup;
   }
   if (opts->follow && !(watch = open_watch(conn, src, &token, error))) {
      goto cleanup;
   }
   if (!record_run_start(conn, mn_source_describe(src), opts->mapping_path, run_id, sizeof run_id,
                         error)) {
      goto cleanup;
   }
   if (!mn_rejects__open(&rejects, opts->reject_path, error)) {
      goto cleanup;
   }
   r.opts = opts;
   r.m = m;
   r.src = src;
   r.conn = conn;
   r.rejects = &rejects;
   r.stats = stats;
   r.warned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
   /* a bulk load (run.h): the phase begins before anything is written and ends after the
    * whole first pass (a shared load's: jobs.c, mn_run__jobs_start() and _load()) */
   if (!jobs && !opts->dry_run &&
       !(bulk = mn_pg__bulk_start(conn, opts->pg_conninfo, m, !opts->no_bulk_load,
                                  opts->jobs ? opts->jobs : MN_RUN_REBUILD_DEFAULT, error))) {
      goto cleanup;
   }
   if (!load_all(&r, jobs, error) || !mn_pg__bulk_finish(bulk, error)) {
      goto cleanup;
   }
   if (watch && !follow(&r, watch, &token, error)) {
      goto cleanup;
   }
   if (!mn_rejects__close(&rejects, error)) {
      goto cleanup;
   }
   ok = true;

cleanup:
   mn_stats_set_seconds(stats, now_seconds() - started);
   mn_pg__bulk_destroy(bulk);
   if (conn && *run_id) {
      record_run_end(conn, run_id, ok ? "success" : "failed", stats);
   }
   mn_rejects__close(&rejects, NULL);
   if (r.warned) {
      g_hash_table_destroy(r.warned);
   }
   bson_free(token);
   mn_watch_destroy(watch);
   if (jobs) {
      mn_run__jobs_unlock(jobs, conn);
   } else {
      mn_pg_unlock(conn);
   }
   mn_run__jobs_destroy(jobs);
   PQfinish(conn);
   mn_source_destroy(src);
   mn_mapping_destroy(m);
   return ok;
}
