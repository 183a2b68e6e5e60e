/*
 * ejson_check.c - strict validation of Extended JSON v2 type wrappers.
 *
 * One recursive pass over a record's JSON text, before libbson parses it (see
 * ejson_check.h for why).  Ordinary values are only skipped; each object's
 * members are scanned, and an object that holds a wrapper key keeps the spans
 * of its wrapper members, which are then checked against the specification's
 * conversion table:
 *
 *   {"x": {"$date": "2023-02-29T00:00:00Z"}}
 *          ^ wrapper key, span of its value checked as a $date: no such day
 *
 * Anything that is not well-formed JSON stops the check with no opinion:
 * libbson's parser then rejects the record with its own message.
 *
 * mn_ejson__object_end() (at the end) is the reader's other question: where does a
 * whole object end, so that a line holding several documents can be cut into them.
 */
#include "source/ejson_check.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Deeper than libbson's parser accepts: no wrapper below it is ever read. */
#define MAX_DEPTH 1000
/* Longest value text quoted in a reason. */
#define QUOTE_MAX 64
/* Wrapper members kept per object: a wrapper has at most three keys. */
#define MAX_MEMBERS 4

typedef enum { CK_OK, CK_BAD, CK_SYNTAX } ck_t;

typedef struct {
   const char *s;
   size_t len;
   bson_string_t *path; /* field path of the value being checked */
   char *reason;        /* set with CK_BAD */
   int depth;
} ctx_t;

typedef struct {
   const char *key; /* a static wrapper key name */
   size_t vstart;   /* span of the value in the text */
   size_t vend;
} member_t;

static ck_t check_value(ctx_t *c, size_t *i);
static ck_t check_object(ctx_t *c, size_t *i, bool top);
static ck_t check_scalar(ctx_t *c, size_t *i);

static bool
is_ws(char ch)
{
   return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static void
skip_ws(const ctx_t *c, size_t *i)
{
   while (*i < c->len && is_ws(c->s[*i])) {
      (*i)++;
   }
}

static bool
is_digit(char ch)
{
   return ch >= '0' && ch <= '9';
}

static bool
is_hex(char ch)
{
   return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int
hex_value(char ch)
{
   return is_digit(ch) ? ch - '0' : (ch | 0x20) - 'a' + 10;
}

/* Past a string token at *i (on its opening quote). */
static bool
skip_string(const ctx_t *c, size_t *i)
{
   size_t k = *i + 1;

   while (k < c->len) {
      if (c->s[k] == '\\') {
         k += 2;
      } else if (c->s[k] == '"') {
         *i = k + 1;
         return true;
      } else {
         k++;
      }
   }
   return false;
}

static void
append_utf8(bson_string_t *out, uint32_t cp)
{
   char b[4];
   size_t n;

   if (cp < 0x80) {
      b[0] = (char)cp;
      n = 1;
   } else if (cp < 0x800) {
      b[0] = (char)(0xc0 | (cp >> 6));
      b[1] = (char)(0x80 | (cp & 0x3f));
      n = 2;
   } else if (cp < 0x10000) {
      b[0] = (char)(0xe0 | (cp >> 12));
      b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
      b[2] = (char)(0x80 | (cp & 0x3f));
      n = 3;
   } else {
      b[0] = (char)(0xf0 | (cp >> 18));
      b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
      b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
      b[3] = (char)(0x80 | (cp & 0x3f));
      n = 4;
   }
   for (size_t k = 0; k < n; k++) {
      bson_string_append_c(out, b[k]);
   }
}

static bool
read_u16(const ctx_t *c, size_t k, uint32_t *v)
{
   *v = 0;
   if (k + 4 > c->len) {
      return false;
   }
   for (size_t j = k; j < k + 4; j++) {
      if (!is_hex(c->s[j])) {
         return false;
      }
      *v = *v * 16 + (uint32_t)hex_value(c->s[j]);
   }
   return true;
}

/* Decode the string token at *i (on its opening quote) onto out; advance past it. */
static bool
read_string(const ctx_t *c, size_t *i, bson_string_t *out)
{
   size_t k = *i + 1;
   uint32_t cp, lo;

   while (k < c->len) {
      char ch = c->s[k];

      if (ch == '"') {
         *i = k + 1;
         return true;
      }
      if (ch != '\\') {
         bson_string_append_c(out, ch);
         k++;
         continue;
      }
      if (k + 1 >= c->len) {
         return false;
      }
      ch = c->s[k + 1];
      k += 2;
      switch (ch) {
      case 'b': bson_string_append_c(out, '\b'); break;
      case 'f': bson_string_append_c(out, '\f'); break;
      case 'n': bson_string_append_c(out, '\n'); break;
      case 'r': bson_string_append_c(out, '\r'); break;
      case 't': bson_string_append_c(out, '\t'); break;
      case 'u':
         if (!read_u16(c, k, &cp)) {
            return false;
         }
         k += 4;
         if (cp >= 0xd800 && cp < 0xdc00 && k + 1 < c->len && c->s[k] == '\\' &&
             c->s[k + 1] == 'u' && read_u16(c, k + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            k += 6;
         } else if (cp >= 0xd800 && cp < 0xe000) {
            cp = 0xfffd;
         }
         append_utf8(out, cp);
         break;
      default: bson_string_append_c(out, ch); break;
      }
   }
   return false;
}

/* Past any value, without checking what it holds. */
static bool
skip_value(const ctx_t *c, size_t *i)
{
   int depth = 0;
   size_t start;

   skip_ws(c, i);
   do {
      if (*i >= c->len) {
         return false;
      }
      switch (c->s[*i]) {
      case '"':
         if (!skip_string(c, i)) {
            return false;
         }
         break;
      case '{':
      case '[':
         depth++;
         (*i)++;
         break;
      case '}':
      case ']':
         if (depth == 0) {
            return false;
         }
         depth--;
         (*i)++;
         break;
      case ',':
      case ':':
         if (depth == 0) {
            return false;
         }
         (*i)++;
         break;
      default:
         if (is_ws(c->s[*i])) {
            (*i)++;
            break;
         }
         /* A literal or a number.  A NUL byte is none of these: no progress, no opinion. */
         start = *i;
         while (*i < c->len && c->s[*i] && !is_ws(c->s[*i]) && !strchr(",:{}[]\"", c->s[*i])) {
            (*i)++;
         }
         if (*i == start) {
            return false;
         }
         break;
      }
   } while (depth > 0);
   return true;
}

/* The text of span [start, end) for a reason: blanks outside strings dropped, cut short. */
static void
append_quoted_span(const ctx_t *c, bson_string_t *out, size_t start, size_t end)
{
   bool in_string = false;
   bool escape = false;
   size_t n = 0;
   size_t k;

   for (k = start; k < end && n < QUOTE_MAX; k++) {
      char ch = c->s[k];

      if (!in_string && is_ws(ch)) {
         continue;
      }
      if (in_string) {
         if (escape) {
            escape = false;
         } else if (ch == '\\') {
            escape = true;
         } else if (ch == '"') {
            in_string = false;
         }
      } else if (ch == '"') {
         in_string = true;
      }
      bson_string_append_c(out, ch);
      n++;
   }
   if (k < end) {
      /* Do not end inside a UTF-8 sequence. */
      while (k > start && ((unsigned char)c->s[k] & 0xc0) == 0x80 && out->len > 0) {
         k--;
         bson_string_truncate(out, out->len - 1);
      }
      bson_string_append(out, "...");
   }
}

static ck_t bad(ctx_t *c, const char *wrapper, size_t vstart, size_t vend, const char *fmt, ...)
   BSON_GNUC_PRINTF(5, 6);

static ck_t
bad(ctx_t *c, const char *wrapper, size_t vstart, size_t vend, const char *fmt, ...)
{
   bson_string_t *out = bson_string_new("invalid ");
   va_list ap;
   char *why;

   bson_string_append(out, wrapper);
   if (vend > vstart) {
      bson_string_append_c(out, ' ');
      append_quoted_span(c, out, vstart, vend);
   }
   bson_string_append_printf(out, " in field \"%s\": ", c->path->str);
   va_start(ap, fmt);
   why = bson_strdupv_printf(fmt, ap);
   va_end(ap);
   bson_string_append(out, why);
   bson_free(why);
   bson_free(c->reason);
   c->reason = bson_string_free(out, false);
   return CK_BAD;
}

/* The decoded string at span [vstart, vend), or NULL when the value is not a string. */
static bson_string_t *
span_string(const ctx_t *c, size_t vstart, size_t vend)
{
   bson_string_t *out;
   size_t k = vstart;

   if (vstart >= vend || c->s[vstart] != '"') {
      return NULL;
   }
   out = bson_string_new(NULL);
   if (!read_string(c, &k, out) || k != vend) {
      bson_string_free(out, true);
      return NULL;
   }
   return out;
}

/* A JSON integer without sign, fraction or exponent, at most max. */
static bool
span_uint(const ctx_t *c, size_t vstart, size_t vend, uint64_t max, uint64_t *v)
{
   *v = 0;
   if (vstart >= vend) {
      return false;
   }
   for (size_t k = vstart; k < vend; k++) {
      if (!is_digit(c->s[k])) {
         return false;
      }
      if (*v > (max - (uint64_t)(c->s[k] - '0')) / 10) {
         return false;
      }
      *v = *v * 10 + (uint64_t)(c->s[k] - '0');
   }
   return true;
}

typedef enum { INT_OK, INT_SYNTAX, INT_RANGE } int_t;

/* "-?[0-9]+" within [lo, hi]. */
static int_t
parse_int(const char *s, size_t len, int64_t lo, int64_t hi)
{
   size_t k = 0;
   bool neg = false;
   uint64_t v = 0;
   uint64_t limit;

   if (k < len && s[k] == '-') {
      neg = true;
      k++;
   }
   if (k == len) {
      return INT_SYNTAX;
   }
   limit = neg ? (uint64_t)(-(lo + 1)) + 1 : (uint64_t)hi;
   for (; k < len; k++) {
      if (!is_digit(s[k])) {
         return INT_SYNTAX;
      }
   }
   for (k = neg ? 1 : 0; k < len; k++) {
      uint64_t d = (uint64_t)(s[k] - '0');

      if (v > (limit - d) / 10) {
         return INT_RANGE;
      }
      v = v * 10 + d;
   }
   return INT_OK;
}

/* A decimal number as JSON or C writes it: -?(d+(.d*)?|.d+)([eE][+-]?d+)? */
static bool
is_decimal(const char *s, size_t len)
{
   size_t k = 0, digits = 0;

   if (k < len && (s[k] == '-' || s[k] == '+')) {
      k++;
   }
   for (; k < len && is_digit(s[k]); k++) {
      digits++;
   }
   if (k < len && s[k] == '.') {
      for (k++; k < len && is_digit(s[k]); k++) {
         digits++;
      }
   }
   if (digits == 0) {
      return false;
   }
   if (k < len && (s[k] == 'e' || s[k] == 'E')) {
      k++;
      if (k < len && (s[k] == '+' || s[k] == '-')) {
         k++;
      }
      if (k == len || !is_digit(s[k])) {
         return false;
      }
      while (k < len && is_digit(s[k])) {
         k++;
      }
   }
   return k == len;
}

static bool
has_nul(const bson_string_t *str)
{
   return strlen(str->str) != str->len;
}

static ck_t
check_integer_string(ctx_t *c, const char *w, size_t vs, size_t ve, int64_t lo, int64_t hi,
                     const char *range)
{
   bson_string_t *str = span_string(c, vs, ve);
   int_t r;

   if (!str) {
      return bad(c, w, vs, ve, "not a string");
   }
   r = parse_int(str->str, str->len, lo, hi);
   bson_string_free(str, true);
   if (r == INT_SYNTAX) {
      return bad(c, w, vs, ve, "not an integer");
   }
   if (r == INT_RANGE) {
      return bad(c, w, vs, ve, "out of range for a %s", range);
   }
   return CK_OK;
}

static ck_t
check_double(ctx_t *c, size_t vs, size_t ve)
{
   bson_string_t *str = span_string(c, vs, ve);
   const char *w = "$numberDouble";
   ck_t r = CK_OK;
   double d;

   if (!str) {
      return bad(c, w, vs, ve, "not a string");
   }
   if (!strcmp(str->str, "Infinity") || !strcmp(str->str, "-Infinity") ||
       !strcmp(str->str, "NaN")) {
      /* the specification's three special values */
   } else if (has_nul(str) || str->str[0] == '+' || !is_decimal(str->str, str->len)) {
      r = bad(c, w, vs, ve, "not a decimal number, \"Infinity\", \"-Infinity\" or \"NaN\"");
   } else {
      errno = 0;
      d = strtod(str->str, NULL);
      if (errno == ERANGE && (isinf(d) || d == 0)) {
         r = bad(c, w, vs, ve, "out of range for a double");
      }
   }
   bson_string_free(str, true);
   return r;
}

static ck_t
check_decimal(ctx_t *c, size_t vs, size_t ve)
{
   bson_string_t *str = span_string(c, vs, ve);
   const char *w = "$numberDecimal";
   bson_decimal128_t dec;
   ck_t r = CK_OK;

   if (!str) {
      return bad(c, w, vs, ve, "not a string");
   }
   if (has_nul(str) || !bson_decimal128_from_string_w_len(str->str, (int)str->len, &dec)) {
      if (is_decimal(str->str, str->len)) {
         r = bad(c, w, vs, ve, "out of range for a decimal128");
      } else {
         r = bad(c, w, vs, ve, "not a decimal number, \"Infinity\", \"-Infinity\" or \"NaN\"");
      }
   }
   bson_string_free(str, true);
   return r;
}

static ck_t
check_oid(ctx_t *c, size_t vs, size_t ve)
{
   bson_string_t *str = span_string(c, vs, ve);
   bool ok;

   if (!str) {
      return bad(c, "$oid", vs, ve, "not a string");
   }
   ok = str->len == 24;
   for (size_t k = 0; ok && k < str->len; k++) {
      ok = is_hex(str->str[k]);
   }
   bson_string_free(str, true);
   return ok ? CK_OK : bad(c, "$oid", vs, ve, "not 24 hexadecimal digits");
}

static bool
is_uuid(const char *s, size_t len)
{
   if (len != 36) {
      return false;
   }
   for (size_t k = 0; k < len; k++) {
      if (k == 8 || k == 13 || k == 18 || k == 23) {
         if (s[k] != '-') {
            return false;
         }
      } else if (!is_hex(s[k])) {
         return false;
      }
   }
   return true;
}

static bool
is_base64(const char *s, size_t len)
{
   size_t pad = 0;

   if (len % 4 != 0) {
      return false;
   }
   while (pad < 2 && pad < len && s[len - 1 - pad] == '=') {
      pad++;
   }
   for (size_t k = 0; k < len - pad; k++) {
      char ch = s[k];

      if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '+' ||
            ch == '/')) {
         return false;
      }
   }
   return true;
}

/* A binary subtype: one or two hexadecimal digits. */
static bool
is_subtype(const bson_string_t *str)
{
   return (str->len == 1 || str->len == 2) && is_hex(str->str[0]) &&
          (str->len == 1 || is_hex(str->str[1]));
}

/* Find the member named key of the object at span [vs, ve); its value span in *ks, *ke. */
typedef struct {
   const char *name;
   size_t vs;
   size_t ve;
   bool found;
} field_t;

/*
 * Read a small object of known keys (the inside of $binary, $timestamp,
 * $regularExpression, $dbPointer).  Returns false with *unexpected set to a new
 * string naming an unknown or repeated key; false with *unexpected NULL when the
 * value is not an object.
 */
static bool
read_fields(const ctx_t *c, size_t vs, size_t ve, field_t *fields, size_t n, char **unexpected)
{
   bson_string_t *key = bson_string_new(NULL);
   size_t k = vs;
   bool ok = false;
   size_t f;

   *unexpected = NULL;
   if (k >= ve || c->s[k] != '{') {
      goto cleanup;
   }
   k++;
   skip_ws(c, &k);
   if (k < ve && c->s[k] == '}') {
      ok = true;
      goto cleanup;
   }
   for (;;) {
      skip_ws(c, &k);
      bson_string_truncate(key, 0);
      if (k >= ve || c->s[k] != '"' || !read_string(c, &k, key)) {
         goto cleanup;
      }
      skip_ws(c, &k);
      if (k >= ve || c->s[k++] != ':') {
         goto cleanup;
      }
      skip_ws(c, &k);
      for (f = 0; f < n && strcmp(fields[f].name, key->str); f++) {
      }
      if (f == n || fields[f].found) {
         *unexpected =
            bson_strdup_printf("%s key \"%s\"", f == n ? "unexpected" : "duplicate", key->str);
         goto cleanup;
      }
      fields[f].found = true;
      fields[f].vs = k;
      if (!skip_value(c, &k)) {
         goto cleanup;
      }
      fields[f].ve = k;
      skip_ws(c, &k);
      if (k < ve && c->s[k] == ',') {
         k++;
         continue;
      }
      ok = k < ve && c->s[k] == '}';
      break;
   }
cleanup:
   bson_string_free(key, true);
   return ok;
}

/* Common opening of the sub-object wrappers: every field present, no other key. */
static ck_t
fields_or_bad(ctx_t *c, const char *w, size_t vs, size_t ve, field_t *fields, size_t n)
{
   char *unexpected = NULL;

   if (!read_fields(c, vs, ve, fields, n, &unexpected)) {
      if (unexpected) {
         ck_t r = bad(c, w, vs, ve, "%s", unexpected);

         bson_free(unexpected);
         return r;
      }
      return bad(c, w, vs, ve, "not an object");
   }
   for (size_t f = 0; f < n; f++) {
      if (!fields[f].found) {
         return bad(c, w, vs, ve, "missing \"%s\"", fields[f].name);
      }
   }
   return CK_OK;
}

/* fields_or_bad(), and the first field holds a string ("pattern", "$ref"). */
static ck_t
fields_string_first_or_bad(ctx_t *c, const char *w, size_t vs, size_t ve, field_t *fields, size_t n)
{
   bson_string_t *str;
   ck_t r = fields_or_bad(c, w, vs, ve, fields, n);

   if (r != CK_OK) {
      return r;
   }
   str = span_string(c, fields[0].vs, fields[0].ve);
   if (!str) {
      return bad(c, w, vs, ve, "\"%s\" is not a string", fields[0].name);
   }
   bson_string_free(str, true);
   return CK_OK;
}

/*
 * $binary at span [vs, ve): {"base64": ..., "subType": ...}, or libbson's legacy form
 * {"$binary": "<base64>", "$type": "<hex>"} (legacy_type: the "$type" member).  The
 * base64 text must decode, the subtype be one or two hexadecimal digits.
 */
static ck_t
check_binary(ctx_t *c, size_t vs, size_t ve, const member_t *legacy_type)
{
   field_t fields[] = {{"base64", 0, 0, false}, {"subType", 0, 0, false}};
   bson_string_t *b64 = NULL;
   bson_string_t *sub = NULL;
   size_t ss, se;
   ck_t r;

   if (legacy_type) {
      /* {"$binary": "<base64>", "$type": "<hex>"} */
      fields[0].vs = vs;
      fields[0].ve = ve;
      ss = legacy_type->vstart;
      se = legacy_type->vend;
   } else {
      if (vs < ve && c->s[vs] == '"') {
         return bad(c, "$binary", vs, ve, "missing \"$type\"");
      }
      r = fields_or_bad(c, "$binary", vs, ve, fields, 2);
      if (r != CK_OK) {
         return r;
      }
      ss = fields[1].vs;
      se = fields[1].ve;
   }
   b64 = span_string(c, fields[0].vs, fields[0].ve);
   sub = span_string(c, ss, se);
   if (!b64 || has_nul(b64) || !is_base64(b64->str, b64->len)) {
      r = bad(c, "$binary", vs, ve, "%s is not base64", legacy_type ? "the value" : "\"base64\"");
   } else if (!sub || !is_subtype(sub)) {
      r = bad(c, "$binary", vs, ve, "%s is not one or two hexadecimal digits",
              legacy_type ? "\"$type\"" : "\"subType\"");
   } else {
      r = CK_OK;
   }
   if (b64) {
      bson_string_free(b64, true);
   }
   if (sub) {
      bson_string_free(sub, true);
   }
   return r;
}

static ck_t
check_uuid(ctx_t *c, size_t vs, size_t ve)
{
   bson_string_t *str = span_string(c, vs, ve);
   bool ok = str && is_uuid(str->str, str->len);

   if (str) {
      bson_string_free(str, true);
   }
   return ok ? CK_OK : bad(c, "$uuid", vs, ve, "not a UUID (8-4-4-4-12 hexadecimal digits)");
}

static ck_t
check_timestamp(ctx_t *c, size_t vs, size_t ve)
{
   field_t fields[] = {{"t", 0, 0, false}, {"i", 0, 0, false}};
   uint64_t v;
   ck_t r = fields_or_bad(c, "$timestamp", vs, ve, fields, 2);

   for (size_t f = 0; r == CK_OK && f < 2; f++) {
      if (!span_uint(c, fields[f].vs, fields[f].ve, UINT32_MAX, &v)) {
         r =
            bad(c, "$timestamp", vs, ve, "\"%s\" is not a 32-bit unsigned integer", fields[f].name);
      }
   }
   return r;
}

/* Regular expression options: each of "ilmsux" at most once. */
static ck_t
check_options(ctx_t *c, const char *w, size_t vs, size_t ve, size_t os, size_t oe)
{
   bson_string_t *str = span_string(c, os, oe);
   ck_t r = CK_OK;

   if (!str) {
      return bad(c, w, vs, ve, "the options are not a string");
   }
   for (size_t k = 0; k < str->len; k++) {
      char ch = str->str[k];

      if (!ch || !strchr("ilmsux", ch)) {
         r = bad(c, w, vs, ve, "unknown option \"%c\" (options are \"ilmsux\")", ch ? ch : '?');
         break;
      }
      if (memchr(str->str, ch, k)) {
         r = bad(c, w, vs, ve, "option \"%c\" given twice", ch);
         break;
      }
   }
   bson_string_free(str, true);
   return r;
}

static ck_t
check_regex(ctx_t *c, size_t vs, size_t ve)
{
   field_t fields[] = {{"pattern", 0, 0, false}, {"options", 0, 0, false}};
   const char *w = "$regularExpression";
   ck_t r = fields_string_first_or_bad(c, w, vs, ve, fields, 2);

   if (r != CK_OK) {
      return r;
   }
   return check_options(c, w, vs, ve, fields[1].vs, fields[1].ve);
}

/* An object {"$oid": ...} at span [vs, ve), as $dbPointer's "$id". */
static ck_t
check_embedded(ctx_t *c, size_t vs, size_t ve)
{
   size_t k = vs;
   ck_t r;

   r = check_object(c, &k, false);
   if (r == CK_OK && k != ve) {
      r = CK_SYNTAX;
   }
   return r;
}

static ck_t
check_dbpointer(ctx_t *c, size_t vs, size_t ve)
{
   field_t fields[] = {{"$ref", 0, 0, false}, {"$id", 0, 0, false}};
   const char *w = "$dbPointer";
   ck_t r = fields_string_first_or_bad(c, w, vs, ve, fields, 2);
   bson_string_t *key;
   size_t k;
   bool is_oid = false;

   if (r != CK_OK) {
      return r;
   }
   k = fields[1].vs;
   key = bson_string_new(NULL);
   if (c->s[k] == '{') {
      k++;
      skip_ws(c, &k);
      is_oid = k < ve && c->s[k] == '"' && read_string(c, &k, key) && !strcmp(key->str, "$oid");
   }
   bson_string_free(key, true);
   if (!is_oid) {
      return bad(c, w, vs, ve, "\"$id\" is not an $oid");
   }
   return check_embedded(c, fields[1].vs, fields[1].ve);
}

static bool
digits(const char *s, size_t len, size_t *k, int n, int *v)
{
   *v = 0;
   for (int j = 0; j < n; j++, (*k)++) {
      if (*k >= len || !is_digit(s[*k])) {
         return false;
      }
      *v = *v * 10 + (s[*k] - '0');
   }
   return true;
}

static int
days_in_month(int y, int m)
{
   static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
   bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

   return m == 2 && leap ? 29 : dim[m - 1];
}

/*
 * The ISO 8601 forms libbson reads: YYYY-MM-DDTHH:MM[:SS[.s{1,3}]] then "Z" or
 * +-HHMM.  Returns NULL when valid, else why not.
 */
static const char *
iso_why(const char *s, size_t len)
{
   const char *form = "not an ISO 8601 date-time (YYYY-MM-DDTHH:MM:SS.sssZ)";
   size_t k = 0;
   int y, mo, d, h, mi, sec = 0, oh, om, frac = 0;

   if (!digits(s, len, &k, 4, &y) || k >= len || s[k++] != '-' || !digits(s, len, &k, 2, &mo) ||
       k >= len || s[k++] != '-' || !digits(s, len, &k, 2, &d) || k >= len || s[k++] != 'T' ||
       !digits(s, len, &k, 2, &h) || k >= len || s[k++] != ':' || !digits(s, len, &k, 2, &mi)) {
      return form;
   }
   if (k < len && s[k] == ':') {
      k++;
      if (!digits(s, len, &k, 2, &sec)) {
         return form;
      }
      if (k < len && s[k] == '.') {
         for (k++; k < len && is_digit(s[k]); k++) {
            frac++;
         }
         if (frac == 0) {
            return form;
         }
         if (frac > 3) {
            return "more precise than milliseconds";
         }
      }
   }
   if (k < len && s[k] == 'Z') {
      k++;
   } else if (k < len && (s[k] == '+' || s[k] == '-')) {
      k++;
      if (!digits(s, len, &k, 2, &oh) || !digits(s, len, &k, 2, &om)) {
         return form;
      }
      if (oh > 23 || om > 59) {
         return "no such time zone offset";
      }
   } else {
      return form;
   }
   if (k != len) {
      return form;
   }
   if (mo < 1 || mo > 12) {
      return "no such month";
   }
   if (d < 1 || d > days_in_month(y, mo)) {
      return "no such day";
   }
   if (h > 23) {
      return "no such hour";
   }
   if (mi > 59) {
      return "no such minute";
   }
   if (sec > 59) {
      return "no such second";
   }
   return NULL;
}

/*
 * $date at span [vs, ve) in the three forms libbson reads: an ISO 8601 string (iso_why),
 * {"$numberLong": "<milliseconds>"}, or milliseconds as a plain JSON integer (legacy).
 */
static ck_t
check_date(ctx_t *c, size_t vs, size_t ve)
{
   field_t fields[] = {{"$numberLong", 0, 0, false}};
   const char *w = "$date";
   bson_string_t *str;
   const char *why;
   ck_t r;

   if (vs >= ve) {
      return CK_SYNTAX;
   }
   if (c->s[vs] == '"') {
      str = span_string(c, vs, ve);
      if (!str) {
         return CK_SYNTAX;
      }
      why = has_nul(str) ? "not an ISO 8601 date-time" : iso_why(str->str, str->len);
      bson_string_free(str, true);
      return why ? bad(c, w, vs, ve, "%s", why) : CK_OK;
   }
   if (c->s[vs] == '{') {
      r = fields_or_bad(c, w, vs, ve, fields, 1);
      if (r != CK_OK) {
         return r;
      }
      str = span_string(c, fields[0].vs, fields[0].ve);
      if (!str) {
         return bad(c, w, vs, ve, "\"$numberLong\" is not a string");
      }
      r = parse_int(str->str, str->len, INT64_MIN, INT64_MAX) == INT_OK
             ? CK_OK
             : bad(c, w, vs, ve, "\"$numberLong\" is not a 64-bit integer");
      bson_string_free(str, true);
      return r;
   }
   /* Legacy: milliseconds as a JSON number. */
   if (parse_int(c->s + vs, ve - vs, INT64_MIN, INT64_MAX) != INT_OK) {
      return bad(c, w, vs, ve, "not a 64-bit integer number of milliseconds");
   }
   return CK_OK;
}

static ck_t
check_literal(ctx_t *c, const char *w, size_t vs, size_t ve, const char *want)
{
   if (ve - vs == strlen(want) && !memcmp(c->s + vs, want, ve - vs)) {
      return CK_OK;
   }
   return bad(c, w, vs, ve, "the value must be %s", want);
}

static ck_t
check_string_value(ctx_t *c, const char *w, size_t vs, size_t ve)
{
   bson_string_t *str = span_string(c, vs, ve);

   if (!str) {
      return bad(c, w, vs, ve, "not a string");
   }
   bson_string_free(str, true);
   return CK_OK;
}

/* Wrapper keys, and the keys each allows next to it. */
typedef struct {
   const char *key;
   const char *companions[2];
} wrapper_t;

static const wrapper_t wrappers[] = {
   {"$oid", {NULL, NULL}},
   {"$symbol", {NULL, NULL}},
   {"$numberInt", {NULL, NULL}},
   {"$numberLong", {NULL, NULL}},
   {"$numberDouble", {NULL, NULL}},
   {"$numberDecimal", {NULL, NULL}},
   {"$binary", {"$type", NULL}},
   {"$uuid", {NULL, NULL}},
   {"$code", {"$scope", NULL}},
   {"$timestamp", {NULL, NULL}},
   {"$regularExpression", {NULL, NULL}},
   {"$regex", {"$options", NULL}},
   {"$dbPointer", {NULL, NULL}},
   {"$date", {NULL, NULL}},
   {"$minKey", {NULL, NULL}},
   {"$maxKey", {NULL, NULL}},
   {"$undefined", {NULL, NULL}},
};

/* Keys that are wrapper parts only next to their wrapper key. */
static const char *const companions[] = {"$type", "$scope", "$options"};

static const wrapper_t *
find_wrapper(const char *key)
{
   for (size_t k = 0; k < sizeof wrappers / sizeof wrappers[0]; k++) {
      if (!strcmp(wrappers[k].key, key)) {
         return &wrappers[k];
      }
   }
   return NULL;
}

static const char *
find_companion(const char *key)
{
   for (size_t k = 0; k < sizeof companions / sizeof companions[0]; k++) {
      if (!strcmp(companions[k], key)) {
         return companions[k];
      }
   }
   return NULL;
}

static const member_t *
find_member(const member_t *m, size_t n, const char *key)
{
   for (size_t k = 0; k < n; k++) {
      if (m[k].key == key || !strcmp(m[k].key, key)) {
         return &m[k];
      }
   }
   return NULL;
}

/*
 * The keys of a wrapper object m[0..n) (m[0] the wrapper key): no key other than the
 * wrapper's companions (other: the first such key, or NULL), none twice.
 */
static ck_t
check_wrapper_keys(ctx_t *c, const wrapper_t *wr, const member_t *m, size_t n, const char *other)
{
   size_t vs = m[0].vstart, ve = m[0].vend;
   const char *w = wr->key;

   if (other) {
      return bad(c, w, vs, ve, "unexpected key \"%s\" next to \"%s\"", other, w);
   }
   for (size_t k = 1; k < n; k++) {
      if (!strcmp(m[k].key, w)) {
         return bad(c, w, vs, ve, "duplicate key \"%s\"", w);
      }
      if ((!wr->companions[0] || strcmp(m[k].key, wr->companions[0])) &&
          (!wr->companions[1] || strcmp(m[k].key, wr->companions[1]))) {
         return bad(c, w, vs, ve, "unexpected key \"%s\" next to \"%s\"", m[k].key, w);
      }
      for (size_t j = 1; j < k; j++) {
         if (!strcmp(m[j].key, m[k].key)) {
            return bad(c, w, vs, ve, "duplicate key \"%s\"", m[k].key);
         }
      }
   }
   return CK_OK;
}

/*
 * The wrappers that may have a companion key, m[0..n) as for check_wrapper(): $binary
 * (libbson's legacy "$type"), $code ("$scope", an object) and $regex ("$options").
 */
static ck_t
check_with_companion(ctx_t *c, const char *w, const member_t *m, size_t n)
{
   size_t vs = m[0].vstart, ve = m[0].vend;
   const member_t *comp;

   if (!strcmp(w, "$binary")) {
      comp = find_member(m, n, "$type");
      if (comp && !(vs < ve && c->s[vs] == '"')) {
         return bad(c, w, vs, ve, "unexpected key \"$type\" next to \"$binary\"");
      }
      return check_binary(c, vs, ve, comp);
   }
   if (!strcmp(w, "$code")) {
      comp = find_member(m, n, "$scope");
      if (check_string_value(c, w, vs, ve) != CK_OK) {
         return CK_BAD;
      }
      if (comp && !(comp->vstart < comp->vend && c->s[comp->vstart] == '{')) {
         return bad(c, w, vs, ve, "\"$scope\" is not an object");
      }
      return CK_OK;
   }
   comp = find_member(m, n, "$options");
   return comp ? check_options(c, w, vs, ve, comp->vstart, comp->vend) : CK_OK;
}

/*
 * Check the object whose wrapper members are m[0..n) (m[0] the wrapper key): its keys,
 * then the wrapper's value (and companions) by the rules of the wrapper's type.
 */
static ck_t
check_wrapper(ctx_t *c, const wrapper_t *wr, const member_t *m, size_t n, const char *other)
{
   size_t vs = m[0].vstart, ve = m[0].vend;
   const char *w = wr->key;

   if (check_wrapper_keys(c, wr, m, n, other) != CK_OK) {
      return CK_BAD;
   }
   if (!strcmp(w, "$oid")) {
      return check_oid(c, vs, ve);
   }
   if (!strcmp(w, "$symbol")) {
      return check_string_value(c, w, vs, ve);
   }
   if (!strcmp(w, "$numberInt")) {
      return check_integer_string(c, w, vs, ve, INT32_MIN, INT32_MAX, "32-bit integer");
   }
   if (!strcmp(w, "$numberLong")) {
      return check_integer_string(c, w, vs, ve, INT64_MIN, INT64_MAX, "64-bit integer");
   }
   if (!strcmp(w, "$numberDouble")) {
      return check_double(c, vs, ve);
   }
   if (!strcmp(w, "$numberDecimal")) {
      return check_decimal(c, vs, ve);
   }
   if (!strcmp(w, "$binary") || !strcmp(w, "$code") || !strcmp(w, "$regex")) {
      return check_with_companion(c, w, m, n);
   }
   if (!strcmp(w, "$uuid")) {
      return check_uuid(c, vs, ve);
   }
   if (!strcmp(w, "$timestamp")) {
      return check_timestamp(c, vs, ve);
   }
   if (!strcmp(w, "$regularExpression")) {
      return check_regex(c, vs, ve);
   }
   if (!strcmp(w, "$dbPointer")) {
      return check_dbpointer(c, vs, ve);
   }
   if (!strcmp(w, "$date")) {
      return check_date(c, vs, ve);
   }
   if (!strcmp(w, "$minKey") || !strcmp(w, "$maxKey")) {
      return check_literal(c, w, vs, ve, "1");
   }
   return check_literal(c, w, vs, ve, "true");
}

static void
path_push(ctx_t *c, const char *segment, size_t len)
{
   if (c->path->len > 0) {
      bson_string_append_c(c->path, '.');
   }
   for (size_t k = 0; k < len; k++) {
      bson_string_append_c(c->path, segment[k]);
   }
}

static ck_t
check_array(ctx_t *c, size_t *i)
{
   size_t saved = c->path->len;
   char index[24];
   uint64_t n = 0;
   ck_t r;

   (*i)++;
   skip_ws(c, i);
   if (*i < c->len && c->s[*i] == ']') {
      (*i)++;
      return CK_OK;
   }
   for (;; n++) {
      snprintf(index, sizeof index, "%" PRIu64, n);
      path_push(c, index, strlen(index));
      r = check_value(c, i);
      bson_string_truncate(c->path, saved);
      if (r != CK_OK) {
         return r;
      }
      skip_ws(c, i);
      if (*i < c->len && c->s[*i] == ',') {
         (*i)++;
         continue;
      }
      if (*i < c->len && c->s[*i] == ']') {
         (*i)++;
         return CK_OK;
      }
      return CK_SYNTAX;
   }
}

/* What check_object() keeps of an object's members until its end. */
typedef struct {
   member_t m[MAX_MEMBERS]; /* the wrapper parts, in order */
   size_t n;
   char *other;         /* owned: the first key that is no wrapper part, or NULL */
   const wrapper_t *wr; /* the first wrapper key met, or NULL */
} members_t;

/*
 * One member "key": value of an object, *i at its key.  A wrapper key's value is only
 * skipped (checked at the end, with its companions); any other value is checked now,
 * under the key's path.  top: the document itself, where no key is a wrapper.
 */
static ck_t
check_member(ctx_t *c, size_t *i, bool top, bson_string_t *key, members_t *ms)
{
   size_t saved = c->path->len;
   const wrapper_t *kw;
   const char *part;
   ck_t r;

   skip_ws(c, i);
   bson_string_truncate(key, 0);
   if (*i >= c->len || c->s[*i] != '"' || !read_string(c, i, key)) {
      return CK_SYNTAX;
   }
   skip_ws(c, i);
   if (*i >= c->len || c->s[(*i)++] != ':') {
      return CK_SYNTAX;
   }
   skip_ws(c, i);
   kw = top ? NULL : find_wrapper(key->str);
   part = top || kw ? NULL : find_companion(key->str);
   if (kw && !strcmp(kw->key, "$regex") && *i < c->len && c->s[*i] != '"') {
      kw = NULL; /* the $regex query operator, not a wrapper */
   }
   if (kw || part) {
      if (kw && !ms->wr) {
         ms->wr = kw;
      }
      if (ms->n == MAX_MEMBERS) {
         if (!ms->other) {
            ms->other = bson_strdup(key->str);
         }
      } else {
         ms->m[ms->n].key = kw ? kw->key : part;
         ms->m[ms->n].vstart = *i;
      }
   }
   if (kw) {
      if (!skip_value(c, i)) {
         return CK_SYNTAX;
      }
   } else {
      if (!part && !ms->other) {
         ms->other = bson_strdup(key->str);
      }
      path_push(c, key->str, key->len);
      r = check_value(c, i);
      bson_string_truncate(c->path, saved);
      if (r != CK_OK) {
         return r;
      }
   }
   if ((kw || part) && ms->n < MAX_MEMBERS) {
      ms->m[ms->n++].vend = *i;
   }
   return CK_OK;
}

/*
 * An object at *i.  Members that are not wrapper parts are checked as they
 * come; wrapper parts are kept and checked together at the end.
 */
static ck_t
check_object(ctx_t *c, size_t *i, bool top)
{
   bson_string_t *key = bson_string_new(NULL);
   members_t ms = {0};
   ck_t r = CK_SYNTAX;

   if (++c->depth > MAX_DEPTH) {
      goto cleanup;
   }
   (*i)++;
   skip_ws(c, i);
   if (*i < c->len && c->s[*i] == '}') {
      (*i)++;
      r = CK_OK;
      goto cleanup;
   }
   for (;;) {
      r = check_member(c, i, top, key, &ms);
      if (r != CK_OK) {
         goto cleanup;
      }
      skip_ws(c, i);
      if (*i < c->len && c->s[*i] == ',') {
         (*i)++;
         continue;
      }
      if (*i < c->len && c->s[*i] == '}') {
         (*i)++;
         break;
      }
      r = CK_SYNTAX;
      goto cleanup;
   }
   if (ms.wr) {
      /* The wrapper key first, its companions after. */
      for (size_t k = 0; k < ms.n; k++) {
         if (ms.m[k].key == ms.wr->key) {
            member_t tmp = ms.m[0];

            ms.m[0] = ms.m[k];
            ms.m[k] = tmp;
            break;
         }
      }
      r = check_wrapper(c, ms.wr, ms.m, ms.n, ms.other);
   }
cleanup:
   c->depth--;
   bson_free(ms.other);
   bson_string_free(key, true);
   return r;
}

/*
 * A plain value.  Numbers libbson cannot hold are refused here: it wraps an
 * integer beyond 64 bits around (99999999999999999999 becomes
 * 7766279631452241919) and reads 1e-400 as 0.
 */
static ck_t
check_scalar(ctx_t *c, size_t *i)
{
   size_t vs = *i;
   char *text;
   double d;
   ck_t r = CK_OK;

   if (!skip_value(c, i)) {
      return CK_SYNTAX;
   }
   if (c->s[vs] != '-' && !is_digit(c->s[vs])) {
      return CK_OK;
   }
   if (parse_int(c->s + vs, *i - vs, INT64_MIN, INT64_MAX) == INT_RANGE) {
      return bad(c, "number", vs, *i, "out of range for a 64-bit integer");
   }
   if (!is_decimal(c->s + vs, *i - vs)) {
      return CK_OK;
   }
   /* Not bson_strndup(): it reads one byte past the token, and the text is not terminated. */
   text = bson_malloc(*i - vs + 1);
   memcpy(text, c->s + vs, *i - vs);
   text[*i - vs] = '\0';
   errno = 0;
   d = strtod(text, NULL);
   if (errno == ERANGE && (isinf(d) || d == 0)) {
      r = bad(c, "number", vs, *i, "out of range for a double");
   }
   bson_free(text);
   return r;
}

static ck_t
check_value(ctx_t *c, size_t *i)
{
   skip_ws(c, i);
   if (*i >= c->len) {
      return CK_SYNTAX;
   }
   if (c->s[*i] == '{') {
      return check_object(c, i, false);
   }
   if (c->s[*i] == '[') {
      ck_t r;

      if (++c->depth > MAX_DEPTH) {
         c->depth--;
         return CK_SYNTAX;
      }
      r = check_array(c, i);
      c->depth--;
      return r;
   }
   return check_scalar(c, i);
}

bool
mn_ejson__check(const char *text, size_t len, char **reason)
{
   ctx_t c = {text, len, bson_string_new(NULL), NULL, 0};
   size_t i = 0;
   ck_t r = CK_OK;

   skip_ws(&c, &i);
   if (i < len && text[i] == '{') {
      r = check_object(&c, &i, true);
   }
   bson_string_free(c.path, true);
   if (r == CK_BAD) {
      *reason = c.reason;
      return false;
   }
   bson_free(c.reason);
   return true;
}

/*
 * The structure of one object, without recursion: a stack of open brackets and what
 * may come next.  Scalars are runs of any other characters (numbers, true, NaN, ...):
 * libbson judges them when it parses the object.
 */
typedef enum {
   EXPECT_VALUE,          /* after ':' or ',' in an array */
   EXPECT_KEY,            /* after ',' in an object */
   EXPECT_KEY_OR_CLOSE,   /* after '{' */
   EXPECT_VALUE_OR_CLOSE, /* after '[' */
   EXPECT_COLON,          /* after a key */
   EXPECT_NEXT            /* after a value: ',' or the closing bracket */
} expect_t;

/*
 * A value starts at text[*i] (not white space): open a bracket on the stack, or skip a
 * string or a run of scalar characters.  False when nothing valid starts there.
 */
static bool
object_end_value(ctx_t *c, size_t *i, char *open, int *depth, expect_t *want)
{
   char ch = c->s[*i];
   size_t start = *i;

   if (ch == '{' || ch == '[') {
      if (*depth == MAX_DEPTH) {
         return false;
      }
      open[(*depth)++] = ch;
      (*i)++;
      *want = ch == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
      return true;
   }
   *want = EXPECT_NEXT;
   if (ch == '"') {
      return skip_string(c, i);
   }
   while (*i < c->len && !is_ws(c->s[*i]) && !strchr(",:{}[]\"", c->s[*i]) && c->s[*i]) {
      (*i)++;
   }
   return *i != start;
}

/*
 * The end of the object at the start of text, found from its structure alone (a
 * state machine over the stack of open brackets, no recursion): see ejson_check.h.
 */
bool
mn_ejson__object_end(const char *text, size_t len, size_t *end)
{
   char open[MAX_DEPTH];
   int depth = 0;
   expect_t want = EXPECT_VALUE;
   size_t i = 0;
   ctx_t c = {text, len, NULL, NULL, 0};

   if (len == 0 || text[0] != '{') {
      return false;
   }
   while (i < len) {
      char ch = text[i];
      char closer = depth > 0 && open[depth - 1] == '{' ? '}' : ']';

      if (is_ws(ch)) {
         i++;
         continue;
      }
      /* The innermost bracket closes; the outermost one, open[0], is always '{'. */
      if ((want == EXPECT_NEXT && ch == closer) || (want == EXPECT_KEY_OR_CLOSE && ch == '}') ||
          (want == EXPECT_VALUE_OR_CLOSE && ch == ']')) {
         i++;
         want = EXPECT_NEXT;
         if (--depth == 0) {
            *end = i;
            return true;
         }
         continue;
      }
      switch (want) {
      case EXPECT_COLON:
         if (ch != ':') {
            return false;
         }
         i++;
         want = EXPECT_VALUE;
         break;
      case EXPECT_NEXT:
         if (ch != ',') {
            return false;
         }
         i++;
         want = closer == '}' ? EXPECT_KEY : EXPECT_VALUE;
         break;
      case EXPECT_KEY_OR_CLOSE:
      case EXPECT_KEY:
         if (ch != '"' || !skip_string(&c, &i)) {
            return false;
         }
         want = EXPECT_COLON;
         break;
      case EXPECT_VALUE_OR_CLOSE:
      case EXPECT_VALUE:
         if (!object_end_value(&c, &i, open, &depth, &want)) {
            return false;
         }
         break;
      }
   }
   return false;
}
