/*
 * jobs.c - loads several workers share (run --jobs N, run --join NAME; run.h, "Several
 * workers"): the units of work and what each waits for, the run lock and the generation of
 * units, the worker threads and their claim loop, and at the end the units' statistics
 * merged and their reject lines put together in mapping order.
 *
 * A worker is a thread with its own source handle, a load connection (the unit's batches,
 * through mn_run__load_unit() in run.c) and a claim connection (mongonorm.work: the unit's
 * row stays locked in an open transaction while the unit loads; state.h).  The main
 * thread keeps the run lock and the run's record and waits for the workers.
 */
#include <mongonorm/convert.h>
#include <mongonorm/files.h>
#include <mongonorm/pg.h>
#include <mongonorm/run.h>
#include <mongonorm/source.h>
#include <mongonorm/state.h>

#include "mapping/plan.h"
#include "pg/pg_private.h"
#include "run/run_private.h"

#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <glib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A worker with nothing to claim waits this long at most before it looks again (a unit
 * done wakes it at once; a worker that died frees its unit without a word). */
#define WAIT_MS 500

typedef struct {
   GArray *collections; /* size_t, mapping order */
   GArray *depends;     /* int: the units done first */
} unit_t;

/* A unit's counts for the reject limits (mn_run__jobs_totals()). */
typedef struct {
   uint64_t read, rejected, known;
} slot_t;

struct mn_run_jobs {
   const mn_run_opts_t *opts;
   const mn_mapping_t *m;
   PGconn *conn;     /* the run's connection (borrowed) */
   const char *load; /* opts->join, or "" for the load of this process alone */
   unit_t *units;
   size_t n_units;
   int32_t generation;
   bool created;       /* this process created the generation */
   mn_pg_bulk_t *bulk; /* the bulk phase it began, or NULL; owned */
   bool bulk_active;   /* a bulk load is in progress: workers commit with synchronous_commit off */
   const mn_converter_t *prepass;
   /* shared by the workers, under mu */
   GMutex mu;
   slot_t *slots;      /* per unit */
   GHashTable *warned; /* the warnings said */
   mn_stats_t **stats; /* per unit: what this process loaded of it, or NULL */
   bool *attempted;    /* per collection: this process loaded (or began) it */
   mn_error_t error;   /* the first worker's failure */
   bool failed;
   atomic_int cancel; /* a worker failed: the others stop */
};

/* ---- the units of work ---- */

/* tables[t]: collection c writes table t (any of its entries). */
static void
collection_tables(const mn_mapping_t *m, size_t c, bool *tables)
{
   memset(tables, 0, m->n_tables * sizeof *tables);
   for (size_t e = 0; e < m->collections[c].n_entries; e++) {
      tables[m->collections[c].entries[e].table_index] = true;
   }
}

/* fk[a * n + b] (both ways): a foreign key between the mapped tables a and b. */
static bool
foreign_keys(PGconn *conn, const mn_mapping_t *m, bool *fk, mn_error_t *error)
{
   const char *params[1] = {mn_mapping_schema(m)};
   PGresult *res =
      mn_pg__query(conn,
                   "SELECT t.relname, r.relname FROM pg_catalog.pg_constraint c "
                   "JOIN pg_catalog.pg_class t ON t.oid = c.conrelid "
                   "JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace "
                   "JOIN pg_catalog.pg_class r ON r.oid = c.confrelid "
                   "JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace "
                   "WHERE c.contype = 'f' AND tn.nspname = $1 AND rn.nspname = $1",
                   1, params, PGRES_TUPLES_OK, "could not read the foreign keys", error);

   if (!res) {
      return false;
   }
   for (int i = 0; i < PQntuples(res); i++) {
      int a = mn_pg__find_table(m, PQgetvalue(res, i, 0));
      int b = mn_pg__find_table(m, PQgetvalue(res, i, 1));
      if (a >= 0 && b >= 0) {
         fk[(size_t)a * m->n_tables + (size_t)b] = fk[(size_t)b * m->n_tables + (size_t)a] = true;
      }
   }
   PQclear(res);
   return true;
}

/*
 * related[a * n + b]: collections a and b must not load side by side, the earlier one
 * first: one references the other, or a table of one has a foreign key with a table of
 * the other.  group[c]: the collections writing a common table share a group (one unit:
 * run-wide unique keys and the tables' state live in one converter).
 */
static bool
relate(PGconn *conn, const mn_mapping_t *m, bool *related, size_t *group, mn_error_t *error)
{
   size_t n = m->n_collections, nt = m->n_tables;
   bool *fk = g_new0(bool, nt *nt + 1), *ta = g_new0(bool, nt + 1), *tb = g_new0(bool, nt + 1);
   mn_stats_t *none = mn_stats_new();
   mn_converter_t *conv = mn_converter_new(m, none);
   bool ok = foreign_keys(conn, m, fk, error);

   for (size_t c = 0; c < n; c++) {
      group[c] = c;
   }
   for (size_t a = 0; ok && a < n; a++) {
      collection_tables(m, a, ta);
      for (size_t b = a + 1; b < n; b++) {
         bool shared = false, keyed = false;
         collection_tables(m, b, tb);
         for (size_t x = 0; x < nt; x++) {
            shared = shared || (ta[x] && tb[x]);
            for (size_t y = 0; y < nt && !keyed; y++) {
               keyed = ta[x] && tb[y] && fk[x * nt + y];
            }
         }
         related[a * n + b] = related[b * n + a] = shared || keyed ||
                                                   mn_converter_references(conv, a, b) ||
                                                   mn_converter_references(conv, b, a);
         if (shared) {
            size_t from = group[b], to = group[a];
            for (size_t c = 0; c < n; c++) {
               group[c] = group[c] == from ? to : group[c];
            }
         }
      }
   }
   mn_converter_destroy(conv);
   mn_stats_destroy(none);
   g_free(fk);
   g_free(ta);
   g_free(tb);
   return ok;
}

static void
free_units(unit_t *units, size_t n)
{
   for (size_t u = 0; units && u < n; u++) {
      g_array_free(units[u].collections, TRUE);
      g_array_free(units[u].depends, TRUE);
   }
   g_free(units);
}

/* The units of the groups (ordered by their first collection) and what each waits for:
 * unit U waits for V when a collection of V comes before a related one of U. */
static unit_t *
build_units(const mn_mapping_t *m, const bool *related, const size_t *group, size_t *n_units,
            bool *dep)
{
   size_t n = m->n_collections;
   size_t *unit_of = g_new(size_t, n + 1);
   unit_t *units = g_new0(unit_t, n + 1);

   *n_units = 0;
   for (size_t c = 0; c < n; c++) {
      size_t u = *n_units;
      for (size_t d = 0; d < c; d++) {
         if (group[d] == group[c]) {
            u = unit_of[d];
            break;
         }
      }
      if (u == *n_units) {
         units[u].collections = g_array_new(FALSE, FALSE, sizeof(size_t));
         units[u].depends = g_array_new(FALSE, FALSE, sizeof(int));
         (*n_units)++;
      }
      unit_of[c] = u;
      g_array_append_val(units[u].collections, c);
   }
   memset(dep, 0, n * n * sizeof *dep);
   for (size_t a = 0; a < n; a++) {
      for (size_t b = a + 1; b < n; b++) {
         if (related[a * n + b] && unit_of[a] != unit_of[b]) {
            dep[unit_of[b] * n + unit_of[a]] = true;
         }
      }
   }
   g_free(unit_of);
   return units;
}

/*
 * The units of work: groups of collections (relate()), then, while two units wait for
 * each other through a chain of waits (a collection of each comes before a related one of
 * the other), they are merged into one, so every unit can start once the units before it
 * are done.
 */
static bool
compute_units(mn_run_jobs_t *j, PGconn *conn, mn_error_t *error)
{
   size_t n = j->m->n_collections;
   bool *related = g_new0(bool, n *n + 1), *dep = g_new0(bool, n *n + 1);
   size_t *group = g_new0(size_t, n + 1);
   bool merged = true, ok = relate(conn, j->m, related, group, error);

   while (ok && merged) {
      merged = false;
      free_units(j->units, j->n_units);
      j->units = build_units(j->m, related, group, &j->n_units, dep);
      /* dep becomes its transitive closure (Floyd-Warshall) */
      for (size_t k = 0; k < j->n_units; k++) {
         for (size_t a = 0; a < j->n_units; a++) {
            for (size_t b = 0; b < j->n_units; b++) {
               dep[a * n + b] = dep[a * n + b] || (dep[a * n + k] && dep[k * n + b]);
            }
         }
      }
      for (size_t a = 0; a < j->n_units && !merged; a++) {
         for (size_t b = a + 1; b < j->n_units && !merged; b++) {
            if (dep[a * n + b] && dep[b * n + a]) {
               size_t from = group[g_array_index(j->units[b].collections, size_t, 0)];
               size_t to = group[g_array_index(j->units[a].collections, size_t, 0)];
               for (size_t c = 0; c < n; c++) {
                  group[c] = group[c] == from ? to : group[c];
               }
               merged = true;
            }
         }
      }
   }
   for (size_t u = 0; ok && u < j->n_units; u++) {
      for (size_t v = 0; v < j->n_units; v++) {
         int w = (int)v;
         if (dep[u * n + v]) {
            g_array_append_val(j->units[u].depends, w);
         }
      }
   }
   g_free(related);
   g_free(dep);
   g_free(group);
   return ok;
}

mn_run_jobs_t *
mn_run__jobs_new(const mn_run_opts_t *opts, const mn_mapping_t *m, PGconn *conn, mn_error_t *error)
{
   mn_run_jobs_t *j = g_new0(mn_run_jobs_t, 1);

   j->opts = opts;
   j->m = m;
   j->conn = conn;
   j->load = opts->join ? opts->join : "";
   g_mutex_init(&j->mu);
   j->warned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
   atomic_init(&j->cancel, 0);
   if (!compute_units(j, conn, error)) {
      mn_run__jobs_destroy(j);
      return NULL;
   }
   j->slots = g_new0(slot_t, j->n_units);
   j->stats = g_new0(mn_stats_t *, j->n_units);
   j->attempted = g_new0(bool, m->n_collections + 1);
   return j;
}

void
mn_run__jobs_destroy(mn_run_jobs_t *j)
{
   if (!j) {
      return;
   }
   for (size_t u = 0; j->stats && u < j->n_units; u++) {
      mn_stats_destroy(j->stats[u]);
   }
   free_units(j->units, j->n_units);
   mn_pg__bulk_destroy(j->bulk);
   g_free(j->stats);
   g_free(j->slots);
   g_free(j->attempted);
   g_hash_table_destroy(j->warned);
   g_mutex_clear(&j->mu);
   g_free(j);
}

/* ---- the run lock and the generation ---- */

bool
mn_run__jobs_lock(mn_run_jobs_t *j, PGconn *conn, mn_error_t *error)
{
   return j->opts->join ? mn_state_work_lock(conn, j->load, error) : mn_pg_lock(conn, error);
}

void
mn_run__jobs_unlock(mn_run_jobs_t *j, PGconn *conn)
{
   if (!j || !conn) {
      return;
   }
   if (j->opts->join) {
      mn_state_work_unlock(conn, j->load);
   } else {
      mn_pg_unlock(conn);
   }
}

/* Record the units (mn_state_work_start()): their collections' names and waits. */
static bool
start_generation(mn_run_jobs_t *j, PGconn *conn, mn_error_t *error)
{
   mn_work_unit_t *w = g_new0(mn_work_unit_t, j->n_units + 1);
   const char **names = g_new0(const char *, j->m->n_collections + 1);
   size_t k = 0;
   bool ok;

   for (size_t u = 0; u < j->n_units; u++) {
      w[u].collections = names + k;
      w[u].n_collections = j->units[u].collections->len;
      for (guint i = 0; i < j->units[u].collections->len; i++) {
         names[k++] = j->m->collections[g_array_index(j->units[u].collections, size_t, i)].name;
      }
      w[u].depends_on = (const int *)(void *)j->units[u].depends->data;
      w[u].n_depends = j->units[u].depends->len;
   }
   ok = mn_state_work_start(conn, j->load, mn_mapping_digest(j->m), w, j->n_units,
                            j->opts->join != NULL, &j->generation, &j->created, error);
   g_free(names);
   g_free(w);
   return ok;
}

/*
 * The processes of a shared load on one host must not write one reject file: each puts
 * its own lines together and renames them over the file at the end, so the last one
 * would win and the others' lines be lost.  A session-level advisory lock of this run's
 * connection, keyed by a digest of the host name and the file's absolute path, is held
 * until the process ends (a killed process frees it); a second process of this host with
 * the same file is refused before it does anything.
 */
static bool
claim_reject_path(const mn_run_jobs_t *j, PGconn *conn, mn_error_t *error)
{
   char host[256] = "", *path;
   uint8_t dg[MN_DIGEST_SIZE];
   char key[32];
   const char *params[1] = {key};
   GString *id;
   PGresult *res;
   uint64_t k = 0;
   bool ok;

   if (!j->opts->join || !j->opts->reject_path) {
      return true;
   }
   gethostname(host, sizeof host - 1);
   path = g_canonicalize_filename(j->opts->reject_path, NULL); /* absolute, no "." or ".." */
   id = g_string_new("mongonorm reject file");
   g_string_append_len(id, "", 1);
   g_string_append(id, host);
   g_string_append_len(id, "", 1);
   g_string_append(id, path);
   mn_digest(id->str, id->len, dg);
   for (int i = 0; i < 8; i++) {
      k = k << 8 | dg[i];
   }
   snprintf(key, sizeof key, "%" PRId64, (int64_t)k);
   res = mn_pg__query(conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, params, PGRES_TUPLES_OK,
                      "could not lock the reject file's name", error);
   ok = res != NULL;
   if (ok && strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
      mn_set_error(error, MN_ERROR_USAGE, 0,
                   "another process of shared load \"%s\" on this host writes reject file "
                   "\"%s\": give each process on one host its own --rejects (and --report)",
                   j->load, path);
      ok = false;
   }
   PQclear(res);
   g_string_free(id, TRUE);
   g_free(path);
   return ok;
}

/*
 * Part files of the reject file (mn_run__reject_part()) that a process of this host left
 * when it was killed hold reject lines, documents included, that no run will put together:
 * remove those whose process is gone (kill(pid, 0) says ESRCH).  Called once this process
 * may write the reject file (the run lock, or claim_reject_path()); nothing is reported,
 * as a part that cannot be removed harms nothing.
 */
static void
remove_stale_parts(const mn_run_jobs_t *j)
{
   char *dir, *prefix;
   GDir *d;
   const char *name;

   if (!j->opts->reject_path) {
      return;
   }
   dir = g_path_get_dirname(j->opts->reject_path);
   {
      char *base = g_path_get_basename(j->opts->reject_path);
      prefix = g_strconcat(base, ".part-", NULL);
      g_free(base);
   }
   d = g_dir_open(dir, 0, NULL);
   while (d && (name = g_dir_read_name(d))) {
      char *end;
      long pid;
      if (strncmp(name, prefix, strlen(prefix)) != 0) {
         continue;
      }
      pid = strtol(name + strlen(prefix), &end, 10);
      if (pid <= 0 || pid == (long)getpid() || *end != '-' || end[1] < '0' || end[1] > '9' ||
          strspn(end + 1, "0123456789") != strlen(end + 1) ||
          !(kill((pid_t)pid, 0) == -1 && errno == ESRCH)) {
         continue;
      }
      char *path = g_build_filename(dir, name, NULL);
      unlink(path);
      g_free(path);
   }
   if (d) {
      g_dir_close(d);
   }
   g_free(prefix);
   g_free(dir);
}

bool
mn_run__jobs_start(mn_run_jobs_t *j, PGconn *conn, mn_error_t *error)
{
   mn_bulk_pending_t pending = {0};
   bool ok;

   if (!claim_reject_path(j, conn, error)) {
      return false;
   }
   remove_stale_parts(j);

   /* The processes of a shared load hold the run lock together: one at a time creates the
    * schema (CREATE ... IF NOT EXISTS races with itself) and joins or creates the units.
    * The creator begins the bulk phase (run.h) before it lets go, so no process claims a
    * unit before the phase has begun. */
   if (!mn_pg_exec(conn, "SELECT pg_advisory_lock(" MN_STATE_WORK_LOCK_KEY ")", error)) {
      return false;
   }
   ok = mn_state_ensure_schema(conn, error) && mn_state_work_ensure(conn, error) &&
        start_generation(j, conn, error);
   if (ok && j->created) {
      unsigned rebuild = j->opts->jobs ? j->opts->jobs : MN_RUN_REBUILD_DEFAULT;
      ok = (j->bulk = mn_pg__bulk_start(conn, j->opts->pg_conninfo, j->m, !j->opts->no_bulk_load,
                                        rebuild, error)) != NULL;
   }
   /* while a bulk load is in progress the workers commit as the run's session does */
   ok = ok && mn_state_bulk_pending(conn, &pending, error);
   j->bulk_active = pending.indexes || pending.foreign_keys;
   PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MN_STATE_WORK_LOCK_KEY ")"));
   return ok;
}

/* ---- what the workers share ---- */

void
mn_run__jobs_totals(mn_run_jobs_t *j, size_t slot, uint64_t read, uint64_t rejected, uint64_t known,
                    uint64_t *all_read, uint64_t *all_rejected, uint64_t *all_known)
{
   g_mutex_lock(&j->mu);
   j->slots[slot].read = read;
   j->slots[slot].rejected = rejected;
   j->slots[slot].known = known;
   *all_read = *all_rejected = *all_known = 0;
   for (size_t u = 0; u < j->n_units; u++) {
      *all_read += j->slots[u].read;
      *all_rejected += j->slots[u].rejected;
      *all_known += j->slots[u].known;
   }
   g_mutex_unlock(&j->mu);
}

void
mn_run__jobs_warn(mn_run_jobs_t *j, const char *message)
{
   g_mutex_lock(&j->mu);
   if (j->opts->warning && g_hash_table_add(j->warned, g_strdup(message))) {
      j->opts->warning(j->opts->warning_ctx, message);
   }
   g_mutex_unlock(&j->mu);
}

void
mn_run__jobs_progress(mn_run_jobs_t *j, const char *collection, uint64_t documents, uint64_t done,
                      uint64_t total)
{
   g_mutex_lock(&j->mu);
   if (j->opts->progress) {
      j->opts->progress(j->opts->progress_ctx, collection, documents, done, total);
   }
   g_mutex_unlock(&j->mu);
}

bool
mn_run__jobs_cancelled(mn_run_jobs_t *j)
{
   return atomic_load(&j->cancel) != 0;
}

/* A worker failed: keep the first error, stop the others. */
static void
fail(mn_run_jobs_t *j, const mn_error_t *error)
{
   g_mutex_lock(&j->mu);
   if (!j->failed) {
      j->failed = true;
      j->error = *error;
   }
   g_mutex_unlock(&j->mu);
   atomic_store(&j->cancel, 1);
}

/* ---- the reject lines ---- */

void
mn_run__reject_part(const char *reject_path, size_t c, char *buf, size_t size)
{
   snprintf(buf, size, "%s.part-%ld-%zu", reject_path, (long)getpid(), c);
}

/* Append the part file of collection c to out (then remove it); a part never created is
 * empty. */
static bool
append_part(const mn_run_jobs_t *j, size_t c, FILE *out, mn_error_t *error)
{
   char path[4096], buf[65536];
   FILE *in;
   size_t n;
   bool ok = true;

   mn_run__reject_part(j->opts->reject_path, c, path, sizeof path);
   if (!(in = fopen(path, "rb"))) {
      return true;
   }
   while ((n = fread(buf, 1, sizeof buf, in)) > 0 && ok) {
      ok = fwrite(buf, 1, n, out) == n;
   }
   ok = ok && !ferror(in);
   fclose(in);
   if (!ok) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write reject file \"%s\": %s",
                   j->opts->reject_path, strerror(errno));
      return false;
   }
   unlink(path);
   return true;
}

/*
 * The reject file: every collection's part in mapping order, as one pass writes them,
 * into a new private file (files.h) synced and then renamed over the reject file.
 */
static bool
join_rejects(const mn_run_jobs_t *j, mn_error_t *error)
{
   char *tmp = NULL;
   int fd = mn_private_file_begin(j->opts->reject_path, "reject file", &tmp, error);
   FILE *out = fd < 0 ? NULL : fdopen(fd, "w");
   bool ok = out != NULL;

   if (fd >= 0 && !out) {
      close(fd);
   }
   for (size_t c = 0; ok && c < j->m->n_collections; c++) {
      ok = !j->attempted[c] || append_part(j, c, out, error);
   }
   if (out) {
      bool synced = fflush(out) == 0 && fsync(fileno(out)) == 0;
      synced = fclose(out) == 0 && synced;
      if (ok && !synced) {
         mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write reject file \"%s\": %s",
                      j->opts->reject_path, strerror(errno));
         ok = false;
      }
   }
   if (ok) {
      ok = mn_private_file_commit(tmp, j->opts->reject_path, "reject file", error);
   } else if (tmp) {
      unlink(tmp);
   }
   free(tmp);
   return ok;
}

/* ---- the workers ---- */

typedef struct {
   mn_run_jobs_t *j;
   unsigned n;       /* its number in the process */
   char who[320];    /* host:pid/n, recorded in the units it claims */
   mn_source_t *src; /* its own */
   PGconn *conn;     /* its load connection */
   PGconn *claim;    /* its claim connection */
   bool *loaded;     /* per collection */
} worker_t;

/* Load unit u (claimed): its statistics are the process's from now on. */
static bool
load_unit(worker_t *w, int u, mn_error_t *error)
{
   mn_run_jobs_t *j = w->j;
   unit_t *unit = &j->units[u];
   bool *done = g_new0(bool, j->n_units + 1);
   mn_run_unit_t ru = {0};
   bool ok = mn_state_work_done_units(w->conn, j->load, j->generation, done, j->n_units, error);

   for (size_t v = 0; v < j->n_units; v++) {
      for (guint i = 0; i < j->units[v].collections->len; i++) {
         w->loaded[g_array_index(j->units[v].collections, size_t, i)] = done[v];
      }
   }
   g_free(done);
   g_mutex_lock(&j->mu);
   if (!j->stats[u]) {
      j->stats[u] = mn_stats_new();
      mn_stats_set_show_drift(j->stats[u], j->opts->show_drift);
   }
   ru.stats = j->stats[u];
   for (guint i = 0; i < unit->collections->len; i++) {
      j->attempted[g_array_index(unit->collections, size_t, i)] = true;
   }
   g_mutex_unlock(&j->mu);
   ru.opts = j->opts;
   ru.m = j->m;
   ru.src = w->src;
   ru.conn = w->conn;
   ru.prepass = j->prepass;
   ru.collections = (const size_t *)(void *)unit->collections->data;
   ru.n_collections = unit->collections->len;
   ru.loaded = w->loaded;
   ru.jobs = j;
   ru.slot = (size_t)u;
   /* a dead worker's load session may still be ending: its unit lock says when it has */
   if (!ok || !mn_state_work_hold_unit(w->conn, u, error)) {
      return false;
   }
   ok = mn_run__load_unit(&ru, error);
   mn_state_work_drop_unit(w->conn, u);
   return ok;
}

/*
 * The claim loop: claim a unit whose units are done, load it, mark it done; with none to
 * claim, wait for one to be done (or a worker's unit to be freed); end when every unit
 * of the generation is done, or a worker failed.
 */
static bool
claim_loop(worker_t *w, mn_error_t *error)
{
   mn_run_jobs_t *j = w->j;

   while (!mn_run__jobs_cancelled(j)) {
      int u = -1;
      bool finished = false;

      if (!mn_state_work_claim(w->claim, j->load, j->generation, w->who, &u, &finished, error)) {
         return false;
      }
      if (u >= 0) {
         if (!load_unit(w, u, error)) {
            mn_state_work_release(w->claim);
            return false;
         }
         if (!mn_state_work_done(w->claim, j->load, j->generation, u, error)) {
            return false;
         }
      } else if (finished) {
         return true;
      } else if (!mn_state_work_wait(w->claim, WAIT_MS, error)) {
         return false;
      }
   }
   return true;
}

/* A connection of the worker, named in pg_stat_activity "mongonorm <role> <pid>/<n>". */
static PGconn *
worker_connect(const worker_t *w, const char *role, mn_error_t *error)
{
   PGconn *conn = mn_pg_connect(w->j->opts->pg_conninfo, error);
   char sql[128];

   if (conn) {
      snprintf(sql, sizeof sql, "SET application_name = 'mongonorm %s %ld/%u'", role,
               (long)getpid(), w->n);
      PQclear(PQexec(conn, sql));
      if (w->j->bulk_active && strcmp(role, "load") == 0) {
         /* as the run's session in a bulk phase (pg_private.h, mn_pg__bulk_start()) */
         PQclear(PQexec(conn, "SET synchronous_commit = off"));
      }
   }
   return conn;
}

static gpointer
worker_main(gpointer data)
{
   worker_t *w = data;
   mn_run_jobs_t *j = w->j;
   mn_error_t error = {0};
   bool ok;

   w->loaded = g_new0(bool, j->m->n_collections + 1);
   ok = (w->src = mn_source_open(j->opts->source, j->opts->database, &error)) != NULL &&
        (w->conn = worker_connect(w, "load", &error)) != NULL &&
        (w->claim = worker_connect(w, "claim", &error)) != NULL && claim_loop(w, &error);
   if (!ok) {
      fail(j, &error);
   }
   mn_state_work_release(w->claim);
   PQfinish(w->claim);
   PQfinish(w->conn);
   mn_source_destroy(w->src);
   g_free(w->loaded);
   return NULL;
}

/* The units' statistics into `stats`: the collections this process loaded and their
 * tables first, in mapping order (as one pass creates them), then every unit's counts. */
static void
merge_stats(mn_run_jobs_t *j, mn_stats_t *stats)
{
   for (size_t c = 0; c < j->m->n_collections; c++) {
      if (j->attempted[c]) {
         (void)mn_run__collection_stats(stats, j->m, c);
      }
   }
   for (size_t u = 0; u < j->n_units; u++) {
      if (j->stats[u]) {
         mn_stats_merge(stats, j->stats[u]);
      }
   }
}

/*
 * Every unit is done: the process that takes the generation's end ends the bulk phase in
 * progress, if any.  The one that began it (it created the generation) ends its own; any
 * other puts back whatever the record holds, as a run does after a killed bulk load.  Only
 * one process does, so nothing is put back twice.
 */
static bool
end_bulk(mn_run_jobs_t *j, const char *host, mn_error_t *error)
{
   char who[320];
   bool mine = false, ok;
   mn_pg_bulk_t *other;

   snprintf(who, sizeof who, "%s:%ld", host, (long)getpid());
   if (!mn_state_work_finish(j->conn, j->load, j->generation, who, &mine, error)) {
      return false;
   }
   if (!mine) {
      return true;
   }
   if (j->bulk) {
      return mn_pg__bulk_finish(j->bulk, error);
   }
   other = mn_pg__bulk_start(j->conn, j->opts->pg_conninfo, j->m, false,
                             j->opts->jobs ? j->opts->jobs : MN_RUN_REBUILD_DEFAULT, error);
   ok = other && mn_pg__bulk_finish(other, error);
   mn_pg__bulk_destroy(other);
   return ok;
}

bool
mn_run__jobs_load(mn_run_jobs_t *j, const mn_converter_t *prepass, mn_stats_t *stats,
                  mn_error_t *error)
{
   unsigned n = j->opts->jobs > 1 ? j->opts->jobs : 1;
   worker_t *workers;
   GThread **threads;
   char host[256] = "";
   bool ok;

   if (n > j->n_units) {
      n = (unsigned)j->n_units; /* more would only wait */
   }
   n = n ? n : 1;
   j->prepass = prepass;
   gethostname(host, sizeof host - 1);
   workers = g_new0(worker_t, n);
   threads = g_new0(GThread *, n);
   for (unsigned i = 0; i < n; i++) {
      workers[i].j = j;
      workers[i].n = i;
      snprintf(workers[i].who, sizeof workers[i].who, "%s:%ld/%u", host, (long)getpid(), i);
      threads[i] = g_thread_new("mongonorm-worker", worker_main, &workers[i]);
   }
   for (unsigned i = 0; i < n; i++) {
      g_thread_join(threads[i]);
   }
   g_free(threads);
   g_free(workers);
   merge_stats(j, stats);
   ok = !j->failed;
   if (!ok && error) {
      *error = j->error;
   }
   ok = ok && end_bulk(j, host, error);
   /* the lines written so far, also after a failure */
   return join_rejects(j, ok ? error : NULL) && ok;
}
