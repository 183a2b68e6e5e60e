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
   mn_strings__free(result->changed, result->n_changed);
   memset(result, 0, sizeof *result);
}

/*
 * The NNN_name.sql files of dir, sorted by version (other names are passed over); an
 * empty folder, or two files of one version, is an error, named in a stable order
 * whatever order readdir gives.
 */
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

/* The lower-case hexadecimal SHA-256 of size bytes, as schema_files records it. */
static void
checksum_hex(const char *data, size_t size, char out[2 * MN_DIGEST_SIZE + 1])
{
   uint8_t digest[MN_DIGEST_SIZE];

   mn_digest(data, size, digest);
   for (int k = 0; k < MN_DIGEST_SIZE; k++) {
      snprintf(out + 2 * k, 3, "%02x", digest[k]);
   }
}

/* Run sql: a file's statements (n = 0, any number of them) or one statement with n
 * params; false with error set "could not <what>: <message>". */
static bool
run_step(PGconn *conn, const char *sql, int n, const char *const *params, const char *what,
         mn_error_t *error)
{
   PGresult *res = n ? PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0) : PQexec(conn, sql);
   ExecStatusType st = PQresultStatus(res);
   bool ok = st == PGRES_COMMAND_OK || (n == 0 && st == PGRES_TUPLES_OK);

   if (!ok) {
      char doing[320]; /* what: at most 299 bytes (its callers), and "could not " */
      snprintf(doing, sizeof doing, "could not %s", what);
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, doing);
   }
   PQclear(res);
   return ok;
}

/*
 * A new file may change the tables a bulk load in progress dropped indexes and foreign
 * keys of, and the record of them would no longer fit: it waits until a run put them back.
 */
static bool
no_bulk_load_pending(PGconn *conn, const sqlfile_t *file, mn_error_t *error)
{
   mn_bulk_pending_t pending;

   if (!mn_state_bulk_pending(conn, &pending, error)) {
      return false;
   }
   if (pending.indexes + pending.foreign_keys == 0) {
      return true;
   }
   mn_set_error(error, MN_ERROR_PG, MN_PG_BULK_PENDING,
                "cannot apply \"%s\": a bulk load is in progress (%zu indexes and %zu foreign "
                "keys of the target's tables are dropped until a run puts them back)",
                file->name, pending.indexes, pending.foreign_keys);
   return false;
}

/*
 * Apply one SQL file (its statements and its record in mongonorm.schema_files, in one
 * transaction, rolled back on failure), unless it is recorded already: then it counts as
 * recorded, and is named in r->changed when its bytes differ from the recorded checksum.
 */
static bool
apply_file(PGconn *conn, const char *sql_dir, const sqlfile_t *file, mn_pg_init_result_t *r,
           mn_error_t *error)
{
   char *path = bson_strdup_printf("%s/%s", sql_dir, file->name);
   char version[16], checksum[2 * MN_DIGEST_SIZE + 1], what[300];
   const char *params[3] = {version, file->name, checksum};
   size_t size = 0;
   char *sql = read_file(path, &size, error);
   PGresult *res = NULL;
   bool ok = false;

   bson_free(path);
   if (!sql) {
      return false;
   }
   checksum_hex(sql, size, checksum);
   snprintf(version, sizeof version, "%d", file->version);
   res = mn_pg__query(conn, "SELECT checksum FROM mongonorm.schema_files WHERE version = $1", 1,
                      params, PGRES_TUPLES_OK, "could not read the applied schema files", error);
   if (!res) {
      goto cleanup;
   }
   if (PQntuples(res) > 0) {
      /* applied before: never again, but a file edited since is worth saying */
      if (strcmp(PQgetvalue(res, 0, 0), checksum) != 0) {
         r->changed = bson_realloc(r->changed, (r->n_changed + 1) * sizeof *r->changed);
         r->changed[r->n_changed++] = bson_strdup(file->name);
      }
      r->recorded++;
      ok = true;
      goto cleanup;
   }
   if (!no_bulk_load_pending(conn, file, error) || !mn_pg_exec(conn, "BEGIN", error)) {
      goto cleanup;
   }
   snprintf(what, sizeof what, "apply \"%s\"", file->name);
   if (!run_step(conn, sql, 0, NULL, what, error)) {
      mn_pg_exec(conn, "ROLLBACK", NULL);
      goto cleanup;
   }
   snprintf(what, sizeof what, "record \"%s\" as applied", file->name);
   if (!run_step(conn,
                 "INSERT INTO mongonorm.schema_files (version, name, checksum) "
                 "VALUES ($1, $2, $3)",
                 3, params, what, error)) {
      mn_pg_exec(conn, "ROLLBACK", NULL);
      goto cleanup;
   }
   if (!mn_pg_exec(conn, "COMMIT", error)) {
      goto cleanup;
   }
   r->applied++;
   ok = true;

cleanup:
   PQclear(res);
   bson_free(sql);
   return ok;
}

bool
mn_pg_init_schema(PGconn *conn, const char *sql_dir, mn_pg_init_result_t *result, mn_error_t *error)
{
   sqlfile_t *files = NULL;
   size_t n = 0;
   bool ok = false;
   mn_pg_init_result_t r = {0};

   if (!list_sql_files(sql_dir, &files, &n, error) || !mn_state_ensure_schema(conn, error) ||
       !mn_state_work_ensure(conn, error) || !mn_pg_exec(conn, SCHEMA_FILES_DDL, error)) {
      goto cleanup;
   }
   for (size_t i = 0; i < n; i++) {
      if (!apply_file(conn, sql_dir, &files[i], &r, error)) {
         goto cleanup;
      }
   }
   ok = true;

cleanup:
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
