/*
 * prefetch.c - the recorded documents of the next collection, read on a session and a
 * thread of their own while the run loads the current one (run_private.h).
 *
 * A run reads a collection's records (mn_doc_state_load) before its first document, and
 * the server takes about a microsecond a record to send them; a re-run that changes little
 * spends much of its time waiting so.  While collection c is loaded, nothing writes the
 * records of collection c + 1 (a run writes the records of the collection it loads, under
 * the run lock), so they can be read at once, on a second session, and handed over when
 * their turn comes, when they are few enough (PREFETCH_MAX_RECORDS) to be held with the
 * current collection's.  POSIX threads, as in pg/loader.c, so that ThreadSanitizer sees them.
 */
#include "run/run_private.h"

#include <mongonorm/pg.h>

#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* At most this many records are read ahead (about 180 bytes each in memory: 6 MiB): they
 * are held with the current collection's, so a collection of more is read when its turn
 * comes (a run's memory stays that of one collection's records). */
#define PREFETCH_MAX_RECORDS 32768

/* Whether the collection has at most PREFETCH_MAX_RECORDS records. */
static bool
few_records(PGconn *conn, const char *collection)
{
   const char *params[1] = {collection};
   PGresult *res =
      PQexecParams(conn,
                   "SELECT count(*) FROM (SELECT 1 FROM mongonorm.documents "
                   "WHERE collection = $1 LIMIT " G_STRINGIFY(PREFETCH_MAX_RECORDS) " + 1) s",
                   1, NULL, params, NULL, NULL, 0);
   bool few = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
              strtoll(PQgetvalue(res, 0, 0), NULL, 10) <= PREFETCH_MAX_RECORDS;

   PQclear(res);
   return few;
}

static void *
prefetch_main(void *arg)
{
   mn_run__prefetch_t *pf = arg;

   if (few_records(pf->conn, pf->name)) {
      pf->state = mn_doc_state_load(pf->conn, pf->name, pf->n_tables, true, &pf->error);
   }
   return NULL;
}

void
mn_run__prefetch_start(mn_run__prefetch_t *pf, PGconn *like, const char *collection,
                       size_t n_tables)
{
   mn_error_t ignored;

   mn_run__prefetch_end(pf, false);
   if (pf->off) {
      return;
   }
   if (!pf->conn && !(pf->conn = mn_pg_connect_like(like, &ignored))) {
      pf->off = true; /* no second session (a connection limit): read when needed */
      return;
   }
   pf->name = collection;
   pf->n_tables = n_tables;
   pf->state = NULL;
   memset(&pf->error, 0, sizeof pf->error);
   pf->active = pthread_create(&pf->thread, NULL, prefetch_main, pf) == 0;
}

mn_doc_state_t *
mn_run__prefetch_take(mn_run__prefetch_t *pf, const char *collection)
{
   mn_doc_state_t *st;

   if (!pf->active) {
      return NULL;
   }
   pthread_join(pf->thread, NULL);
   pf->active = false;
   st = pf->state;
   pf->state = NULL;
   if (st && strcmp(pf->name, collection) != 0) {
      mn_doc_state_destroy(st);
      st = NULL;
   }
   return st;
}

void
mn_run__prefetch_end(mn_run__prefetch_t *pf, bool close)
{
   if (pf->active) {
      pthread_join(pf->thread, NULL);
      pf->active = false;
   }
   mn_doc_state_destroy(pf->state);
   pf->state = NULL;
   if (close && pf->conn) {
      PQfinish(pf->conn);
      pf->conn = NULL;
   }
}
