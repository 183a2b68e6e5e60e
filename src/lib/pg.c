/*
 * pg.c - connecting to PostgreSQL, the run lock, `init` (versioned SQL files)
 * and checking a mapping against the target's catalog.
 */
#include "pg_private.h"
#include "plan.h"

#include <mongonorm/state.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

bool
mn_pg_exec(PGconn *conn, const char *sql, mn_error_t *error)
{
   PGresult *res = PQexec(conn, sql);
   bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

   if (!ok) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, "query failed");
   }
   PQclear(res);
   return ok;
}

void
mn_pg_unlock(PGconn *conn)
{
   /* Released at once, not when the server notices the closed connection: a run
    * started right after this one must find the target free. */
   if (conn && PQstatus(conn) == CONNECTION_OK) {
      PQclear(PQexec(conn, "ROLLBACK"));
      PQclear(PQexec(conn, "SELECT pg_advisory_unlock(7236481590123)"));
   }
}

bool
mn_pg_lock(PGconn *conn, mn_error_t *error)
{
   /* hashtext('mongonorm') is stable across servers of one major version family;
    * a fixed number is simpler and cannot change. */
   PGresult *res = PQexec(conn, "SELECT pg_try_advisory_lock(7236481590123)");
   bool ok = false;

   if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not take the run lock");
   } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
      mn_set_error(error, MN_ERROR_PG, MN_PG_LOCKED,
                   "another mongonorm run is using this target database");
   } else {
      ok = true;
   }
   PQclear(res);
   return ok;
}

typedef struct {
   int version;
   char *name;
} sqlfile_t;

static int
cmp_sqlfile(const void *a, const void *b)
{
   return ((const sqlfile_t *)a)->version - ((const sqlfile_t *)b)->version;
}

static char *
read_file(const char *path, mn_error_t *error)
{
   FILE *f = fopen(path, "rb");
   char *buf;
   long len;

   if (!f) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not open \"%s\": %s", path,
                   strerror(errno));
      return NULL;
   }
   fseek(f, 0, SEEK_END);
   len = ftell(f);
   fseek(f, 0, SEEK_SET);
   buf = bson_malloc((size_t)len + 1);
   if (len < 0 || fread(buf, 1, (size_t)len, f) != (size_t)len) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_READ, "could not read \"%s\"", path);
      fclose(f);
      bson_free(buf);
      return NULL;
   }
   buf[len] = '\0';
   fclose(f);
   return buf;
}

/* The description after "NNN_": "001_schema.sql" -> "schema". */
static char *
describe_file(const char *name)
{
   const char *us = strchr(name, '_');
   char *d = bson_strdup(us ? us + 1 : name);
   char *dot = strrchr(d, '.');

   if (dot) {
      *dot = '\0';
   }
   for (char *p = d; *p; p++) {
      if (*p == '_') {
         *p = ' ';
      }
   }
   return d;
}

bool
mn_pg_init_schema(PGconn *conn, const char *sql_dir, int *applied, mn_error_t *error)
{
   DIR *dir = NULL;
   struct dirent *ent;
   sqlfile_t *files = NULL;
   size_t n = 0;
   bool ok = false;
   int count = 0;
   PGresult *res = NULL;

   if (applied) {
      *applied = 0;
   }
   if (!mn_state_ensure_schema(conn, error)) {
      return false;
   }
   dir = opendir(sql_dir);
   if (!dir) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not open SQL folder \"%s\": %s", sql_dir,
                   strerror(errno));
      return false;
   }
   while ((ent = readdir(dir))) {
      char *end = NULL;
      long v = strtol(ent->d_name, &end, 10);
      size_t len = strlen(ent->d_name);
      if (end == ent->d_name || *end != '_' || v <= 0 || len < 5 ||
          strcmp(ent->d_name + len - 4, ".sql") != 0) {
         continue;
      }
      files = bson_realloc(files, (n + 1) * sizeof *files);
      files[n].version = (int)v;
      files[n].name = bson_strdup(ent->d_name);
      n++;
   }
   closedir(dir);
   if (n == 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "SQL folder \"%s\" holds no NNN_name.sql file",
                   sql_dir);
      goto cleanup;
   }
   qsort(files, n, sizeof *files, cmp_sqlfile);
   for (size_t i = 0; i < n; i++) {
      char *path = bson_strdup_printf("%s/%s", sql_dir, files[i].name);
      char *sql = read_file(path, error);
      char version[16];
      char *desc = describe_file(files[i].name);
      const char *params[2] = {version, desc};
      bool done = false;

      bson_free(path);
      if (!sql) {
         bson_free(desc);
         goto cleanup;
      }
      snprintf(version, sizeof version, "%d", files[i].version);
      if (!mn_pg_exec(conn, "BEGIN", error)) {
         bson_free(sql);
         bson_free(desc);
         goto cleanup;
      }
      res = PQexec(conn, "SELECT to_regclass('public.schema_migrations') IS NOT NULL");
      if (PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
         PQclear(res);
         res = PQexecParams(conn, "SELECT 1 FROM public.schema_migrations WHERE version = $1", 1,
                            NULL, params, NULL, NULL, 0);
         done = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
      }
      PQclear(res);
      res = NULL;
      if (done) {
         mn_pg_exec(conn, "COMMIT", NULL);
         bson_free(sql);
         bson_free(desc);
         continue;
      }
      res = PQexec(conn, sql);
      bson_free(sql);
      if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
         char doing[300];
         snprintf(doing, sizeof doing, "could not apply \"%s\"", files[i].name);
         mn_pg__set_error(error, MN_PG_QUERY, conn, res, doing);
         PQclear(res);
         res = NULL;
         mn_pg_exec(conn, "ROLLBACK", NULL);
         bson_free(desc);
         goto cleanup;
      }
      PQclear(res);
      res = PQexecParams(conn,
                         "INSERT INTO public.schema_migrations (version, description) "
                         "VALUES ($1, $2)",
                         2, NULL, params, NULL, NULL, 0);
      bson_free(desc);
      if (PQresultStatus(res) != PGRES_COMMAND_OK) {
         mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not record the schema version");
         PQclear(res);
         res = NULL;
         mn_pg_exec(conn, "ROLLBACK", NULL);
         goto cleanup;
      }
      PQclear(res);
      res = NULL;
      if (!mn_pg_exec(conn, "COMMIT", error)) {
         goto cleanup;
      }
      count++;
   }
   if (applied) {
      *applied = count;
   }
   ok = true;

cleanup:
   for (size_t i = 0; i < n; i++) {
      bson_free(files[i].name);
   }
   bson_free(files);
   return ok;
}

bool
mn_pg_check_mapping(PGconn *conn, const mn_mapping_t *m, mn_error_t *error)
{
   for (size_t t = 0; t < m->n_tables; t++) {
      const mn_table_t *tab = &m->tables[t];
      for (size_t c = 0; c < tab->n_columns; c++) {
         const char *params[3] = {m->schema, tab->name, tab->columns[c]};
         PGresult *res = PQexecParams(conn,
                                      "SELECT 1 FROM information_schema.columns "
                                      "WHERE table_schema = $1 AND table_name = $2 "
                                      "AND column_name = $3",
                                      3, NULL, params, NULL, NULL, 0);
         bool found;

         if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not read the target catalog");
            PQclear(res);
            return false;
         }
         found = PQntuples(res) > 0;
         PQclear(res);
         if (!found) {
            mn_set_error(error, MN_ERROR_PG, MN_PG_SCHEMA,
                         "the target has no column \"%s\" in table \"%s.%s\"", tab->columns[c],
                         m->schema, tab->name);
            return false;
         }
      }
   }
   return true;
}

char *
mn_pg_quote_ident(PGconn *conn, const char *ident)
{
   char *q = PQescapeIdentifier(conn, ident, strlen(ident));
   char *copy = bson_strdup(q ? q : "\"\"");

   PQfreemem(q);
   return copy;
}
