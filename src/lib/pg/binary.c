/*
 * binary.c - rows in COPY's binary format (PostgreSQL 15 manual, COPY, "Binary Format").
 *
 * The converter writes every value as PostgreSQL input text (value.h).  For a table whose
 * columns all have a type listed here, and whose writers all write text of a form read
 * here (mn_pg__bin_table_fits), the sink sends its rows in the binary format instead: the
 * server then runs each type's receive function, which costs a fraction of its input
 * function (numeric, timestamptz, uuid and inet above all), on bytes encoded here from the
 * same text.  Each encoding follows the type's send/recv pair in the PostgreSQL 15 sources
 * (uuid.c, int.c, int8.c, numeric.c, float.c, bool.c, date.c, timestamp.c, jsonb.c,
 * network.c, arrayfuncs.c); every integer is in network byte order.
 *
 * Text this file does not read as the type (never the converter's, by the rules of
 * mn_pg__bin_table_fits) is written as a value the server refuses with SQLSTATE 22P03, so
 * that the sink's usual handling rejects its document with a reason: nothing is stored
 * that the text format would not have stored.
 */
#include "pg/pg_private.h"
#include "mapping/plan.h"
#include "util/calendar.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs (pg_type.dat of PostgreSQL 15: fixed since 7.x). */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_JSON 114
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_INET 869
#define OID_TEXT_ARRAY 1009
#define OID_BPCHAR 1042
#define OID_VARCHAR 1043
#define OID_DATE 1082
#define OID_TIMESTAMP 1114
#define OID_TIMESTAMPTZ 1184
#define OID_NUMERIC 1700
#define OID_UUID 2950
#define OID_JSONB 3802

/* Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for dates and timestamps. */
#define PG_EPOCH_DAYS 10957

/* numeric's sign words and limits (numeric.c). */
#define NUMERIC_POS 0x0000
#define NUMERIC_NEG 0x4000
#define NUMERIC_NAN 0xC000
#define NUMERIC_PINF 0xD000
#define NUMERIC_NINF 0xF000
#define NUMERIC_DSCALE_MAX 0x3FFF
#define NUMERIC_MAX_EXPONENT (INT32_MAX / 2 - 1) /* numeric_in refuses larger exponents */

/* inet's address families on the wire (utils/inet.h: PGSQL_AF_INET = AF_INET + 0). */
#define PGSQL_AF_INET 2
#define PGSQL_AF_INET6 3

static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

mn_pg__bin_kind_t
mn_pg__bin_kind(unsigned long oid, char typtype)
{
   if (typtype == 'e') {
      return MN_PG_BIN_TEXT; /* enum_recv reads the label as enum_in does */
   }
   switch (oid) {
   case OID_TEXT:
   case OID_VARCHAR:
   case OID_BPCHAR: return MN_PG_BIN_TEXT;
   case OID_JSON: return MN_PG_BIN_JSON;
   case OID_JSONB: return MN_PG_BIN_JSONB;
   case OID_UUID: return MN_PG_BIN_UUID;
   case OID_INT2: return MN_PG_BIN_INT2;
   case OID_INT4: return MN_PG_BIN_INT4;
   case OID_INT8: return MN_PG_BIN_INT8;
   case OID_NUMERIC: return MN_PG_BIN_NUMERIC;
   case OID_FLOAT4: return MN_PG_BIN_FLOAT4;
   case OID_FLOAT8: return MN_PG_BIN_FLOAT8;
   case OID_BOOL: return MN_PG_BIN_BOOL;
   case OID_DATE: return MN_PG_BIN_DATE;
   case OID_TIMESTAMP: return MN_PG_BIN_TIMESTAMP;
   case OID_TIMESTAMPTZ: return MN_PG_BIN_TIMESTAMPTZ;
   case OID_INET: return MN_PG_BIN_INET;
   case OID_TEXT_ARRAY: return MN_PG_BIN_TEXT_ARRAY;
   default: return MN_PG_BIN_NONE;
   }
}

bool
mn_pg__bin_accepts(mn_pg__bin_kind_t kind, mn_type_t written)
{
   bool integer =
      written == MN_TYPE_SMALLINT || written == MN_TYPE_INTEGER || written == MN_TYPE_BIGINT;

   switch (kind) {
   case MN_PG_BIN_TEXT:
   case MN_PG_BIN_JSON:
   case MN_PG_BIN_JSONB: return true; /* the receive function reads the text itself */
   case MN_PG_BIN_UUID: return written == MN_TYPE_UUID;
   case MN_PG_BIN_INT2:
   case MN_PG_BIN_INT4:
   case MN_PG_BIN_INT8: return integer;
   case MN_PG_BIN_NUMERIC: return integer || written == MN_TYPE_NUMERIC;
   case MN_PG_BIN_FLOAT4:
   case MN_PG_BIN_FLOAT8:
      return integer || written == MN_TYPE_NUMERIC || written == MN_TYPE_DOUBLE ||
             written == MN_TYPE_REAL;
   case MN_PG_BIN_BOOL: return written == MN_TYPE_BOOLEAN;
   case MN_PG_BIN_DATE: return written == MN_TYPE_DATE;
   case MN_PG_BIN_TIMESTAMP: return written == MN_TYPE_TIMESTAMP;
   case MN_PG_BIN_TIMESTAMPTZ: return written == MN_TYPE_TIMESTAMPTZ;
   case MN_PG_BIN_INET: return written == MN_TYPE_INET;
   case MN_PG_BIN_TEXT_ARRAY: return written == MN_TYPE_TEXT_ARRAY;
   case MN_PG_BIN_NONE:
   default: return false;
   }
}

/* n more bytes at the end of out, to be written by the caller. */
static char *
grow(GString *out, size_t n)
{
   size_t at = out->len;

   g_string_set_size(out, at + n);
   return out->str + at;
}

static void
put16(GString *out, uint16_t v)
{
   char *b = grow(out, 2);
   b[0] = (char)(v >> 8);
   b[1] = (char)v;
}

static void
put32(GString *out, uint32_t v)
{
   char *b = grow(out, 4);
   b[0] = (char)(v >> 24);
   b[1] = (char)(v >> 16);
   b[2] = (char)(v >> 8);
   b[3] = (char)v;
}

static void
put64(GString *out, uint64_t v)
{
   put32(out, (uint32_t)(v >> 32));
   put32(out, (uint32_t)v);
}

/* Overwrite the 4 bytes at `at` with v. */
static void
set32(GString *out, size_t at, uint32_t v)
{
   out->str[at] = (char)(v >> 24);
   out->str[at + 1] = (char)(v >> 16);
   out->str[at + 2] = (char)(v >> 8);
   out->str[at + 3] = (char)v;
}

static const char trailer[2] = "\377\377";

const char *
mn_pg__bin_header(size_t *len)
{
   *len = sizeof header;
   return header;
}

const char *
mn_pg__bin_trailer(size_t *len)
{
   *len = sizeof trailer;
   return trailer;
}

void
mn_pg__bin_append_tuple(GString *out, size_t n_fields)
{
   put16(out, (uint16_t)n_fields);
}

void
mn_pg__bin_append_null(GString *out)
{
   put32(out, 0xFFFFFFFFu);
}

/* A decimal integer of [s, end) in [lo, hi]; a leading sign only when `sign`. */
static bool
read_int(const char *s, const char *end, bool sign, int64_t lo, int64_t hi, int64_t *v)
{
   bool neg = false;
   uint64_t acc = 0;
   int64_t val;

   if (sign && s < end && (*s == '-' || *s == '+')) {
      neg = *s++ == '-';
   }
   if (s == end) {
      return false;
   }
   for (; s < end; s++) {
      if (*s < '0' || *s > '9' || acc > (UINT64_MAX - 9) / 10) {
         return false;
      }
      acc = acc * 10 + (uint64_t)(*s - '0');
   }
   if (acc > (uint64_t)INT64_MAX + neg) {
      return false;
   }
   val = !neg ? (int64_t)acc : acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
   *v = val;
   return val >= lo && val <= hi;
}

static int
hex_digit(char c)
{
   if (c >= '0' && c <= '9') {
      return c - '0';
   }
   c = (char)(c | 0x20);
   return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* uuid.c string_to_uuid: optional braces, 16 hex pairs, a hyphen allowed after any
 * second byte but the last. */
static bool
put_uuid(GString *out, const char *s, size_t len)
{
   const char *end = s + len;
   uint8_t b[16];
   bool brace = len > 0 && *s == '{';

   s += brace;
   for (int i = 0; i < 16; i++) {
      int hi = s + 1 < end ? hex_digit(s[0]) : -1, lo = s + 1 < end ? hex_digit(s[1]) : -1;
      if (hi < 0 || lo < 0) {
         return false;
      }
      b[i] = (uint8_t)(hi << 4 | lo);
      s += 2;
      if (i % 2 == 1 && i < 15 && s < end && *s == '-') {
         s++;
      }
   }
   if (brace && (s == end || *s++ != '}')) {
      return false;
   }
   if (s != end) {
      return false;
   }
   put32(out, 16);
   g_string_append_len(out, (const char *)b, 16);
   return true;
}

static bool
put_int(GString *out, mn_pg__bin_kind_t kind, const char *s, size_t len)
{
   uint32_t size = kind == MN_PG_BIN_INT2 ? 2 : kind == MN_PG_BIN_INT4 ? 4 : 8;
   int64_t hi = size == 2 ? INT16_MAX : size == 4 ? INT32_MAX : INT64_MAX, v;

   if (!read_int(s, s + len, true, -hi - 1, hi, &v)) {
      return false;
   }
   put32(out, size);
   if (size == 2) {
      put16(out, (uint16_t)v);
   } else if (size == 4) {
      put32(out, (uint32_t)v);
   } else {
      put64(out, (uint64_t)v);
   }
   return true;
}

/* A numeric's value as numeric_in reads it: sign, decimal digits (no leading zeros), the
 * power of ten of the last digit, and the display scale. */
typedef struct {
   bool neg;
   const char *digits[2]; /* the digits before and after the point */
   size_t n[2];
   int64_t exp10; /* the value is (digits) * 10^exp10 */
   int dscale;
} decimal_t;

static bool
read_decimal(const char *s, const char *end, decimal_t *d)
{
   int64_t exponent = 0;
   int64_t frac;

   memset(d, 0, sizeof *d);
   if (s < end && (*s == '-' || *s == '+')) {
      d->neg = *s++ == '-';
   }
   d->digits[0] = s;
   while (s < end && *s >= '0' && *s <= '9') {
      s++;
   }
   d->n[0] = (size_t)(s - d->digits[0]);
   if (s < end && *s == '.') {
      d->digits[1] = ++s;
      while (s < end && *s >= '0' && *s <= '9') {
         s++;
      }
      d->n[1] = (size_t)(s - d->digits[1]);
   }
   if (d->n[0] + d->n[1] == 0) {
      return false;
   }
   if (s < end && (*s == 'e' || *s == 'E')) {
      if (!read_int(s + 1, end, true, -NUMERIC_MAX_EXPONENT, NUMERIC_MAX_EXPONENT, &exponent)) {
         return false;
      }
      s = end;
   }
   if (s != end) {
      return false;
   }
   frac = (int64_t)d->n[1] - exponent;
   d->dscale = frac > 0 ? (int)MIN(frac, (int64_t)INT32_MAX) : 0;
   d->exp10 = -frac;
   return d->dscale <= NUMERIC_DSCALE_MAX;
}

/* The i-th of the n decimal digits of d (before and after the point together). */
static int
decimal_digit(const decimal_t *d, size_t i)
{
   return i < d->n[0] ? d->digits[0][i] - '0' : d->digits[1][i - d->n[0]] - '0';
}

/* numeric_send: ndigits, weight, sign, dscale (int16 each), then base-10000 digits; the
 * digit of weight w stands for 10000^w. */
static bool
put_numeric(GString *out, const char *s, size_t len)
{
   decimal_t d;
   size_t n, first = 0, at;
   int64_t top, bottom, weight;
   uint16_t sign;

   sign = len == 3 && memcmp(s, "NaN", 3) == 0         ? NUMERIC_NAN
          : len == 8 && memcmp(s, "Infinity", 8) == 0  ? NUMERIC_PINF
          : len == 9 && memcmp(s, "+Infinity", 9) == 0 ? NUMERIC_PINF
          : len == 9 && memcmp(s, "-Infinity", 9) == 0 ? NUMERIC_NINF
                                                       : NUMERIC_POS;
   if (sign != NUMERIC_POS) {
      put32(out, 8);
      put64(out, (uint64_t)sign << 16);
      return true;
   }
   if (!read_decimal(s, s + len, &d)) {
      return false;
   }
   n = d.n[0] + d.n[1];
   while (first < n && decimal_digit(&d, first) == 0) {
      first++;
   }
   while (n > first && decimal_digit(&d, n - 1) == 0) {
      n--;
   }
   at = out->len;
   put32(out, 0);
   if (first == n) { /* zero: no digits, its display scale kept */
      put64(out, (uint64_t)(unsigned)d.dscale);
      set32(out, at, 8);
      return true;
   }
   /* digit i (first <= i < n) stands for 10^(exp10 + (total - 1 - i)) */
   {
      int64_t total = (int64_t)(d.n[0] + d.n[1]);
      int64_t p_hi = d.exp10 + (total - 1 - (int64_t)first);
      int64_t p_lo = d.exp10 + (total - 1 - (int64_t)(n - 1));
      top = p_hi >= 0 ? p_hi / 4 : -((-p_hi + 3) / 4);
      bottom = p_lo >= 0 ? p_lo / 4 : -((-p_lo + 3) / 4);
      weight = top;
      if (weight > INT16_MAX || bottom < INT16_MIN || top - bottom >= INT16_MAX) {
         g_string_truncate(out, at);
         return false;
      }
      put16(out, (uint16_t)(top - bottom + 1));
      put16(out, (uint16_t)(int16_t)weight);
      put16(out, d.neg ? NUMERIC_NEG : NUMERIC_POS);
      put16(out, (uint16_t)d.dscale);
      for (int64_t g = top; g >= bottom; g--) {
         int v = 0;
         for (int k = 3; k >= 0; k--) {
            int64_t p = g * 4 + k, i = d.exp10 + total - 1 - p;
            v = v * 10 + (i >= (int64_t)first && i < (int64_t)n ? decimal_digit(&d, (size_t)i) : 0);
         }
         put16(out, (uint16_t)v);
      }
   }
   set32(out, at, (uint32_t)(out->len - at - 4));
   return true;
}

/* float.c float8in/float4in: "NaN", "Infinity" and the rest through strtod/strtof, an
 * overflow or underflow to zero refused. */
static bool
put_float(GString *out, bool single, const char *s, size_t len)
{
   char buf[128];
   char *end;
   double v;

   if (len == 0 || len >= sizeof buf) {
      return false;
   }
   memcpy(buf, s, len);
   buf[len] = '\0';
   errno = 0;
   if (single) {
      float f = strtof(buf, &end);
      uint32_t bits;
      if (end != buf + len || (errno == ERANGE && (f == 0.0f || isinf(f)))) {
         return false;
      }
      memcpy(&bits, &f, 4);
      put32(out, 4);
      put32(out, bits);
      return true;
   }
   v = strtod(buf, &end);
   if (end != buf + len || (errno == ERANGE && (v == 0.0 || isinf(v)))) {
      return false;
   }
   {
      uint64_t bits;
      memcpy(&bits, &v, 8);
      put32(out, 8);
      put64(out, bits);
   }
   return true;
}

/* The calendar day of "Y+-MM-DD" at s (years of 1 to 7 digits), moving s past it. */
static bool
read_day(const char **s, const char *end, int64_t *y, int *m, int *d)
{
   const char *p = *s, *dash = p;
   int64_t mm, dd;

   while (dash < end && *dash >= '0' && *dash <= '9') {
      dash++;
   }
   if (dash == p || dash - p > 7 || end - dash < 6 || dash[0] != '-' || dash[3] != '-' ||
       !read_int(p, dash, false, 1, 9999999, y) ||
       !read_int(dash + 1, dash + 3, false, 1, 12, &mm) ||
       !read_int(dash + 4, dash + 6, false, 1, 31, &dd)) {
      return false;
   }
   *m = (int)mm;
   *d = (int)dd;
   *s = dash + 6;
   return true;
}

/* Whether y-m-d names a real day (not 2021-02-30): days is its day number. */
static bool
real_day(int64_t days, int64_t y, int m, int d)
{
   int64_t cy;
   int cm, cd;

   mn_calendar__civil_from_days(days, &cy, &cm, &cd);
   return cy == y && cm == m && cd == d;
}

/* Whether [s, end) is " BC" (then the year is 1 - year: astronomical). */
static bool
read_era(const char *s, const char *end, int64_t *y, bool *bc)
{
   *bc = end - s == 3 && memcmp(s, " BC", 3) == 0;
   if (*bc) {
      *y = 1 - *y;
   }
   return *bc || s == end;
}

/* 1 for "infinity", -1 for "-infinity" (date and timestamp text), else 0. */
static int
infinity(const char *s, size_t len)
{
   if (len == 8 && memcmp(s, "infinity", 8) == 0) {
      return 1;
   }
   return len == 9 && memcmp(s, "-infinity", 9) == 0 ? -1 : 0;
}

static bool
put_date(GString *out, const char *s, size_t len)
{
   const char *end = s + len;
   int64_t y, days;
   int m, d;
   bool bc;

   if (infinity(s, len)) {
      put32(out, 4);
      put32(out, infinity(s, len) < 0 ? (uint32_t)INT32_MIN : (uint32_t)INT32_MAX);
      return true;
   }
   if (!read_day(&s, end, &y, &m, &d) || !read_era(s, end, &y, &bc)) {
      return false;
   }
   days = mn_calendar__days_from_civil(y, m, d);
   if (!real_day(days, y, m, d)) {
      return false;
   }
   days -= PG_EPOCH_DAYS;
   if (days <= INT32_MIN || days >= INT32_MAX) {
      return false;
   }
   put32(out, 4);
   put32(out, (uint32_t)(int32_t)days);
   return true;
}

/* "HH:MM:SS[.f{1,6}]" at s into microseconds, moving s past it. */
static bool
read_time(const char **s, const char *end, int64_t *usec)
{
   const char *p = *s;
   int64_t h, mi, sec, frac = 0;
   int digits = 0;

   if (end - p < 9 || p[0] != ' ' || p[3] != ':' || p[6] != ':' ||
       !read_int(p + 1, p + 3, false, 0, 23, &h) || !read_int(p + 4, p + 6, false, 0, 59, &mi) ||
       !read_int(p + 7, p + 9, false, 0, 59, &sec)) {
      return false;
   }
   p += 9;
   if (p < end && *p == '.') {
      for (p++; p < end && *p >= '0' && *p <= '9' && digits < 6; p++, digits++) {
         frac = frac * 10 + (*p - '0');
      }
      if (digits == 0 || (p < end && *p >= '0' && *p <= '9')) {
         return false;
      }
      for (; digits < 6; digits++) {
         frac *= 10;
      }
   }
   *usec = ((h * 60 + mi) * 60 + sec) * INT64_C(1000000) + frac;
   *s = p;
   return true;
}

/* timestamp_send: int64 microseconds since 2000-01-01 00:00 (UTC for timestamptz, whose
 * text must then say "+00"). */
static bool
put_timestamp(GString *out, bool zoned, const char *s, size_t len)
{
   const char *end = s + len;
   int64_t y, usec, days;
   int m, d;
   bool bc;

   if (infinity(s, len)) {
      put32(out, 8);
      put64(out, infinity(s, len) < 0 ? (uint64_t)INT64_MIN : (uint64_t)INT64_MAX);
      return true;
   }
   if (!read_day(&s, end, &y, &m, &d) || !read_time(&s, end, &usec)) {
      return false;
   }
   if (zoned) {
      if (end - s < 3 || memcmp(s, "+00", 3) != 0) {
         return false;
      }
      s += 3;
   }
   if (!read_era(s, end, &y, &bc)) {
      return false;
   }
   days = mn_calendar__days_from_civil(y, m, d);
   if (!real_day(days, y, m, d) || !mn_calendar__timestamp_in_range(days)) {
      return false;
   }
   put32(out, 8);
   put64(out, (uint64_t)((days - PG_EPOCH_DAYS) * MN_USEC_PER_DAY + usec));
   return true;
}

/* network.c inet_send: family, bits, is_cidr, address length, address (host-only: all
 * bits).  The text as the converter checked it: inet_pton(3) as IPv4, else IPv6. */
static bool
put_inet(GString *out, const char *s, size_t len)
{
   char buf[64];
   uint8_t addr[16];
   bool v4;

   if (len == 0 || len >= sizeof buf) {
      return false;
   }
   memcpy(buf, s, len);
   buf[len] = '\0';
   v4 = inet_pton(AF_INET, buf, addr) == 1;
   if (!v4 && inet_pton(AF_INET6, buf, addr) != 1) {
      return false;
   }
   put32(out, v4 ? 8 : 20);
   g_string_append_c(out, (char)(v4 ? PGSQL_AF_INET : PGSQL_AF_INET6));
   g_string_append_c(out, (char)(v4 ? 32 : 128));
   g_string_append_c(out, 0);
   g_string_append_c(out, (char)(v4 ? 4 : 16));
   g_string_append_len(out, (const char *)addr, v4 ? 4 : 16);
   return true;
}

/* One element of a text[] literal as the converter writes it (value.c: NULL, or double
 * quoted with backslash escapes), at *s, moving *s past it. */
static bool
put_array_element(GString *out, const char **s, const char *end)
{
   const char *p = *s;
   size_t at;

   if (end - p >= 4 && g_ascii_strncasecmp(p, "NULL", 4) == 0) {
      mn_pg__bin_append_null(out);
      *s = p + 4;
      return true;
   }
   if (p == end || *p++ != '"') {
      return false;
   }
   at = out->len;
   put32(out, 0);
   for (;;) {
      size_t run = 0;
      while (p + run < end && p[run] != '"' && p[run] != '\\') {
         run++;
      }
      g_string_append_len(out, p, (gssize)run);
      p += run;
      if (p == end) {
         return false;
      }
      if (*p == '"') {
         break;
      }
      if (++p == end) {
         return false;
      }
      g_string_append_c(out, *p++);
   }
   set32(out, at, (uint32_t)(out->len - at - 4));
   *s = p + 1;
   return true;
}

/* array_send: ndim, has-nulls flag, element type, then per dimension its length and lower
 * bound (1), then the elements; an empty array has no dimensions. */
static bool
put_text_array(GString *out, const char *s, size_t len)
{
   const char *end = s + len;
   size_t at = out->len, count_at;
   uint32_t count = 0;

   if (len < 2 || s[0] != '{' || s[len - 1] != '}') {
      return false;
   }
   put32(out, 0);
   if (len == 2) {
      put32(out, 0);
      put32(out, 0);
      put32(out, OID_TEXT);
      set32(out, at, 12);
      return true;
   }
   put32(out, 1);
   put32(out, 0);
   put32(out, OID_TEXT);
   count_at = out->len;
   put32(out, 0);
   put32(out, 1);
   for (s++;; count++) {
      if (!put_array_element(out, &s, end - 1)) {
         g_string_truncate(out, at);
         return false;
      }
      if (s == end - 1) {
         count++;
         break;
      }
      if (*s++ != ',') {
         g_string_truncate(out, at);
         return false;
      }
   }
   set32(out, count_at, count);
   set32(out, at, (uint32_t)(out->len - at - 4));
   return true;
}

/* A value that is the text as it stands (text, json) or with jsonb's version byte. */
static void
put_text(GString *out, bool jsonb, const char *s, size_t len)
{
   size_t n = len + jsonb;
   char *b = grow(out, 4 + n);

   b[0] = (char)(n >> 24);
   b[1] = (char)(n >> 16);
   b[2] = (char)(n >> 8);
   b[3] = (char)n;
   if (jsonb) {
      b[4] = 1; /* the version of jsonb's binary form */
   }
   memcpy(b + 4 + jsonb, s, len);
}

bool
mn_pg__bin_append(GString *out, mn_pg__bin_kind_t kind, const char *text, size_t len)
{
   switch (kind) {
   case MN_PG_BIN_TEXT:
   case MN_PG_BIN_JSON: put_text(out, false, text, len); return true;
   case MN_PG_BIN_JSONB: put_text(out, true, text, len); return true;
   case MN_PG_BIN_UUID: return put_uuid(out, text, len);
   case MN_PG_BIN_INT2:
   case MN_PG_BIN_INT4:
   case MN_PG_BIN_INT8: return put_int(out, kind, text, len);
   case MN_PG_BIN_NUMERIC: return put_numeric(out, text, len);
   case MN_PG_BIN_FLOAT4: return put_float(out, true, text, len);
   case MN_PG_BIN_FLOAT8: return put_float(out, false, text, len);
   case MN_PG_BIN_BOOL:
      if (len != 1 || (*text != 't' && *text != 'f')) {
         return false;
      }
      put32(out, 1);
      g_string_append_c(out, *text == 't');
      return true;
   case MN_PG_BIN_DATE: return put_date(out, text, len);
   case MN_PG_BIN_TIMESTAMP: return put_timestamp(out, false, text, len);
   case MN_PG_BIN_TIMESTAMPTZ: return put_timestamp(out, true, text, len);
   case MN_PG_BIN_INET: return put_inet(out, text, len);
   case MN_PG_BIN_TEXT_ARRAY: return put_text_array(out, text, len);
   case MN_PG_BIN_NONE:
   default: return false;
   }
}

void
mn_pg__bin_append_refused(GString *out, mn_pg__bin_kind_t kind)
{
   /* A value of the type followed by one byte its receive function leaves unread: COPY
    * then fails with "incorrect binary data format" (copyfromparse.c, 22P03).  An inet of
    * family 0 is refused before that, with the same SQLSTATE. */
   switch (kind) {
   case MN_PG_BIN_INT2:
      put32(out, 3);
      put16(out, 0);
      break;
   case MN_PG_BIN_INT4:
   case MN_PG_BIN_FLOAT4:
   case MN_PG_BIN_DATE:
      put32(out, 5);
      put32(out, 0);
      break;
   case MN_PG_BIN_INT8:
   case MN_PG_BIN_FLOAT8:
   case MN_PG_BIN_TIMESTAMP:
   case MN_PG_BIN_TIMESTAMPTZ:
      put32(out, 9);
      put64(out, 0);
      break;
   case MN_PG_BIN_UUID:
      put32(out, 17);
      put64(out, 0);
      put64(out, 0);
      break;
   case MN_PG_BIN_BOOL:
      put32(out, 2);
      g_string_append_c(out, 0);
      break;
   case MN_PG_BIN_NUMERIC:
      put32(out, 9);
      put64(out, 0);
      break;
   case MN_PG_BIN_TEXT_ARRAY:
      put32(out, 13);
      put32(out, 0);
      put32(out, 0);
      put32(out, OID_TEXT);
      break;
   default:
      put32(out, 8);
      put32(out, 0);
      put32(out, 0);
      return;
   }
   g_string_append_c(out, 0);
}

/* ---- which tables: the writers of every column against the catalog's types ---- */

/* Whether a literal of the mapping (a constant, a redaction) encodes as kind. */
static bool
literal_fits(mn_pg__bin_kind_t kind, const char *literal)
{
   GString *scratch = g_string_new(NULL);
   bool ok = mn_pg__bin_append(scratch, kind, literal, strlen(literal));

   g_string_free(scratch, TRUE);
   return ok;
}

/* What a path column writes: its spec's type, a row id for a reference, a digest's hex. */
static bool
path_fits(const mn_column_t *c, mn_pg__bin_kind_t kind)
{
   if (c->spec.digest != MN_DIGEST_NONE) {
      return mn_pg__bin_accepts(kind, MN_TYPE_TEXT);
   }
   if (c->ref_collection >= 0 && !mn_pg__bin_accepts(kind, MN_TYPE_UUID)) {
      return false;
   }
   return mn_pg__bin_accepts(kind, c->spec.type);
}

/* Whether everything column c of a table entry can write is of a form binary.c reads as
 * its target column's type (convert.c: eval_column, eval_implicit, eval_reference). */
static bool
column_fits(const mn_column_t *c, const mn_pg__bin_kind_t *kinds, size_t n_kinds)
{
   mn_pg__bin_kind_t kind;

   if (c->table_column < 0 || (size_t)c->table_column >= n_kinds) {
      return false;
   }
   kind = kinds[c->table_column];
   if (c->raw_to >= 0 &&
       ((size_t)c->raw_to >= n_kinds || !mn_pg__bin_accepts(kinds[c->raw_to], MN_TYPE_TEXT))) {
      return false;
   }
   if (c->redact == MN_REDACT_NULL) {
      return true;
   }
   if (c->redact == MN_REDACT_VALUE) {
      return c->redact_value && literal_fits(kind, c->redact_value);
   }
   switch (c->kind) {
   case MN_SRC_DOC_ID:
   case MN_SRC_PARENT_ID: return mn_pg__bin_accepts(kind, MN_TYPE_UUID);
   case MN_SRC_INDEX:
      /* not smallint: an array of more elements is the server's "out of range" in text */
      return kind != MN_PG_BIN_INT2 && mn_pg__bin_accepts(kind, MN_TYPE_BIGINT);
   case MN_SRC_KEY: return mn_pg__bin_accepts(kind, MN_TYPE_TEXT);
   case MN_SRC_CONST: return c->const_value && literal_fits(kind, c->const_value);
   case MN_SRC_UNMAPPED: return mn_pg__bin_accepts(kind, MN_TYPE_JSONB);
   case MN_SRC_PATH: return path_fits(c, kind);
   default: return false;
   }
}

static bool
columns_fit(const mn_column_t *cols, size_t n, const mn_pg__bin_kind_t *kinds, size_t n_kinds)
{
   for (size_t i = 0; i < n; i++) {
      if (!column_fits(&cols[i], kinds, n_kinds)) {
         return false;
      }
   }
   return true;
}

bool
mn_pg__bin_table_fits(const mn_mapping_t *m, size_t table, const mn_pg__bin_kind_t *kinds)
{
   const mn_table_t *t = &m->tables[table];

   for (size_t c = 0; c < t->n_columns; c++) {
      if (kinds[c] == MN_PG_BIN_NONE) {
         return false;
      }
   }
   if (t->n_columns == 0 || !mn_pg__bin_accepts(kinds[0], MN_TYPE_UUID)) {
      return false; /* column 0 holds the row id (convert.c emit_row) */
   }
   for (size_t i = 0; i < m->n_collections; i++) {
      const mn_collection_t *coll = &m->collections[i];
      for (size_t e = 0; e < coll->n_entries; e++) {
         const mn_entry_t *en = &coll->entries[e];
         if (en->table_index != (int)table) {
            continue;
         }
         if (!columns_fit(en->columns, en->n_columns, kinds, t->n_columns)) {
            return false;
         }
         for (size_t s = 0; s < en->n_shapes; s++) {
            if (!columns_fit(en->shapes[s].columns, en->shapes[s].n_columns, kinds, t->n_columns)) {
               return false;
            }
         }
      }
   }
   return true;
}
