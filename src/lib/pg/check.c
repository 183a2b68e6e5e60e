/*
 * check.c - checking a mapping against the target's catalog: tables, columns and their
 * types (copied into the plan's column specs), and the findings of `check`: types that
 * lose data, NOT NULL columns the mapping can leave NULL, foreign keys against the
 * load order and ON DELETE actions; and the note of tables under row-level security.
 */
#include "pg/pg_private.h"
#include "mapping/plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * The target's own column types
 */

typedef struct {
   char *name;               /* column name; owned */
   bool known;               /* a type mongonorm knows (target is meaningful) */
   bool not_null;            /* NOT NULL (the column's, or its domain's) */
   mn_value_target_t target; /* type, limits, display name */
   bool filled;              /* a DEFAULT, an identity or a generated column: PostgreSQL fills
                                it when a row does not name it */
} catcol_t;

typedef struct {
   catcol_t *cols;
   size_t n;
   bool row_security; /* row-level security applies to the connected role */
   char *role;        /* the connected role (current_user); owned */
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

static bool
is_integer(mn_type_t type)
{
   return type == MN_TYPE_SMALLINT || type == MN_TYPE_INTEGER || type == MN_TYPE_BIGINT;
}

static bool
is_number(mn_type_t type)
{
   return is_integer(type) || type == MN_TYPE_NUMERIC || type == MN_TYPE_DOUBLE ||
          type == MN_TYPE_REAL;
}

/* The reason for values of another type: text that does not parse, or values of a type
 * that is never the target's. */
static const char *
not_of(mn_type_t mine, const char *text, const char *other)
{
   return mine == MN_TYPE_TEXT ? text : other;
}

/* loss() for a numeric(p,s) target: integer digits and decimal places that fit. */
static const char *
loss_numeric(const mn_value_spec_t *m, const mn_value_target_t *t, char *buf, size_t size)
{
   mn_type_t mine = m->type;
   int ms = m->precision > 0 && m->scale < 0 ? 0 : m->scale; /* -1 = unlimited */

   if (!is_number(mine)) {
      return not_of(mine, "text that is not a number does not fit", "its values are not numbers");
   }
   if (t->precision <= 0) {
      return NULL;
   }
   if (is_integer(mine)) {
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
}

/* loss() for a smallint, integer or bigint target: the range, and no fractions. */
static const char *
loss_integer(const mn_value_spec_t *m, const mn_value_target_t *t, char *buf, size_t size)
{
   mn_type_t mine = m->type;
   int ms = m->precision > 0 && m->scale < 0 ? 0 : m->scale;

   if (is_integer(mine) && int_digits(mine) <= int_digits(t->type)) {
      return NULL;
   }
   if (mine == MN_TYPE_NUMERIC && m->precision > 0 && ms == 0 &&
       m->precision < int_digits(t->type)) {
      return NULL;
   }
   if (is_integer(mine)) {
      snprintf(buf, size, "values outside the range of %s do not fit", t->name);
      return buf;
   }
   return is_number(mine) ? "fractions and values out of its range do not fit"
                          : not_of(mine, "text that is not an integer does not fit",
                                   "its values are not integers");
}

/* loss() for a real or double precision target: the significant digits it keeps. */
static const char *
loss_float(const mn_value_spec_t *m, const mn_value_target_t *t, char *buf, size_t size)
{
   mn_type_t mine = m->type;
   int n = t->type == MN_TYPE_REAL ? 6 : 15; /* digits every value of fewer keeps */

   if (mine == t->type || mine == MN_TYPE_SMALLINT || mine == MN_TYPE_REAL ||
       (mine == MN_TYPE_INTEGER && t->type == MN_TYPE_DOUBLE) ||
       (mine == MN_TYPE_NUMERIC && m->precision > 0 && m->precision <= n)) {
      return NULL;
   }
   if (is_number(mine)) {
      snprintf(buf, size, "values of more than %d significant digits would be rounded", n);
      return buf;
   }
   return not_of(mine, "text that is not a number does not fit", "its values are not numbers");
}

/* loss() for a date, timestamp or timestamptz target. */
static const char *
loss_temporal(mn_type_t mine, mn_type_t target)
{
   if (target == MN_TYPE_DATE) {
      if (mine == MN_TYPE_DATE) {
         return NULL;
      }
      return mine == MN_TYPE_TIMESTAMPTZ || mine == MN_TYPE_TIMESTAMP
                ? "the time of day would be dropped"
                : not_of(mine,
                         "text that is not a date does not fit, and a time of day would be "
                         "dropped",
                         "its values are not dates");
   }
   if (target == MN_TYPE_TIMESTAMP && mine == MN_TYPE_TIMESTAMPTZ) {
      return "the time zone would be dropped (stored as the UTC wall-clock time)";
   }
   if (mine == MN_TYPE_TIMESTAMPTZ || mine == MN_TYPE_TIMESTAMP || mine == MN_TYPE_DATE) {
      return NULL;
   }
   return not_of(mine, "text that is not a timestamp does not fit",
                 "its values are not timestamps");
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
   int n;

   switch (t->type) {
   case MN_TYPE_TEXT:
      if (t->max_chars > 0 && ((n = max_chars(m)) < 0 || n > t->max_chars)) {
         snprintf(buf, size, "values longer than %d characters do not fit", t->max_chars);
         return buf;
      }
      return NULL;
   case MN_TYPE_NUMERIC: return loss_numeric(m, t, buf, size);
   case MN_TYPE_SMALLINT:
   case MN_TYPE_INTEGER:
   case MN_TYPE_BIGINT: return loss_integer(m, t, buf, size);
   case MN_TYPE_REAL:
   case MN_TYPE_DOUBLE: return loss_float(m, t, buf, size);
   case MN_TYPE_DATE:
   case MN_TYPE_TIMESTAMP:
   case MN_TYPE_TIMESTAMPTZ: return loss_temporal(mine, t->type);
   case MN_TYPE_UUID:
      return mine == MN_TYPE_UUID
                ? NULL
                : not_of(mine, "text that is not a uuid does not fit", "its values are not uuids");
   case MN_TYPE_BOOLEAN:
      return mine == MN_TYPE_BOOLEAN ? NULL
                                     : not_of(mine, "text that is not a boolean does not fit",
                                              "its values are not booleans");
   case MN_TYPE_JSONB:
      return mine == MN_TYPE_JSONB || is_integer(mine) ? NULL : "its values are not json";
   case MN_TYPE_INET:
      return mine == MN_TYPE_INET ? NULL
                                  : not_of(mine, "text that is not an ip address does not fit",
                                           "its values are not ip addresses");
   case MN_TYPE_TEXT_ARRAY: return mine == MN_TYPE_TEXT_ARRAY ? NULL : "its values are not arrays";
   default: return NULL;
   }
}

static void
findings_add(mn_pg_findings_t *f, mn_pg_finding_kind_t kind, char *line)
{
   for (size_t i = 0; i < f->n; i++) {
      if (strcmp(f->lines[i], line) == 0) {
         bson_free(line); /* two entries or shapes writing one column the same way */
         return;
      }
   }
   f->lines = bson_realloc(f->lines, (f->n + 1) * sizeof *f->lines);
   f->kinds = bson_realloc(f->kinds, (f->n + 1) * sizeof *f->kinds);
   f->kinds[f->n] = kind;
   f->lines[f->n++] = line;
}

bool
mn_pg_finding_is_note(mn_pg_finding_kind_t kind)
{
   return kind == MN_PG_FINDING_ROW_SECURITY;
}

void
mn_pg_findings_cleanup(mn_pg_findings_t *findings)
{
   if (!findings) {
      return;
   }
   mn_strings__free(findings->lines, findings->n);
   bson_free(findings->kinds);
   findings->lines = NULL;
   findings->kinds = NULL;
   findings->n = 0;
}

/*
 * Read one table's columns from the catalog (a domain's base type and typmod, NOT NULL of
 * the column or its domain, whether PostgreSQL fills it); false with error set, or
 * *exists = false for a table (or view, foreign or partitioned table) that is not there.
 */
static bool
read_table(PGconn *conn, const char *schema, const char *table, bool *exists, cattable_t *out,
           mn_error_t *error)
{
   const char *params[2] = {schema, table};
   PGresult *res =
      mn_pg__query(conn,
                   "SELECT a.attname, b.typname, CASE WHEN t.typtype = 'd' THEN t.typtypmod"
                   " ELSE a.atttypmod END, format_type(a.atttypid, a.atttypmod),"
                   " a.attnotnull OR t.typnotnull,"
                   " a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',"
                   " row_security_active(c.oid), current_user"
                   " FROM pg_catalog.pg_class c"
                   " JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace"
                   " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0"
                   "  AND NOT a.attisdropped"
                   " LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
                   " LEFT JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd'"
                   "  THEN t.typbasetype ELSE t.oid END"
                   " WHERE ns.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'f')"
                   " ORDER BY a.attnum",
                   2, params, PGRES_TUPLES_OK, "could not read the target catalog", error);
   int rows;

   if (!res) {
      return false;
   }
   rows = PQntuples(res);
   *exists = rows > 0;
   out->cols = NULL;
   out->n = 0;
   out->row_security = rows > 0 && strcmp(PQgetvalue(res, 0, 6), "t") == 0;
   out->role = rows > 0 ? bson_strdup(PQgetvalue(res, 0, 7)) : NULL;
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
      col->filled = strcmp(PQgetvalue(res, i, 5), "t") == 0;
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

   if (col && c->kind == MN_SRC_UNMAPPED && (!col->known || col->target.type != MN_TYPE_JSONB)) {
      mn_set_error(error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                   "mapping file \"%s\", line %d: column \"%s.%s.%s\" is an \"unmapped_to\" "
                   "catch-all, which stores a JSON object, but its type is %s: make it jsonb",
                   m->path, c->line, m->schema, tab->name, c->name, col->target.name);
      return false;
   }
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
      findings_add(findings, MN_PG_FINDING_TYPE,
                   bson_strdup_printf("%s.%s.%s: mapping type %s, column type %s: %s", m->schema,
                                      tab->name, c->name, mine, col->target.name, w));
   }
   return true;
}

/* ---------------------------------------------------------------------------
 * NOT NULL columns: every row the mapping writes must give them a value.  A NULL in
 * one makes PostgreSQL refuse the row, and the load rejects its document.
 */

static void add_line(mn_pg_findings_t *f, mn_pg_finding_kind_t kind, const char *fmt, ...)
   BSON_GNUC_PRINTF(3, 4);

static void
add_line(mn_pg_findings_t *f, mn_pg_finding_kind_t kind, const char *fmt, ...)
{
   va_list ap;

   va_start(ap, fmt);
   findings_add(f, kind, bson_strdupv_printf(fmt, ap));
   va_end(ap);
}

/* The mapping's spelling of a shape's element type (docs/mapping.md, "Shapes"). */
static const char *
shape_name(bson_type_t type)
{
   switch (type) {
   case BSON_TYPE_UTF8: return "string";
   case BSON_TYPE_DOCUMENT: return "document";
   case BSON_TYPE_ARRAY: return "array";
   case BSON_TYPE_INT32: return "int";
   case BSON_TYPE_INT64: return "long";
   case BSON_TYPE_DOUBLE: return "double";
   case BSON_TYPE_DECIMAL128: return "decimal";
   case BSON_TYPE_BOOL: return "bool";
   case BSON_TYPE_DATE_TIME: return "date";
   case BSON_TYPE_OID: return "objectId";
   default: return "?";
   }
}

static bool
same_path(const mn_path_t *a, const mn_path_t *b)
{
   if (a->root != b->root || a->is_key != b->is_key || a->n_segments != b->n_segments) {
      return false;
   }
   for (size_t i = 0; i < a->n_segments; i++) {
      if (strcmp(a->segments[i], b->segments[i]) != 0) {
         return false;
      }
   }
   return true;
}

/*
 * Whether an entry's `when` holding implies that `path` (read from the same element) is
 * present and not null; *nonempty is then set when it also implies a string that is
 * not empty or blank (convert.c, pred_eval).
 */
static bool
when_implies_present(const mn_pred_t *p, const mn_path_t *path, bool *nonempty)
{
   bool any = false, all = true, ne;

   *nonempty = false;
   switch (p->kind) {
   case MN_PRED_EXISTS: return same_path(&p->path, path);
   case MN_PRED_NONEMPTY: *nonempty = true; return same_path(&p->path, path);
   case MN_PRED_IN:
      if (!same_path(&p->path, path)) {
         return false;
      }
      /* the value is a string equal, once trimmed, to one of the values */
      *nonempty = true;
      for (size_t i = 0; i < p->n_values; i++) {
         if (!*p->values[i]) {
            *nonempty = false;
         }
      }
      return true;
   case MN_PRED_ALL: /* one child that implies it is enough */
      for (size_t i = 0; i < p->n_children; i++) {
         if (when_implies_present(&p->children[i], path, &ne)) {
            any = true;
            *nonempty = *nonempty || ne;
         }
      }
      return any;
   case MN_PRED_ANY: /* every child must imply it */
      *nonempty = true;
      for (size_t i = 0; i < p->n_children && all; i++) {
         all = when_implies_present(&p->children[i], path, &ne);
         *nonempty = *nonempty && ne;
      }
      if (!all || p->n_children == 0) {
         *nonempty = false;
         return false;
      }
      return true;
   default: return false;
   }
}

/* Whether a column's declared `default` converts to a value (else missing gives NULL). */
static bool
default_converts(const mn_column_t *c)
{
   bson_t tmp = BSON_INITIALIZER;
   bson_string_t *out = bson_string_new(NULL);
   bson_iter_t it;
   mn_value_status_t st;

   BSON_APPEND_UTF8(&tmp, "d", c->default_value);
   bson_iter_init_find(&it, &tmp, "d");
   st = mn_value_convert(&it, &c->spec, out, NULL, 0);
   bson_string_free(out, true);
   bson_destroy(&tmp);
   return st == MN_VALUE_OK || st == MN_VALUE_COERCED;
}

/* The entry whose elements give an entry's rows their context (itself, or the nearest
 * parent with `each`), or NULL for rows of the document. */
static const mn_entry_t *
element_entry(const mn_collection_t *coll, const mn_entry_t *e)
{
   while (e && e->each_kind == MN_EACH_NONE) {
      e = e->parent >= 0 ? &coll->entries[e->parent] : NULL;
   }
   return e;
}

typedef struct {
   const mn_mapping_t *m;
   const mn_table_t *tab;
   const char *column;
   mn_pg_findings_t *f;
} nn_t;

#define NN_FMT "%s.%s.%s: NOT NULL column, but "
#define NN_ARGS(n) (n)->m->schema, (n)->tab->name, (n)->column
#define REJECTED_SOME "such documents would be rejected"

/* A "value: key" column: NULL unless its element is a sub-document's entry (a map). */
static void
key_null_causes(const nn_t *n, const mn_collection_t *coll, const mn_entry_t *e)
{
   const mn_entry_t *el = element_entry(coll, e);

   if (!el || el->each_kind != MN_EACH_MAP) {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "\"value: key\" of entry \"%s\" is NULL, as it iterates no map: every "
                      "row would be refused (its document rejected)",
               NN_ARGS(n), e->name);
   } else {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "\"value: key\" is NULL when the value at \"%s\" is an array or a single "
                      "value, not a sub-document: " REJECTED_SOME,
               NN_ARGS(n), el->each.text);
   }
}

/* Whether column c's value is present wherever its row exists: the row exists only where
 * its entry's `when` holds, and that of the parents that share its element (entries
 * without `each` read their parent's).  *nonempty: and a string not empty or blank. */
static bool
implied_present(const mn_collection_t *coll, const mn_entry_t *e, const mn_column_t *c,
                bool *nonempty)
{
   bool present = false;

   *nonempty = false;
   for (const mn_entry_t *x = e; x && c->n_paths == 1 && !*nonempty;) {
      bool p, ne;
      if (x->when && (p = when_implies_present(x->when, &c->paths[0], &ne))) {
         present = true;
         *nonempty = ne;
      }
      x = x->each_kind == MN_EACH_NONE && x->parent >= 0 ? &coll->entries[x->parent] : NULL;
   }
   return present;
}

/* A column that is not `required`: the values the mapping turns into NULL. */
static void
optional_null_causes(const nn_t *n, const mn_column_t *c, bool present, bool nonempty)
{
   bool empty_null = c->spec.empty == MN_EMPTY_NULL ||
                     (c->spec.empty == MN_EMPTY_DEFAULT && c->spec.type != MN_TYPE_TEXT);

   if (!present && !c->default_value) {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "the mapping stores NULL when the value is missing: " REJECTED_SOME,
               NN_ARGS(n));
   } else if (!present && !default_converts(c)) {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "the mapping stores NULL when the value is missing (its default does not "
                      "convert to the column): " REJECTED_SOME,
               NN_ARGS(n));
   }
   /* a reference's value is judged as a reference, not converted */
   if (c->ref_collection < 0 && empty_null && !nonempty) {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "the mapping stores NULL when the value is an empty string: " REJECTED_SOME,
               NN_ARGS(n));
   }
   if (c->ref_collection < 0 && c->on_invalid == MN_ON_NULL) {
      add_line(
         n->f, MN_PG_FINDING_NOT_NULL,
         NN_FMT
         "the mapping stores NULL when the value is invalid (on_invalid: null): " REJECTED_SOME,
         NN_ARGS(n));
   }
}

/* A declared reference (column c of collection ci): dangling, or deferred, it is NULL.
 * `required` does not hold for these: the value was there (convert.c, eval_reference). */
static void
reference_null_causes(const nn_t *n, size_t ci, const mn_column_t *c)
{
   if (c->on_missing_reference == MN_ON_NULL) {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "the mapping stores NULL when the reference is dangling "
                      "(on_missing_reference: null): " REJECTED_SOME,
               NN_ARGS(n));
   }
   if ((size_t)c->ref_collection == ci) {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "references into collection \"%s\" itself are written NULL first and set "
                      "at the end of the collection (deferred): documents with a reference "
                      "would be rejected",
               NN_ARGS(n), c->references);
   } else if ((size_t)c->ref_collection > ci) {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "references to collection \"%s\", which loads after \"%s\", are written "
                      "NULL first (deferred): documents with a reference would be rejected",
               NN_ARGS(n), c->references, n->m->collections[ci].name);
   }
}

/* What makes column c (entry e of collection ci) give NULL, one line each. */
static void
null_causes(const nn_t *n, size_t ci, const mn_entry_t *e, const mn_column_t *c)
{
   const mn_collection_t *coll = &n->m->collections[ci];
   bool present, nonempty;

   if (c->redact == MN_REDACT_VALUE) {
      return; /* every row stores the replacement (a NULL one is an error of its own) */
   }
   if (c->kind == MN_SRC_KEY) {
      key_null_causes(n, coll, e);
      return;
   }
   if (c->kind == MN_SRC_UNMAPPED) {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "\"unmapped_to\" of entry \"%s\" is NULL when nothing is unmapped: "
                      "such documents would be rejected",
               NN_ARGS(n), e->name);
      return;
   }
   if (c->kind != MN_SRC_PATH) {
      return; /* row ids, parent keys, ordinals and constants are never NULL */
   }
   present = implied_present(coll, e, c, &nonempty);
   if (!c->required) {
      optional_null_causes(n, c, present, nonempty);
   }
   if (c->ref_collection >= 0) {
      reference_null_causes(n, ci, c);
   }
}

/* The column of cols that writes table column tc (raw_to: that writes its invalid
 * values to it), or NULL. */
static const mn_column_t *
writer_of(const mn_column_t *cols, size_t n, int tc, bool raw_to)
{
   for (size_t i = 0; i < n; i++) {
      if ((raw_to ? cols[i].raw_to : cols[i].table_column) == tc) {
         return &cols[i];
      }
   }
   return NULL;
}

static const mn_column_t *
column_for(const mn_column_t *cols, size_t n, int table_column)
{
   return writer_of(cols, n, table_column, false);
}

static const mn_column_t *
raw_to_for(const mn_column_t *cols, size_t n, int table_column)
{
   return writer_of(cols, n, table_column, true);
}

/* Table column tc (NOT NULL) in the rows of entry e: every kind of row it makes (one per
 * shape, or one) must write it with a value. */
static void
check_entry_not_null(const nn_t *n, size_t ci, const mn_entry_t *e, int tc)
{
   size_t kinds = e->n_shapes ? e->n_shapes : 1, lacking = 0;
   char *names = NULL;

   for (size_t k = 0; k < kinds; k++) {
      const mn_shape_t *sh = e->n_shapes ? &e->shapes[k] : NULL;
      const mn_column_t *w = column_for(e->columns, e->n_columns, tc);
      const mn_column_t *raw;

      if (!w && sh) {
         w = column_for(sh->columns, sh->n_columns, tc);
      }
      if (w) {
         null_causes(n, ci, e, w);
         continue;
      }
      raw = raw_to_for(e->columns, e->n_columns, tc);
      if (!raw && sh) {
         raw = raw_to_for(sh->columns, sh->n_columns, tc);
      }
      if (raw) {
         add_line(n->f, MN_PG_FINDING_NOT_NULL,
                  NN_FMT "only \"raw_to\" of column \"%s\" writes it, when that value is invalid: "
                         "every other row would be refused (its document rejected)",
                  NN_ARGS(n), raw->name);
         continue;
      }
      lacking++;
      if (sh) {
         char *more = bson_strdup_printf("%s%s%s", names ? names : "", names ? ", " : "",
                                         shape_name(sh->type));
         bson_free(names);
         names = more;
      }
   }
   if (lacking == kinds) {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "rows of entry \"%s\" do not write it: every row of that entry would be "
                      "refused (its document rejected)",
               NN_ARGS(n), e->name);
   } else if (lacking) {
      add_line(n->f, MN_PG_FINDING_NOT_NULL,
               NN_FMT "elements of entry \"%s\" of shape %s do not write it: " REJECTED_SOME,
               NN_ARGS(n), e->name, names);
   }
   bson_free(names);
}

static int
table_column_index(const mn_table_t *tab, const char *name)
{
   for (size_t i = 0; i < tab->n_columns; i++) {
      if (strcmp(tab->columns[i], name) == 0) {
         return (int)i;
      }
   }
   return -1;
}

static void
check_not_null(const mn_mapping_t *m, const cattable_t *cats, mn_pg_findings_t *f)
{
   for (size_t t = 0; t < m->n_tables; t++) {
      const mn_table_t *tab = &m->tables[t];
      for (size_t k = 0; k < cats[t].n; k++) {
         const catcol_t *col = &cats[t].cols[k];
         int tc = table_column_index(tab, col->name);
         nn_t n = {m, tab, col->name, f};

         if (!col->not_null || tc == 0) {
            continue; /* column 0 is the key: every row's id */
         }
         if (tc < 0) {
            if (!col->filled) {
               add_line(f, MN_PG_FINDING_NOT_NULL,
                        "%s.%s.%s: NOT NULL column without a default that the mapping never "
                        "writes: every row would be refused (its document rejected)",
                        NN_ARGS(&n));
            }
            continue; /* else PostgreSQL fills it */
         }
         /* Written: rows that have no value for it send NULL, not the column's DEFAULT. */
         for (size_t ci = 0; ci < m->n_collections; ci++) {
            const mn_collection_t *coll = &m->collections[ci];
            for (size_t ei = 0; ei < coll->n_entries; ei++) {
               if (coll->entries[ei].table_index == (int)t) {
                  check_entry_not_null(&n, ci, &coll->entries[ei], tc);
               }
            }
         }
      }
   }
}

/* ---------------------------------------------------------------------------
 * Foreign keys: the referenced rows must be there when a row is loaded.
 *
 * Load order (sink.c): collections in mapping order, one batch transaction at a time;
 * in a batch, tables in the mapping's table order (parents first).  A document PostgreSQL
 * refuses is tried once more at the end of its collection, so a row naming a row of a
 * later document of the same collection loads then.  A declared reference (`references:`)
 * to a collection loaded with or after this one is deferred: written NULL, set at the
 * end of the collection.
 */

typedef struct {
   char *name;       /* conname */
   char *ref_schema; /* the referenced table */
   char *ref_table;
   char del;        /* confdeltype: a no action, r restrict, c cascade, n set null, d set default */
   bool deferred;   /* INITIALLY DEFERRED: checked at commit, not per statement */
   char **cols;     /* referencing columns, in key order */
   char **ref_cols; /* referenced columns */
   size_t n;
   int empty; /* the referenced table holds no row: 1, 0, or -1 not known yet / unreadable */
} fk_t;

static void
fks_free(fk_t *fks, size_t n)
{
   for (size_t i = 0; i < n; i++) {
      bson_free(fks[i].name);
      bson_free(fks[i].ref_schema);
      bson_free(fks[i].ref_table);
      for (size_t k = 0; k < fks[i].n; k++) {
         bson_free(fks[i].cols[k]);
         bson_free(fks[i].ref_cols[k]);
      }
      bson_free(fks[i].cols);
      bson_free(fks[i].ref_cols);
   }
   bson_free(fks);
}

/*
 * The foreign keys of one table (pg_constraint), in name order: one catalog row per
 * column of a key, in key order, folded into one fk_t per constraint.  Whether the
 * referenced table is empty is read later, only when a finding needs it.
 */
static bool
read_fks(PGconn *conn, const char *schema, const char *table, fk_t **out, size_t *n_out,
         mn_error_t *error)
{
   const char *params[2] = {schema, table};
   PGresult *res = mn_pg__query(
      conn,
      "SELECT c.conname, rn.nspname, rc.relname, c.confdeltype, c.condeferred,"
      " la.attname, ra.attname"
      " FROM pg_catalog.pg_constraint c"
      " JOIN pg_catalog.pg_class t ON t.oid = c.conrelid"
      " JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace"
      " JOIN pg_catalog.pg_class rc ON rc.oid = c.confrelid"
      " JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace"
      " CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(l, r, i)"
      " JOIN pg_catalog.pg_attribute la ON la.attrelid = c.conrelid AND la.attnum = k.l"
      " JOIN pg_catalog.pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.r"
      " WHERE c.contype = 'f' AND tn.nspname = $1 AND t.relname = $2"
      " ORDER BY c.conname, k.i",
      2, params, PGRES_TUPLES_OK, "could not read the target catalog", error);
   fk_t *fks = NULL;
   size_t n = 0;

   *out = NULL;
   *n_out = 0;
   if (!res) {
      return false;
   }
   for (int i = 0; i < PQntuples(res); i++) {
      fk_t *fk;
      if (n == 0 || strcmp(fks[n - 1].name, PQgetvalue(res, i, 0)) != 0) {
         fks = bson_realloc(fks, (n + 1) * sizeof *fks);
         fk = &fks[n++];
         memset(fk, 0, sizeof *fk);
         fk->name = bson_strdup(PQgetvalue(res, i, 0));
         fk->ref_schema = bson_strdup(PQgetvalue(res, i, 1));
         fk->ref_table = bson_strdup(PQgetvalue(res, i, 2));
         fk->del = PQgetvalue(res, i, 3)[0];
         fk->deferred = strcmp(PQgetvalue(res, i, 4), "t") == 0;
         fk->empty = -1;
      }
      fk = &fks[n - 1];
      fk->cols = bson_realloc(fk->cols, (fk->n + 1) * sizeof *fk->cols);
      fk->ref_cols = bson_realloc(fk->ref_cols, (fk->n + 1) * sizeof *fk->ref_cols);
      fk->cols[fk->n] = bson_strdup(PQgetvalue(res, i, 5));
      fk->ref_cols[fk->n] = bson_strdup(PQgetvalue(res, i, 6));
      fk->n++;
   }
   PQclear(res);
   *out = fks;
   *n_out = n;
   return true;
}

/* Whether the referenced table holds no row (1), holds some (0), or cannot be read (-1:
 * then nothing is said about it). */
static int
ref_table_empty(PGconn *conn, fk_t *fk)
{
   char *qs, *qt, *sql;
   PGresult *res;

   if (fk->empty >= 0) {
      return fk->empty;
   }
   qs = mn_pg_quote_ident(conn, fk->ref_schema);
   qt = mn_pg_quote_ident(conn, fk->ref_table);
   sql = bson_strdup_printf("SELECT NOT EXISTS (SELECT 1 FROM %s.%s)", qs, qt);
   res = PQexec(conn, sql);
   if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
      fk->empty = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
   }
   PQclear(res);
   bson_free(sql);
   bson_free(qs);
   bson_free(qt);
   return fk->empty;
}

static bool
collection_feeds(const mn_collection_t *coll, int table)
{
   for (size_t ei = 0; ei < coll->n_entries; ei++) {
      if (coll->entries[ei].table_index == table) {
         return true;
      }
   }
   return false;
}

/* A column of a foreign key that an entry writes: where its values come from. */
typedef struct {
   const char *name;          /* the column */
   mn_source_kind_col_t kind; /* MN_SRC_CONST for the row id: an id of this table's own */
   int ref_collection;        /* a declared reference, or -1 */
} fkcol_t;

/* The first column of the foreign key that entry e writes (the row id, a column of the
 * entry or of one of its shapes); false when it writes none. */
static bool
fk_writer(const mn_table_t *tab, const fk_t *fk, const mn_entry_t *e, fkcol_t *out)
{
   for (size_t k = 0; k < fk->n; k++) {
      int tc = table_column_index(tab, fk->cols[k]);
      const mn_column_t *w = NULL;
      if (tc == 0) {
         /* every row has an id: a shared primary key (1:1 tables) names another table's */
         out->name = fk->cols[k];
         out->kind = MN_SRC_CONST;
         out->ref_collection = -1;
         return true;
      }
      if (tc < 0) {
         continue;
      }
      w = column_for(e->columns, e->n_columns, tc);
      for (size_t s = 0; !w && s < e->n_shapes; s++) {
         w = column_for(e->shapes[s].columns, e->shapes[s].n_columns, tc);
      }
      if (w) {
         out->name = w->name;
         out->kind = w->kind;
         out->ref_collection = w->kind == MN_SRC_PATH ? w->ref_collection : -1;
         return true;
      }
   }
   return false;
}

/* What PostgreSQL does to the referencing rows when a referenced row is deleted. */
static const char *
on_delete_effect(char del, const char **action)
{
   switch (del) {
   case 'c': *action = "CASCADE"; return "deletes the rows";
   case 'n': *action = "SET NULL"; return "sets this column to NULL in the rows";
   default: *action = "SET DEFAULT"; return "sets this column to its default in the rows";
   }
}

/* One foreign key of table t as the rows of entry e (collection ci) write it. */
typedef struct {
   const mn_mapping_t *m;
   size_t t, ci;
   const mn_entry_t *e;
   const fk_t *fk;
   fkcol_t w;       /* the first column of the key that the entry writes */
   int p;           /* the referenced table, in the mapping */
   int source;      /* the table whose row ids the column holds, when the mapping knows; -1 */
   bool same_batch; /* the referenced row is one of the same document's rows */
} fkuse_t;

/* Ids the converter makes name rows of a known table: the document's primary row,
 * the parent row, or a referenced collection's primary row. */
static void
fk_source(fkuse_t *u)
{
   const mn_mapping_t *m = u->m;
   const mn_collection_t *coll = &m->collections[u->ci];

   u->source = -1;
   u->same_batch = false;
   if (u->fk->n == 1 && strcmp(u->fk->ref_cols[0], m->tables[u->p].key) == 0) {
      if (u->w.kind == MN_SRC_DOC_ID) {
         u->source = coll->entries[0].table_index;
         u->same_batch = true;
      } else if (u->w.kind == MN_SRC_PARENT_ID) {
         u->source = coll->entries[u->e->parent >= 0 ? u->e->parent : 0].table_index;
         u->same_batch = true;
      } else if (u->w.ref_collection >= 0) {
         u->source = m->collections[u->w.ref_collection].entries[0].table_index;
      }
   }
   if (u->source != u->p) {
      u->same_batch = false;
   }
}

/* The referenced rows must be written before the rows that name them (load order,
 * above); a finding when they may not be. */
static void
check_fk_order(const fkuse_t *u, mn_pg_findings_t *f)
{
   const mn_mapping_t *m = u->m;
   const mn_collection_t *coll = &m->collections[u->ci];
   const char *schema = m->schema, *tab = m->tables[u->t].name, *ref = m->tables[u->p].name;
   bool earlier = false, fed_here, ordered, in_order;
   size_t later = u->ci;

   for (size_t c = 0; c < u->ci; c++) {
      earlier = earlier || collection_feeds(&m->collections[c], u->p);
   }
   fed_here = collection_feeds(coll, u->p);
   /* In a batch, table p's rows are written before table t's (or in the same statement). */
   in_order = u->fk->deferred || (size_t)u->p <= u->t;
   if (u->same_batch) {
      ordered = in_order;
   } else if (u->source == u->p) {
      ordered = true; /* a declared reference: deferred, or its collection loaded earlier */
   } else {
      ordered = earlier || (fed_here && in_order);
   }
   if (ordered) {
      return;
   }
   for (size_t c = u->ci + 1; c < m->n_collections && later == u->ci; c++) {
      if (collection_feeds(&m->collections[c], u->p)) {
         later = c;
      }
   }
   if (u->same_batch || fed_here) {
      add_line(f, MN_PG_FINDING_FOREIGN_KEY,
               "%s.%s.%s: foreign key \"%s\": %s.%s is loaded before the table it references, "
               "%s.%s (collection \"%s\" writes %s.%s before it in each batch): rows would "
               "be refused (their documents rejected)",
               schema, tab, u->w.name, u->fk->name, schema, tab, schema, ref, coll->name, schema,
               tab);
   } else {
      add_line(f, MN_PG_FINDING_FOREIGN_KEY,
               "%s.%s.%s: foreign key \"%s\": %s.%s is loaded before the table it references, "
               "%s.%s (collection \"%s\" comes before \"%s\"): rows would be refused (their "
               "documents rejected)",
               schema, tab, u->w.name, u->fk->name, schema, tab, schema, ref, coll->name,
               m->collections[later].name);
   }
}

/* ON DELETE: mongonorm deletes rows of p (a document gone from the source, or rejected
 * now).  Rows of the same document go with it anyway; a referencing collection loaded
 * after the referenced one is converted again when its documents change (conversion
 * context); mongonorm itself clears references into its own collection.  Anything
 * else PostgreSQL changes behind the records of documents counted as unchanged. */
static void
check_fk_delete(const fkuse_t *u, mn_pg_findings_t *f)
{
   const mn_mapping_t *m = u->m;
   char del = u->fk->del;
   bool delete_ok;

   if (del != 'c' && del != 'n' && del != 'd') {
      return;
   }
   if (u->same_batch) {
      delete_ok = true;
   } else if (u->source == u->p) {
      delete_ok = (size_t)u->w.ref_collection < u->ci || del == 'n';
   } else {
      delete_ok = false;
   }
   if (!delete_ok) {
      const char *action, *effect = on_delete_effect(del, &action);
      add_line(f, MN_PG_FINDING_ON_DELETE,
               "%s.%s.%s: foreign key \"%s\" is ON DELETE %s: when mongonorm deletes a row of "
               "%s.%s (its document gone from the source, or rejected now), PostgreSQL %s of "
               "other documents that reference it, which stay recorded as loaded",
               m->schema, m->tables[u->t].name, u->w.name, u->fk->name, action, m->schema,
               m->tables[u->p].name, effect);
   }
}

/* One foreign key of table t, for the rows of entry e (collection ci). */
static void
check_fk_entry(PGconn *conn, const mn_mapping_t *m, size_t t, fk_t *fk, size_t ci,
               const mn_entry_t *e, mn_pg_findings_t *f)
{
   fkuse_t u = {m, t, ci, e, fk, {0}, -1, -1, false};

   if (!fk_writer(&m->tables[t], fk, e, &u.w)) {
      return; /* not written: NULL (MATCH SIMPLE), or see the NOT NULL check */
   }
   u.p = strcmp(fk->ref_schema, m->schema) == 0 ? mn_pg__find_table(m, fk->ref_table) : -1;
   if (u.p < 0) {
      if (ref_table_empty(conn, fk) == 1) {
         add_line(f, MN_PG_FINDING_FOREIGN_KEY,
                  "%s.%s.%s: foreign key \"%s\" references %s.%s, which the mapping does not "
                  "load and which is empty: every row with a value would be refused (its "
                  "document rejected)",
                  m->schema, m->tables[t].name, u.w.name, fk->name, fk->ref_schema, fk->ref_table);
      }
      return; /* a table the user fills: its rows are the user's */
   }
   fk_source(&u);
   check_fk_order(&u, f);
   check_fk_delete(&u, f);
}

static bool
check_foreign_keys(PGconn *conn, const mn_mapping_t *m, mn_pg_findings_t *f, mn_error_t *error)
{
   for (size_t t = 0; t < m->n_tables; t++) {
      fk_t *fks = NULL;
      size_t n = 0;

      if (!read_fks(conn, m->schema, m->tables[t].name, &fks, &n, error)) {
         return false;
      }
      for (size_t k = 0; k < n; k++) {
         for (size_t ci = 0; ci < m->n_collections; ci++) {
            const mn_collection_t *coll = &m->collections[ci];
            for (size_t ei = 0; ei < coll->n_entries; ei++) {
               if (coll->entries[ei].table_index == (int)t) {
                  check_fk_entry(conn, m, t, &fks[k], ci, &coll->entries[ei], f);
               }
            }
         }
      }
      fks_free(fks, n);
   }
   return true;
}

/* A note for each table on which row-level security applies to the connected role:
 * PostgreSQL refuses COPY FROM there, so a first load inserts (pg.h, the sink). */
static void
check_row_security(const mn_mapping_t *m, const cattable_t *cats, mn_pg_findings_t *f)
{
   for (size_t t = 0; t < m->n_tables; t++) {
      if (cats[t].row_security) {
         add_line(f, MN_PG_FINDING_ROW_SECURITY,
                  "%s.%s: row-level security applies to role \"%s\": a first load inserts "
                  "its rows with INSERT instead of COPY (slower; the owner or a role with "
                  "BYPASSRLS loads it with COPY), and a row its policies refuse rejects its "
                  "document",
                  m->schema, m->tables[t].name, cats[t].role);
      }
   }
}

/* Read the catalog columns of every table of the mapping into cats; the tables and the
 * columns the mapping names must exist. */
static bool
read_tables(PGconn *conn, const mn_mapping_t *m, cattable_t *cats, mn_error_t *error)
{
   for (size_t t = 0; t < m->n_tables; t++) {
      const mn_table_t *tab = &m->tables[t];
      bool exists = false;

      if (!read_table(conn, m->schema, tab->name, &exists, &cats[t], error)) {
         return false;
      }
      if (!exists) {
         mn_set_error(error, MN_ERROR_PG, MN_PG_SCHEMA, "table \"%s.%s\" does not exist", m->schema,
                      tab->name);
         return false;
      }
      for (size_t c = 0; c < tab->n_columns; c++) {
         if (!find_col(&cats[t], tab->columns[c])) {
            mn_set_error(error, MN_ERROR_PG, MN_PG_SCHEMA,
                         "the target has no column \"%s\" in table \"%s.%s\"", tab->columns[c],
                         m->schema, tab->name);
            return false;
         }
      }
   }
   return true;
}

/* annotate() every column of every entry and shape of the mapping. */
static bool
annotate_all(mn_mapping_t *m, const cattable_t *cats, mn_pg_findings_t *findings, mn_error_t *error)
{
   for (size_t ci = 0; ci < m->n_collections; ci++) {
      mn_collection_t *coll = &m->collections[ci];
      for (size_t ei = 0; ei < coll->n_entries; ei++) {
         mn_entry_t *e = &coll->entries[ei];
         const mn_table_t *tab = &m->tables[e->table_index];
         const cattable_t *cat = &cats[e->table_index];
         for (size_t c = 0; c < e->n_columns; c++) {
            if (!annotate(m, tab, cat, &e->columns[c], findings, error)) {
               return false;
            }
         }
         for (size_t s = 0; s < e->n_shapes; s++) {
            for (size_t c = 0; c < e->shapes[s].n_columns; c++) {
               if (!annotate(m, tab, cat, &e->shapes[s].columns[c], findings, error)) {
                  return false;
               }
            }
         }
      }
   }
   return true;
}

bool
mn_pg_check_target(PGconn *conn, mn_mapping_t *m, mn_pg_findings_t *findings, mn_error_t *error)
{
   cattable_t *cats = bson_malloc0((m->n_tables ? m->n_tables : 1) * sizeof *cats);
   bool ok = false;

   if (findings) {
      memset(findings, 0, sizeof *findings);
   }
   if (!read_tables(conn, m, cats, error) || !annotate_all(m, cats, findings, error)) {
      goto cleanup;
   }
   /* After the annotation: a declared default must also fit its column. */
   if (findings) {
      check_not_null(m, cats, findings);
      if (!check_foreign_keys(conn, m, findings, error)) {
         goto cleanup;
      }
      check_row_security(m, cats, findings);
   }
   ok = true;

cleanup:
   for (size_t t = 0; t < m->n_tables; t++) {
      for (size_t i = 0; i < cats[t].n; i++) {
         bson_free(cats[t].cols[i].name);
      }
      bson_free(cats[t].cols);
      bson_free(cats[t].role);
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
