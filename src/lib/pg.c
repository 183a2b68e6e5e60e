/*
 * pg.c - connecting to PostgreSQL, the run lock, `init` (versioned SQL files)
 * and checking a mapping against the target's catalog.
 */
#include "pg_private.h"
#include "plan.h"

#include <mongonorm/keys.h>
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

/* ---------------------------------------------------------------------------
 * The target's own column types
 */

typedef struct {
   char *name;               /* column name; owned */
   bool known;               /* a type mongonorm knows (target is meaningful) */
   bool not_null;            /* NOT NULL (the column's, or its domain's) */
   mn_value_target_t target; /* type, limits, display name */
} catcol_t;

typedef struct {
   catcol_t *cols;
   size_t n;
} cattable_t;

/* The column's type as mongonorm sees it, from pg_type.typname (of the domain's base
 * type) and the typmod (PostgreSQL's numeric.c and varchar.c encodings). */
static void
classify(const char *typname, int typmod, const char *formatted, catcol_t *col)
{
   static const struct {
      const char *typname;
      mn_type_t type;
      const char *name;
   } simple[] = {
      {"int2", MN_TYPE_SMALLINT, "smallint"},
      {"int4", MN_TYPE_INTEGER, "integer"},
      {"int8", MN_TYPE_BIGINT, "bigint"},
      {"float4", MN_TYPE_REAL, "real"},
      {"float8", MN_TYPE_DOUBLE, "double precision"},
      {"text", MN_TYPE_TEXT, "text"},
      {"citext", MN_TYPE_TEXT, "citext"},
      {"uuid", MN_TYPE_UUID, "uuid"},
      {"bool", MN_TYPE_BOOLEAN, "boolean"},
      {"date", MN_TYPE_DATE, "date"},
      {"timestamptz", MN_TYPE_TIMESTAMPTZ, "timestamptz"},
      {"timestamp", MN_TYPE_TIMESTAMP, "timestamp"},
      {"jsonb", MN_TYPE_JSONB, "jsonb"},
      {"json", MN_TYPE_JSONB, "json"},
      {"inet", MN_TYPE_INET, "inet"},
      {"_text", MN_TYPE_TEXT_ARRAY, "text[]"},
      {"_varchar", MN_TYPE_TEXT_ARRAY, "varchar[]"},
   };
   mn_value_target_t *t = &col->target;

   col->known = false;
   memset(t, 0, sizeof *t);
   snprintf(t->name, sizeof t->name, "%s", formatted);
   for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
      if (strcmp(typname, simple[i].typname) == 0) {
         col->known = true;
         t->type = simple[i].type;
         snprintf(t->name, sizeof t->name, "%s", simple[i].name);
         return;
      }
   }
   if (strcmp(typname, "numeric") == 0) {
      col->known = true;
      t->type = MN_TYPE_NUMERIC;
      snprintf(t->name, sizeof t->name, "numeric");
      if (typmod >= 4) {
         t->precision = ((typmod - 4) >> 16) & 0xffff;
         t->scale = (((typmod - 4) & 0x7ff) ^ 1024) - 1024;
         snprintf(t->name, sizeof t->name, "numeric(%d,%d)", t->precision, t->scale);
      }
   } else if (strcmp(typname, "varchar") == 0 || strcmp(typname, "bpchar") == 0) {
      bool var = typname[0] == 'v';
      col->known = true;
      t->type = MN_TYPE_TEXT;
      snprintf(t->name, sizeof t->name, "%s", var ? "varchar" : "char");
      if (typmod >= 4) {
         t->max_chars = typmod - 4;
         snprintf(t->name, sizeof t->name, "%s(%d)", var ? "varchar" : "char", t->max_chars);
      }
   }
}

/* The mapping column's type as written, e.g. "numeric", "numeric(5,2)", "text". */
static void
mapping_type_name(const mn_value_spec_t *spec, char *buf, size_t size)
{
   if (spec->type == MN_TYPE_NUMERIC && spec->precision > 0) {
      snprintf(buf, size, "numeric(%d,%d)", spec->precision, spec->scale < 0 ? 0 : spec->scale);
   } else if (spec->type == MN_TYPE_NUMERIC && spec->scale >= 0) {
      snprintf(buf, size, "numeric (scale %d)", spec->scale);
   } else {
      snprintf(buf, size, "%s", mn_type_name(spec->type));
   }
}

/* The longest text (in characters) a value of the mapping's type can give; -1 unbounded. */
static int
max_chars(const mn_value_spec_t *spec)
{
   int p = spec->precision, s = spec->scale < 0 ? 0 : spec->scale;
   int longest = 0;

   if (spec->n_enum > 0 && spec->type == MN_TYPE_TEXT) {
      for (size_t i = 0; i < spec->n_enum; i++) {
         int n = 0;
         for (const char *c = spec->enum_values[i]; *c; c++) {
            n += ((unsigned char)*c & 0xC0) != 0x80;
         }
         longest = n > longest ? n : longest;
      }
      return longest;
   }
   switch (spec->type) {
   case MN_TYPE_UUID: return 36;
   case MN_TYPE_SMALLINT: return 6;
   case MN_TYPE_INTEGER: return 11;
   case MN_TYPE_BIGINT: return 20;
   case MN_TYPE_BOOLEAN: return 1;
   case MN_TYPE_DATE: return 13; /* "5874897-12-31", "4713-11-24 BC" */
   case MN_TYPE_NUMERIC:
      if (p > 0) {
         /* sign, integer digits (at least "0"), point and decimals; "NaN" is shorter */
         return 1 + (p - s > 1 ? p - s : 1) + (s > 0 ? 1 + s : 0);
      }
      return -1;
   default: return -1;
   }
}

/* Significant decimal digits of the integer types: every value of fewer digits fits. */
static int
int_digits(mn_type_t type)
{
   return type == MN_TYPE_SMALLINT ? 5 : type == MN_TYPE_INTEGER ? 10 : 19;
}

/*
 * Why a value of the mapping column's type can lose data (be rounded, truncated,
 * changed) or be refused in the target column; NULL when every value fits as it is.
 * The run enforces what it can (mn_value_target_t); check reports all of it.
 */
static const char *
loss(const mn_value_spec_t *m, const mn_value_target_t *t, char *buf, size_t size)
{
   mn_type_t mine = m->type;
   bool is_int = mine == MN_TYPE_SMALLINT || mine == MN_TYPE_INTEGER || mine == MN_TYPE_BIGINT;
   bool is_num =
      is_int || mine == MN_TYPE_NUMERIC || mine == MN_TYPE_DOUBLE || mine == MN_TYPE_REAL;
   int ms = m->precision > 0 && m->scale < 0 ? 0 : m->scale; /* -1 = unlimited */
   int n;

   switch (t->type) {
   case MN_TYPE_TEXT:
      if (t->max_chars > 0 && ((n = max_chars(m)) < 0 || n > t->max_chars)) {
         snprintf(buf, size, "values longer than %d characters do not fit", t->max_chars);
         return buf;
      }
      return NULL;
   case MN_TYPE_NUMERIC:
      if (!is_num) {
         return mine == MN_TYPE_TEXT ? "text that is not a number does not fit"
                                     : "its values are not numbers";
      }
      if (t->precision <= 0) {
         return NULL;
      }
      if (is_int) {
         if (t->scale >= 0 && int_digits(mine) <= t->precision - t->scale) {
            return NULL;
         }
         snprintf(buf, size, "integers of more than %d digits do not fit",
                  t->precision - t->scale > 0 ? t->precision - t->scale : 0);
         return buf;
      }
      if (mine != MN_TYPE_NUMERIC || ms < 0 || ms > t->scale) {
         snprintf(buf, size, "values with more than %d decimal place%s would be rounded", t->scale,
                  t->scale == 1 ? "" : "s");
         return buf;
      }
      if (m->precision <= 0 || m->precision - ms > t->precision - t->scale) {
         snprintf(buf, size, "values of more than %d digits before the point do not fit",
                  t->precision - t->scale);
         return buf;
      }
      return NULL;
   case MN_TYPE_SMALLINT:
   case MN_TYPE_INTEGER:
   case MN_TYPE_BIGINT:
      if (is_int && int_digits(mine) <= int_digits(t->type)) {
         return NULL;
      }
      if (mine == MN_TYPE_NUMERIC && m->precision > 0 && ms == 0 &&
          m->precision < int_digits(t->type)) {
         return NULL;
      }
      if (is_int) {
         snprintf(buf, size, "values outside the range of %s do not fit", t->name);
         return buf;
      }
      return is_num                 ? "fractions and values out of its range do not fit"
             : mine == MN_TYPE_TEXT ? "text that is not an integer does not fit"
                                    : "its values are not integers";
   case MN_TYPE_REAL:
   case MN_TYPE_DOUBLE:
      n = t->type == MN_TYPE_REAL ? 6 : 15; /* digits every value of fewer keeps */
      if (mine == t->type || mine == MN_TYPE_SMALLINT || mine == MN_TYPE_REAL ||
          (mine == MN_TYPE_INTEGER && t->type == MN_TYPE_DOUBLE) ||
          (mine == MN_TYPE_NUMERIC && m->precision > 0 && m->precision <= n)) {
         return NULL;
      }
      if (is_num) {
         snprintf(buf, size, "values of more than %d significant digits would be rounded", n);
         return buf;
      }
      return mine == MN_TYPE_TEXT ? "text that is not a number does not fit"
                                  : "its values are not numbers";
   case MN_TYPE_DATE:
      if (mine == MN_TYPE_DATE) {
         return NULL;
      }
      return mine == MN_TYPE_TIMESTAMPTZ || mine == MN_TYPE_TIMESTAMP
                ? "the time of day would be dropped"
             : mine == MN_TYPE_TEXT ? "text that is not a date does not fit, and a time of day "
                                      "would be dropped"
                                    : "its values are not dates";
   case MN_TYPE_TIMESTAMP:
      if (mine == MN_TYPE_TIMESTAMPTZ) {
         return "the time zone would be dropped (stored as the UTC wall-clock time)";
      }
      /* fall through */
   case MN_TYPE_TIMESTAMPTZ:
      if (mine == MN_TYPE_TIMESTAMPTZ || mine == MN_TYPE_TIMESTAMP || mine == MN_TYPE_DATE) {
         return NULL;
      }
      return mine == MN_TYPE_TEXT ? "text that is not a timestamp does not fit"
                                  : "its values are not timestamps";
   case MN_TYPE_UUID:
      if (mine == MN_TYPE_UUID) {
         return NULL;
      }
      return mine == MN_TYPE_TEXT ? "text that is not a uuid does not fit"
                                  : "its values are not uuids";
   case MN_TYPE_BOOLEAN:
      if (mine == MN_TYPE_BOOLEAN) {
         return NULL;
      }
      return mine == MN_TYPE_TEXT ? "text that is not a boolean does not fit"
                                  : "its values are not booleans";
   case MN_TYPE_JSONB:
      if (mine == MN_TYPE_JSONB || is_int) {
         return NULL;
      }
      return "its values are not json";
   case MN_TYPE_INET:
      if (mine == MN_TYPE_INET) {
         return NULL;
      }
      return mine == MN_TYPE_TEXT ? "text that is not an ip address does not fit"
                                  : "its values are not ip addresses";
   case MN_TYPE_TEXT_ARRAY: return mine == MN_TYPE_TEXT_ARRAY ? NULL : "its values are not arrays";
   default: return NULL;
   }
}

static void
findings_add(mn_pg_findings_t *f, char *line)
{
   for (size_t i = 0; i < f->n; i++) {
      if (strcmp(f->lines[i], line) == 0) {
         bson_free(line); /* two entries or shapes writing one column the same way */
         return;
      }
   }
   f->lines = bson_realloc(f->lines, (f->n + 1) * sizeof *f->lines);
   f->lines[f->n++] = line;
}

void
mn_pg_findings_cleanup(mn_pg_findings_t *findings)
{
   if (!findings) {
      return;
   }
   for (size_t i = 0; i < findings->n; i++) {
      bson_free(findings->lines[i]);
   }
   bson_free(findings->lines);
   findings->lines = NULL;
   findings->n = 0;
}

/* Read one table's columns from the catalog; false with error set, or *exists = false. */
static bool
read_table(PGconn *conn, const char *schema, const char *table, bool *exists, cattable_t *out,
           mn_error_t *error)
{
   const char *params[2] = {schema, table};
   PGresult *res =
      PQexecParams(conn,
                   "SELECT a.attname, b.typname, CASE WHEN t.typtype = 'd' THEN t.typtypmod"
                   " ELSE a.atttypmod END, format_type(a.atttypid, a.atttypmod),"
                   " a.attnotnull OR t.typnotnull"
                   " FROM pg_catalog.pg_class c"
                   " JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace"
                   " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
                   "  AND NOT a.attisdropped"
                   " LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
                   " LEFT JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd'"
                   "  THEN t.typbasetype ELSE t.oid END"
                   " WHERE ns.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'f')"
                   " ORDER BY a.attnum",
                   2, NULL, params, NULL, NULL, 0);
   int rows;

   if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      mn_pg__set_error(error, MN_PG_QUERY, conn, res, "could not read the target catalog");
      PQclear(res);
      return false;
   }
   rows = PQntuples(res);
   *exists = rows > 0;
   out->cols = NULL;
   out->n = 0;
   for (int i = 0; i < rows; i++) {
      catcol_t *col;
      if (PQgetisnull(res, i, 0)) {
         continue; /* a table without columns */
      }
      out->cols = bson_realloc(out->cols, (out->n + 1) * sizeof *out->cols);
      col = &out->cols[out->n++];
      col->name = bson_strdup(PQgetvalue(res, i, 0));
      classify(PQgetvalue(res, i, 1), atoi(PQgetvalue(res, i, 2)), PQgetvalue(res, i, 3), col);
      col->not_null = strcmp(PQgetvalue(res, i, 4), "t") == 0;
      snprintf(col->target.column, sizeof col->target.column, "%s.%s", table, col->name);
   }
   PQclear(res);
   return true;
}

static catcol_t *
find_col(const cattable_t *t, const char *name)
{
   for (size_t i = 0; i < t->n; i++) {
      if (strcmp(t->cols[i].name, name) == 0) {
         return &t->cols[i];
      }
   }
   return NULL;
}

/*
 * What a hashed or redacted column stores in place of its values must fit the target
 * column, or no row of it could ever load: a digest is 64 hexadecimal digits (text), a
 * redacted NULL needs a column that allows NULL, a replacement must fit the column's own
 * limits.  A mapping error (exit 3) before anything is written.
 */
static bool
check_phi(const mn_mapping_t *m, const mn_table_t *tab, const catcol_t *col, const mn_column_t *c,
          mn_error_t *error)
{
   char where[300];

   snprintf(where, sizeof where, "mapping file \"%s\", line %d: column \"%s.%s.%s\"", m->path,
            c->line, m->schema, tab->name, c->name);
   if (c->spec.digest != MN_DIGEST_NONE &&
       (!col->known || col->target.type != MN_TYPE_TEXT ||
        (col->target.max_chars > 0 && col->target.max_chars < MN_VALUE_DIGEST_LEN))) {
      mn_set_error(error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                   "%s is hashed (\"transform: [sha256]\") and stores %d hexadecimal digits, "
                   "which its type %s cannot hold: make it text (or varchar(%d))",
                   where, MN_VALUE_DIGEST_LEN, col->target.name, MN_VALUE_DIGEST_LEN);
      return false;
   }
   if (c->redact == MN_REDACT_NULL && col->not_null) {
      mn_set_error(error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                   "%s is NOT NULL, so NULL (\"redact: true\") cannot be stored in it: give a "
                   "replacement value (\"redact: <value>\")",
                   where);
      return false;
   }
   if (c->redact == MN_REDACT_VALUE && col->known) {
      mn_value_spec_t spec = c->spec;
      bson_t tmp = BSON_INITIALIZER;
      bson_string_t *out = bson_string_new(NULL);
      char reason[256] = "";
      bson_iter_t it;
      mn_value_status_t st;

      spec.transforms = NULL;
      spec.n_transforms = 0;
      spec.hide_values = false;
      BSON_APPEND_UTF8(&tmp, "r", c->redact_value);
      bson_iter_init_find(&it, &tmp, "r");
      st = mn_value_convert(&it, &spec, out, reason, sizeof reason);
      bson_string_free(out, true);
      bson_destroy(&tmp);
      if (st == MN_VALUE_INVALID) {
         mn_set_error(error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                      "%s: its \"redact\" value cannot be stored in it: %s", where, reason);
         return false;
      }
   }
   return true;
}

/* Record the target column in a mapping column's spec, and note what can be lost. */
static bool
annotate(const mn_mapping_t *m, const mn_table_t *tab, const cattable_t *cat, mn_column_t *c,
         mn_pg_findings_t *findings, mn_error_t *error)
{
   const catcol_t *col = find_col(cat, c->name);
   char why[160], mine[48];
   const char *w;

   if (!col || c->kind != MN_SRC_PATH) {
      return true; /* generated values (ids, ordinals, keys) and constants are not converted */
   }
   c->spec.has_target = col->known;
   c->spec.target = col->target;
   if (MN_COLUMN_IS_PHI(c) && !check_phi(m, tab, col, c, error)) {
      return false;
   }
   if (c->spec.digest != MN_DIGEST_NONE) {
      return true; /* it stores text that fits (above), whatever the value's type */
   }
   if (findings && col->known && (w = loss(&c->spec, &col->target, why, sizeof why))) {
      mapping_type_name(&c->spec, mine, sizeof mine);
      findings_add(findings,
                   bson_strdup_printf("%s.%s.%s: mapping type %s, column type %s: %s", m->schema,
                                      tab->name, c->name, mine, col->target.name, w));
   }
   return true;
}

bool
mn_pg_check_target(PGconn *conn, mn_mapping_t *m, mn_pg_findings_t *findings, mn_error_t *error)
{
   cattable_t *cats = bson_malloc0((m->n_tables ? m->n_tables : 1) * sizeof *cats);
   bool ok = false;

   if (findings) {
      findings->lines = NULL;
      findings->n = 0;
   }
   for (size_t t = 0; t < m->n_tables; t++) {
      const mn_table_t *tab = &m->tables[t];
      bool exists = false;

      if (!read_table(conn, m->schema, tab->name, &exists, &cats[t], error)) {
         goto cleanup;
      }
      if (!exists) {
         mn_set_error(error, MN_ERROR_PG, MN_PG_SCHEMA, "table \"%s.%s\" does not exist", m->schema,
                      tab->name);
         goto cleanup;
      }
      for (size_t c = 0; c < tab->n_columns; c++) {
         if (!find_col(&cats[t], tab->columns[c])) {
            mn_set_error(error, MN_ERROR_PG, MN_PG_SCHEMA,
                         "the target has no column \"%s\" in table \"%s.%s\"", tab->columns[c],
                         m->schema, tab->name);
            goto cleanup;
         }
      }
   }
   for (size_t ci = 0; ci < m->n_collections; ci++) {
      mn_collection_t *coll = &m->collections[ci];
      for (size_t ei = 0; ei < coll->n_entries; ei++) {
         mn_entry_t *e = &coll->entries[ei];
         const mn_table_t *tab = &m->tables[e->table_index];
         for (size_t c = 0; c < e->n_columns; c++) {
            if (!annotate(m, tab, &cats[e->table_index], &e->columns[c], findings, error)) {
               goto cleanup;
            }
         }
         for (size_t s = 0; s < e->n_shapes; s++) {
            for (size_t c = 0; c < e->shapes[s].n_columns; c++) {
               if (!annotate(m, tab, &cats[e->table_index], &e->shapes[s].columns[c], findings,
                             error)) {
                  goto cleanup;
               }
            }
         }
      }
   }
   ok = true;

cleanup:
   for (size_t t = 0; t < m->n_tables; t++) {
      for (size_t i = 0; i < cats[t].n; i++) {
         bson_free(cats[t].cols[i].name);
      }
      bson_free(cats[t].cols);
   }
   bson_free(cats);
   if (!ok) {
      mn_pg_findings_cleanup(findings);
   }
   return ok;
}

bool
mn_pg_check_mapping(PGconn *conn, mn_mapping_t *mapping, mn_error_t *error)
{
   return mn_pg_check_target(conn, mapping, NULL, error);
}

char *
mn_pg_quote_ident(PGconn *conn, const char *ident)
{
   char *q = PQescapeIdentifier(conn, ident, strlen(ident));
   char *copy = bson_strdup(q ? q : "\"\"");

   PQfreemem(q);
   return copy;
}
