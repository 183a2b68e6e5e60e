/*
 * test_value.c - unit tests for value.c: every conversion of value.h with its
 * edge values.  The expected texts were checked against PostgreSQL 15
 * (SELECT '<text>'::<type>); these tests do not need a server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <mongonorm/value.h>

typedef struct {
   bson_string_t *out;
   char reason[512];
} ctx_t;

static int
setup(void **state)
{
   ctx_t *t = bson_malloc0(sizeof *t);

   t->out = bson_string_new(NULL);
   *state = t;
   return 0;
}

static int
teardown(void **state)
{
   ctx_t *t = *state;

   bson_string_free(t->out, true);
   bson_free(t);
   return 0;
}

/* ---- documents {"v": <value>} ---- */

static bson_t *
doc_utf8_len(const char *s, int len)
{
   bson_t *d = bson_new();
   assert_true(bson_append_utf8(d, "v", 1, s, len));
   return d;
}

static bson_t *
doc_utf8(const char *s)
{
   return doc_utf8_len(s, -1);
}

static bson_t *
doc_int32(int32_t v)
{
   bson_t *d = bson_new();
   assert_true(bson_append_int32(d, "v", 1, v));
   return d;
}

static bson_t *
doc_int64(int64_t v)
{
   bson_t *d = bson_new();
   assert_true(bson_append_int64(d, "v", 1, v));
   return d;
}

static bson_t *
doc_double(double v)
{
   bson_t *d = bson_new();
   assert_true(bson_append_double(d, "v", 1, v));
   return d;
}

static bson_t *
doc_dec(const char *text)
{
   bson_t *d = bson_new();
   bson_decimal128_t dec;

   assert_true(bson_decimal128_from_string(text, &dec));
   assert_true(bson_append_decimal128(d, "v", 1, &dec));
   return d;
}

static bson_t *
doc_date(int64_t ms)
{
   bson_t *d = bson_new();
   assert_true(bson_append_date_time(d, "v", 1, ms));
   return d;
}

static bson_t *
doc_bool(bool v)
{
   bson_t *d = bson_new();
   assert_true(bson_append_bool(d, "v", 1, v));
   return d;
}

static bson_t *
doc_oid(const char *hex)
{
   bson_t *d = bson_new();
   bson_oid_t oid;

   bson_oid_init_from_string(&oid, hex);
   assert_true(bson_append_oid(d, "v", 1, &oid));
   return d;
}

static bson_t *
doc_binary(bson_subtype_t sub, const uint8_t *data, uint32_t len)
{
   bson_t *d = bson_new();
   assert_true(bson_append_binary(d, "v", 1, sub, data, len));
   return d;
}

/* Canonical or relaxed Extended JSON of the whole document, e.g. {"v": [1, 2]}. */
static bson_t *
doc_json(const char *json)
{
   bson_error_t err;
   bson_t *d = bson_new_from_json((const uint8_t *)json, -1, &err);

   if (!d) {
      fail_msg("bad test json %s: %s", json, err.message);
   }
   return d;
}

/* {"v": {"a": {"a": ... 1}}} with `levels` documents below "v". */
static bson_t *
nested(int levels)
{
   bson_t *cur = bson_new(), *wrap;
   int i;

   assert_true(BSON_APPEND_INT32(cur, "a", 1));
   for (i = 0; i < levels; i++) {
      wrap = bson_new();
      assert_true(BSON_APPEND_DOCUMENT(wrap, i == levels - 1 ? "v" : "a", cur));
      bson_destroy(cur);
      cur = wrap;
   }
   return cur;
}

/* ---- running a conversion ---- */

static mn_value_spec_t
spec_of(mn_type_t type)
{
   mn_value_spec_t s;

   memset(&s, 0, sizeof s);
   s.type = type;
   s.scale = -1;
   return s;
}

static void
check_reason_style(const char *reason)
{
   size_t len = strlen(reason);

   assert_true(len > 0);
   if (reason[0] >= 'A' && reason[0] <= 'Z') {
      fail_msg("reason starts with a capital: %s", reason);
   }
   if (reason[len - 1] == '.' || reason[len - 1] == '\n') {
      fail_msg("reason ends with a period or newline: %s", reason);
   }
}

/* Convert doc's "v" (then destroy doc) and check status and text. */
static void
expect(ctx_t *t, bson_t *doc, const mn_value_spec_t *spec, mn_value_status_t want,
       const char *want_text)
{
   bson_iter_t it;
   mn_value_status_t st;

   bson_string_truncate(t->out, 0);
   memset(t->reason, 'x', sizeof t->reason - 1);
   t->reason[sizeof t->reason - 1] = '\0';
   assert_true(bson_iter_init_find(&it, doc, "v"));
   st = mn_value_convert(&it, spec, t->out, t->reason, sizeof t->reason);
   if (st != want) {
      fail_msg("status %d, expected %d; out \"%s\", reason \"%s\"", (int)st, (int)want, t->out->str,
               t->reason);
   }
   if (want == MN_VALUE_OK || want == MN_VALUE_COERCED) {
      if (want_text) {
         assert_string_equal(t->out->str, want_text);
      }
      assert_int_equal(strlen(t->out->str), t->out->len); /* never NUL-containing */
   } else {
      assert_int_equal(t->out->len, 0);
   }
   if (want == MN_VALUE_COERCED || want == MN_VALUE_INVALID) {
      check_reason_style(t->reason);
   } else if (want == MN_VALUE_OK) {
      assert_string_equal(t->reason, "");
   }
   bson_destroy(doc);
}

#define OK(doc, spec, text) expect(t, (doc), (spec), MN_VALUE_OK, (text))
#define COERCED(doc, spec, text) expect(t, (doc), (spec), MN_VALUE_COERCED, (text))
#define INVALID(doc, spec) expect(t, (doc), (spec), MN_VALUE_INVALID, NULL)
#define IS_NULL(doc, spec) expect(t, (doc), (spec), MN_VALUE_NULL, NULL)

/* The last reason contains `part`. */
#define REASON_HAS(part)                                                                           \
   do {                                                                                            \
      if (!strstr(t->reason, (part))) {                                                            \
         fail_msg("reason \"%s\" lacks \"%s\"", t->reason, (part));                                \
      }                                                                                            \
   } while (0)

/* ---- absent, null ---- */

static void
test_value_absent_and_null(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_TEXT);
   bson_t *d = doc_json("{\"v\": null, \"u\": {\"$undefined\": true}}");
   bson_iter_t it;

   bson_string_append(t->out, "keep");
   assert_int_equal(mn_value_convert(NULL, &s, t->out, t->reason, sizeof t->reason), MN_VALUE_NULL);
   assert_true(bson_iter_init_find(&it, d, "v"));
   assert_int_equal(mn_value_convert(&it, &s, t->out, t->reason, sizeof t->reason), MN_VALUE_NULL);
   assert_true(bson_iter_init_find(&it, d, "u"));
   assert_int_equal(mn_value_convert(&it, &s, t->out, NULL, 0), MN_VALUE_NULL);
   assert_string_equal(t->out->str, "keep");
   bson_destroy(d);

   s = spec_of(MN_TYPE_INTEGER);
   IS_NULL(doc_json("{\"v\": null}"), &s);
}

/* An INVALID value leaves what the caller already had; OK appends. */
static void
test_value_appends_only_on_success(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_TEXT_ARRAY);
   bson_t *d = doc_json("{\"ok\": [\"a\"], \"bad\": [\"a\", \"b\", {\"c\": 1}]}");
   bson_iter_t it;

   bson_string_append(t->out, "row|");
   assert_true(bson_iter_init_find(&it, d, "bad"));
   assert_int_equal(mn_value_convert(&it, &s, t->out, t->reason, sizeof t->reason),
                    MN_VALUE_INVALID);
   assert_string_equal(t->out->str, "row|");
   assert_non_null(strstr(t->reason, "array element 2"));
   assert_true(bson_iter_init_find(&it, d, "ok"));
   assert_int_equal(mn_value_convert(&it, &s, t->out, NULL, 0), MN_VALUE_OK);
   assert_string_equal(t->out->str, "row|{\"a\"}");
   bson_destroy(d);
}

/* ---- text ---- */

static void
test_value_text_string(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_TEXT);

   OK(doc_utf8("Metformin 500mg, Lisinopril 10mg"), &s, "Metformin 500mg, Lisinopril 10mg");
   OK(doc_utf8("Zoë Ñúñez 张伟 \xf0\x9f\x98\x80"), &s, "Zoë Ñúñez 张伟 \xf0\x9f\x98\x80");
   OK(doc_utf8("back\\slash\ttab\nnewline"), &s, "back\\slash\ttab\nnewline");
}

static void
test_value_text_from_scalars(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_TEXT);

   /* The text reads back as exactly the source value: lossless, not counted (OK, and
    * OK asserts an empty reason). */
   OK(doc_int32(-5), &s, "-5");
   OK(doc_int64(INT64_MIN), &s, "-9223372036854775808");
   OK(doc_double(0.1), &s, "0.1");
   OK(doc_double(NAN), &s, "NaN");
   OK(doc_dec("12345678901234567890.123456789"), &s, "12345678901234567890.123456789");
   OK(doc_bool(true), &s, "true");
   OK(doc_oid("5f1a2b3c4d5e6f7081920a3b"), &s, "5f1a2b3c4d5e6f7081920a3b");
   OK(doc_date(-1), &s, "1969-12-31T23:59:59.999Z");
   OK(doc_date(-63517824000000), &s, "-000043-03-15T00:00:00.000Z");
   INVALID(doc_json("{\"v\": {\"a\": 1}}"), &s);
   REASON_HAS("cannot convert document to text");
   INVALID(doc_json("{\"v\": [1]}"), &s);
   INVALID(doc_json("{\"v\": {\"$binary\": {\"base64\": \"AAE=\", \"subType\": \"00\"}}}"), &s);
}

static void
test_value_string_invalid_utf8_and_nul(void **state)
{
   ctx_t *t = *state;
   mn_type_t types[] = {MN_TYPE_TEXT, MN_TYPE_NUMERIC, MN_TYPE_JSONB, MN_TYPE_TEXT_ARRAY,
                        MN_TYPE_UUID};
   size_t i;

   for (i = 0; i < sizeof types / sizeof types[0]; i++) {
      mn_value_spec_t s = spec_of(types[i]);

      INVALID(doc_utf8("abc\xff"), &s);
      REASON_HAS("string is not valid utf-8");
      INVALID(doc_utf8("\xc0\xaf"), &s);         /* overlong "/" */
      INVALID(doc_utf8("\xed\xa0\x80"), &s);     /* UTF-16 surrogate */
      INVALID(doc_utf8("\xf4\x90\x80\x80"), &s); /* past U+10FFFF */
      INVALID(doc_utf8("\xe2\x82"), &s);         /* truncated */
      INVALID(doc_utf8_len("a\0b", 3), &s);
      REASON_HAS("string contains a nul byte");
      /* past runs of ASCII, which are checked eight bytes at a time */
      INVALID(doc_utf8("abcdefgh12345678\xff"), &s);
      REASON_HAS("string is not valid utf-8");
      INVALID(doc_utf8("abcdefg\xe2\x82"
                       "12345678"),
              &s);                                              /* truncated */
      INVALID(doc_utf8("abcdefgh12345678\xed\xa0\x80xyz"), &s); /* surrogate */
      INVALID(doc_utf8("abcdefgh\xc3\xa9"
                       "12345678\xc0\xaf."),
              &s); /* overlong */
   }
   {
      mn_value_spec_t s = spec_of(MN_TYPE_TEXT);
      OK(doc_utf8("abcdefgh\xc3\xa9"
                  "12345678\xf0\x9f\x98\x80"
                  "abcdefgh"),
         &s,
         "abcdefgh\xc3\xa9"
         "12345678\xf0\x9f\x98\x80"
         "abcdefgh");
   }
}

/* ---- transforms, empty, enum ---- */

static void
test_value_transforms(void **state)
{
   ctx_t *t = *state;
   mn_transform_t trim_lower[] = {MN_TRANSFORM_TRIM, MN_TRANSFORM_LOWER};
   mn_transform_t upper[] = {MN_TRANSFORM_UPPER};
   mn_value_spec_t s = spec_of(MN_TYPE_TEXT);

   s.transforms = trim_lower;
   s.n_transforms = 2;
   COERCED(doc_utf8("  John.Doe@Example.COM \t"), &s, "john.doe@example.com");
   REASON_HAS("string \"  John.Doe@Example.COM \\x09\" trimmed, lower-cased");
   OK(doc_utf8("already@clean.org"), &s, "already@clean.org");
   /* Only ASCII letters change case. */
   COERCED(doc_utf8("ÄRZTIN Ö"), &s, "Ärztin Ö");
   s.transforms = upper;
   s.n_transforms = 1;
   COERCED(doc_utf8("a+"), &s, "A+");
   REASON_HAS("upper-cased");
   OK(doc_utf8(" O- "), &s, " O- ");
}

static void
test_value_empty_rules(void **state)
{
   ctx_t *t = *state;
   mn_transform_t trim[] = {MN_TRANSFORM_TRIM};
   mn_value_spec_t s = spec_of(MN_TYPE_TEXT);

   OK(doc_utf8(""), &s, ""); /* default for text: keep */
   s.empty = MN_EMPTY_NULL;
   IS_NULL(doc_utf8(""), &s);
   s.empty = MN_EMPTY_INVALID;
   INVALID(doc_utf8(""), &s);
   REASON_HAS("empty string");

   s = spec_of(MN_TYPE_NUMERIC); /* default for other types: NULL */
   IS_NULL(doc_utf8(""), &s);
   s.empty = MN_EMPTY_KEEP; /* kept, then it is not a number */
   INVALID(doc_utf8(""), &s);
   s = spec_of(MN_TYPE_DATE);
   IS_NULL(doc_utf8(""), &s);
   s = spec_of(MN_TYPE_BOOLEAN);
   IS_NULL(doc_utf8(""), &s);
   s = spec_of(MN_TYPE_TEXT_ARRAY);
   IS_NULL(doc_utf8(""), &s);
   s = spec_of(MN_TYPE_INET);
   IS_NULL(doc_utf8(""), &s);

   /* Empty after transforms. */
   s = spec_of(MN_TYPE_NUMERIC);
   s.transforms = trim;
   s.n_transforms = 1;
   IS_NULL(doc_utf8("   "), &s);
   s.empty = MN_EMPTY_INVALID;
   INVALID(doc_utf8(" \t "), &s);
}

static void
test_value_enum(void **state)
{
   ctx_t *t = *state;
   const char *const genders[] = {"male", "female", "other", "prefer-not-to-say"};
   const char *const freq[] = {"none", "1-2", "3-4", "5+", "daily"};
   const char *const codes[] = {"1", "2"};
   mn_transform_t trim_lower[] = {MN_TRANSFORM_TRIM, MN_TRANSFORM_LOWER};
   mn_value_spec_t s = spec_of(MN_TYPE_TEXT);

   s.enum_values = genders;
   s.n_enum = 4;
   OK(doc_utf8("female"), &s, "female");
   INVALID(doc_utf8("Female"), &s);
   REASON_HAS("string \"Female\" is not in the enum");
   INVALID(doc_utf8("unknown"), &s);
   s.empty = MN_EMPTY_NULL;
   IS_NULL(doc_utf8(""), &s); /* the empty rule comes before the enum */
   s.transforms = trim_lower;
   s.n_transforms = 2;
   COERCED(doc_utf8(" Male "), &s, "male");
   COERCED(doc_utf8("PREFER-NOT-TO-SAY"), &s, "prefer-not-to-say");

   s = spec_of(MN_TYPE_TEXT);
   s.enum_values = freq;
   s.n_enum = 5;
   OK(doc_utf8("5+"), &s, "5+");
   INVALID(doc_utf8("5"), &s);
   /* A non-string value meets the enum on its text. */
   s.enum_values = codes;
   s.n_enum = 2;
   OK(doc_int32(2), &s, "2");
   INVALID(doc_int32(3), &s);
   REASON_HAS("value \"3\" is not in the enum");
   s.type = MN_TYPE_INTEGER;
   OK(doc_int32(1), &s, "1");
   INVALID(doc_int64(7), &s);
}

/* ---- integers ---- */

static void
test_value_int_limits(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_BIGINT);

   OK(doc_int64(INT64_MAX), &s, "9223372036854775807");
   OK(doc_int64(INT64_MIN), &s, "-9223372036854775808");
   OK(doc_int32(INT32_MIN), &s, "-2147483648");
   s.type = MN_TYPE_INTEGER;
   OK(doc_int32(INT32_MAX), &s, "2147483647");
   OK(doc_int64(INT32_MIN), &s, "-2147483648");
   INVALID(doc_int64((int64_t)INT32_MAX + 1), &s);
   REASON_HAS("value 2147483648 out of range for integer");
   INVALID(doc_int64(INT64_MIN), &s);
   s.type = MN_TYPE_SMALLINT;
   OK(doc_int32(32767), &s, "32767");
   OK(doc_int32(-32768), &s, "-32768");
   INVALID(doc_int32(70000), &s);
   assert_string_equal(t->reason, "value 70000 out of range for smallint");
   INVALID(doc_int32(32768), &s);
   INVALID(doc_int32(-32769), &s);
   INVALID(doc_bool(true), &s);
   REASON_HAS("cannot convert bool to smallint");
   INVALID(doc_date(0), &s);
}

static void
test_value_int_from_double_and_decimal(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_INTEGER);

   /* a whole double changes kind: counted */
   COERCED(doc_double(3.0), &s, "3");
   assert_string_equal(t->reason, "value 3: double converted to integer");
   COERCED(doc_double(-2147483648.0), &s, "-2147483648");
   INVALID(doc_double(2147483648.0), &s);
   INVALID(doc_double(1.5), &s);
   REASON_HAS("value 1.5 is not an integer");
   INVALID(doc_double(NAN), &s);
   INVALID(doc_double(INFINITY), &s);
   INVALID(doc_double(-INFINITY), &s);
   COERCED(doc_double(-0.0), &s, "0");
   REASON_HAS("negative zero");
   s.type = MN_TYPE_BIGINT;
   INVALID(doc_double(9223372036854775808.0), &s);
   COERCED(doc_double(-9223372036854775808.0), &s, "-9223372036854775808");
   INVALID(doc_double(1e300), &s);

   OK(doc_dec("42"), &s, "42");
   OK(doc_dec("-9223372036854775808"), &s, "-9223372036854775808");
   OK(doc_dec("9223372036854775807"), &s, "9223372036854775807");
   INVALID(doc_dec("9223372036854775808"), &s);
   INVALID(doc_dec("-9223372036854775809"), &s);
   INVALID(doc_dec("1E+30"), &s);
   COERCED(doc_dec("4.20E+1"), &s, "42");
   REASON_HAS("value 42.0 stored as 42");
   COERCED(doc_dec("3.00"), &s, "3");
   INVALID(doc_dec("3.01"), &s);
   INVALID(doc_dec("NaN"), &s);
   INVALID(doc_dec("Infinity"), &s);
   COERCED(doc_dec("-0"), &s, "0");
   s.type = MN_TYPE_SMALLINT;
   INVALID(doc_dec("32768"), &s);
}

static void
test_value_int_from_string(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_INTEGER);

   COERCED(doc_utf8("42"), &s, "42");
   REASON_HAS("string \"42\" converted to integer");
   COERCED(doc_utf8(" -42 "), &s, "-42");
   COERCED(doc_utf8("+7"), &s, "7");
   COERCED(doc_utf8("4.0"), &s, "4");
   COERCED(doc_utf8("1e3"), &s, "1000");
   INVALID(doc_utf8("4.5"), &s);
   INVALID(doc_utf8("abc"), &s);
   assert_string_equal(t->reason, "string \"abc\" is not a number");
   INVALID(doc_utf8("12abc"), &s);
   INVALID(doc_utf8("NaN"), &s);
   INVALID(doc_utf8("0x10"), &s);
   INVALID(doc_utf8("2147483648"), &s);
   REASON_HAS("out of range for integer");
   s.type = MN_TYPE_BIGINT;
   COERCED(doc_utf8("-9223372036854775808"), &s, "-9223372036854775808");
   INVALID(doc_utf8("99999999999999999999"), &s);
}

/* ---- numeric ---- */

static void
test_value_numeric_exact(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_NUMERIC);
   bson_string_t *big = bson_string_new("1");
   int i;

   OK(doc_int64(INT64_MAX), &s, "9223372036854775807");
   OK(doc_int64(INT64_MIN), &s, "-9223372036854775808");
   OK(doc_int32(0), &s, "0");
   OK(doc_dec("12345678901234567890.123456789"), &s, "12345678901234567890.123456789");
   OK(doc_dec("-1234567890123456789012345678901234"), &s, "-1234567890123456789012345678901234");
   OK(doc_dec("1.50"), &s, "1.50"); /* the scale is kept */
   OK(doc_dec("0.000"), &s, "0.000");
   OK(doc_dec("1.23E+5"), &s, "123000");
   OK(doc_dec("1E-10"), &s, "0.0000000001");
   /* PostgreSQL 14+ stores NaN and the infinities in numeric */
   OK(doc_dec("NaN"), &s, "NaN");
   OK(doc_dec("Infinity"), &s, "Infinity");
   OK(doc_dec("-Infinity"), &s, "-Infinity");
   COERCED(doc_dec("-0"), &s, "0");
   REASON_HAS("negative zero stored as 0");
   COERCED(doc_dec("-0.00"), &s, "0.00");

   /* The largest decimal128 exponent, written out as PostgreSQL prints it. */
   for (i = 0; i < 6111; i++) {
      bson_string_append_c(big, '0');
   }
   OK(doc_dec("1E+6111"), &s, big->str);
   bson_string_free(big, true);

   /* numeric(p,s) takes NaN but not the infinities ("a field with precision 10, scale 2
    * cannot hold an infinite value"), as PostgreSQL 15 does. */
   s.precision = 10;
   s.scale = 2;
   OK(doc_dec("NaN"), &s, "NaN");
   INVALID(doc_dec("Infinity"), &s);
   assert_string_equal(t->reason, "value Infinity does not fit numeric(10,2)");
   INVALID(doc_dec("-Infinity"), &s);
   INVALID(doc_json("{\"v\": [1]}"), &s);
   INVALID(doc_bool(false), &s);
}

static void
test_value_numeric_double(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_NUMERIC);
   bson_string_t *want = bson_string_new("1");
   int i;

   OK(doc_double(0.1), &s, "0.1");
   OK(doc_double(-2.5), &s, "-2.5");
   OK(doc_double(123.0), &s, "123");
   OK(doc_double(0.30000000000000004), &s, "0.30000000000000004");
   bson_string_append(want, "7976931348623157"); /* DBL_MAX: 309 digits */
   for (i = 0; i < 292; i++) {
      bson_string_append_c(want, '0');
   }
   OK(doc_double(1.7976931348623157e308), &s, want->str);
   bson_string_truncate(want, 0);
   bson_string_append_c(want, '1');
   for (i = 0; i < 300; i++) {
      bson_string_append_c(want, '0');
   }
   OK(doc_double(1e300), &s, want->str);
   bson_string_free(want, true);
   OK(doc_double(NAN), &s, "NaN");
   OK(doc_double(-INFINITY), &s, "-Infinity");
   OK(doc_double(INFINITY), &s, "Infinity");
   COERCED(doc_double(-0.0), &s, "0");
   s.precision = 5;
   s.scale = 2;
   OK(doc_double(0.1), &s, "0.10");
   OK(doc_double(NAN), &s, "NaN");
   INVALID(doc_double(INFINITY), &s);
}

static void
test_value_numeric_precision_scale(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_NUMERIC);

   s.precision = 5;
   s.scale = 2;
   OK(doc_int32(178), &s, "178.00");
   OK(doc_int32(-999), &s, "-999.00");
   INVALID(doc_int32(123456), &s);
   assert_string_equal(t->reason, "value 123456 does not fit numeric(5,2)");
   INVALID(doc_int32(1000), &s);
   OK(doc_dec("1.500"), &s, "1.50");      /* only zeros dropped */
   COERCED(doc_dec("1.005"), &s, "1.01"); /* half away from zero */
   REASON_HAS("value 1.005 rounded to 2 decimal places");
   COERCED(doc_dec("-1.005"), &s, "-1.01");
   COERCED(doc_dec("1.004999"), &s, "1.00");
   COERCED(doc_dec("999.994"), &s, "999.99");
   INVALID(doc_dec("999.995"), &s); /* rounds up to 1000.00 */
   COERCED(doc_dec("-0.001"), &s, "0.00");
   COERCED(doc_double(0.30000000000000004), &s, "0.30");

   /* numeric(3): scale 0. */
   s.precision = 3;
   s.scale = -1;
   COERCED(doc_dec("12.5"), &s, "13");
   COERCED(doc_dec("-12.5"), &s, "-13");
   OK(doc_int32(999), &s, "999");
   INVALID(doc_dec("999.5"), &s);

   /* Scale without a precision limit. */
   s.precision = 0;
   s.scale = 1;
   OK(doc_int64(INT64_MAX), &s, "9223372036854775807.0");
   COERCED(doc_double(0.25), &s, "0.3");

   /* PostgreSQL 15 allows scale > precision: |v| < 10^(p-s). */
   s.precision = 2;
   s.scale = 5;
   OK(doc_dec("0.00099"), &s, "0.00099");
   INVALID(doc_dec("0.001"), &s);
}

static void
test_value_numeric_strings(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_NUMERIC);
   bson_string_t *many = bson_string_new(NULL);
   int i;

   COERCED(doc_utf8("178"), &s, "178");
   REASON_HAS("string \"178\" converted to numeric");
   COERCED(doc_utf8("-0.50"), &s, "-0.50");
   COERCED(doc_utf8(".5"), &s, "0.5");
   COERCED(doc_utf8("1e3"), &s, "1000");
   COERCED(doc_utf8("2.5E-3"), &s, "0.0025");
   /* as in double precision columns: PostgreSQL's numeric reads them too */
   COERCED(doc_utf8("nan"), &s, "NaN");
   COERCED(doc_utf8("-Infinity"), &s, "-Infinity");
   INVALID(doc_utf8("tall"), &s);
   assert_string_equal(t->reason, "string \"tall\" is not a number");
   INVALID(doc_utf8("178 cm"), &s); /* no units declared */
   INVALID(doc_utf8("1.2.3"), &s);
   INVALID(doc_utf8("."), &s);
   INVALID(doc_utf8("-"), &s);
   INVALID(doc_utf8("1e"), &s);
   INVALID(doc_utf8("1,5"), &s);
   for (i = 0; i < 1200; i++) {
      bson_string_append_c(many, (char)('1' + i % 9));
   }
   INVALID(doc_utf8(many->str), &s);
   REASON_HAS("has too many digits");
   bson_string_free(many, true);
   s.precision = 5;
   s.scale = 2;
   COERCED(doc_utf8("178"), &s, "178.00");
   INVALID(doc_utf8("123456"), &s);
}

static const mn_unit_t length_units[] = {
   {"cm", 1}, {"m", 100}, {"in", 2.54}, {"\"", 2.54}, {"ft", 30.48}, {"'", 30.48},
};

static const mn_unit_t weight_units[] = {
   {"kg", 1},
   {"lbs", 0.45359237},
   {"lb", 0.45359237},
   {"g", 0.001},
};

static void
test_value_units_length(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_NUMERIC);

   s.units = length_units;
   s.n_units = sizeof length_units / sizeof length_units[0];
   s.default_unit = "cm";
   COERCED(doc_utf8("178"), &s, "178");
   COERCED(doc_utf8("178 cm"), &s, "178");
   REASON_HAS("string \"178 cm\" converted with units");
   COERCED(doc_utf8("178cm"), &s, "178");
   COERCED(doc_utf8("178 CM"), &s, "178");
   COERCED(doc_utf8("1.78 m"), &s, "178");
   COERCED(doc_utf8("5'10\""), &s, "177.8");
   COERCED(doc_utf8("5' 10\""), &s, "177.8");
   COERCED(doc_utf8("5 ft 10 in"), &s, "177.8");
   COERCED(doc_utf8("6'"), &s, "182.88");
   COERCED(doc_utf8(" 70 in "), &s, "177.8");
   INVALID(doc_utf8("tall"), &s);
   assert_string_equal(t->reason, "string \"tall\" is not a number");
   IS_NULL(doc_utf8(""), &s);
   INVALID(doc_utf8("178 furlongs"), &s);
   REASON_HAS("has an unknown unit");
   INVALID(doc_utf8("178 cms"), &s);
   INVALID(doc_utf8("5'10"), &s); /* a second bare number is ambiguous */
   INVALID(doc_utf8("cm"), &s);
   INVALID(doc_utf8("5 ft tall"), &s);
   /* Numbers that are not strings need no units. */
   OK(doc_int32(178), &s, "178");
   OK(doc_double(177.8), &s, "177.8");

   /* Default unit other than the column's unit. */
   s.default_unit = "m";
   COERCED(doc_utf8("1.78"), &s, "178");
   REASON_HAS("default unit \"m\"");
   /* No default: a bare number is taken as is. */
   s.default_unit = NULL;
   COERCED(doc_utf8("178"), &s, "178");

   s.type = MN_TYPE_INTEGER;
   s.default_unit = "cm";
   COERCED(doc_utf8("2 m"), &s, "200");
   INVALID(doc_utf8("6 ft"), &s); /* 182.88 */
   REASON_HAS("is not an integer");
}

static void
test_value_units_weight(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_NUMERIC);

   s.units = weight_units;
   s.n_units = sizeof weight_units / sizeof weight_units[0];
   s.default_unit = "kg";
   s.precision = 5;
   s.scale = 2;
   COERCED(doc_utf8("70 kg"), &s, "70.00");
   COERCED(doc_utf8("70"), &s, "70.00");
   COERCED(doc_utf8("154 lbs"), &s, "69.85");
   REASON_HAS("rounded to 2 decimal places");
   COERCED(doc_utf8("154lbs"), &s, "69.85");
   COERCED(doc_utf8("1 lb"), &s, "0.45");
   COERCED(doc_utf8("500 g"), &s, "0.50");
   INVALID(doc_utf8("heavy"), &s);
   INVALID(doc_utf8("1000 kg"), &s);
   s.precision = 0;
   s.scale = -1;
   COERCED(doc_utf8("154 lbs"), &s, "69.85322498");
   s.type = MN_TYPE_DOUBLE;
   COERCED(doc_utf8("154 lbs"), &s, "69.85322498");
   s.type = MN_TYPE_INTEGER;
   INVALID(doc_utf8("154 lbs"), &s);
   REASON_HAS("is not an integer");
}

/* ---- double precision, real ---- */

static void
test_value_double(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_DOUBLE);

   OK(doc_double(0.1), &s, "0.1");
   OK(doc_double(1e300), &s, "1e+300");
   OK(doc_double(-1.5e-300), &s, "-1.5e-300");
   OK(doc_double(5e-324), &s, "5e-324");
   OK(doc_double(1.7976931348623157e308), &s, "1.7976931348623157e+308");
   OK(doc_double(NAN), &s, "NaN");
   OK(doc_double(INFINITY), &s, "Infinity");
   OK(doc_double(-INFINITY), &s, "-Infinity");
   OK(doc_double(-0.0), &s, "-0");
   OK(doc_double(123456789.0), &s, "123456789");
   OK(doc_int32(INT32_MIN), &s, "-2147483648");
   OK(doc_int64(INT64_C(9007199254740992)), &s, "9007199254740992");
   COERCED(doc_int64(INT64_MAX), &s, "9.223372036854776e+18");
   REASON_HAS("value 9223372036854775807 rounded to double precision");
   OK(doc_dec("0.1"), &s, "0.1");
   OK(doc_dec("NaN"), &s, "NaN");
   OK(doc_dec("-Infinity"), &s, "-Infinity");
   COERCED(doc_dec("12345678901234567890.123456789"), &s, "1.2345678901234567e+19");
   INVALID(doc_dec("1E+400"), &s);
   REASON_HAS("out of range for double precision");
   INVALID(doc_dec("1E-400"), &s);
   COERCED(doc_utf8("0.1"), &s, "0.1");
   COERCED(doc_utf8("NaN"), &s, "NaN");
   COERCED(doc_utf8("-infinity"), &s, "-Infinity");
   INVALID(doc_utf8("1e400"), &s);
   INVALID(doc_utf8("fast"), &s);
   INVALID(doc_bool(true), &s);
}

static void
test_value_real(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_REAL);

   OK(doc_double(0.1), &s, "0.1"); /* the same decimal, nearest float */
   OK(doc_double(1.5), &s, "1.5");
   /* FLT_MAX is kept exactly, but PostgreSQL shows it with other digits. */
   COERCED(doc_double(3.4028234663852886e38), &s, "3.4028235e+38");
   COERCED(doc_double(0.30000000000000004), &s, "0.3");
   REASON_HAS("rounded to real");
   COERCED(doc_double(3.141592653589793), &s, "3.1415927");
   OK(doc_double(NAN), &s, "NaN");
   OK(doc_double(-INFINITY), &s, "-Infinity");
   OK(doc_double(-0.0), &s, "-0");
   INVALID(doc_double(1e300), &s);
   REASON_HAS("out of range for real");
   INVALID(doc_double(1e-300), &s);
   OK(doc_double(1e-40), &s, "1e-40"); /* subnormal, PostgreSQL accepts it */
   OK(doc_int32(16777216), &s, "16777216");
   COERCED(doc_int32(16777217), &s, "16777216");
   OK(doc_dec("0.1"), &s, "0.1");
   INVALID(doc_dec("1E+39"), &s);
   COERCED(doc_utf8("2.5"), &s, "2.5");
}

/* ---- boolean ---- */

static void
test_value_boolean(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_BOOLEAN);

   OK(doc_bool(true), &s, "t");
   OK(doc_bool(false), &s, "f");
   COERCED(doc_int32(1), &s, "t");
   COERCED(doc_int64(0), &s, "f");
   INVALID(doc_int32(2), &s);
   INVALID(doc_int32(-1), &s);
   COERCED(doc_utf8("true"), &s, "t");
   REASON_HAS("string \"true\" converted to boolean");
   COERCED(doc_utf8("False"), &s, "f");
   COERCED(doc_utf8("YES"), &s, "t");
   COERCED(doc_utf8("no"), &s, "f");
   COERCED(doc_utf8("1"), &s, "t");
   COERCED(doc_utf8("0"), &s, "f");
   INVALID(doc_utf8("maybe"), &s);
   INVALID(doc_utf8("on"), &s);
   INVALID(doc_double(1.0), &s);
   INVALID(doc_oid("5f1a2b3c4d5e6f7081920a3b"), &s);
}

/* ---- date ---- */

/* Milliseconds of some instants (from PostgreSQL: extract(epoch ...) * 1000). */
#define MS_1985_03_02 INT64_C(478569600000)
#define MS_1985_03_02_1030 INT64_C(478607400000)
#define MS_0001_01_01 INT64_C(-62135596800000)
#define MS_0044_03_15_BC INT64_C(-63517824000000)
#define MS_4714_11_24_BC INT64_C(-210866803200000)
#define MS_12345_06_07 INT64_C(327416976550123)  /* 12345-06-07 08:09:10.123 */
#define MS_294276_LAST INT64_C(9224318015999999) /* 294276-12-31 23:59:59.999 */
#define MS_5874897_12_31 INT64_C(185331706992000000)

static void
test_value_date(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_DATE);

   OK(doc_date(0), &s, "1970-01-01");
   OK(doc_date(MS_1985_03_02), &s, "1985-03-02");
   COERCED(doc_date(MS_1985_03_02_1030), &s, "1985-03-02");
   REASON_HAS("date 1985-03-02T10:30:00.000Z has a time of day, dropped");
   COERCED(doc_date(-1), &s, "1969-12-31");
   OK(doc_date(MS_0001_01_01), &s, "0001-01-01");
   OK(doc_date(MS_0001_01_01 - 86400000), &s, "0001-12-31 BC");
   OK(doc_date(MS_0044_03_15_BC), &s, "0044-03-15 BC");
   OK(doc_date(MS_4714_11_24_BC), &s, "4714-11-24 BC");
   INVALID(doc_date(MS_4714_11_24_BC - 1), &s);
   REASON_HAS("out of range for date (year 4714 bc)");
   OK(doc_date(MS_5874897_12_31), &s, "5874897-12-31");
   INVALID(doc_date(MS_5874897_12_31 + 86400000), &s);
   INVALID(doc_date(INT64_MAX), &s);
   INVALID(doc_date(INT64_MIN), &s);

   COERCED(doc_utf8("1985-03-02"), &s, "1985-03-02");
   REASON_HAS("string \"1985-03-02\" converted to date");
   COERCED(doc_utf8("1985-03-02T00:00:00.000Z"), &s, "1985-03-02");
   COERCED(doc_utf8("1985-03-02T10:00:00Z"), &s, "1985-03-02");
   REASON_HAS("time of day dropped");
   COERCED(doc_utf8("1985-03-02T00:30:00+02:00"), &s, "1985-03-01"); /* the UTC day */
   COERCED(doc_utf8("1985-03-02T10:00:00"), &s, "1985-03-02");       /* no zone: the written day */
   COERCED(doc_utf8("2000-02-29"), &s, "2000-02-29");
   COERCED(doc_utf8("+012345-01-01"), &s, "12345-01-01");
   COERCED(doc_utf8("0000-06-01"), &s, "0001-06-01 BC");
   INVALID(doc_utf8("1900-02-29"), &s);
   INVALID(doc_utf8("1985-02-30"), &s);
   INVALID(doc_utf8("1985-13-01"), &s);
   INVALID(doc_utf8("02/03/1985"), &s);
   REASON_HAS("is not an iso 8601 date");
   INVALID(doc_utf8("1985-3-2"), &s);
   INVALID(doc_utf8("yesterday"), &s);
   INVALID(doc_int32(19850302), &s);
   INVALID(doc_json("{\"v\": {\"$timestamp\": {\"t\": 1, \"i\": 0}}}"), &s);
}

/* ---- timestamptz, timestamp ---- */

static void
test_value_timestamptz(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_TIMESTAMPTZ);

   OK(doc_date(0), &s, "1970-01-01 00:00:00.000+00");
   OK(doc_date(-1), &s, "1969-12-31 23:59:59.999+00");
   OK(doc_date(MS_1985_03_02_1030 + 123), &s, "1985-03-02 10:30:00.123+00");
   OK(doc_date(MS_0001_01_01), &s, "0001-01-01 00:00:00.000+00");
   OK(doc_date(MS_0001_01_01 - 1), &s, "0001-12-31 23:59:59.999+00 BC");
   OK(doc_date(MS_0044_03_15_BC), &s, "0044-03-15 00:00:00.000+00 BC");
   OK(doc_date(INT64_C(253402300799999)), &s, "9999-12-31 23:59:59.999+00");
   OK(doc_date(INT64_C(253402300800000)), &s, "10000-01-01 00:00:00.000+00");
   OK(doc_date(MS_12345_06_07), &s, "12345-06-07 08:09:10.123+00");
   OK(doc_date(MS_294276_LAST), &s, "294276-12-31 23:59:59.999+00");
   INVALID(doc_date(MS_294276_LAST + 1), &s);
   REASON_HAS("out of range for timestamptz (year 294277)");
   OK(doc_date(MS_4714_11_24_BC), &s, "4714-11-24 00:00:00.000+00 BC");
   INVALID(doc_date(MS_4714_11_24_BC - 1), &s);
   INVALID(doc_date(INT64_MAX), &s);
   INVALID(doc_date(INT64_MIN), &s);
   COERCED(doc_json("{\"v\": {\"$timestamp\": {\"t\": 1600000000, \"i\": 3}}}"), &s,
           "2020-09-13 12:26:40.000+00");
   REASON_HAS("bson timestamp (1600000000, 3) converted to timestamptz");
   INVALID(doc_int64(0), &s);
   INVALID(doc_utf8("not a date"), &s);

   s.type = MN_TYPE_TIMESTAMP;
   OK(doc_date(-1), &s, "1969-12-31 23:59:59.999");
   OK(doc_date(MS_0044_03_15_BC), &s, "0044-03-15 00:00:00.000 BC");
   INVALID(doc_date(MS_294276_LAST + 1), &s);
}

static void
test_value_timestamptz_strings(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_TIMESTAMPTZ);

   COERCED(doc_utf8("2020-01-02T03:04:05Z"), &s, "2020-01-02 03:04:05.000+00");
   REASON_HAS("string \"2020-01-02T03:04:05Z\" converted to timestamptz");
   COERCED(doc_utf8("2020-01-02T03:04:05.678z"), &s, "2020-01-02 03:04:05.678+00");
   COERCED(doc_utf8("2020-01-02T03:04:05+02:00"), &s, "2020-01-02 01:04:05.000+00");
   COERCED(doc_utf8("2020-01-02T03:04:05+0200"), &s, "2020-01-02 01:04:05.000+00");
   COERCED(doc_utf8("2020-01-02T03:04:05+02"), &s, "2020-01-02 01:04:05.000+00");
   COERCED(doc_utf8("2020-01-02 03:04:05-05:30"), &s, "2020-01-02 08:34:05.000+00");
   COERCED(doc_utf8("2020-12-31T23:30:00-01:00"), &s, "2021-01-01 00:30:00.000+00");
   COERCED(doc_utf8("2020-01-01T00:30:00+01:00"), &s, "2019-12-31 23:30:00.000+00");
   COERCED(doc_utf8("2020-01-02T03:04Z"), &s, "2020-01-02 03:04:00.000+00");
   COERCED(doc_utf8("2020-01-02T03:04:05.5Z"), &s, "2020-01-02 03:04:05.500+00");
   COERCED(doc_utf8("2020-01-02T03:04:05.123456Z"), &s, "2020-01-02 03:04:05.123456+00");
   COERCED(doc_utf8("2020-01-02T03:04:05.1234567Z"), &s, "2020-01-02 03:04:05.123457+00");
   REASON_HAS("fractional seconds rounded to microseconds");
   COERCED(doc_utf8("2020-01-02T23:59:59.9999999Z"), &s, "2020-01-03 00:00:00.000+00");
   COERCED(doc_utf8("1985-03-02"), &s, "1985-03-02 00:00:00.000+00");
   REASON_HAS("at midnight utc");
   COERCED(doc_utf8("-000043-03-15T00:00:00Z"), &s, "0044-03-15 00:00:00.000+00 BC");
   COERCED(doc_utf8("+012345-06-07T08:09:10.123Z"), &s, "12345-06-07 08:09:10.123+00");
   INVALID(doc_utf8("2020-01-02T03:04:05"), &s);
   REASON_HAS("has no time zone");
   INVALID(doc_utf8("2020-01-02T24:00:00Z"), &s);
   INVALID(doc_utf8("2020-01-02T23:60:00Z"), &s);
   INVALID(doc_utf8("2020-01-02T23:59:60Z"), &s);
   INVALID(doc_utf8("2020-01-02T03:04:05.Z"), &s);
   INVALID(doc_utf8("2020-01-02T03:04:05+2"), &s);
   INVALID(doc_utf8("2020-01-02T03:04:05 Z"), &s);
   INVALID(doc_utf8("2020-01-02T03:04:05Zjunk"), &s);
   INVALID(doc_utf8("Thu, 02 Jan 2020 03:04:05 GMT"), &s);

   s.type = MN_TYPE_TIMESTAMP;
   COERCED(doc_utf8("2020-01-02T03:04:05+02:00"), &s, "2020-01-02 01:04:05.000");
   INVALID(doc_utf8("2020-01-02T03:04:05"), &s);
}

static void
test_value_format_timestamp(void **state)
{
   ctx_t *t = *state;
   bson_string_t *out = t->out;

   (void)state;
   bson_string_truncate(out, 0);
   assert_true(mn_value_format_timestamp(-1, true, out));
   assert_string_equal(out->str, "1969-12-31 23:59:59.999+00");
   bson_string_truncate(out, 0);
   assert_true(mn_value_format_timestamp(MS_0044_03_15_BC, true, out));
   assert_string_equal(out->str, "0044-03-15 00:00:00.000+00 BC");
   bson_string_truncate(out, 0);
   assert_true(mn_value_format_timestamp(MS_0044_03_15_BC, false, out));
   assert_string_equal(out->str, "0044-03-15 00:00:00.000 BC");
   bson_string_truncate(out, 0);
   assert_true(mn_value_format_timestamp(MS_12345_06_07, false, out));
   assert_string_equal(out->str, "12345-06-07 08:09:10.123");
   bson_string_truncate(out, 0);
   bson_string_append(out, "x");
   assert_false(mn_value_format_timestamp(MS_294276_LAST + 1, true, out));
   assert_false(mn_value_format_timestamp(MS_4714_11_24_BC - 1, true, out));
   assert_false(mn_value_format_timestamp(INT64_MIN, false, out));
   assert_false(mn_value_format_timestamp(INT64_MAX, false, out));
   assert_string_equal(out->str, "x");
}

/* ---- uuid ---- */

static void
test_value_uuid(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_UUID);
   const uint8_t bytes[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
                              0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};

   OK(doc_oid("5f1a2b3c4d5e6f7081920a3b"), &s, "5f1a2b3c-4d5e-6f70-8192-0a3b00000000");
   OK(doc_oid("000000000000000000000000"), &s, "00000000-0000-0000-0000-000000000000");
   OK(doc_oid("FFFFFFFFFFFFFFFFFFFFFFFF"), &s, "ffffffff-ffff-ffff-ffff-ffff00000000");
   OK(doc_binary(BSON_SUBTYPE_UUID, bytes, 16), &s, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
   OK(doc_binary(BSON_SUBTYPE_UUID_DEPRECATED, bytes, 16), &s,
      "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
   INVALID(doc_binary(BSON_SUBTYPE_BINARY, bytes, 16), &s);
   INVALID(doc_binary(BSON_SUBTYPE_UUID, bytes, 15), &s);
   REASON_HAS("is not a uuid");

   OK(doc_utf8("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), &s, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
   COERCED(doc_utf8("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), &s,
           "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
   REASON_HAS("normalized");
   COERCED(doc_utf8("a0eebc999c0b4ef8bb6d6bb9bd380a11"), &s,
           "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
   COERCED(doc_utf8("5f1a2b3c4d5e6f7081920a3b"), &s, "5f1a2b3c-4d5e-6f70-8192-0a3b00000000");
   REASON_HAS("is an objectid");
   INVALID(doc_utf8("junk"), &s);
   INVALID(doc_utf8("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g"), &s);
   INVALID(doc_utf8("a0eebc99+9c0b-4ef8-bb6d-6bb9bd380a11"), &s);
   INVALID(doc_utf8("{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"), &s);
   INVALID(doc_utf8("a0eebc99-9c0b4ef8-bb6d-6bb9bd380a11"), &s);
   INVALID(doc_int32(1), &s);
   IS_NULL(doc_utf8(""), &s);
}

/* ---- inet ---- */

static void
test_value_inet(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_INET);

   OK(doc_utf8("127.0.0.1"), &s, "127.0.0.1");
   OK(doc_utf8("::1"), &s, "::1");
   OK(doc_utf8("::ffff:10.0.0.5"), &s, "::ffff:10.0.0.5");
   OK(doc_utf8("2001:db8::8a2e:370:7334"), &s, "2001:db8::8a2e:370:7334");
   INVALID(doc_utf8("junk"), &s);
   assert_string_equal(t->reason, "string \"junk\" is not an ip address");
   INVALID(doc_utf8("999.1.1.1"), &s);
   INVALID(doc_utf8("1.2.3"), &s);
   INVALID(doc_utf8("10.0.0.5/8"), &s);
   INVALID(doc_utf8(" 127.0.0.1"), &s);
   INVALID(doc_utf8("fe80::1%eth0"), &s);
   IS_NULL(doc_utf8(""), &s);
   INVALID(doc_int32(2130706433), &s);
}

/* ---- jsonb ---- */

static void
test_value_jsonb(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_JSONB);
   bson_t *d;

   OK(doc_json("{\"v\": {\"a\": {\"b\": [1, \"x\", true, null]}, \"c\": 1.5}}"), &s,
      "{ \"a\" : { \"b\" : [ 1, \"x\", true, null ] }, \"c\" : 1.5 }");
   OK(doc_json("{\"v\": {}}"), &s, "{  }");
   OK(doc_json("{\"v\": [1, 2, \"three\"]}"), &s, "[ 1, 2, \"three\" ]");
   OK(doc_json("{\"v\": []}"), &s, "[  ]");
   OK(doc_utf8("he said \"hi\"\n\\"), &s, "\"he said \\\"hi\\\"\\n\\\\\"");
   OK(doc_utf8("Zoë"), &s, "\"Zoë\"");
   OK(doc_int32(5), &s, "5");
   OK(doc_int64(INT64_MAX), &s, "9223372036854775807");
   OK(doc_bool(false), &s, "false");
   OK(doc_date(0), &s, "{ \"$date\" : \"1970-01-01T00:00:00Z\" }");
   OK(doc_oid("5f1a2b3c4d5e6f7081920a3b"), &s, "{ \"$oid\" : \"5f1a2b3c4d5e6f7081920a3b\" }");
   OK(doc_dec("1.50"), &s, "{ \"$numberDecimal\" : \"1.50\" }");
   /* doubles in their shortest exact form (libbson alone writes 20 digits) */
   OK(doc_json("{\"v\": {\"tiny\": 1e-07, \"one\": 1.0, \"s\": \"1.25e-3 in a string\"}}"), &s,
      "{ \"tiny\" : 1e-07, \"one\" : 1.0, \"s\" : \"1.25e-3 in a string\" }");
   OK(doc_double(0.1), &s, "0.1");
   OK(doc_json("{\"v\": {\"metadata\": {\"ip\": \"::1\", \"n\": {\"$numberLong\": "
               "\"9007199254740993\"}}}}"),
      &s, "{ \"metadata\" : { \"ip\" : \"::1\", \"n\" : 9007199254740993 } }");

   /* jsonb refuses \u0000; invalid UTF-8 anywhere inside is refused too. */
   INVALID(doc_utf8_len("a\0b", 3), &s);
   d = bson_new();
   {
      bson_t child;
      assert_true(bson_append_document_begin(d, "v", 1, &child));
      assert_true(bson_append_utf8(&child, "note", 4, "x\0y", 3));
      assert_true(bson_append_document_end(d, &child));
   }
   INVALID(d, &s);
   REASON_HAS("nul byte");
   d = bson_new();
   {
      bson_t child;
      assert_true(bson_append_array_begin(d, "v", 1, &child));
      assert_true(bson_append_utf8(&child, "0", 1, "ok", 2));
      assert_true(bson_append_utf8(&child, "1", 1, "\xff", 1));
      assert_true(bson_append_array_end(d, &child));
   }
   INVALID(d, &s);
   d = bson_new();
   {
      bson_t child;
      assert_true(bson_append_document_begin(d, "v", 1, &child));
      assert_true(bson_append_int32(&child, "k\xff", 2, 1));
      assert_true(bson_append_document_end(d, &child));
   }
   INVALID(d, &s);
   REASON_HAS("key");

   /* MongoDB allows 100 levels; libbson's JSON writer would elide past 200. */
   d = nested(150);
   OK(d, &s, NULL);
   d = nested(250);
   INVALID(d, &s);
   REASON_HAS("nested too deeply");

   /* Transforms and the empty rule apply to strings. */
   IS_NULL(doc_utf8(""), &s);
}

/* ---- text[] ---- */

static void
test_value_text_array(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_TEXT_ARRAY);
   mn_transform_t trim[] = {MN_TRANSFORM_TRIM};
   const char *const allergens[] = {"peanuts", "penicillin"};

   OK(doc_json("{\"v\": [\"Penicillin\", \"Peanuts\", \"Peanuts\"]}"), &s,
      "{\"Penicillin\",\"Peanuts\",\"Peanuts\"}");
   OK(doc_json("{\"v\": []}"), &s, "{}");
   OK(doc_json("{\"v\": [\"a\\\"b\", \"c\\\\d\", \"x,y\", \"{}\", \"NULL\", null, \"\", \" s \"]}"),
      &s, "{\"a\\\"b\",\"c\\\\d\",\"x,y\",\"{}\",\"NULL\",NULL,\"\",\" s \"}");
   OK(doc_json("{\"v\": [\"Zoë\", \"张伟\"]}"), &s, "{\"Zoë\",\"张伟\"}");
   /* scalars as their exact text, as in text columns: lossless */
   OK(doc_json("{\"v\": [\"a\", 1, 2.5, true, {\"$numberLong\": \"7\"}]}"), &s,
      "{\"a\",\"1\",\"2.5\",\"true\",\"7\"}");
   COERCED(doc_utf8("Metformin 500mg, Lisinopril 10mg"), &s,
           "{\"Metformin 500mg, Lisinopril 10mg\"}");
   REASON_HAS("one-element array");
   COERCED(doc_utf8("NULL"), &s, "{\"NULL\"}");
   INVALID(doc_json("{\"v\": [\"a\", {\"name\": \"x\"}]}"), &s);
   REASON_HAS("array element 1: cannot convert document to text");
   INVALID(doc_json("{\"v\": [[\"a\"]]}"), &s);
   INVALID(doc_int32(5), &s);
   INVALID(doc_json("{\"v\": {\"a\": \"b\"}}"), &s);
   {
      bson_t *d = bson_new(), child;
      assert_true(bson_append_array_begin(d, "v", 1, &child));
      assert_true(bson_append_utf8(&child, "0", 1, "a\0b", 3));
      assert_true(bson_append_array_end(d, &child));
      INVALID(d, &s);
      REASON_HAS("array element 0: string contains a nul byte");
   }

   /* Transforms, the empty rule and the enum apply to each element. */
   s.transforms = trim;
   s.n_transforms = 1;
   COERCED(doc_json("{\"v\": [\" peanuts \", \"penicillin\"]}"), &s,
           "{\"peanuts\",\"penicillin\"}");
   REASON_HAS("array element 0: string \" peanuts \" trimmed");
   OK(doc_json("{\"v\": [\"peanuts\", \"\"]}"), &s, "{\"peanuts\",\"\"}");
   s.empty = MN_EMPTY_NULL;
   COERCED(doc_json("{\"v\": [\"peanuts\", \" \"]}"), &s, "{\"peanuts\",NULL}");
   s.empty = MN_EMPTY_INVALID;
   INVALID(doc_json("{\"v\": [\"peanuts\", \"\"]}"), &s);
   s.empty = MN_EMPTY_DEFAULT;
   s.enum_values = allergens;
   s.n_enum = 2;
   OK(doc_json("{\"v\": [\"peanuts\"]}"), &s, "{\"peanuts\"}");
   INVALID(doc_json("{\"v\": [\"peanuts\", \"latex\"]}"), &s);
   REASON_HAS("array element 1: string \"latex\" is not in the enum");
}

/* ---- type names ---- */

static void
test_value_type_names(void **state)
{
   static const struct {
      const char *name;
      mn_type_t type;
   } names[] = {
      {"text", MN_TYPE_TEXT},
      {"varchar", MN_TYPE_TEXT},
      {"character varying", MN_TYPE_TEXT},
      {"uuid", MN_TYPE_UUID},
      {"smallint", MN_TYPE_SMALLINT},
      {"int2", MN_TYPE_SMALLINT},
      {"integer", MN_TYPE_INTEGER},
      {"int", MN_TYPE_INTEGER},
      {"int4", MN_TYPE_INTEGER},
      {"bigint", MN_TYPE_BIGINT},
      {"int8", MN_TYPE_BIGINT},
      {"numeric", MN_TYPE_NUMERIC},
      {"decimal", MN_TYPE_NUMERIC},
      {"double precision", MN_TYPE_DOUBLE},
      {"float8", MN_TYPE_DOUBLE},
      {"real", MN_TYPE_REAL},
      {"float4", MN_TYPE_REAL},
      {"boolean", MN_TYPE_BOOLEAN},
      {"bool", MN_TYPE_BOOLEAN},
      {"date", MN_TYPE_DATE},
      {"timestamptz", MN_TYPE_TIMESTAMPTZ},
      {"timestamp with time zone", MN_TYPE_TIMESTAMPTZ},
      {"timestamp", MN_TYPE_TIMESTAMP},
      {"timestamp without time zone", MN_TYPE_TIMESTAMP},
      {"jsonb", MN_TYPE_JSONB},
      {"inet", MN_TYPE_INET},
      {"text[]", MN_TYPE_TEXT_ARRAY},
      {"TEXT", MN_TYPE_TEXT},
      {"Double  Precision", MN_TYPE_DOUBLE},
      {" timestamp With Time Zone ", MN_TYPE_TIMESTAMPTZ},
      {"text []", MN_TYPE_TEXT_ARRAY},
      {"varchar[]", MN_TYPE_TEXT_ARRAY},
   };
   static const char *const bad[] = {
      "",
      "decimal256",
      "json",
      "int16",
      "numeric(5,2)",
      "varchar(10)",
      "timestamp with zone",
      "text[][]",
      "doubleprecision",
      "texts",
      "a very long type name that goes on and on and on and on and on and on and on",
   };
   mn_type_t type;
   size_t i;
   int k;

   (void)state;
   for (i = 0; i < sizeof names / sizeof names[0]; i++) {
      type = MN_TYPE_COUNT_;
      if (!mn_type_from_name(names[i].name, &type)) {
         fail_msg("\"%s\" not recognised", names[i].name);
      }
      assert_int_equal(type, names[i].type);
   }
   for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      if (mn_type_from_name(bad[i], &type)) {
         fail_msg("\"%s\" accepted", bad[i]);
      }
   }
   assert_false(mn_type_from_name(NULL, &type));
   for (k = 0; k < MN_TYPE_COUNT_; k++) {
      assert_true(mn_type_from_name(mn_type_name((mn_type_t)k), &type));
      assert_int_equal(type, k);
   }
   assert_string_equal(mn_type_name(MN_TYPE_TIMESTAMPTZ), "timestamptz");
   assert_string_equal(mn_type_name(MN_TYPE_DOUBLE), "double precision");
   assert_string_equal(mn_type_name(MN_TYPE_TEXT_ARRAY), "text[]");
   assert_string_equal(mn_type_name(MN_TYPE_COUNT_), "unknown");
}

/* ---- the target column's own limits (mn_value_target_t) ---- */

static mn_value_spec_t
spec_into(mn_type_t type, mn_type_t target, const char *name, const char *column)
{
   mn_value_spec_t s = spec_of(type);

   s.has_target = true;
   s.target.type = target;
   snprintf(s.target.name, sizeof s.target.name, "%s", name);
   snprintf(s.target.column, sizeof s.target.column, "%s", column);
   return s;
}

static void
test_value_target_numeric_scale(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s =
      spec_into(MN_TYPE_NUMERIC, MN_TYPE_NUMERIC, "numeric(12,1)", "prices.amount");

   s.target.precision = 12;
   s.target.scale = 1;
   /* numeric(12,1) would store 21.95 as 22.0: refused, the policy decides */
   INVALID(doc_dec("21.95"), &s);
   assert_string_equal(
      t->reason, "value does not fit column prices.amount numeric(12,1): it would be rounded");
   OK(doc_dec("21.9"), &s, "21.9");
   OK(doc_dec("21.90"), &s, "21.90"); /* only a zero goes */
   OK(doc_double(21.9), &s, "21.9");
   INVALID(doc_double(0.15), &s);
   OK(doc_int64(99999999999), &s, "99999999999"); /* 11 digits before the point */
   INVALID(doc_int64(100000000000), &s);
   assert_string_equal(t->reason, "value does not fit column prices.amount numeric(12,1): "
                                  "too many digits before the point");
   OK(doc_dec("NaN"), &s, "NaN");
   INVALID(doc_dec("Infinity"), &s);
   assert_string_equal(t->reason,
                       "value does not fit column prices.amount numeric(12,1): infinity");
   INVALID(doc_double(-INFINITY), &s);
   COERCED(doc_utf8("21.9"), &s, "21.9");
   INVALID(doc_utf8("21.95"), &s);

   /* the mapping's own scale rounds first (declared, counted): then it fits */
   s.precision = 12;
   s.scale = 1;
   COERCED(doc_dec("21.95"), &s, "22.0");
   REASON_HAS("rounded to 1 decimal places");

   /* text into numeric(12,1): what is not a number is refused before PostgreSQL fails */
   s = spec_into(MN_TYPE_TEXT, MN_TYPE_NUMERIC, "numeric(12,1)", "prices.amount");
   s.target.precision = 12;
   s.target.scale = 1;
   OK(doc_utf8(" 21.9 "), &s, " 21.9 ");
   INVALID(doc_utf8("tall"), &s);
   REASON_HAS("not a number");

   /* a numeric without a typmod takes everything, the infinities included */
   s = spec_into(MN_TYPE_DOUBLE, MN_TYPE_NUMERIC, "numeric", "t.n");
   OK(doc_double(INFINITY), &s, "Infinity");
   OK(doc_double(0.15), &s, "0.15");
}

static void
test_value_target_varchar(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_into(MN_TYPE_TEXT, MN_TYPE_TEXT, "varchar(8)", "things.code");

   s.target.max_chars = 8;
   /* lengths in characters, as PostgreSQL counts them: 8 two-byte characters fit */
   OK(doc_utf8("\xc3\x85\xc3\x85\xc3\x85\xc3\x85\xc3\x85\xc3\x85\xc3\x85\xc3\x85"), &s, NULL);
   OK(doc_utf8("\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
               "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"),
      &s, NULL);
   INVALID(doc_utf8("\xc3\x85\xc3\x85\xc3\x85\xc3\x85\xc3\x85\xc3\x85\xc3\x85\xc3\x85\xc3\x85"),
           &s);
   assert_string_equal(t->reason, "text longer than column things.code varchar(8): 9 characters");
   /* PostgreSQL would cut excess blanks silently: refused as well */
   INVALID(doc_utf8("abcdefgh "), &s);
   OK(doc_utf8("abcdefgh"), &s, "abcdefgh");
   OK(doc_int32(12345678), &s, "12345678");
   INVALID(doc_int32(123456789), &s);
   /* char(n) the same */
   s = spec_into(MN_TYPE_UUID, MN_TYPE_TEXT, "char(8)", "things.code");
   s.target.max_chars = 8;
   INVALID(doc_oid("5f1a2b3c4d5e6f7081920a3b"), &s);
   REASON_HAS("char(8): 36 characters");
}

static void
test_value_target_integer_width(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_into(MN_TYPE_BIGINT, MN_TYPE_INTEGER, "integer", "things.n");

   OK(doc_int64(2147483647), &s, "2147483647");
   OK(doc_int64(-2147483648), &s, "-2147483648");
   INVALID(doc_int64(2147483648), &s);
   assert_string_equal(t->reason, "value does not fit column things.n integer: out of range");
   s.target.type = MN_TYPE_SMALLINT;
   snprintf(s.target.name, sizeof s.target.name, "smallint");
   INVALID(doc_int32(32768), &s);
   OK(doc_int32(-32768), &s, "-32768");

   /* numeric into integer: a fraction is refused, the same integer written as digits */
   s = spec_into(MN_TYPE_NUMERIC, MN_TYPE_INTEGER, "integer", "things.n");
   OK(doc_dec("3.00"), &s, "3");
   INVALID(doc_dec("2.5"), &s);
   assert_string_equal(t->reason, "value does not fit column things.n integer: not an integer");
   s = spec_into(MN_TYPE_DOUBLE, MN_TYPE_BIGINT, "bigint", "things.n");
   OK(doc_double(1e15), &s, "1000000000000000");
   INVALID(doc_double(NAN), &s);
   s = spec_into(MN_TYPE_TEXT, MN_TYPE_SMALLINT, "smallint", "things.n");
   INVALID(doc_utf8("abc"), &s);
   REASON_HAS("not a number");
   /* a narrower mapping type always fits */
   s = spec_into(MN_TYPE_SMALLINT, MN_TYPE_BIGINT, "bigint", "things.n");
   OK(doc_int32(7), &s, "7");
}

static void
test_value_target_float_and_date(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_into(MN_TYPE_DOUBLE, MN_TYPE_REAL, "real", "things.r");

   OK(doc_double(0.5), &s, "0.5");
   OK(doc_double(0.1), &s, "0.1"); /* the same decimal, as for type real (nearest float) */
   INVALID(doc_double(3.141592653589793), &s); /* real would store 3.1415927 */
   assert_string_equal(t->reason, "value does not fit column things.r real: it would be rounded");
   OK(doc_double(NAN), &s, "NaN");
   INVALID(doc_double(1e300), &s);
   s = spec_into(MN_TYPE_NUMERIC, MN_TYPE_DOUBLE, "double precision", "things.d");
   OK(doc_dec("0.1"), &s, "0.1");
   INVALID(doc_dec("12345678901234567890.1"), &s);

   s = spec_into(MN_TYPE_TIMESTAMPTZ, MN_TYPE_DATE, "date", "things.day");
   OK(doc_date(MS_1985_03_02), &s, "1985-03-02 00:00:00.000+00");
   INVALID(doc_date(MS_1985_03_02_1030), &s);
   assert_string_equal(
      t->reason, "value does not fit column things.day date: the time of day would be dropped");
   s = spec_into(MN_TYPE_TIMESTAMP, MN_TYPE_DATE, "date", "things.day");
   OK(doc_date(MS_1985_03_02), &s, "1985-03-02 00:00:00.000");
}

/* ---- reasons ---- */

static void
test_value_reason_clipped(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_NUMERIC);
   const char *longtext =
      "Patient reports chest pain radiating to the left arm since Tuesday morning";
   bson_t *d = doc_utf8(longtext);
   bson_iter_t it;
   char small[16];

   INVALID(doc_utf8(longtext), &s);
   assert_string_equal(t->reason,
                       "string \"Patient reports chest pain radiating to ...\" is not a number");
   INVALID(doc_utf8("say \"x\"\n"), &s);
   assert_string_equal(t->reason, "string \"say \\\"x\\\"\\x0a\" is not a number");

   /* A small or absent reason buffer is fine. */
   assert_true(bson_iter_init_find(&it, d, "v"));
   assert_int_equal(mn_value_convert(&it, &s, t->out, small, sizeof small), MN_VALUE_INVALID);
   assert_int_equal(strlen(small), sizeof small - 1);
   assert_int_equal(mn_value_convert(&it, &s, t->out, NULL, 0), MN_VALUE_INVALID);
   assert_int_equal(mn_value_convert(&it, &s, t->out, small, 1), MN_VALUE_INVALID);
   assert_string_equal(small, "");
   bson_destroy(d);

   /* Several coercions are joined. */
   {
      mn_transform_t trim[] = {MN_TRANSFORM_TRIM};
      s.transforms = trim;
      s.n_transforms = 1;
      s.precision = 5;
      s.scale = 1;
      COERCED(doc_utf8(" 1.25 "), &s, "1.3");
      assert_string_equal(t->reason,
                          "string \" 1.25 \" trimmed; string \"1.25\" converted to numeric; "
                          "value 1.25 rounded to 1 decimal places");
   }
}

/* ---- hashed and redacted columns: digests, reasons without values ---- */

static const char *
digest_of(const mn_value_spec_t *spec, const char *text, size_t len, char out[65])
{
   bson_string_t *s = bson_string_new(NULL);

   mn_value_digest(spec, text, len, s);
   assert_int_equal(s->len, MN_VALUE_DIGEST_LEN);
   memcpy(out, s->str, 65);
   bson_string_free(s, true);
   return out;
}

static void
test_value_digest_vectors(void **state)
{
   mn_value_spec_t s = spec_of(MN_TYPE_TEXT);
   uint8_t key[20];
   char d[65];

   (void)state;
   /* FIPS 180-2 */
   s.digest = MN_DIGEST_SHA256;
   assert_string_equal(digest_of(&s, "abc", 3, d),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
   assert_string_equal(digest_of(&s, "", 0, d),
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
   /* RFC 4231 test cases 1 and 2 */
   s.digest = MN_DIGEST_HMAC_SHA256;
   memset(key, 0x0b, sizeof key);
   s.digest_key = key;
   s.digest_key_len = sizeof key;
   assert_string_equal(digest_of(&s, "Hi There", 8, d),
                       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
   s.digest_key = (const uint8_t *)"Jefe";
   s.digest_key_len = 4;
   assert_string_equal(digest_of(&s, "what do ya want for nothing?", 28, d),
                       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* The digest is of the text the column would store: after transforms and conversion. */
static void
test_value_digest_convert(void **state)
{
   ctx_t *t = *state;
   mn_value_spec_t s = spec_of(MN_TYPE_TEXT);
   mn_transform_t tr[] = {MN_TRANSFORM_TRIM, MN_TRANSFORM_LOWER};
   char d[65];
   mn_value_spec_t plain = spec_of(MN_TYPE_TEXT);

   plain.digest = MN_DIGEST_SHA256;
   s.digest = MN_DIGEST_SHA256;
   s.transforms = tr;
   s.n_transforms = 2;
   /* " Ada " is trimmed and lower-cased (counted), then digested */
   COERCED(doc_utf8(" Ada "), &s, digest_of(&plain, "ada", 3, d));
   OK(doc_utf8("ada"), &s, digest_of(&plain, "ada", 3, d));
   OK(doc_oid("5f1a2b3c4d5e6f7081920a3b"), &s,
      digest_of(&plain, "5f1a2b3c4d5e6f7081920a3b", 24, d));
   OK(doc_int32(42), &s, digest_of(&plain, "42", 2, d));
   /* a number as numeric(,1) stores "42.0" */
   s = spec_of(MN_TYPE_NUMERIC);
   s.scale = 1;
   s.digest = MN_DIGEST_SHA256;
   OK(doc_int32(42), &s, digest_of(&plain, "42.0", 4, d));
   COERCED(doc_double(61.25), &s, digest_of(&plain, "61.3", 4, d));
   OK(doc_dec("61.3"), &s, digest_of(&plain, "61.3", 4, d));
   INVALID(doc_utf8("heavy"), &s);
   IS_NULL(doc_json("{\"v\": null}"), &s);
   /* a date as date, an ObjectId as uuid */
   s = spec_of(MN_TYPE_DATE);
   s.digest = MN_DIGEST_SHA256;
   OK(doc_date(INT64_C(1704412800000)), &s, digest_of(&plain, "2024-01-05", 10, d));
   COERCED(doc_utf8("2024-01-05"), &s, digest_of(&plain, "2024-01-05", 10, d));
   s = spec_of(MN_TYPE_UUID);
   s.digest = MN_DIGEST_SHA256;
   OK(doc_oid("5f1a2b3c4d5e6f7081920a3b"), &s,
      digest_of(&plain, "5f1a2b3c-4d5e-6f70-8192-0a3b00000000", 36, d));
   /* the enum is judged on the value, not on its digest */
   s = spec_of(MN_TYPE_TEXT);
   s.digest = MN_DIGEST_SHA256;
   {
      const char *const values[] = {"low", "high"};
      s.enum_values = values;
      s.n_enum = 2;
      OK(doc_utf8("low"), &s, digest_of(&plain, "low", 3, d));
      INVALID(doc_utf8("medium"), &s);
   }
   /* the target column holds the digest: a date column typed date stores text */
   s = spec_into(MN_TYPE_DATE, MN_TYPE_TEXT, "varchar(64)", "p.born");
   s.target.max_chars = 64;
   s.digest = MN_DIGEST_SHA256;
   COERCED(doc_utf8("2024-01-05T00:00:00Z"), &s, NULL);
   s.target.max_chars = 63;
   INVALID(doc_utf8("2024-01-05T00:00:00Z"), &s);
   assert_string_equal(t->reason, "text longer than column p.born varchar(64): 64 characters");
}

/* Run one conversion, return the reason. */
static const char *
reason_of(ctx_t *t, bson_t *doc, const mn_value_spec_t *spec)
{
   bson_iter_t it;

   bson_string_truncate(t->out, 0);
   t->reason[0] = '\0';
   assert_true(bson_iter_init_find(&it, doc, "v"));
   (void)mn_value_convert(&it, spec, t->out, t->reason, sizeof t->reason);
   bson_destroy(doc);
   return t->reason;
}

static void
test_value_hide_values(void **state)
{
   ctx_t *t = *state;
   static const struct {
      mn_type_t type;
      const char *json;
      const char *clear;  /* the reason without hide_values */
      const char *hidden; /* with it */
      const char *secret; /* a part of the value the hidden reason must not hold */
   } cases[] = {
      {MN_TYPE_INTEGER, "{\"v\": \"tall guy\"}", "string \"tall guy\" is not a number",
       "string \"...\" is not a number", "tall"},
      {MN_TYPE_SMALLINT, "{\"v\": 70000}", "value 70000 out of range for smallint",
       "value ... out of range for smallint", "70000"},
      {MN_TYPE_INTEGER, "{\"v\": 1.5}", "value 1.5 is not an integer",
       "value ... is not an integer", "1.5"},
      {MN_TYPE_BOOLEAN, "{\"v\": 7}", "value 7 is not a boolean", "value ... is not a boolean",
       "7"},
      {MN_TYPE_DATE, "{\"v\": \"1980-13-45\"}", "string \"1980-13-45\" is not an iso 8601 date",
       "string \"...\" is not an iso 8601 date", "1980"},
      {MN_TYPE_BOOLEAN, "{\"v\": 8601}", "value 8601 is not a boolean",
       "value ... is not a boolean", "8601"},
      {MN_TYPE_UUID, "{\"v\": \"say \\\"hi\\\" \\\\ there\"}",
       "string \"say \\\"hi\\\" \\\\ there\" is not a uuid", "string \"...\" is not a uuid", "hi"},
      {MN_TYPE_TEXT_ARRAY, "{\"v\": [\"a\", {\"x\": 1}]}",
       "array element 1: cannot convert document to text",
       "array element ...: cannot convert document to text", "1:"},
      {MN_TYPE_INTEGER, "{\"v\": {\"$numberDouble\": \"Infinity\"}}",
       "value Infinity out of range for integer", "value ... out of range for integer", "Infinity"},
   };
   mn_value_spec_t s;

   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      s = spec_of(cases[i].type);
      assert_string_equal(reason_of(t, doc_json(cases[i].json), &s), cases[i].clear);
      s.hide_values = true;
      assert_string_equal(reason_of(t, doc_json(cases[i].json), &s), cases[i].hidden);
      assert_null(strstr(t->reason, cases[i].secret));
   }
   /* a date's text and a timestamp out of range: every number goes, the words stay */
   s = spec_of(MN_TYPE_DATE);
   s.hide_values = true;
   assert_string_equal(reason_of(t, doc_date(INT64_C(1704412800123)), &s),
                       "date ... has a time of day, dropped");
   /* coercion notes are hidden as well (they are never printed, but may be kept) */
   s = spec_of(MN_TYPE_INTEGER);
   s.hide_values = true;
   assert_string_equal(reason_of(t, doc_utf8("12"), &s), "string \"...\" converted to integer");
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_value_absent_and_null, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_appends_only_on_success, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_text_string, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_text_from_scalars, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_string_invalid_utf8_and_nul, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_transforms, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_empty_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_enum, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_int_limits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_int_from_double_and_decimal, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_int_from_string, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_numeric_exact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_numeric_double, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_numeric_precision_scale, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_numeric_strings, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_units_length, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_units_weight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_double, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_real, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_boolean, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_date, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_timestamptz, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_timestamptz_strings, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_format_timestamp, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_uuid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_inet, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_jsonb, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_text_array, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_type_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_target_numeric_scale, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_target_varchar, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_target_integer_width, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_target_float_and_date, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_reason_clipped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_digest_vectors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_digest_convert, setup, teardown),
      cmocka_unit_test_setup_teardown(test_value_hide_values, setup, teardown),
   };

   return cmocka_run_group_tests(tests, NULL, NULL);
}
