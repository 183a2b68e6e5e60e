/*
 * ejson.c - canonical Extended JSON as libbson writes it, faster (see ejson.h).
 *
 * The text libbson 1.23 writes, which this file reproduces: a document is "{ " then
 * its elements `"key" : value` joined by ", " then " }" (an empty one: "{ }" at the top
 * level, "{  }" inside); an array the same with "[ " and " ]" and no keys.  Text is
 * quoted with '"' and '\' escaped by a backslash, \b \f \n \r \t by their letters,
 * other control characters as \u00XX (lower-case hex), every other character as it is.
 * int32 is { "$numberInt" : "N" }, int64 { "$numberLong" : "N" }, a date
 * { "$date" : { "$numberLong" : "MS" } }, an ObjectId { "$oid" : "HEX" }, a double
 * { "$numberDouble" : "%.20g" } with ".0" after an integral text, or NaN, Infinity,
 * -Infinity.  Every other type is written by libbson itself, as the one element of a
 * document with an empty key whose text is then cut to the value.  Anything else that
 * is unusual gives the whole document to libbson, so that the result is always its own.
 *
 * Relaxed Extended JSON (bson_as_relaxed_extended_json()) differs in three types only:
 * int32 and int64 are their digits; a finite double is its "%.20g" text (".0" after an
 * integral one), unquoted; a date from 1970 to 9999 is { "$date" : "ISO-8601" } with
 * the milliseconds (".mmm") only when not zero and a "Z" (earlier dates stay
 * { "$numberLong" }; later ones are given to libbson).
 */
#include "util/ejson.h"

#include "util/ascii.h"

#include <glib.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Deeper than this, libbson writes the document (it cuts at BSON_MAX_RECURSION, 200). */
#define MAX_DEPTH 100

/* 10000-01-01T00:00:00Z in milliseconds: relaxed dates from here on are libbson's */
#define YEAR_10000_MS INT64_C(253402300800000)

typedef struct {
   char *s;
   size_t len;
   size_t cap;
   bool plain_only; /* give up at a value libbson would write (mn_ejson__plain) */
   bool relaxed;    /* relaxed Extended JSON, not canonical */
} buf_t;

static void
buf_reserve(buf_t *b, size_t more)
{
   if (b->len + more + 1 > b->cap) {
      size_t cap = b->cap ? b->cap : 1024;
      while (cap < b->len + more + 1) {
         cap *= 2;
      }
      b->s = bson_realloc(b->s, cap);
      b->cap = cap;
   }
}

static inline void
put(buf_t *b, const char *p, size_t n)
{
   buf_reserve(b, n);
   memcpy(b->s + b->len, p, n);
   b->len += n;
}

#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

/* Bytes a JSON string cannot hold as they are: control characters, '"' and '\'. */
static inline bool
special(unsigned char c)
{
   return c < 0x20 || c == '"' || c == '\\';
}

#define BYTES_01 UINT64_C(0x0101010101010101)
#define BYTES_80 UINT64_C(0x8080808080808080)

/* Whether one of the 8 bytes of w is special() or above 0x7f (byte order does not
 * matter).  The lowest such byte has no borrow from below in any of the three
 * subtractions, so it is always flagged; a byte above it may be flagged too, which only
 * sends the caller to look at each byte. */
static inline bool
word_unusual(uint64_t w)
{
   uint64_t quote = w ^ (BYTES_01 * '"');
   uint64_t backslash = w ^ (BYTES_01 * '\\');

   return (((w - BYTES_01 * 0x20) | (quote - BYTES_01) | (backslash - BYTES_01) | w) & BYTES_80) !=
          0;
}

/*
 * Quoted text; false (nothing decided, the caller gives up) unless strict UTF-8 without
 * NUL, the text libbson escapes character by character into the same bytes.  Eight bytes
 * at a time while they are plain ASCII; the UTF-8 is checked (g_utf8_validate_len) from
 * the first byte above 0x7f on, once, all before it being ASCII.
 */
static bool
put_text(buf_t *b, const char *s, size_t n)
{
   static const char hex[] = "0123456789abcdef";
   size_t start = 0, i = 0;
   bool ascii = true; /* every byte before i is below 0x80 */

   buf_reserve(b, n + 2);
   b->s[b->len++] = '"';
   while (i < n) {
      size_t stop;
      while (i + 8 <= n) {
         uint64_t w;
         memcpy(&w, s + i, 8);
         if (word_unusual(w)) {
            break;
         }
         i += 8;
      }
      stop = i + 8 < n ? i + 8 : n;
      for (; i < stop; i++) {
         unsigned char c = (unsigned char)s[i];
         char esc[6] = {'\\', 0, '0', '0', 0, 0};
         size_t esc_len = 2;
         if (c >= 0x80) {
            if (ascii && !g_utf8_validate_len(s + i, n - i, NULL)) {
               return false;
            }
            ascii = false;
            continue;
         }
         if (!special(c)) {
            continue;
         }
         put(b, s + start, i - start);
         start = i + 1;
         switch (c) {
         case '\0': return false; /* libbson writes no text for it */
         case '"': esc[1] = '"'; break;
         case '\\': esc[1] = '\\'; break;
         case '\b': esc[1] = 'b'; break;
         case '\f': esc[1] = 'f'; break;
         case '\n': esc[1] = 'n'; break;
         case '\r': esc[1] = 'r'; break;
         case '\t': esc[1] = 't'; break;
         default:
            esc[1] = 'u';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            esc_len = 6;
            break;
         }
         put(b, esc, esc_len);
      }
   }
   put(b, s + start, n - start);
   put(b, "\"", 1);
   return true;
}

static void
put_int(buf_t *b, const char *open, int64_t v, const char *close)
{
   char digits[MN_ASCII_INT_SIZE];
   size_t n = mn_ascii__format_int(v, digits);

   put(b, open, strlen(open));
   put(b, digits, n);
   put(b, close, strlen(close));
}

/* A finite double's text: "%.20g", and ".0" after an integral one. */
static void
put_double_text(buf_t *b, double v)
{
   char text[64];
   int n = snprintf(text, sizeof text, "%.20g", v);

   put(b, text, (size_t)n);
   if (strspn(text, "0123456789-") == (size_t)n) {
      PUT_LIT(b, ".0");
   }
}

static void
put_double(buf_t *b, double v)
{
   if (b->relaxed && isfinite(v)) {
      put_double_text(b, v);
      return;
   }
   PUT_LIT(b, "{ \"$numberDouble\" : \"");
   if (isnan(v)) {
      PUT_LIT(b, "NaN");
   } else if (isinf(v)) {
      if (v > 0) {
         PUT_LIT(b, "Infinity");
      } else {
         PUT_LIT(b, "-Infinity");
      }
   } else {
      put_double_text(b, v);
   }
   PUT_LIT(b, "\" }");
}

/* A relaxed date from 1970 to 9999 (0 <= ms < YEAR_10000_MS): { "$date" : "ISO-8601" }. */
static void
put_iso_date(buf_t *b, int64_t ms)
{
   time_t t = (time_t)(ms / 1000);
   struct tm tm;
   char text[64];
   size_t n;

   gmtime_r(&t, &tm);
   n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
   if (ms % 1000) {
      n += (size_t)snprintf(text + n, sizeof text - n, ".%03d", (int)(ms % 1000));
   }
   PUT_LIT(b, "{ \"$date\" : \"");
   put(b, text, n);
   PUT_LIT(b, "Z\" }");
}

/* A value of another type, as libbson writes it: the one element of { "": value }. */
static bool
put_other(buf_t *b, const bson_iter_t *it)
{
   static const char open[] = "{ \"\" : ";
   static const char close[] = " }";
   bson_t tmp;
   char *json = NULL;
   size_t n = 0;
   bool ok;

   bson_init(&tmp);
   ok = bson_append_iter(&tmp, "", 0, it) &&
        (json = b->relaxed ? bson_as_relaxed_extended_json(&tmp, &n)
                           : bson_as_canonical_extended_json(&tmp, &n));
   ok = ok && n > sizeof open - 1 + sizeof close - 1 && memcmp(json, open, sizeof open - 1) == 0 &&
        memcmp(json + n - (sizeof close - 1), close, sizeof close - 1) == 0;
   if (ok) {
      put(b, json + sizeof open - 1, n - (sizeof open - 1) - (sizeof close - 1));
   }
   bson_free(json);
   bson_destroy(&tmp);
   return ok;
}

static bool put_elements(buf_t *b, bson_iter_t *it, bool array, int depth, const char *splice_key,
                         const char *splice_json);

/* A sub-document or array: "{ " elements " }" (empty: "{  }"). */
static bool
put_nested(buf_t *b, const bson_iter_t *it, bool array, int depth)
{
   bson_iter_t child;

   if (depth >= MAX_DEPTH || !bson_iter_recurse(it, &child)) {
      return false;
   }
   put(b, array ? "[ " : "{ ", 2);
   if (!put_elements(b, &child, array, depth + 1, NULL, NULL)) {
      return false;
   }
   put(b, array ? " ]" : " }", 2);
   return true;
}

static bool
put_value(buf_t *b, const bson_iter_t *it, int depth)
{
   uint32_t n;
   const char *s;
   char oid[25];
   int64_t ms;

   if (b->relaxed && (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it))) {
      put_int(b, "", bson_iter_as_int64(it), "");
      return true;
   }
   switch (bson_iter_type(it)) {
   case BSON_TYPE_UTF8: s = bson_iter_utf8(it, &n); return put_text(b, s, n);
   case BSON_TYPE_DOCUMENT: return put_nested(b, it, false, depth);
   case BSON_TYPE_ARRAY: return put_nested(b, it, true, depth);
   case BSON_TYPE_INT32:
      put_int(b, "{ \"$numberInt\" : \"", bson_iter_int32(it), "\" }");
      return true;
   case BSON_TYPE_INT64:
      put_int(b, "{ \"$numberLong\" : \"", bson_iter_int64(it), "\" }");
      return true;
   case BSON_TYPE_DATE_TIME:
      ms = bson_iter_date_time(it);
      if (b->relaxed && ms >= YEAR_10000_MS) {
         return !b->plain_only && put_other(b, it);
      }
      if (b->relaxed && ms >= 0) {
         put_iso_date(b, ms);
      } else {
         put_int(b, "{ \"$date\" : { \"$numberLong\" : \"", ms, "\" } }");
      }
      return true;
   case BSON_TYPE_DOUBLE: put_double(b, bson_iter_double(it)); return true;
   case BSON_TYPE_BOOL:
      if (bson_iter_bool(it)) {
         PUT_LIT(b, "true");
      } else {
         PUT_LIT(b, "false");
      }
      return true;
   case BSON_TYPE_NULL: PUT_LIT(b, "null"); return true;
   case BSON_TYPE_OID:
      bson_oid_to_string(bson_iter_oid(it), oid);
      PUT_LIT(b, "{ \"$oid\" : \"");
      put(b, oid, 24);
      PUT_LIT(b, "\" }");
      return true;
   default: return !b->plain_only && put_other(b, it);
   }
}

/* The elements of a document or array, joined by ", "; the splice key's value (top
 * level only) written as the given text. */
static bool
put_elements(buf_t *b, bson_iter_t *it, bool array, int depth, const char *splice_key,
             const char *splice_json)
{
   bool first = true;

   while (bson_iter_next(it)) {
      if (!first) {
         put(b, ", ", 2);
      }
      first = false;
      if (!array) {
         const char *key = bson_iter_key(it);
         if (!put_text(b, key, bson_iter_key_len(it))) {
            return false;
         }
         PUT_LIT(b, " : ");
         if (splice_key && BSON_ITER_HOLDS_DOCUMENT(it) && strcmp(key, splice_key) == 0) {
            put(b, splice_json, strlen(splice_json));
            continue;
         }
      }
      if (!put_value(b, it, depth)) {
         return false;
      }
   }
   return it->err_off == 0; /* corrupt BSON stops the iteration: libbson says NULL */
}

/* The fast writer: the text into *out (bson_malloc'ed), or false when libbson must. */
static bool
encode_fast(const bson_t *doc, const char *splice_key, const char *splice_json, buf_t *out)
{
   bson_iter_t it;

   if (bson_empty(doc)) {
      PUT_LIT(out, "{ }");
   } else {
      if (!bson_iter_init(&it, doc)) {
         return false;
      }
      PUT_LIT(out, "{ ");
      if (!put_elements(out, &it, false, 0, splice_key, splice_json)) {
         return false;
      }
      PUT_LIT(out, " }");
   }
   out->s[out->len] = '\0';
   return true;
}

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool fast_ok;
static bool relaxed_ok;

/* Whether the fast writer's text of doc, in one mode, is libbson's. */
static bool
probe_mode(const bson_t *doc, bool relaxed)
{
   buf_t fast = {.relaxed = relaxed};
   char *lib = relaxed ? bson_as_relaxed_extended_json(doc, NULL)
                       : bson_as_canonical_extended_json(doc, NULL);
   bool same = encode_fast(doc, NULL, NULL, &fast) && lib && strcmp(fast.s, lib) == 0;

   bson_free(fast.s);
   bson_free(lib);
   return same;
}

/* A document with every case the fast writer handles, compared with libbson's text. */
static void
probe(void)
{
   static const double doubles[] = {3.0, 0.1, -0.0, -2.5, 1e300, 5e-324, 123456789012.0, 1e21};
   static const int64_t dates[] = {0,
                                   1,
                                   999,
                                   1700000000000,
                                   1700000000123,
                                   951782400001,
                                   YEAR_10000_MS - 1,
                                   YEAR_10000_MS,
                                   INT64_MAX,
                                   -1};
   static const char text[] =
      "a\"b\\c/d\b\f\n\r\t\x01\x1f\x7f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
   bson_t doc = BSON_INITIALIZER, sub, arr;
   bson_oid_t oid;

   bson_oid_init_from_string(&oid, "5c6ef33300de000000000102");
   BSON_APPEND_UTF8(&doc, text, text);
   BSON_APPEND_UTF8(&doc, "", "");
   BSON_APPEND_DOCUMENT_BEGIN(&doc, "d", &sub);
   bson_append_document_end(&doc, &sub);
   BSON_APPEND_ARRAY_BEGIN(&doc, "a", &arr);
   bson_append_array_end(&doc, &arr);
   BSON_APPEND_ARRAY_BEGIN(&doc, "n", &arr);
   BSON_APPEND_INT32(&arr, "0", INT32_MIN);
   BSON_APPEND_INT64(&arr, "1", INT64_MIN);
   BSON_APPEND_DATE_TIME(&arr, "2", -253667347213);
   BSON_APPEND_BOOL(&arr, "3", true);
   BSON_APPEND_BOOL(&arr, "4", false);
   BSON_APPEND_NULL(&arr, "5");
   BSON_APPEND_OID(&arr, "6", &oid);
   BSON_APPEND_DOUBLE(&arr, "7", NAN);
   BSON_APPEND_DOUBLE(&arr, "8", INFINITY);
   BSON_APPEND_DOUBLE(&arr, "9", -INFINITY);
   for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
      char key[16];
      snprintf(key, sizeof key, "%zu", 10 + i);
      BSON_APPEND_DOUBLE(&arr, key, doubles[i]);
   }
   for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
      char key[16];
      snprintf(key, sizeof key, "%zu", 30 + i);
      BSON_APPEND_DATE_TIME(&arr, key, dates[i]);
   }
   BSON_APPEND_DOCUMENT_BEGIN(&arr, "20", &sub);
   BSON_APPEND_INT32(&sub, "x", 1);
   BSON_APPEND_INT32(&sub, "y", INT32_MAX);
   BSON_APPEND_INT64(&sub, "z", INT64_MAX);
   BSON_APPEND_BINARY(&sub, "b", BSON_SUBTYPE_BINARY, (const uint8_t *)"ab", 2);
   bson_append_document_end(&arr, &sub);
   bson_append_array_end(&doc, &arr);
   fast_ok = probe_mode(&doc, false);
   relaxed_ok = fast_ok && probe_mode(&doc, true);
   bson_destroy(&doc);
}

bool
mn_ejson__fast(void)
{
   pthread_once(&probe_once, probe);
   return fast_ok;
}

bool
mn_ejson__fast_relaxed(void)
{
   pthread_once(&probe_once, probe);
   return relaxed_ok;
}

/* The fast writer's text of doc in out's mode when `fast` (its probe matched) and it writes
 * all of it (*len set); else NULL, out freed. */
static char *
fast_text(bool fast, const bson_t *doc, const char *splice_key, const char *splice_json, buf_t *out,
          size_t *len)
{
   if (fast && encode_fast(doc, splice_key, splice_json, out)) {
      if (len) {
         *len = out->len;
      }
      return out->s;
   }
   bson_free(out->s);
   return NULL;
}

char *
mn_ejson__relaxed(const bson_t *doc, size_t *len)
{
   buf_t out = {.relaxed = true};
   char *text = fast_text(mn_ejson__fast_relaxed(), doc, NULL, NULL, &out, len);

   return text ? text : bson_as_relaxed_extended_json(doc, len);
}

char *
mn_ejson__plain(const bson_t *doc, size_t *len)
{
   buf_t out = {.plain_only = true};

   /* room for the text of a typical document at once: about its size and a half */
   buf_reserve(&out, (size_t)doc->len + doc->len / 2 + 64);
   return fast_text(mn_ejson__fast(), doc, NULL, NULL, &out, len);
}

char *
mn_ejson__canonical(const bson_t *doc, const char *splice_key, const char *splice_json, size_t *len)
{
   buf_t out = {0};
   char *text =
      fast_text(mn_ejson__fast(), doc, splice_key, splice_key ? splice_json : NULL, &out, len);

   return text ? text : bson_as_canonical_extended_json(doc, len);
}
