/*
 * value.c - one BSON value into one PostgreSQL column value.
 *
 * Every conversion appends PostgreSQL input text to the caller's string, or
 * appends nothing and says why.  Three rules hold throughout:
 *
 * - nothing is invented or silently lost: a conversion whose output text
 *   differs from the value as the source shows it (a trimmed string, a number
 *   that was a string, rounding, a dropped time of day) is COERCED and says so;
 * - numbers go through an exact decimal form (mn_dec_t, util/decimal.c), never
 *   through a double unless the column is a floating-point one, so
 *   "12345678901234567890.1" and unit arithmetic ("5'10\"" = 5 * 30.48 + 10 * 2.54)
 *   stay exact;
 * - reasons quote user values clipped to CLIP_CHARS characters, because they
 *   end up in logs and may carry patient data; for a column the mapping hashes
 *   or redacts they quote none (hide_values).
 *
 * Dates are handled as (days since 1970-01-01, microseconds into the day) so
 * the whole range of a BSON date and of PostgreSQL's timestamp (which ends in
 * 294276 AD, past what int64 microseconds since 1970 can hold) fit
 * (util/calendar.c).
 */
#include <mongonorm/value.h>

#include "convert/convert_private.h"

#include "util/ascii.h"
#include "util/calendar.h"
#include "util/decimal.h"
#include "util/ejson.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CLIP_CHARS 40             /* longest user value quoted in a reason, in characters */
#define CLIP_SIZE 256             /* room for CLIP_CHARS escaped characters, quotes and "..." */
#define PG_NUMERIC_INT_MAX 131072 /* numeric: digits before the decimal point */
#define PG_NUMERIC_FRAC_MAX 16383 /* numeric: digits after the decimal point */
#define JSON_MAX_DEPTH 190        /* libbson 1.23 writes levels past 200 as "{ ... }" */

/* ---------------------------------------------------------------------------
 * Conversion state and reasons
 */

typedef struct {
   const mn_value_spec_t *spec;
   bson_string_t *out;
   uint32_t start; /* out->len on entry: failures truncate back to it */
   char *reason;   /* NULL when the caller gave none */
   size_t reason_size;
   bool coerced;
} conv_t;

static void note(conv_t *c, const char *fmt, ...) MN_PRINTF(2, 3);
static mn_value_status_t fail(conv_t *c, const char *fmt, ...) MN_PRINTF(2, 3);

/* Record a coercion; several are joined with "; ". */
static void
note(conv_t *c, const char *fmt, ...)
{
   va_list ap;
   size_t len;

   c->coerced = true;
   if (!c->reason) {
      return;
   }
   len = strlen(c->reason);
   if (len > 0 && len + 2 < c->reason_size) {
      memcpy(c->reason + len, "; ", 3);
      len += 2;
   }
   if (len + 1 >= c->reason_size) {
      return;
   }
   va_start(ap, fmt);
   vsnprintf(c->reason + len, c->reason_size - len, fmt, ap);
   va_end(ap);
}

/* Undo any partial output and set the reason (replacing coercion notes). */
static mn_value_status_t
fail(conv_t *c, const char *fmt, ...)
{
   va_list ap;

   bson_string_truncate(c->out, c->start);
   if (c->reason) {
      va_start(ap, fmt);
      vsnprintf(c->reason, c->reason_size, fmt, ap);
      va_end(ap);
   }
   return MN_VALUE_INVALID;
}

/*
 * A printable excerpt of a value for a reason: at most CLIP_CHARS characters
 * (then "..."), quotes and backslashes escaped, control bytes as \xNN.
 * dst must hold CLIP_SIZE bytes.  Returns dst.
 */
static const char *
clip(const char *s, size_t len, bool quote, char *dst)
{
   size_t i = 0, o = 0, n;
   int chars = 0;

   if (quote) {
      dst[o++] = '"';
   }
   while (i < len) {
      unsigned char ch = (unsigned char)s[i];

      if (chars == CLIP_CHARS) {
         memcpy(dst + o, "...", 3);
         o += 3;
         break;
      }
      if (ch == '"' || ch == '\\') {
         dst[o++] = '\\';
         dst[o++] = (char)ch;
         i++;
      } else if (ch < 0x20 || ch == 0x7f) {
         o += (size_t)snprintf(dst + o, CLIP_SIZE - o, "\\x%02x", ch);
         i++;
      } else if ((n = mn_convert__utf8_char(s + i, len - i)) > 0) {
         memcpy(dst + o, s + i, n);
         o += n;
         i += n;
      } else {
         o += (size_t)snprintf(dst + o, CLIP_SIZE - o, "\\x%02x", ch);
         i++;
      }
      chars++;
   }
   if (quote) {
      dst[o++] = '"';
   }
   dst[o] = '\0';
   return dst;
}

static const char *
clip_str(const char *s, bool quote, char *dst)
{
   return clip(s, strlen(s), quote, dst);
}

static const char *
type_label(bson_type_t type)
{
   switch (type) {
   case BSON_TYPE_DOUBLE: return "double";
   case BSON_TYPE_UTF8: return "string";
   case BSON_TYPE_DOCUMENT: return "document";
   case BSON_TYPE_ARRAY: return "array";
   case BSON_TYPE_BINARY: return "binary";
   case BSON_TYPE_UNDEFINED: return "undefined";
   case BSON_TYPE_OID: return "objectid";
   case BSON_TYPE_BOOL: return "bool";
   case BSON_TYPE_DATE_TIME: return "date";
   case BSON_TYPE_NULL: return "null";
   case BSON_TYPE_REGEX: return "regex";
   case BSON_TYPE_DBPOINTER: return "dbpointer";
   case BSON_TYPE_CODE: return "javascript";
   case BSON_TYPE_SYMBOL: return "symbol";
   case BSON_TYPE_CODEWSCOPE: return "javascript with scope";
   case BSON_TYPE_INT32: return "int32";
   case BSON_TYPE_TIMESTAMP: return "timestamp";
   case BSON_TYPE_INT64: return "int64";
   case BSON_TYPE_DECIMAL128: return "decimal128";
   case BSON_TYPE_MINKEY: return "minkey";
   case BSON_TYPE_MAXKEY: return "maxkey";
   case BSON_TYPE_EOD:
   default: return "unknown bson type";
   }
}

/* The reason for a BSON type that the column's type does not take. */
static mn_value_status_t
cannot_convert(conv_t *c, bson_type_t btype)
{
   return fail(c, "cannot convert %s to %s", type_label(btype), mn_type_name(c->spec->type));
}

/* A short text of d for reasons: plain when short, else d.ddd...e+N. */
static const char *
dec_clip(const mn_dec_t *d, char *dst)
{
   bson_string_t *s;
   int k;

   if (d->kind == MN_DEC_NAN) {
      return strcpy(dst, "NaN");
   }
   if (d->kind == MN_DEC_INF) {
      return strcpy(dst, d->neg ? "-Infinity" : "Infinity");
   }
   s = bson_string_new(NULL);
   if (d->n + d->exp <= 30 && d->n + d->exp >= -6 && d->n <= 30) {
      mn_dec__append_plain(d, 0, s);
   } else {
      if (d->neg) {
         bson_string_append_c(s, '-');
      }
      for (k = 0; k < d->n && k < 20; k++) {
         bson_string_append_c(s, (char)('0' + d->d[k]));
         if (k == 0 && d->n > 1) {
            bson_string_append_c(s, '.');
         }
      }
      if (k < d->n) {
         bson_string_append(s, "...");
      }
      bson_string_append_printf(s, "e%+" PRId64, d->exp + d->n - 1);
   }
   clip(s->str, s->len, false, dst);
   bson_string_free(s, true);
   return dst;
}

/* ---------------------------------------------------------------------------
 * Type names
 */

static const char *const type_names[MN_TYPE_COUNT_] = {
   [MN_TYPE_TEXT] = "text",
   [MN_TYPE_UUID] = "uuid",
   [MN_TYPE_SMALLINT] = "smallint",
   [MN_TYPE_INTEGER] = "integer",
   [MN_TYPE_BIGINT] = "bigint",
   [MN_TYPE_NUMERIC] = "numeric",
   [MN_TYPE_DOUBLE] = "double precision",
   [MN_TYPE_REAL] = "real",
   [MN_TYPE_BOOLEAN] = "boolean",
   [MN_TYPE_DATE] = "date",
   [MN_TYPE_TIMESTAMPTZ] = "timestamptz",
   [MN_TYPE_TIMESTAMP] = "timestamp",
   [MN_TYPE_JSONB] = "jsonb",
   [MN_TYPE_INET] = "inet",
   [MN_TYPE_TEXT_ARRAY] = "text[]",
};

static const struct {
   const char *name;
   mn_type_t type;
} type_aliases[] = {
   {"varchar", MN_TYPE_TEXT},
   {"character varying", MN_TYPE_TEXT},
   {"int2", MN_TYPE_SMALLINT},
   {"int", MN_TYPE_INTEGER},
   {"int4", MN_TYPE_INTEGER},
   {"int8", MN_TYPE_BIGINT},
   {"decimal", MN_TYPE_NUMERIC},
   {"float8", MN_TYPE_DOUBLE},
   {"float", MN_TYPE_DOUBLE},
   {"float4", MN_TYPE_REAL},
   {"bool", MN_TYPE_BOOLEAN},
   {"timestamp with time zone", MN_TYPE_TIMESTAMPTZ},
   {"timestamp without time zone", MN_TYPE_TIMESTAMP},
   {"varchar[]", MN_TYPE_TEXT_ARRAY},
   {"character varying[]", MN_TYPE_TEXT_ARRAY},
   {"_text", MN_TYPE_TEXT_ARRAY},
};

bool
mn_type_from_name(const char *name, mn_type_t *type)
{
   char norm[64];
   size_t i, o = 0;

   if (!name || !type) {
      return false;
   }
   /* Lower-case, single spaces, none at the ends or before "[]". */
   for (i = 0; name[i]; i++) {
      char ch = name[i];
      if (mn_ascii__is_space(ch)) {
         if (o > 0 && norm[o - 1] != ' ') {
            norm[o++] = ' ';
         }
      } else {
         if (ch == '[' && o > 0 && norm[o - 1] == ' ') {
            o--;
         }
         norm[o++] = mn_ascii__to_lower(ch);
      }
      if (o >= sizeof norm - 1) {
         return false;
      }
   }
   if (o > 0 && norm[o - 1] == ' ') {
      o--;
   }
   norm[o] = '\0';
   for (i = 0; i < MN_TYPE_COUNT_; i++) {
      if (strcmp(norm, type_names[i]) == 0) {
         *type = (mn_type_t)i;
         return true;
      }
   }
   for (i = 0; i < sizeof type_aliases / sizeof type_aliases[0]; i++) {
      if (strcmp(norm, type_aliases[i].name) == 0) {
         *type = type_aliases[i].type;
         return true;
      }
   }
   return false;
}

const char *
mn_type_name(mn_type_t type)
{
   if ((int)type < 0 || type >= MN_TYPE_COUNT_) {
      return "unknown";
   }
   return type_names[type];
}

bool
mn_value_format_timestamp(int64_t ms, bool with_zone, bson_string_t *out)
{
   int64_t rem, days = mn_calendar__floor_div(ms, MN_MS_PER_DAY, &rem);

   if (!out || !mn_calendar__timestamp_in_range(days)) {
      return false;
   }
   mn_calendar__append_timestamp(out, days, rem * 1000, 3, with_zone);
   return true;
}

/* ---------------------------------------------------------------------------
 * Pieces shared by several column types
 */

static bool
in_enum(const mn_value_spec_t *spec, const char *s, size_t len)
{
   size_t i;

   for (i = 0; i < spec->n_enum; i++) {
      if (strlen(spec->enum_values[i]) == len && memcmp(spec->enum_values[i], s, len) == 0) {
         return true;
      }
   }
   return false;
}

/* NULL when s[0..len) is valid UTF-8 without NUL, else why not. */
static const char *
string_problem(const char *s, size_t len)
{
   if (memchr(s, '\0', len)) {
      return "contains a nul byte";
   }
   if (!mn_convert__utf8_valid(s, len)) {
      return "is not valid utf-8";
   }
   return NULL;
}

/*
 * Apply the spec's transforms to a copy of s.  Returns the copy (free with
 * bson_free) and its length; notes the change as a coercion.  `label`
 * prefixes the note (e.g. "array element 2: ").
 */
static char *
transform(conv_t *c, const char *label, const char *s, size_t len, size_t *out_len)
{
   char *buf = bson_malloc(len + 1);
   char q[CLIP_SIZE];
   char done[64] = "";
   size_t i, k, orig_len = len;

   memcpy(buf, s, len);
   buf[len] = '\0';
   for (k = 0; k < c->spec->n_transforms; k++) {
      const char *word = NULL;
      size_t a = 0, b = len;

      switch (c->spec->transforms[k]) {
      case MN_TRANSFORM_TRIM:
         while (a < b && mn_ascii__is_space(buf[a])) {
            a++;
         }
         while (b > a && mn_ascii__is_space(buf[b - 1])) {
            b--;
         }
         if (a > 0 || b < len) {
            memmove(buf, buf + a, b - a);
            len = b - a;
            buf[len] = '\0';
            word = "trimmed";
         }
         break;
      case MN_TRANSFORM_LOWER:
      case MN_TRANSFORM_UPPER:
         for (i = 0; i < len; i++) {
            char ch = buf[i];
            char to = c->spec->transforms[k] == MN_TRANSFORM_LOWER
                         ? mn_ascii__to_lower(ch)
                         : ((ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch);
            if (to != ch) {
               buf[i] = to;
               word = c->spec->transforms[k] == MN_TRANSFORM_LOWER ? "lower-cased" : "upper-cased";
            }
         }
         break;
      default: break;
      }
      if (word && !strstr(done, word)) {
         if (done[0]) {
            strcat(done, ", ");
         }
         strcat(done, word);
      }
   }
   if (done[0]) {
      note(c, "%sstring %s %s", label, clip(s, orig_len, true, q), done);
   }
   *out_len = len;
   return buf;
}

/* The text form of a scalar for text and text[] columns; false for other types. */
static bool
scalar_text(const bson_iter_t *iter, bson_string_t *dst)
{
   char buf[64];
   bson_decimal128_t d128;
   bson_oid_t oid;

   switch (bson_iter_type(iter)) {
   case BSON_TYPE_INT32:
      bson_string_append_printf(dst, "%" PRId32, bson_iter_int32(iter));
      return true;
   case BSON_TYPE_INT64:
      bson_string_append_printf(dst, "%" PRId64, bson_iter_int64(iter));
      return true;
   case BSON_TYPE_DOUBLE:
      mn_dec__float_text_any(bson_iter_double(iter), false, buf, sizeof buf);
      bson_string_append(dst, buf);
      return true;
   case BSON_TYPE_DECIMAL128:
      if (!bson_iter_decimal128(iter, &d128)) {
         return false;
      }
      bson_decimal128_to_string(&d128, buf);
      bson_string_append(dst, buf);
      return true;
   case BSON_TYPE_BOOL:
      bson_string_append(dst, bson_iter_bool(iter) ? "true" : "false");
      return true;
   case BSON_TYPE_OID:
      bson_oid_copy(bson_iter_oid(iter), &oid);
      bson_oid_to_string(&oid, buf);
      bson_string_append(dst, buf);
      return true;
   case BSON_TYPE_DATE_TIME: mn_calendar__append_iso(dst, bson_iter_date_time(iter)); return true;
   default: return false;
   }
}

static void
append_uuid(bson_string_t *out, const uint8_t b[16])
{
   static const char hex[] = "0123456789abcdef";
   char s[37];
   size_t i, o = 0;

   for (i = 0; i < 16; i++) {
      if (i == 4 || i == 6 || i == 8 || i == 10) {
         s[o++] = '-';
      }
      s[o++] = hex[b[i] >> 4];
      s[o++] = hex[b[i] & 0xf];
   }
   s[o] = '\0';
   bson_string_append(out, s);
}

/* ---------------------------------------------------------------------------
 * Numbers
 */

typedef enum { NUM_INT, NUM_DOUBLE, NUM_DEC } num_kind_t;

typedef struct {
   num_kind_t kind;
   int64_t i;
   double d;
   mn_dec_t dec;
   bool from_decimal128;
   bool what_of_value;        /* `what` not written yet: "value " and i or d (num_what) */
   char what[CLIP_SIZE + 16]; /* "value 70000", for reasons */
} num_t;

/* The number as reasons name it: num->what, written the first time it is asked for when
 * it is a BSON int or double's (most values never need it). */
static const char *
num_what(num_t *num)
{
   char buf[64];

   if (num->what_of_value) {
      num->what_of_value = false;
      if (num->kind == NUM_INT) {
         snprintf(num->what, sizeof num->what, "value %" PRId64, num->i);
      } else {
         mn_dec__float_text_any(num->d, false, buf, sizeof buf);
         snprintf(num->what, sizeof num->what, "value %s", buf);
      }
   }
   return num->what;
}

/*
 * A number into smallint, integer or bigint: a whole one in the type's range.  A double
 * converts (counted: it was a measure), and so does a decimal128 written differently
 * ("3.00", "3E+2": counted); a fraction or NaN is invalid.
 */
static mn_value_status_t
emit_integer(conv_t *c, num_t *num)
{
   int64_t v = 0, lo, hi;
   char q[CLIP_SIZE], digits[MN_ASCII_INT_SIZE];
   mn_type_t type = c->spec->type;
   int r;

   switch (num->kind) {
   case NUM_INT: v = num->i; break;
   case NUM_DOUBLE:
      if (isnan(num->d) || num->d != floor(num->d)) {
         return fail(c, "%s is not an integer", num_what(num));
      }
      if (!(num->d >= -9223372036854775808.0 && num->d < 9223372036854775808.0)) {
         return fail(c, "%s out of range for %s", num_what(num), mn_type_name(type));
      }
      v = (int64_t)num->d;
      if (v == 0 && signbit(num->d)) {
         note(c, "%s: negative zero stored as 0", num_what(num));
      } else {
         /* a double holds measures: one that happens to be whole changes its kind */
         note(c, "%s: double converted to %s", num_what(num), mn_type_name(type));
      }
      break;
   case NUM_DEC:
      if ((r = mn_dec__to_int64(&num->dec, &v)) == 1) {
         return fail(c, "%s is not an integer", num_what(num));
      } else if (r == 2) {
         return fail(c, "%s out of range for %s", num_what(num), mn_type_name(type));
      }
      /* decimal128 "3.00" or "3E+2" is the same integer, written differently. */
      if (num->from_decimal128 && (num->dec.exp != 0 || (num->dec.neg && num->dec.n == 0))) {
         bson_string_t *s = bson_string_new(NULL);
         bson_string_append_printf(s, "%" PRId64, v);
         note(c, "%s stored as %s", num_what(num), clip(s->str, s->len, false, q));
         bson_string_free(s, true);
      }
      break;
   default: break;
   }
   lo = type == MN_TYPE_SMALLINT ? INT16_MIN : type == MN_TYPE_INTEGER ? INT32_MIN : INT64_MIN;
   hi = type == MN_TYPE_SMALLINT ? INT16_MAX : type == MN_TYPE_INTEGER ? INT32_MAX : INT64_MAX;
   if (v < lo || v > hi) {
      return fail(c, "%s out of range for %s", num_what(num), mn_type_name(type));
   }
   mn_ascii__format_int(v, digits);
   bson_string_append(c->out, digits);
   return MN_VALUE_OK;
}

/*
 * A number into numeric or numeric(p,s): rounded to the scale (counted), within the
 * precision and PostgreSQL's own digit limits; NaN and the infinities as PostgreSQL 14
 * stores them (numeric(p,s) refuses the infinities).
 */
static mn_value_status_t
emit_numeric(conv_t *c, num_t *num)
{
   mn_dec_t *d = &num->dec;
   int p = c->spec->precision > 0 ? c->spec->precision : 0;
   int s = c->spec->scale;
   bool has_scale, lost = false;
   int64_t int_digits, frac;

   /* numeric(p) means numeric(p,0) in PostgreSQL. */
   if (p > 0 && s < 0) {
      s = 0;
   }
   has_scale = s >= 0;
   if (num->kind == NUM_INT) {
      mn_dec__from_int64(num->i, d);
   } else if (num->kind == NUM_DOUBLE) {
      mn_dec__from_double(num->d, false, d);
   }
   if (d->kind != MN_DEC_FINITE) {
      /* PostgreSQL 14+ stores NaN and +-Infinity in numeric; numeric(p,s) takes NaN but
       * refuses the infinities ("a field with precision 5, scale 2 cannot hold an
       * infinite value"). */
      if (d->kind == MN_DEC_INF && p > 0) {
         return fail(c, "%s does not fit numeric(%d,%d)", num_what(num), p, s);
      }
      bson_string_append(c->out, d->kind == MN_DEC_NAN ? "NaN" : d->neg ? "-Infinity" : "Infinity");
      return MN_VALUE_OK;
   }
   if (has_scale) {
      mn_dec__round(d, s, &lost);
      if (lost) {
         note(c, "%s rounded to %d decimal places", num_what(num), s);
      }
   }
   if (p > 0 && d->n > 0 && d->n + d->exp > (int64_t)p - s) {
      return fail(c, "%s does not fit numeric(%d,%d)", num_what(num), p, s);
   }
   if (d->neg && d->n == 0 && !lost) {
      note(c, "%s: negative zero stored as 0", num_what(num));
   }
   int_digits = d->n + d->exp;
   frac = d->exp < 0 ? -d->exp : 0;
   if (has_scale && frac < s) {
      frac = s;
   }
   if (int_digits > PG_NUMERIC_INT_MAX || frac > PG_NUMERIC_FRAC_MAX) {
      return fail(c, "%s out of range for numeric", num_what(num));
   }
   mn_dec__append_plain(d, has_scale ? s : 0, c->out);
   return MN_VALUE_OK;
}

/* double precision and real: NaN and infinities included. */
static mn_value_status_t
emit_float(conv_t *c, num_t *num)
{
   bool single = c->spec->type == MN_TYPE_REAL;
   const char *tname = mn_type_name(c->spec->type);
   char buf[64], q[CLIP_SIZE];
   double v;
   mn_dec_t *src = &num->dec, result;

   switch (num->kind) {
   case NUM_INT:
      v = single ? (double)(float)num->i : (double)num->i;
      mn_dec__from_int64(num->i, src);
      break;
   case NUM_DOUBLE:
      v = num->d;
      if (single) {
         if (isfinite(v) && (isinf((float)v) || ((float)v == 0.0f && v != 0.0))) {
            return fail(c, "%s out of range for %s", num_what(num), tname);
         }
         v = (double)(float)v;
         mn_dec__from_double(num->d, false, src);
      }
      break;
   case NUM_DEC:
   default:
      if (!mn_dec__to_double(src, single, &v)) {
         return fail(c, "%s out of range for %s", num_what(num), tname);
      }
      break;
   }
   mn_dec__float_text_any(v, single, buf, sizeof buf);
   /* Changed when the decimal the source shows is not the one PostgreSQL will (never for a
    * double into double precision: the same value, so the same shortest decimal). */
   if (num->kind == NUM_DOUBLE && !single) {
      bson_string_append(c->out, buf);
      return MN_VALUE_OK;
   }
   mn_dec__from_double(v, single, &result);
   if (!mn_dec__same_value(src, &result)) {
      note(c, "%s rounded to %s %s", num_what(num), tname, clip_str(buf, false, q));
   }
   bson_string_append(c->out, buf);
   return MN_VALUE_OK;
}

static mn_value_status_t
emit_number(conv_t *c, num_t *num)
{
   switch (c->spec->type) {
   case MN_TYPE_SMALLINT:
   case MN_TYPE_INTEGER:
   case MN_TYPE_BIGINT: return emit_integer(c, num);
   case MN_TYPE_NUMERIC: return emit_numeric(c, num);
   default: return emit_float(c, num);
   }
}

static const mn_unit_t *
find_unit(const mn_value_spec_t *spec, const char *s, size_t len)
{
   const mn_unit_t *best = NULL;
   size_t i, best_len = 0;

   for (i = 0; i < spec->n_units; i++) {
      const char *suf = spec->units[i].suffix;
      size_t n = suf ? strlen(suf) : 0;

      if (n == 0 || n > len || n <= best_len) {
         continue;
      }
      if (!mn_ascii__equal_nocase(s, n, suf)) {
         continue;
      }
      /* "cm" must not match the start of "cms": a word unit ends at a non-letter. */
      if (mn_ascii__is_alpha(suf[n - 1]) && n < len && mn_ascii__is_alpha(s[n])) {
         continue;
      }
      best = &spec->units[i];
      best_len = n;
   }
   return best;
}

static bool
unit_factor(const mn_unit_t *unit, mn_dec_t *f)
{
   if (!isfinite(unit->factor)) {
      return false;
   }
   mn_dec__from_double(unit->factor, false, f);
   return true;
}

/*
 * The unit of the number that ends at s[*i]: the longest suffix there (consumed), or,
 * for a string that is one bare number, the default unit (*bare set; *unit stays NULL
 * when the spec declares none).  Returns NULL, or the problem.
 */
static const char *
part_unit(const mn_value_spec_t *spec, const char *s, size_t len, size_t *i, int parts,
          const mn_unit_t **unit, bool *bare)
{
   *unit = find_unit(spec, s + *i, len - *i);
   if (*unit) {
      *i += strlen((*unit)->suffix);
      return NULL;
   }
   if (*i == len && parts == 0) {
      *bare = true;
      if (!spec->default_unit) {
         return NULL;
      }
      for (size_t k = 0; k < spec->n_units; k++) {
         if (spec->units[k].suffix &&
             mn_ascii__equal_nocase(spec->default_unit, strlen(spec->default_unit),
                                    spec->units[k].suffix)) {
            *unit = &spec->units[k];
            return NULL;
         }
      }
      return "has no unit and the default unit is unknown";
   }
   if (*i == len) {
      return "has a number without a unit";
   }
   return mn_ascii__is_digit(s[*i]) ? "has a number without a unit" : "has an unknown unit";
}

/* *total += |num| in `unit` (NULL: as it is).  Returns NULL, or the problem. */
static const char *
add_part(const mn_dec_t *num, const mn_unit_t *unit, mn_dec_t *total)
{
   mn_dec_t factor, product, sum;

   if (unit) {
      if (!unit_factor(unit, &factor)) {
         return "has a unit with an invalid factor";
      }
      if (!mn_dec__mul(num, &factor, &product)) {
         return "has too many digits";
      }
   } else {
      product = *num;
   }
   if (!mn_dec__add_magnitudes(total, &product, &sum)) {
      return "has too many digits";
   }
   *total = sum;
   return NULL;
}

/*
 * A string with units, e.g. "178", "178 cm", "1.78 m", "5'10\"", "154 lbs":
 * one or more (number, unit) parts summed, or one bare number in the default
 * unit.  A sign may only lead the whole string.  Returns NULL with *total
 * set, or the problem ("is not a number", ...).  *bare says no unit was written.
 */
static const char *
parse_units(const mn_value_spec_t *spec, const char *s, size_t len, mn_dec_t *total, bool *bare)
{
   mn_dec_t num;
   const mn_unit_t *unit;
   const char *problem;
   size_t i = 0, used;
   bool neg = false, too_long;
   int parts = 0;

   *bare = false;
   mn_dec__zero(total);
   while (len > 0 && mn_ascii__is_space(s[len - 1])) {
      len--;
   }
   while (i < len && mn_ascii__is_space(s[i])) {
      i++;
   }
   if (i < len && (s[i] == '+' || s[i] == '-')) {
      neg = s[i] == '-';
      i++;
   }
   while (i < len) {
      if (parts > 0) {
         while (i < len && mn_ascii__is_space(s[i])) {
            i++;
         }
      }
      used = mn_dec__parse(s + i, len - i, false, &num, &too_long);
      if (used == 0) {
         return "is not a number";
      }
      if (too_long) {
         return "has too many digits";
      }
      i += used;
      while (i < len && mn_ascii__is_space(s[i])) {
         i++;
      }
      if ((problem = part_unit(spec, s, len, &i, parts, &unit, bare)) ||
          (problem = add_part(&num, unit, total))) {
         return problem;
      }
      parts++;
   }
   if (parts == 0) {
      return "is not a number";
   }
   total->neg = neg;
   if (!*bare) {
      mn_dec__strip_fraction_zeros(total);
   }
   return NULL;
}

static mn_value_status_t
string_to_number(conv_t *c, const char *s, size_t len)
{
   num_t *num = bson_malloc(sizeof *num);
   char q[CLIP_SIZE];
   const char *problem = NULL;
   const char *tname = mn_type_name(c->spec->type);
   mn_value_status_t st;
   bool bare = true, too_long;

   num->kind = NUM_DEC;
   num->from_decimal128 = false;
   num->what_of_value = false;
   clip(s, len, true, q);
   snprintf(num->what, sizeof num->what, "string %s", q);
   if (c->spec->n_units > 0) {
      problem = parse_units(c->spec, s, len, &num->dec, &bare);
   } else if (!mn_dec__from_text(s, len,
                                 c->spec->type != MN_TYPE_SMALLINT &&
                                    c->spec->type != MN_TYPE_INTEGER &&
                                    c->spec->type != MN_TYPE_BIGINT,
                                 &num->dec, &too_long)) {
      problem = too_long ? "has too many digits" : "is not a number";
   }
   if (problem) {
      st = fail(c, "string %s %s", q, problem);
      goto cleanup;
   }
   if (!bare) {
      note(c, "string %s converted with units", q);
   } else if (c->spec->n_units > 0 && c->spec->default_unit) {
      note(c, "string %s converted to %s in the default unit \"%s\"", q, tname,
           c->spec->default_unit);
   } else {
      note(c, "string %s converted to %s", q, tname);
   }
   /* Later reasons name the number itself. */
   snprintf(num->what, sizeof num->what, "value %s", dec_clip(&num->dec, q));
   st = emit_number(c, num);
cleanup:
   bson_free(num);
   return st;
}

/* A BSON int32, int64, double or decimal128 into a number column (emit_number); num_t
 * is on the heap, as it holds an exact decimal of about 1 kB. */
static mn_value_status_t
bson_to_number(conv_t *c, const bson_iter_t *iter)
{
   num_t *num = bson_malloc(sizeof *num);
   char buf[64], q[CLIP_SIZE];
   bson_decimal128_t d128;
   mn_value_status_t st;
   bool too_long;

   num->from_decimal128 = bson_iter_type(iter) == BSON_TYPE_DECIMAL128;
   num->what_of_value = false;
   switch (bson_iter_type(iter)) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
      num->kind = NUM_INT;
      num->i = bson_iter_as_int64(iter);
      num->what_of_value = true;
      break;
   case BSON_TYPE_DOUBLE:
      num->kind = NUM_DOUBLE;
      num->d = bson_iter_double(iter);
      num->what_of_value = true;
      break;
   case BSON_TYPE_DECIMAL128:
      num->kind = NUM_DEC;
      if (!bson_iter_decimal128(iter, &d128)) {
         st = fail(c, "decimal128 could not be read");
         goto cleanup;
      }
      bson_decimal128_to_string(&d128, buf);
      snprintf(num->what, sizeof num->what, "value %s", clip_str(buf, false, q));
      if (!mn_dec__from_text(buf, strlen(buf), true, &num->dec, &too_long)) {
         st = fail(c, "decimal128 %s could not be read", q);
         goto cleanup;
      }
      break;
   default: st = cannot_convert(c, bson_iter_type(iter)); goto cleanup;
   }
   st = emit_number(c, num);
cleanup:
   bson_free(num);
   return st;
}

/* ---------------------------------------------------------------------------
 * jsonb
 */

/* NULL when every string and key below iter is valid UTF-8 without NUL and
 * nesting stays within JSON_MAX_DEPTH; else the problem. */
static const char *
json_problem(const bson_iter_t *iter, int depth)
{
   bson_iter_t child;
   const char *s, *problem;
   uint32_t len;

   switch (bson_iter_type(iter)) {
   case BSON_TYPE_UTF8:
      s = bson_iter_utf8(iter, &len);
      return string_problem(s, len)
                ? "holds a string that is not valid utf-8 or contains a nul byte"
                : NULL;
   case BSON_TYPE_SYMBOL:
      s = bson_iter_symbol(iter, &len);
      return string_problem(s, len) ? "holds a symbol that is not valid utf-8" : NULL;
   case BSON_TYPE_CODE:
      s = bson_iter_code(iter, &len);
      return string_problem(s, len) ? "holds code that is not valid utf-8" : NULL;
   case BSON_TYPE_CODEWSCOPE: {
      const uint8_t *scope;
      uint32_t scope_len;
      bson_t b;
      s = bson_iter_codewscope(iter, &len, &scope_len, &scope);
      if (string_problem(s, len)) {
         return "holds code that is not valid utf-8";
      }
      if (!bson_init_static(&b, scope, scope_len) || !bson_iter_init(&child, &b)) {
         return "is corrupt";
      }
      goto walk;
   }
   case BSON_TYPE_REGEX: {
      const char *options;
      s = bson_iter_regex(iter, &options);
      return !mn_convert__utf8_valid(s, strlen(s)) ||
                   !mn_convert__utf8_valid(options, strlen(options))
                ? "holds a regular expression that is not valid utf-8"
                : NULL;
   }
   case BSON_TYPE_DBPOINTER: {
      const bson_oid_t *oid;
      bson_iter_dbpointer(iter, &len, &s, &oid);
      return string_problem(s, len) ? "holds a dbpointer that is not valid utf-8" : NULL;
   }
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY:
      if (!bson_iter_recurse(iter, &child)) {
         return "is corrupt";
      }
      goto walk;
   default: return NULL;
   }
walk:
   if (depth >= JSON_MAX_DEPTH) {
      return "is nested too deeply";
   }
   while (bson_iter_next(&child)) {
      if (!mn_convert__utf8_valid(bson_iter_key(&child), bson_iter_key_len(&child))) {
         return "holds a key that is not valid utf-8";
      }
      if ((problem = json_problem(&child, depth + 1))) {
         return problem;
      }
   }
   return child.err_off ? "is corrupt" : NULL;
}

/*
 * Copy JSON text, writing each fractional or exponent number in its shortest form that
 * reads back as the same double: libbson prints doubles with 20 significant digits
 * (1e-07 as 9.9999999999999995475e-08), which jsonb would keep as a different decimal.
 * Integers and everything inside strings are copied as they are, in runs (json is the
 * caller's to write: each run is appended with a NUL put after it for the time).
 */
static void
append_run(bson_string_t *out, char *s, size_t n)
{
   char after = s[n];

   s[n] = '\0';
   bson_string_append(out, s);
   s[n] = after;
}

static void
append_json_shortest(bson_string_t *out, char *json)
{
   bool in_string = false;
   char *p = json;

   while (*p) {
      size_t run;
      if (in_string) {
         run = strcspn(p, "\\\"");
         if (!run) {
            /* an escape pair, the closing quote, or a lone final backslash */
            run = *p == '\\' && p[1] ? 2 : 1;
            in_string = *p != '"';
         }
         append_run(out, p, run);
         p += run;
         continue;
      }
      if (*p == '"') {
         in_string = true;
         append_run(out, p++, 1);
         continue;
      }
      if (*p == '-' || mn_ascii__is_digit(*p)) {
         char *start = p;
         bool fractional = false;
         char token[64];
         size_t n;

         while (*p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E' ||
                mn_ascii__is_digit(*p)) {
            fractional = fractional || *p == '.' || *p == 'e' || *p == 'E';
            p++;
         }
         n = (size_t)(p - start);
         if (fractional && n < sizeof token) {
            char buf[64];
            double v;
            memcpy(token, start, n);
            token[n] = '\0';
            v = strtod(token, NULL);
            if (isfinite(v)) {
               mn_dec__float_text(v, false, buf, sizeof buf);
               /* keep it a JSON number that still reads as fractional ("1.0", not "1") */
               if (!strpbrk(buf, ".e")) {
                  strncat(buf, ".0", sizeof buf - strlen(buf) - 1);
               }
               bson_string_append(out, buf);
               continue;
            }
         }
         append_run(out, start, n);
         continue;
      }
      run = strcspn(p, "\"-0123456789");
      append_run(out, p, run);
      p += run;
   }
}

/*
 * Relaxed Extended JSON of one value: libbson only renders whole documents,
 * so the value goes into {"v": value} and is cut back out of
 * `{ "v" : <value> }`.  A string value may be given directly (after transforms).
 */
static mn_value_status_t
emit_json(conv_t *c, const bson_iter_t *iter, const char *str, size_t len)
{
   static const char prefix[] = "{ \"v\" : ";
   static const char suffix[] = " }";
   bson_t tmp = BSON_INITIALIZER;
   char *json = NULL;
   size_t jlen = 0;
   const char *problem;
   mn_value_status_t st = MN_VALUE_INVALID;

   if (str) {
      if (len > INT32_MAX || !bson_append_utf8(&tmp, "v", 1, str, (int)len)) {
         st = fail(c, "string is too long for jsonb");
         goto cleanup;
      }
   } else {
      if ((problem = json_problem(iter, 0))) {
         st = fail(c, "%s %s", type_label(bson_iter_type(iter)), problem);
         goto cleanup;
      }
      if (!bson_append_iter(&tmp, "v", 1, iter)) {
         st = fail(c, "%s is too large for jsonb", type_label(bson_iter_type(iter)));
         goto cleanup;
      }
   }
   json = mn_ejson__relaxed(&tmp, &jlen);
   if (!json || jlen < sizeof prefix - 1 + sizeof suffix - 1 ||
       memcmp(json, prefix, sizeof prefix - 1) != 0 ||
       memcmp(json + jlen - (sizeof suffix - 1), suffix, sizeof suffix - 1) != 0) {
      st = fail(c, "%s could not be converted to json",
                type_label(str ? BSON_TYPE_UTF8 : bson_iter_type(iter)));
      goto cleanup;
   }
   json[jlen - (sizeof suffix - 1)] = '\0';
   append_json_shortest(c->out, json + sizeof prefix - 1);
   st = MN_VALUE_OK;
cleanup:
   bson_free(json);
   bson_destroy(&tmp);
   return st;
}

/* ---------------------------------------------------------------------------
 * text[]
 */

static void
append_array_element(bson_string_t *out, const char *s, size_t len)
{
   size_t i;

   /* Always quoted: then "NULL", "", commas, braces and blanks need no special case. */
   bson_string_append_c(out, '"');
   for (i = 0; i < len; i++) {
      if (s[i] == '"' || s[i] == '\\') {
         bson_string_append_c(out, '\\');
      }
      bson_string_append_c(out, s[i]);
   }
   bson_string_append_c(out, '"');
}

/*
 * A string element of a text[] value (label names it in reasons) into c->out: checked,
 * transformed (the copy in *buf, which the caller frees), and stored as NULL when empty
 * and the spec says so (counted in *nulled).
 */
static mn_value_status_t
array_string(conv_t *c, const char *label, const bson_iter_t *elem, char **buf, size_t *nulled)
{
   uint32_t len32;
   const char *s = bson_iter_utf8(elem, &len32), *problem;
   size_t len = len32;
   char q[CLIP_SIZE];

   if ((problem = string_problem(s, len))) {
      return fail(c, "%sstring %s", label, problem);
   }
   if (c->spec->n_transforms > 0) {
      bson_free(*buf);
      s = *buf = transform(c, label, s, len, &len);
   }
   if (len == 0 && c->spec->empty == MN_EMPTY_INVALID) {
      return fail(c, "%sempty string", label);
   }
   if (len == 0 && c->spec->empty == MN_EMPTY_NULL) {
      bson_string_append(c->out, "NULL");
      (*nulled)++;
      return MN_VALUE_OK;
   }
   if (c->spec->n_enum > 0 && !in_enum(c->spec, s, len)) {
      return fail(c, "%sstring %s is not in the enum", label, clip(s, len, true, q));
   }
   append_array_element(c->out, s, len);
   return MN_VALUE_OK;
}

/* Any other scalar element of a text[] value, as its text (tmp: scratch). */
static mn_value_status_t
array_scalar(conv_t *c, const char *label, const bson_iter_t *elem, bson_string_t *tmp)
{
   char q[CLIP_SIZE];

   bson_string_truncate(tmp, 0);
   if (!scalar_text(elem, tmp)) {
      return fail(c, "%scannot convert %s to text", label, type_label(bson_iter_type(elem)));
   }
   if (c->spec->n_enum > 0 && !in_enum(c->spec, tmp->str, tmp->len)) {
      return fail(c, "%svalue %s is not in the enum", label, clip(tmp->str, tmp->len, true, q));
   }
   append_array_element(c->out, tmp->str, tmp->len);
   return MN_VALUE_OK;
}

/* An array into a text[] literal: null elements as NULL, the others as text. */
static mn_value_status_t
emit_text_array(conv_t *c, const bson_iter_t *iter)
{
   bson_iter_t child;
   bson_string_t *tmp = bson_string_new(NULL);
   char label[48];
   char *buf = NULL;
   size_t idx = 0, nulled = 0;
   mn_value_status_t st = MN_VALUE_INVALID;

   if (!bson_iter_recurse(iter, &child)) {
      st = fail(c, "array is corrupt");
      goto cleanup;
   }
   bson_string_append_c(c->out, '{');
   for (; bson_iter_next(&child); idx++) {
      bson_type_t type = bson_iter_type(&child);

      if (idx > 0) {
         bson_string_append_c(c->out, ',');
      }
      snprintf(label, sizeof label, "array element %zu: ", idx);
      if (type == BSON_TYPE_NULL || type == BSON_TYPE_UNDEFINED) {
         bson_string_append(c->out, "NULL");
      } else {
         st = type == BSON_TYPE_UTF8 ? array_string(c, label, &child, &buf, &nulled)
                                     : array_scalar(c, label, &child, tmp);
         if (st != MN_VALUE_OK) {
            goto cleanup;
         }
      }
   }
   if (child.err_off) {
      st = fail(c, "array is corrupt");
      goto cleanup;
   }
   bson_string_append_c(c->out, '}');
   /* Scalars written as their exact text (as for text columns) are not coercions. */
   if (nulled > 0) {
      note(c, "%zu empty array element%s stored as null", nulled, nulled == 1 ? "" : "s");
   }
   st = MN_VALUE_OK;
cleanup:
   bson_free(buf);
   bson_string_free(tmp, true);
   return st;
}

/* ---------------------------------------------------------------------------
 * Strings into each type
 */

static mn_value_status_t
string_to_uuid(conv_t *c, const char *s, size_t len)
{
   uint8_t b[16] = {0};
   char q[CLIP_SIZE];
   size_t i, nb = 0, ndig = 0;
   bool hyphens = len == 36;

   if (len != 36 && len != 32 && len != 24) {
      return fail(c, "string %s is not a uuid", clip(s, len, true, q));
   }
   for (i = 0; i < len; i++) {
      int h;
      if (hyphens && (i == 8 || i == 13 || i == 18 || i == 23)) {
         if (s[i] != '-') {
            return fail(c, "string %s is not a uuid", clip(s, len, true, q));
         }
         continue;
      }
      if ((h = mn_ascii__hex_value(s[i])) < 0) {
         return fail(c, "string %s is not a uuid", clip(s, len, true, q));
      }
      b[nb] = (uint8_t)(b[nb] << 4 | h);
      if (++ndig % 2 == 0) {
         nb++;
      }
   }
   append_uuid(c->out, b);
   if (len == 24) {
      note(c, "string %s is an objectid, converted to uuid", clip(s, len, true, q));
   } else if (len != 36 || memcmp(c->out->str + c->start, s, 36) != 0) {
      note(c, "string %s normalized to uuid form", clip(s, len, true, q));
   }
   return MN_VALUE_OK;
}

static mn_value_status_t
string_to_boolean(conv_t *c, const char *s, size_t len)
{
   static const char *const yes[] = {"true", "yes", "1"};
   static const char *const no[] = {"false", "no", "0"};
   char q[CLIP_SIZE];
   size_t i;

   for (i = 0; i < 3; i++) {
      if (mn_ascii__equal_nocase(s, len, yes[i]) || mn_ascii__equal_nocase(s, len, no[i])) {
         bson_string_append(c->out, mn_ascii__equal_nocase(s, len, yes[i]) ? "t" : "f");
         note(c, "string %s converted to boolean", clip(s, len, true, q));
         return MN_VALUE_OK;
      }
   }
   return fail(c, "string %s is not a boolean", clip(s, len, true, q));
}

static mn_value_status_t
string_to_time(conv_t *c, const char *s, size_t len)
{
   mn_type_t type = c->spec->type;
   const char *tname = mn_type_name(type);
   char q[CLIP_SIZE], y[48];
   mn_iso_t t;

   clip(s, len, true, q);
   if (!mn_calendar__iso_parse(s, len, &t)) {
      return fail(c, "string %s is not an iso 8601 date", q);
   }
   if (type == MN_TYPE_DATE) {
      if (t.days < mn_calendar__pg_min_day() || t.days > mn_calendar__pg_date_max_day()) {
         return fail(c, "string %s out of range for date (%s)", q,
                     mn_calendar__year_label(t.days, y, sizeof y));
      }
      mn_calendar__append_date(c->out, t.days);
      note(c, "string %s converted to date", q);
      if (t.usec != 0) {
         note(c, "time of day dropped");
      }
      return MN_VALUE_OK;
   }
   if (t.has_time && !t.has_zone) {
      return fail(c, "string %s has no time zone", q);
   }
   if (!mn_calendar__timestamp_in_range(t.days)) {
      return fail(c, "string %s out of range for %s (%s)", q, tname,
                  mn_calendar__year_label(t.days, y, sizeof y));
   }
   mn_calendar__append_timestamp(c->out, t.days, t.usec, t.six_digits ? 6 : 3,
                                 type == MN_TYPE_TIMESTAMPTZ);
   note(c, "string %s converted to %s%s", q, tname, t.has_time ? "" : " at midnight utc");
   if (t.rounded) {
      note(c, "fractional seconds rounded to microseconds");
   }
   return MN_VALUE_OK;
}

static mn_value_status_t
string_to_type(conv_t *c, const char *s, size_t len)
{
   char q[CLIP_SIZE];
   unsigned char addr[16];

   switch (c->spec->type) {
   case MN_TYPE_TEXT: bson_string_append(c->out, s); return MN_VALUE_OK;
   case MN_TYPE_UUID: return string_to_uuid(c, s, len);
   case MN_TYPE_SMALLINT:
   case MN_TYPE_INTEGER:
   case MN_TYPE_BIGINT:
   case MN_TYPE_NUMERIC:
   case MN_TYPE_DOUBLE:
   case MN_TYPE_REAL: return string_to_number(c, s, len);
   case MN_TYPE_BOOLEAN: return string_to_boolean(c, s, len);
   case MN_TYPE_DATE:
   case MN_TYPE_TIMESTAMPTZ:
   case MN_TYPE_TIMESTAMP: return string_to_time(c, s, len);
   case MN_TYPE_JSONB: return emit_json(c, NULL, s, len);
   case MN_TYPE_INET:
      if (inet_pton(AF_INET, s, addr) != 1 && inet_pton(AF_INET6, s, addr) != 1) {
         return fail(c, "string %s is not an ip address", clip(s, len, true, q));
      }
      bson_string_append(c->out, s);
      return MN_VALUE_OK;
   case MN_TYPE_TEXT_ARRAY:
      bson_string_append_c(c->out, '{');
      append_array_element(c->out, s, len);
      bson_string_append_c(c->out, '}');
      note(c, "string %s converted to a one-element array", clip(s, len, true, q));
      return MN_VALUE_OK;
   default: return fail(c, "unknown column type %d", (int)c->spec->type);
   }
}

static mn_value_status_t
convert_string(conv_t *c, const bson_iter_t *iter)
{
   uint32_t len32;
   const char *s = bson_iter_utf8(iter, &len32), *problem;
   size_t len = len32;
   char *buf = NULL;
   char q[CLIP_SIZE];
   mn_empty_t empty = c->spec->empty;
   mn_value_status_t st;

   if ((problem = string_problem(s, len))) {
      st = fail(c, "string %s", problem);
      goto cleanup;
   }
   if (c->spec->n_transforms > 0) {
      s = buf = transform(c, "", s, len, &len);
   }
   if (len == 0) {
      if (empty == MN_EMPTY_DEFAULT) {
         empty = c->spec->type == MN_TYPE_TEXT ? MN_EMPTY_KEEP : MN_EMPTY_NULL;
      }
      if (empty == MN_EMPTY_NULL) {
         note(c, "empty string");
         st = MN_VALUE_NULL;
         goto cleanup;
      }
      if (empty == MN_EMPTY_INVALID) {
         st = fail(c, "empty string");
         goto cleanup;
      }
   }
   if (c->spec->n_enum > 0 && !in_enum(c->spec, s, len)) {
      st = fail(c, "string %s is not in the enum", clip(s, len, true, q));
      goto cleanup;
   }
   st = string_to_type(c, s, len);
cleanup:
   bson_free(buf);
   return st;
}

/* ---------------------------------------------------------------------------
 * Other BSON types into each type
 */

/* "date <its ISO text, clipped>", how reasons name a BSON date, into what
 * (DATE_WHAT_SIZE bytes).  Returns what. */
#define DATE_WHAT_SIZE (CLIP_SIZE + 32)

static const char *
date_what(int64_t ms, char *what)
{
   bson_string_t *tmp = bson_string_new(NULL);
   char q[CLIP_SIZE];

   mn_calendar__append_iso(tmp, ms);
   snprintf(what, DATE_WHAT_SIZE, "date %s", clip(tmp->str, tmp->len, false, q));
   bson_string_free(tmp, true);
   return what;
}

/* ms into the column's date or timestamp type; reasons name the value `what`, or, when
 * it is NULL, as the BSON date ms (date_what, written only when a reason needs it). */
static mn_value_status_t
date_to_type(conv_t *c, int64_t ms, const char *what)
{
   mn_type_t type = c->spec->type;
   int64_t rem, days = mn_calendar__floor_div(ms, MN_MS_PER_DAY, &rem);
   char y[48], lazy[DATE_WHAT_SIZE];

   if (type == MN_TYPE_DATE) {
      if (days < mn_calendar__pg_min_day() || days > mn_calendar__pg_date_max_day()) {
         return fail(c, "%s out of range for date (%s)", what ? what : date_what(ms, lazy),
                     mn_calendar__year_label(days, y, sizeof y));
      }
      mn_calendar__append_date(c->out, days);
      if (rem != 0) {
         note(c, "%s has a time of day, dropped", what ? what : date_what(ms, lazy));
      }
      return MN_VALUE_OK;
   }
   if (!mn_calendar__timestamp_in_range(days)) {
      return fail(c, "%s out of range for %s (%s)", what ? what : date_what(ms, lazy),
                  mn_type_name(type), mn_calendar__year_label(days, y, sizeof y));
   }
   mn_calendar__append_timestamp(c->out, days, rem * 1000, 3, type == MN_TYPE_TIMESTAMPTZ);
   return MN_VALUE_OK;
}

/* A scalar into text: it reads back as exactly the source value (ObjectId as its 24 hex
 * digits, numbers exactly, dates to the millisecond), so lossless, not a coercion. */
static mn_value_status_t
other_to_text(conv_t *c, const bson_iter_t *iter)
{
   bson_string_t *tmp = bson_string_new(NULL);
   bool ok = scalar_text(iter, tmp);

   if (ok) {
      bson_string_append(c->out, tmp->str);
   }
   bson_string_free(tmp, true);
   return ok ? MN_VALUE_OK : cannot_convert(c, bson_iter_type(iter));
}

/* An ObjectId (its 12 bytes, zero-padded) or a 16-byte UUID binary into uuid. */
static mn_value_status_t
other_to_uuid(conv_t *c, const bson_iter_t *iter)
{
   bson_type_t btype = bson_iter_type(iter);

   if (btype == BSON_TYPE_OID) {
      uint8_t b[16] = {0};
      memcpy(b, bson_iter_oid(iter)->bytes, 12);
      append_uuid(c->out, b);
      return MN_VALUE_OK;
   }
   if (btype == BSON_TYPE_BINARY) {
      bson_subtype_t sub;
      uint32_t len;
      const uint8_t *data;
      bson_iter_binary(iter, &sub, &len, &data);
      if ((sub == BSON_SUBTYPE_UUID || sub == BSON_SUBTYPE_UUID_DEPRECATED) && len == 16) {
         append_uuid(c->out, data);
         return MN_VALUE_OK;
      }
      return fail(c, "binary of subtype %d and %u bytes is not a uuid", (int)sub, len);
   }
   return cannot_convert(c, btype);
}

/* A bool, or an integer 0 or 1 (counted), into boolean. */
static mn_value_status_t
other_to_boolean(conv_t *c, const bson_iter_t *iter)
{
   bson_type_t btype = bson_iter_type(iter);
   int64_t i;

   if (btype == BSON_TYPE_BOOL) {
      bson_string_append(c->out, bson_iter_bool(iter) ? "t" : "f");
      return MN_VALUE_OK;
   }
   if (btype != BSON_TYPE_INT32 && btype != BSON_TYPE_INT64) {
      return cannot_convert(c, btype);
   }
   i = bson_iter_as_int64(iter);
   if (i != 0 && i != 1) {
      return fail(c, "value %" PRId64 " is not a boolean", i);
   }
   bson_string_append(c->out, i ? "t" : "f");
   note(c, "value %" PRId64 " converted to boolean", i);
   return MN_VALUE_OK;
}

/* A date, or a BSON timestamp (its seconds, counted; not into date), into a date or
 * timestamp type. */
static mn_value_status_t
other_to_time(conv_t *c, const bson_iter_t *iter)
{
   bson_type_t btype = bson_iter_type(iter);
   mn_type_t type = c->spec->type;
   char what[64];

   if (btype == BSON_TYPE_DATE_TIME) {
      return date_to_type(c, bson_iter_date_time(iter), NULL);
   }
   if (btype == BSON_TYPE_TIMESTAMP && type != MN_TYPE_DATE) {
      uint32_t secs, inc;
      bson_iter_timestamp(iter, &secs, &inc);
      snprintf(what, sizeof what, "timestamp (%" PRIu32 ", %" PRIu32 ")", secs, inc);
      note(c, "bson %s converted to %s", what, mn_type_name(type));
      return date_to_type(c, (int64_t)secs * 1000, what);
   }
   return cannot_convert(c, btype);
}

/* A value other than a string into the column's type. */
static mn_value_status_t
convert_other(conv_t *c, const bson_iter_t *iter)
{
   switch (c->spec->type) {
   case MN_TYPE_TEXT: return other_to_text(c, iter);
   case MN_TYPE_UUID: return other_to_uuid(c, iter);
   case MN_TYPE_SMALLINT:
   case MN_TYPE_INTEGER:
   case MN_TYPE_BIGINT:
   case MN_TYPE_NUMERIC:
   case MN_TYPE_DOUBLE:
   case MN_TYPE_REAL: return bson_to_number(c, iter);
   case MN_TYPE_BOOLEAN: return other_to_boolean(c, iter);
   case MN_TYPE_DATE:
   case MN_TYPE_TIMESTAMPTZ:
   case MN_TYPE_TIMESTAMP: return other_to_time(c, iter);
   case MN_TYPE_JSONB: return emit_json(c, iter, NULL, 0);
   case MN_TYPE_TEXT_ARRAY:
      return bson_iter_type(iter) == BSON_TYPE_ARRAY ? emit_text_array(c, iter)
                                                     : cannot_convert(c, bson_iter_type(iter));
   case MN_TYPE_INET:
   default: return cannot_convert(c, bson_iter_type(iter));
   }
}

/* ---------------------------------------------------------------------------
 * Hashed and redacted columns
 */

void
mn_value_digest(const mn_value_spec_t *spec, const char *text, size_t len, bson_string_t *out)
{
   static const char hex[] = "0123456789abcdef";
   unsigned char md[EVP_MAX_MD_SIZE];
   unsigned int n = 0;

   if (spec->digest == MN_DIGEST_HMAC_SHA256) {
      HMAC(EVP_sha256(), spec->digest_key, (int)spec->digest_key_len, (const unsigned char *)text,
           len, md, &n);
   } else {
      EVP_Digest(text, len, md, &n, EVP_sha256(), NULL);
   }
   for (unsigned int i = 0; i < n; i++) {
      bson_string_append_c(out, hex[md[i] >> 4]);
      bson_string_append_c(out, hex[md[i] & 15]);
   }
}

/* A word of a reason that is (part of) a value: a number, a date, a time, an infinity. */
static bool
value_word(const char *w, size_t n)
{
   static const char *const words[] = {"infinity", "-infinity", "+infinity", "nan",
                                       "inf",      "-inf",      "+inf"};

   if (n > 0 && mn_ascii__is_digit(w[0])) {
      return true;
   }
   if (n > 1 && (w[0] == '-' || w[0] == '+' || w[0] == '.') && mn_ascii__is_digit(w[1])) {
      return true;
   }
   for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
      if (strlen(words[i]) == n && strncasecmp(words[i], w, n) == 0) {
         return true;
      }
   }
   return false;
}

/*
 * Blank out every part of a reason that comes from the value, for a hashed or redacted
 * column: quoted excerpts (clip) become "...", and words that are numbers, dates or times
 * (a number is never quoted: "value 70000 out of range for smallint") become ..., their
 * surrounding brackets and punctuation kept.  Type names, limits and policies stay.
 */
static void
hide_values(char *reason, size_t size)
{
   char *in = bson_strdup(reason);
   size_t o = 0;

#define PUT(ch)                                                                                    \
   do {                                                                                            \
      if (o + 1 < size) {                                                                          \
         reason[o++] = (ch);                                                                       \
      }                                                                                            \
   } while (0)
   for (const char *p = in; *p;) {
      if (*p == '"') {
         /* a quoted excerpt: to its closing quote (clip escapes quotes inside) */
         for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1]) {
               p++;
            }
         }
         if (*p) {
            p++;
         }
         PUT('"');
         PUT('.');
         PUT('.');
         PUT('.');
         PUT('"');
      } else if (*p == ' ') {
         PUT(*p++);
      } else {
         /* a word: leading brackets, the core, trailing punctuation */
         const char *end = p;
         const char *core, *tail;
         while (*end && *end != ' ' && *end != '"') {
            end++;
         }
         for (core = p; core < end && strchr("([{", *core); core++) {
         }
         for (tail = end; tail > core && strchr(")]},;:", tail[-1]); tail--) {
         }
         /* "iso 8601" is the reasons' own text, not a value */
         bool iso = tail - core == 4 && strncmp(core, "8601", 4) == 0 && p - in >= 4 &&
                    strncmp(p - 4, "iso ", 4) == 0;
         if (!iso && value_word(core, (size_t)(tail - core))) {
            for (; p < core; p++) {
               PUT(*p);
            }
            PUT('.');
            PUT('.');
            PUT('.');
            p = tail;
         }
         for (; p < end; p++) {
            PUT(*p);
         }
      }
   }
#undef PUT
   reason[o] = '\0';
   bson_free(in);
}

/* ---------------------------------------------------------------------------
 * The target column's own limits
 *
 * PostgreSQL reads the converted text with the column's own type, which may be
 * narrower than the mapping's: numeric(12,1) rounds 21.95 to 22.0, varchar(8) and
 * char(8) cut excess blanks, date drops a time of day, real rounds to 24 bits, all
 * without an error.  Here the text is read the way the column will read it, and a
 * value that would change (or that the column refuses) is INVALID, so the column's
 * on_invalid policy decides.
 */

static size_t
utf8_count(const char *s, size_t len)
{
   size_t n = 0;

   for (size_t i = 0; i < len; i++) {
      n += ((unsigned char)s[i] & 0xC0) != 0x80;
   }
   return n;
}

/* Whether every value of the mapping's type fits the target integer type as it is. */
static bool
int_within(mn_type_t mine, mn_type_t target)
{
   static const int rank[MN_TYPE_COUNT_] = {
      [MN_TYPE_SMALLINT] = 1, [MN_TYPE_INTEGER] = 2, [MN_TYPE_BIGINT] = 3};
   return rank[mine] > 0 && rank[mine] <= rank[target];
}

/* A text target of limited length (varchar(n), char(n)): no more characters than n. */
static mn_value_status_t
fit_text(conv_t *c, const mn_value_target_t *t, mn_type_t mine, const char *s, size_t len)
{
   size_t n;

   if (t->max_chars > 0 && mine != MN_TYPE_TEXT_ARRAY &&
       (n = utf8_count(s, len)) > (size_t)t->max_chars) {
      return fail(c, "text longer than column %s %s: %zu characters", t->column, t->name, n);
   }
   return MN_VALUE_OK;
}

/* A numeric(p,s) target: the value as it reads, unrounded at scale s, within p digits. */
static mn_value_status_t
fit_numeric(conv_t *c, const mn_value_target_t *t, const char *s, size_t len)
{
   mn_value_status_t st = MN_VALUE_OK;
   mn_dec_t *d;
   bool too_long, lost;

   if (t->precision <= 0) {
      return MN_VALUE_OK;
   }
   d = bson_malloc(sizeof *d);
   if (!mn_dec__from_text(s, len, true, d, &too_long)) {
      st = fail(c, "value does not fit column %s %s: %s", t->column, t->name,
                too_long ? "too many digits" : "not a number");
   } else if (d->kind == MN_DEC_INF) {
      st = fail(c, "value does not fit column %s %s: infinity", t->column, t->name);
   } else if (d->kind == MN_DEC_FINITE) {
      mn_dec__round(d, t->scale, &lost);
      if (lost) {
         st = fail(c, "value does not fit column %s %s: it would be rounded", t->column, t->name);
      } else if (d->n > 0 && d->n + d->exp > (int64_t)t->precision - t->scale) {
         st = fail(c, "value does not fit column %s %s: too many digits before the point",
                   t->column, t->name);
      }
   }
   bson_free(d);
   return st;
}

/* An integer target narrower than the mapping's type: a whole number in its range,
 * rewritten as digits ("3.00" or "1e+15" is the same integer; integer input only reads
 * digits). */
static mn_value_status_t
fit_integer(conv_t *c, const mn_value_target_t *t, mn_type_t mine, const char *s, size_t len)
{
   mn_value_status_t st = MN_VALUE_OK;
   mn_dec_t *d;
   bool too_long;
   int64_t v = 0, lo, hi;

   if (int_within(mine, t->type)) {
      return MN_VALUE_OK;
   }
   d = bson_malloc(sizeof *d);
   lo = t->type == MN_TYPE_SMALLINT  ? INT16_MIN
        : t->type == MN_TYPE_INTEGER ? INT32_MIN
                                     : INT64_MIN;
   hi = t->type == MN_TYPE_SMALLINT  ? INT16_MAX
        : t->type == MN_TYPE_INTEGER ? INT32_MAX
                                     : INT64_MAX;
   if (!mn_dec__from_text(s, len, false, d, &too_long)) {
      st = fail(c, "value does not fit column %s %s: not a number", t->column, t->name);
   } else if (mn_dec__to_int64(d, &v) == 1) {
      st = fail(c, "value does not fit column %s %s: not an integer", t->column, t->name);
   } else if (mn_dec__to_int64(d, &v) == 2 || v < lo || v > hi) {
      st = fail(c, "value does not fit column %s %s: out of range", t->column, t->name);
   } else {
      bson_string_truncate(c->out, c->start);
      bson_string_append_printf(c->out, "%" PRId64, v);
   }
   bson_free(d);
   return st;
}

/* A real or double precision target that the mapping's type does not always fit: the
 * value must read back as the same number. */
static mn_value_status_t
fit_float(conv_t *c, const mn_value_target_t *t, mn_type_t mine, const char *s, size_t len)
{
   mn_value_status_t st = MN_VALUE_OK;
   mn_dec_t *d, *r;
   bool too_long;
   double f;

   if (mine == t->type || mine == MN_TYPE_SMALLINT ||
       (t->type == MN_TYPE_DOUBLE && (mine == MN_TYPE_INTEGER || mine == MN_TYPE_REAL))) {
      return MN_VALUE_OK;
   }
   d = bson_malloc(sizeof *d);
   r = bson_malloc(sizeof *r);
   if (!mn_dec__from_text(s, len, true, d, &too_long)) {
      st = fail(c, "value does not fit column %s %s: not a number", t->column, t->name);
   } else if (!mn_dec__to_double(d, t->type == MN_TYPE_REAL, &f)) {
      st = fail(c, "value does not fit column %s %s: out of range", t->column, t->name);
   } else {
      mn_dec__from_double(f, t->type == MN_TYPE_REAL, r);
      if (!mn_dec__same_value(d, r)) {
         st = fail(c, "value does not fit column %s %s: it would be rounded", t->column, t->name);
      }
   }
   bson_free(d);
   bson_free(r);
   return st;
}

/* A date target of a timestamp: only midnight, since a date drops the time of day. */
static mn_value_status_t
fit_date(conv_t *c, const mn_value_target_t *t, mn_type_t mine, const char *s, size_t len)
{
   /* timestamp text: "YYYY-MM-DD HH:MM:SS.fff[+00][ BC]" */
   if (mine == MN_TYPE_TIMESTAMPTZ || mine == MN_TYPE_TIMESTAMP) {
      const char *sp = memchr(s, ' ', len);
      bool midnight = sp != NULL;
      for (const char *p = sp ? sp + 1 : s; midnight && p < s + len && *p != '+' && *p != ' ';
           p++) {
         midnight = *p == '0' || *p == ':' || *p == '.';
      }
      if (!midnight) {
         return fail(c, "value does not fit column %s %s: the time of day would be dropped",
                     t->column, t->name);
      }
   }
   return MN_VALUE_OK;
}

/* The converted text as the target column will read it (see the banner above). */
static mn_value_status_t
fit_target(conv_t *c)
{
   const mn_value_target_t *t = &c->spec->target;
   /* a digest column stores text, whatever the type the value converted to */
   mn_type_t mine = c->spec->digest ? MN_TYPE_TEXT : c->spec->type;
   const char *s = c->out->str + c->start;
   size_t len = c->out->len - c->start;

   switch (t->type) {
   case MN_TYPE_TEXT: return fit_text(c, t, mine, s, len);
   case MN_TYPE_NUMERIC: return fit_numeric(c, t, s, len);
   case MN_TYPE_SMALLINT:
   case MN_TYPE_INTEGER:
   case MN_TYPE_BIGINT: return fit_integer(c, t, mine, s, len);
   case MN_TYPE_REAL:
   case MN_TYPE_DOUBLE: return fit_float(c, t, mine, s, len);
   case MN_TYPE_DATE: return fit_date(c, t, mine, s, len);
   default: return MN_VALUE_OK;
   }
}

mn_value_status_t
mn_value_convert(const bson_iter_t *value, const mn_value_spec_t *spec, bson_string_t *out,
                 char *reason, size_t reason_size)
{
   conv_t c;
   bson_type_t btype;
   mn_value_status_t st;
   char q[CLIP_SIZE];

   BSON_ASSERT(spec);
   BSON_ASSERT(out);
   c.spec = spec;
   c.out = out;
   c.start = out->len;
   c.reason = reason && reason_size > 0 ? reason : NULL;
   c.reason_size = reason_size;
   c.coerced = false;
   if (c.reason) {
      c.reason[0] = '\0';
   }
   if (!value) {
      return MN_VALUE_NULL;
   }
   btype = bson_iter_type(value);
   if (btype == BSON_TYPE_NULL || btype == BSON_TYPE_UNDEFINED) {
      return MN_VALUE_NULL;
   }
   if (btype == BSON_TYPE_UTF8) {
      st = convert_string(&c, value);
   } else {
      st = convert_other(&c, value);
      /* The enum also holds for values that were not strings, on their text. */
      if (st == MN_VALUE_OK && spec->n_enum > 0 && spec->type != MN_TYPE_TEXT_ARRAY &&
          !in_enum(spec, out->str + c.start, out->len - c.start)) {
         st = fail(&c, "value %s is not in the enum",
                   clip(out->str + c.start, out->len - c.start, true, q));
      }
   }
   if (st == MN_VALUE_OK && spec->digest) {
      size_t len = out->len - c.start;
      char *text = bson_malloc(len + 1);
      memcpy(text, out->str + c.start, len);
      bson_string_truncate(out, c.start);
      mn_value_digest(spec, text, len, out);
      bson_free(text);
   }
   if (st == MN_VALUE_OK && spec->has_target) {
      st = fit_target(&c);
   }
   if (st == MN_VALUE_OK && c.coerced) {
      st = MN_VALUE_COERCED;
   }
   if (spec->hide_values && c.reason && c.reason[0]) {
      hide_values(c.reason, c.reason_size);
   }
   return st;
}
