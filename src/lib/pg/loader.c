/*
 * loader.c - a second session on a sink's server, with a thread of its own that runs one
 * job at a time on it while the caller goes on (sink.c loads a batch there while the next
 * one is converted).
 *
 * The session is opened from the options of the caller's connection (PQconninfo), on the
 * host and port that connection reached, with mn_pg_connect()'s settings, and holds the
 * loader lock (MN_PG_LOADER_LOCK_KEY) for its whole life.  That lock is what keeps a
 * killed run's last batch ordered before the next run: with one session, the server
 * commits or rolls back the batch before it releases the run lock; with two, the run lock
 * can go first, so mn_pg_lock() also waits for the loader lock (conn.c).
 *
 * Threads: the caller hands a job over (mn_pg__loader_start), does not touch what the job
 * reads or writes until mn_pg__loader_wait() returns, and the job touches nothing else.
 * The mutex orders the two: everything written before the start is seen by the job, and
 * everything the job wrote is seen after the wait.  POSIX threads rather than GLib's,
 * whose futex-based locks ThreadSanitizer cannot see.
 */
#include "pg/pg_private.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct mn_pg__loader {
   PGconn *conn; /* the loader's session; owned */
   pthread_t thread;
   pthread_mutex_t lock;
   pthread_cond_t cond;
   /* under lock: */
   mn_pg__job_fn job; /* the job handed over and not taken yet, or NULL */
   void *job_ctx;
   bool done; /* the job taken has ended; ok and error are its outcome */
   bool ok;   /* ... its result */
   bool quit; /* the thread is to end */
   mn_error_t error;
   /* the caller's side only: */
   bool busy; /* a job was started and not waited for */
};

/* The thread: take a job, run it unlocked, hand its outcome back; until told to quit. */
static void *
loader_main(void *arg)
{
   mn_pg__loader_t *l = arg;

   pthread_mutex_lock(&l->lock);
   for (;;) {
      mn_pg__job_fn job;
      void *ctx;
      mn_error_t error = {0};
      bool ok;

      while (!l->job && !l->quit) {
         pthread_cond_wait(&l->cond, &l->lock);
      }
      if (!l->job) {
         break;
      }
      job = l->job;
      ctx = l->job_ctx;
      l->job = NULL;
      pthread_mutex_unlock(&l->lock);
      ok = job(ctx, l->conn, &error);
      pthread_mutex_lock(&l->lock);
      l->ok = ok;
      l->error = error;
      l->done = true;
      pthread_cond_broadcast(&l->cond);
   }
   pthread_mutex_unlock(&l->lock);
   return NULL;
}

/* The loader's session commits as `like`'s does: a bulk load turns synchronous_commit off
 * on the run's session (bulk.c), and the batches the loader commits are the same batches. */
static bool
copy_commit_setting(PGconn *like, PGconn *conn, mn_error_t *error)
{
   PGresult *res = mn_pg__query(like, "SELECT current_setting('synchronous_commit')", 0, NULL,
                                PGRES_TUPLES_OK, "could not read synchronous_commit", error);
   PGresult *set;
   const char *value;
   bool ok;

   if (!res) {
      return false;
   }
   value = PQgetvalue(res, 0, 0);
   set = mn_pg__query(conn, "SELECT set_config('synchronous_commit', $1, false)", 1, &value,
                      PGRES_TUPLES_OK, "could not set synchronous_commit", error);
   ok = set != NULL;
   PQclear(res);
   PQclear(set);
   return ok;
}

mn_pg__loader_t *
mn_pg__loader_new(PGconn *like, mn_error_t *error)
{
   PGconn *conn = mn_pg_connect_like(like, error);
   mn_pg__loader_t *l = NULL;
   PGresult *res = NULL;

   if (!conn) {
      return NULL;
   }
   /* shared: a run of several workers (run --jobs, --join) has a loader per worker */
   res = PQexec(conn, "SELECT pg_try_advisory_lock_shared(" MN_PG_LOADER_LOCK_KEY ")");
   if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not take the loader lock");
      goto fail;
   }
   if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
      mn_set_error(error, MN_ERROR_PG, MN_PG_LOCKED,
                   "another session holds the loader lock of this target database");
      goto fail;
   }
   PQclear(res);
   res = NULL;
   if (!copy_commit_setting(like, conn, error)) {
      goto fail;
   }
   l = g_new0(mn_pg__loader_t, 1);
   l->conn = conn;
   pthread_mutex_init(&l->lock, NULL);
   pthread_cond_init(&l->cond, NULL);
   if (pthread_create(&l->thread, NULL, loader_main, l) != 0) {
      mn_set_error(error, MN_ERROR_PG, MN_PG_CONNECT, "could not start the loader thread");
      pthread_cond_destroy(&l->cond);
      pthread_mutex_destroy(&l->lock);
      g_free(l);
      res = NULL;
      goto fail;
   }
   return l;

fail:
   PQclear(res);
   PQfinish(conn);
   return NULL;
}

void
mn_pg__loader_start(mn_pg__loader_t *l, mn_pg__job_fn job, void *ctx)
{
   pthread_mutex_lock(&l->lock);
   l->job = job;
   l->job_ctx = ctx;
   l->done = false;
   pthread_cond_broadcast(&l->cond);
   pthread_mutex_unlock(&l->lock);
   l->busy = true;
}

bool
mn_pg__loader_busy(const mn_pg__loader_t *l)
{
   return l && l->busy;
}

bool
mn_pg__loader_wait(mn_pg__loader_t *l, mn_error_t *error)
{
   bool ok;

   if (!mn_pg__loader_busy(l)) {
      return true;
   }
   pthread_mutex_lock(&l->lock);
   while (!l->done) {
      pthread_cond_wait(&l->cond, &l->lock);
   }
   ok = l->ok;
   if (!ok && error) {
      *error = l->error;
   }
   pthread_mutex_unlock(&l->lock);
   l->busy = false;
   return ok;
}

void
mn_pg__loader_destroy(mn_pg__loader_t *l)
{
   if (!l) {
      return;
   }
   mn_pg__loader_wait(l, NULL);
   pthread_mutex_lock(&l->lock);
   l->quit = true;
   pthread_cond_broadcast(&l->cond);
   pthread_mutex_unlock(&l->lock);
   pthread_join(l->thread, NULL);
   pthread_cond_destroy(&l->cond);
   pthread_mutex_destroy(&l->lock);
   /* released now, not when the server notices the closed session (see mn_pg_unlock) */
   if (PQstatus(l->conn) == CONNECTION_OK) {
      PQclear(PQexec(l->conn, "ROLLBACK"));
      PQclear(PQexec(l->conn, "SELECT pg_advisory_unlock_shared(" MN_PG_LOADER_LOCK_KEY ")"));
   }
   PQfinish(l->conn);
   g_free(l);
}
