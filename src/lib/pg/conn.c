/*
 * conn.c - connecting to PostgreSQL (the session's settings), the run lock, and the
 * helpers every pg/ file shares (pg_private.h).
 */
#include "pg/pg_private.h"
#include "mapping/plan.h"

#include <libpq-events.h>
#include <stdio.h>
#include <string.h>

void
mn_pg__set_error(mn_error_t *error, uint32_t code, PGconn *conn, const PGresult *res,
                 const char *doing)
{
   /* The primary message only: DETAIL lines quote row values ("Key (email)=(...)"),
    * which may be patient data and never go to logs. */
   const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
   char trimmed[MN_ERROR_MESSAGE_SIZE];
   size_t len;

   if (!msg || !*msg) {
      msg = conn ? PQerrorMessage(conn) : "unknown error";
   }
   /* libpq ends its messages with a newline: drop it (and an "ERROR:  " prefix is kept). */
   snprintf(trimmed, sizeof trimmed, "%s", msg);
   len = strlen(trimmed);
   while (len && (trimmed[len - 1] == '\n' || trimmed[len - 1] == ' ')) {
      trimmed[--len] = '\0';
   }
   mn_set_error(error, MN_ERROR_PG, code, "%s: %s", doing, trimmed);
}

PGresult *
mn_pg__query(PGconn *conn, const char *sql, int n, const char *const *params, ExecStatusType want,
             const char *doing, mn_error_t *error)
{
   PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);

   if (PQresultStatus(res) != want) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, doing);
      PQclear(res);
      return NULL;
   }
   return res;
}

int
mn_pg__find_table(const mn_mapping_t *m, const char *name)
{
   for (size_t i = 0; i < m->n_tables; i++) {
      if (strcmp(m->tables[i].name, name) == 0) {
         return (int)i;
      }
   }
   return -1;
}

static void
ignore_notice(void *arg, const char *message)
{
   /* The library never prints: server notices ("relation already exists, skipping")
    * are not errors, and the CLI has nothing to do with them. */
   (void)arg;
   (void)message;
}

/* Replace every occurrence of `secret` in msg with "***" (in place, msg has room). */
static void
mask(char *msg, size_t size, const char *secret)
{
   size_t n = secret ? strlen(secret) : 0;
   char *p;

   if (n == 0 || strstr(secret, "***")) {
      return;
   }
   while ((p = strstr(msg, secret))) {
      size_t tail = strlen(p + n);
      if (n >= 3) {
         memcpy(p, "***", 3);
         memmove(p + 3, p + n, tail + 1);
      } else if ((size_t)(p - msg) + 3 + tail < size) {
         memmove(p + 3, p + n, tail + 1);
         memcpy(p, "***", 3);
      } else {
         return;
      }
   }
}

/* The password of a connection string or URI, as far as it can be found (bson_malloc'ed). */
static char *
conninfo_password(const char *conninfo)
{
   PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
   char *password = NULL;

   if (opts) {
      for (PQconninfoOption *o = opts; o->keyword; o++) {
         if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) {
            password = bson_strdup(o->val);
         }
      }
      PQconninfoFree(opts);
   }
   if (!password && (strncmp(conninfo, "postgres", 8) == 0)) {
      /* a URI libpq cannot parse: take "user:password@" by hand */
      const char *start = strstr(conninfo, "://");
      const char *at = start ? strchr(start + 3, '@') : NULL;
      const char *colon = start ? strchr(start + 3, ':') : NULL;
      if (at && colon && colon < at) {
         password = bson_strndup(colon + 1, (size_t)(at - colon - 1));
      }
   }
   return password;
}

PGconn *
mn_pg_connect(const char *conninfo, mn_error_t *error)
{
   PGconn *conn = PQconnectdb(conninfo ? conninfo : "");
   PGresult *res;

   if (!conn || PQstatus(conn) != CONNECTION_OK) {
      char *password = conninfo_password(conninfo ? conninfo : "");
      mn_pg__set_error(error, MN_PG_CONNECT, conn, NULL, "could not connect to PostgreSQL");
      if (error && password) {
         mask(error->message, sizeof error->message, password);
      }
      bson_free(password);
      PQfinish(conn);
      return NULL;
   }
   PQsetNoticeProcessor(conn, ignore_notice, NULL);
   /* Predictable text I/O whatever the server's defaults. */
   res = PQexec(conn, "SET client_encoding = 'UTF8'; SET datestyle = 'ISO, YMD';"
                      " SET timezone = 'UTC'; SET extra_float_digits = 3;"
                      " SET intervalstyle = 'iso_8601'");
   if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      mn_pg__set_error(error, MN_PG_CONNECT, conn, res, "could not set up the session");
      PQclear(res);
      PQfinish(conn);
      return NULL;
   }
   PQclear(res);
   return conn;
}

/* Append keyword='value' to a connection string, the value quoted as libpq reads it. */
static void
append_option(GString *out, const char *keyword, const char *value)
{
   g_string_append_printf(out, "%s%s='", out->len ? " " : "", keyword);
   for (const char *p = value; *p; p++) {
      if (*p == '\'' || *p == '\\') {
         g_string_append_c(out, '\\');
      }
      g_string_append_c(out, *p);
   }
   g_string_append_c(out, '\'');
}

/*
 * The connection string of a second session like `like`: its options as libpq resolved
 * them (the password among them, so the string is wiped and freed by the caller), with
 * host, port and hostaddr those of the server it reached (a list of hosts would let the
 * second session reach another server).
 */
static GString *
conninfo_like(PGconn *like)
{
   PQconninfoOption *opts = PQconninfo(like);
   GString *out = g_string_new(NULL);

   for (PQconninfoOption *o = opts; o && o->keyword; o++) {
      const char *value = o->val;
      if (strcmp(o->keyword, "host") == 0) {
         value = PQhost(like);
      } else if (strcmp(o->keyword, "port") == 0) {
         value = PQport(like);
      } else if (strcmp(o->keyword, "hostaddr") == 0 && value && *value) {
         value = PQhostaddr(like);
      }
      if (value && *value) {
         append_option(out, o->keyword, value);
      }
   }
   PQconninfoFree(opts);
   return out;
}

PGconn *
mn_pg_connect_like(PGconn *like, mn_error_t *error)
{
   GString *conninfo = conninfo_like(like);
   PGconn *conn = mn_pg_connect(conninfo->str, error);

   memset(conninfo->str, 0, conninfo->len); /* it holds the password */
   g_string_free(conninfo, TRUE);
   return conn;
}

bool
mn_pg_exec(PGconn *conn, const char *sql, mn_error_t *error)
{
   return mn_pg__exec_doing(conn, sql, "query failed", error);
}

void
mn_pg_unlock(PGconn *conn)
{
   /* Released at once, not when the server notices the closed connection: a run
    * started right after this one must find the target free. */
   if (conn && PQstatus(conn) == CONNECTION_OK) {
      PQclear(PQexec(conn, "ROLLBACK"));
      PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MN_PG_RUN_LOCK_KEY ")"));
   }
}

bool
mn_pg__wait_loader_lock(PGconn *conn, const char *doing, mn_error_t *error)
{
   char sql[128];
   PGresult *res;
   bool ok;

   snprintf(sql, sizeof sql, "SET LOCAL lock_timeout = '%ds'; SELECT pg_advisory_xact_lock(%s)",
            MN_PG_LOADER_LOCK_WAIT, MN_PG_LOADER_LOCK_KEY);
   res = PQexec(conn, sql);
   ok = PQresultStatus(res) == PGRES_TUPLES_OK;
   if (!ok) {
      const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      if (state && strcmp(state, "55P03") == 0) {
         mn_set_error(error, MN_ERROR_PG, MN_PG_LOCKED,
                      "the loader session of an earlier mongonorm run still holds this target "
                      "database after %d s",
                      MN_PG_LOADER_LOCK_WAIT);
      } else {
         mn_pg__set_error(error, MN_PG_QUERY, conn, res, doing);
      }
   }
   PQclear(res);
   return ok;
}

/*
 * With the run lock held: wait until no session holds the loader lock (pg.h).  One that
 * does belongs to a run killed or cut off; the server ends its batch (a COMMIT it had
 * received, or a rollback) and then the session, which releases the lock.  Taken and
 * released in one transaction, bounded by lock_timeout.  On failure the run lock goes.
 */
static bool
wait_for_loader(PGconn *conn, mn_error_t *error)
{
   if (mn_pg_exec(conn, "BEGIN", error) &&
       mn_pg__wait_loader_lock(conn, "could not take the run lock", error) &&
       mn_pg_exec(conn, "COMMIT", error)) {
      return true;
   }
   PQclear(PQexec(conn, "ROLLBACK"));
   mn_pg_unlock(conn);
   return false;
}

bool
mn_pg_lock(PGconn *conn, mn_error_t *error)
{
   /* hashtext('mongonorm') is stable across servers of one major version family;
    * a fixed number is simpler and cannot change. */
   PGresult *res = PQexec(conn, "SELECT pg_try_advisory_lock(" MN_PG_RUN_LOCK_KEY ")");
   bool ok = false;

   if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not take the run lock");
   } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
      mn_set_error(error, MN_ERROR_PG, MN_PG_LOCKED,
                   "another mongonorm run is using this target database");
   } else {
      ok = wait_for_loader(conn, error);
   }
   PQclear(res);
   return ok;
}

char *
mn_pg_quote_ident(PGconn *conn, const char *ident)
{
   char *q = PQescapeIdentifier(conn, ident, strlen(ident));
   char *copy = bson_strdup(q ? q : "\"\"");

   PQfreemem(q);
   return copy;
}

/*
 * A dry run (pg.h): the connection's instance data (libpq's event procedures, the one
 * place libpq keeps data of the caller's per connection) counts the open "transactions",
 * which are savepoints of the one transaction that mn_pg_unlock() rolls back.
 */
typedef struct {
   int depth; /* savepoints of mn_pg__begin() open */
} dry_run_t;

static int
dry_run_event(PGEventId id, void *info, void *pass)
{
   (void)pass;
   if (id == PGEVT_CONNDESTROY) {
      PGEventConnDestroy *e = info;
      g_free(PQinstanceData(e->conn, dry_run_event));
   }
   return 1;
}

static dry_run_t *
dry_run_of(const PGconn *conn)
{
   return conn ? PQinstanceData(conn, dry_run_event) : NULL;
}

bool
mn_pg_begin_dry_run(PGconn *conn, mn_error_t *error)
{
   if (dry_run_of(conn)) {
      return true;
   }
   if (!PQregisterEventProc(conn, dry_run_event, "mongonorm dry run", NULL) ||
       !PQsetInstanceData(conn, dry_run_event, g_new0(dry_run_t, 1))) {
      mn_set_error(error, MN_ERROR_PG, MN_PG_QUERY, "could not begin the dry run");
      return false;
   }
   if (!mn_pg_exec(conn, "BEGIN", error)) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, NULL, "could not begin the dry run");
      return false;
   }
   return true;
}

bool
mn_pg_is_dry_run(const PGconn *conn)
{
   return dry_run_of(conn) != NULL;
}

bool
mn_pg__begin(PGconn *conn, const char *then, const char *doing, mn_error_t *error)
{
   dry_run_t *dry = dry_run_of(conn);
   char *sql = g_strdup_printf("%s%s%s", dry ? "SAVEPOINT mn_transaction" : "BEGIN",
                               then ? "; " : "", then ? then : "");
   bool ok = mn_pg__exec_doing(conn, sql, doing, error);

   g_free(sql);
   if (dry && PQtransactionStatus(conn) != PQTRANS_IDLE) {
      dry->depth++; /* the savepoint exists even when `then` failed */
   }
   if (!ok) {
      mn_pg__rollback(conn);
   }
   return ok;
}

bool
mn_pg__commit(PGconn *conn, const char *doing, mn_error_t *error)
{
   dry_run_t *dry = dry_run_of(conn);
   bool ok;

   if (!dry) {
      return mn_pg__exec_doing(conn, "COMMIT", doing, error);
   }
   /* the deferred constraints a COMMIT would check, checked now */
   ok = mn_pg__exec_doing(conn, "SET CONSTRAINTS ALL IMMEDIATE; RELEASE SAVEPOINT mn_transaction",
                          doing, error);
   if (!ok) {
      mn_pg__rollback(conn);
   } else if (dry->depth > 0) {
      dry->depth--;
   }
   return ok;
}

void
mn_pg__rollback(PGconn *conn)
{
   dry_run_t *dry = dry_run_of(conn);

   if (!dry) {
      PQclear(PQexec(conn, "ROLLBACK"));
   } else if (dry->depth > 0) {
      PQclear(PQexec(conn, "ROLLBACK TO SAVEPOINT mn_transaction; "
                           "RELEASE SAVEPOINT mn_transaction"));
      dry->depth--;
   }
}

bool
mn_pg__exec_doing(PGconn *conn, const char *sql, const char *doing, mn_error_t *error)
{
   PGresult *res = PQexec(conn, sql);
   bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

   if (!ok) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, doing);
   }
   PQclear(res);
   return ok;
}
