/*
 * schema.c - `init`: the versioned NNN_name.sql files of a folder, applied once each
 * and recorded in mongonorm.schema_files.
 */
#include "pg/pg_private.h"

#include <mongonorm/keys.h>
#include <mongonorm/state.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
read_file(const char *path, size_t *size, mn_error_t *error)
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
   buf = bson_malloc(len > 0 ? (size_t)len + 1 : 1);
   if (len < 0 || fread(buf, 1, (size_t)len, f) != (size_t)len) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_READ, "could not read \"%s\"", path);
      fclose(f);
      bson_free(buf);
      return NULL;
   }
   buf[len] = '\0';
   *size = (size_t)len;
   fclose(f);
   return buf;
}

/* mongonorm's own record of the SQL files `init` applied: the user's schema keeps no
 * table of ours (an application's own schema_migrations, if any, stays the
 * application's). */
static const char SCHEMA_FILES_DDL[] =
   "CREATE TABLE IF NOT EXISTS mongonorm.schema_files ("
   " version integer PRIMARY KEY,"
   " name text NOT NULL,"
   " checksum text NOT NULL," /* SHA-256 of the file's bytes, hex */
   " applied_at timestamptz NOT NULL DEFAULT now())";

void
mn_pg_init_result_cleanup(mn_pg_init_result_t *result)
{
   if (!result) {
      return;
   }
   for (size_t i = 0; i < result->n_changed; i++) {
      bson_free(result->changed[i]);
   }
   bson_free(result->changed);
   memset(result, 0, sizeof *result);
}

/* The NNN_name.sql files of dir, sorted by version; two files of one version are an error. */
static bool
list_sql_files(const char *sql_dir, sqlfile_t **out, size_t *n_out, mn_error_t *error)
{
   DIR *dir = opendir(sql_dir);
   struct dirent *ent;
   sqlfile_t *files = NULL;
   size_t n = 0;

   *out = NULL;
   *n_out = 0;
   if (!dir) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not open SQL folder \"%s\": %s", sql_dir,
                   strerror(errno));
      return false;
   }
   while ((ent = readdir(dir))) {
      char *end = NULL;
      long v = strtol(ent->d_name, &end, 10);
      size_t len = strlen(ent->d_name);
      if (end == ent->d_name || *end != '_' || v <= 0 || v > 1000000000 || len < 5 ||
          strcmp(ent->d_name + len - 4, ".sql") != 0) {
         continue;
      }
      files = bson_realloc(files, (n + 1) * sizeof *files);
      files[n].version = (int)v;
      files[n].name = bson_strdup(ent->d_name);
      n++;
   }
   closedir(dir);
   *out = files;
   *n_out = n;
   if (n == 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "SQL folder \"%s\" holds no NNN_name.sql file",
                   sql_dir);
      return false;
   }
   qsort(files, n, sizeof *files, cmp_sqlfile);
   for (size_t i = 1; i < n; i++) {
      if (files[i].version == files[i - 1].version) {
         /* readdir order is arbitrary: name them in a stable order */
         const char *a = files[i - 1].name, *b = files[i].name;
         if (strcmp(a, b) > 0) {
            const char *t = a;
            a = b;
            b = t;
         }
         mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN,
                      "SQL folder \"%s\" has two files of version %d: \"%s\" and \"%s\"", sql_dir,
                      files[i].version, a, b);
         return false;
      }
   }
   return true;
}

bool
mn_pg_init_schema(PGconn *conn, const char *sql_dir, mn_pg_init_result_t *result, mn_error_t *error)
{
   sqlfile_t *files = NULL;
   size_t n = 0;
   bool ok = false;
   PGresult *res = NULL;
   char *sql = NULL;
   mn_pg_init_result_t r = {0};

   if (!list_sql_files(sql_dir, &files, &n, error) || !mn_state_ensure_schema(conn, error) ||
       !mn_pg_exec(conn, SCHEMA_FILES_DDL, error)) {
      goto cleanup;
   }
   for (size_t i = 0; i < n; i++) {
      char *path = bson_strdup_printf("%s/%s", sql_dir, files[i].name);
      char version[16], checksum[2 * MN_DIGEST_SIZE + 1];
      uint8_t digest[MN_DIGEST_SIZE];
      const char *params[3] = {version, files[i].name, checksum};
      size_t size = 0;

      sql = read_file(path, &size, error);
      bson_free(path);
      if (!sql) {
         goto cleanup;
      }
      mn_digest(sql, size, digest);
      for (int k = 0; k < MN_DIGEST_SIZE; k++) {
         snprintf(checksum + 2 * k, 3, "%02x", digest[k]);
      }
      snprintf(version, sizeof version, "%d", files[i].version);
      res = PQexecParams(conn, "SELECT checksum FROM mongonorm.schema_files WHERE version = $1", 1,
                         NULL, params, NULL, NULL, 0);
      if (PQresultStatus(res) != PGRES_TUPLES_OK) {
         mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not read the applied schema files");
         goto cleanup;
      }
      if (PQntuples(res) > 0) {
         /* applied before: never again, but a file edited since is worth saying */
         if (strcmp(PQgetvalue(res, 0, 0), checksum) != 0) {
            r.changed = bson_realloc(r.changed, (r.n_changed + 1) * sizeof *r.changed);
            r.changed[r.n_changed++] = bson_strdup(files[i].name);
         }
         r.recorded++;
         PQclear(res);
         res = NULL;
         bson_free(sql);
         sql = NULL;
         continue;
      }
      PQclear(res);
      res = NULL;
      if (!mn_pg_exec(conn, "BEGIN", error)) {
         goto cleanup;
      }
      res = PQexec(conn, sql);
      if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
         char doing[300];
         snprintf(doing, sizeof doing, "could not apply \"%s\"", files[i].name);
         mn_pg__set_error(error, MN_PG_QUERY, conn, res, doing);
         mn_pg_exec(conn, "ROLLBACK", NULL);
         goto cleanup;
      }
      PQclear(res);
      res = PQexecParams(conn,
                         "INSERT INTO mongonorm.schema_files (version, name, checksum) "
                         "VALUES ($1, $2, $3)",
                         3, NULL, params, NULL, NULL, 0);
      if (PQresultStatus(res) != PGRES_COMMAND_OK) {
         char doing[300];
         snprintf(doing, sizeof doing, "could not record \"%s\" as applied", files[i].name);
         mn_pg__set_error(error, MN_PG_QUERY, conn, res, doing);
         mn_pg_exec(conn, "ROLLBACK", NULL);
         goto cleanup;
      }
      PQclear(res);
      res = NULL;
      bson_free(sql);
      sql = NULL;
      if (!mn_pg_exec(conn, "COMMIT", error)) {
         goto cleanup;
      }
      r.applied++;
   }
   ok = true;

cleanup:
   PQclear(res);
   bson_free(sql);
   for (size_t i = 0; i < n; i++) {
      bson_free(files[i].name);
   }
   bson_free(files);
   if (result) {
      *result = r;
   } else {
      mn_pg_init_result_cleanup(&r);
   }
   return ok;
}
