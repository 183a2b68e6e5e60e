/*
 * decimal.c - exact decimal numbers (decimal.h): digits in an array, never a double,
 * unless the caller asks for one.
 */
#include "util/decimal.h"

#include "util/ascii.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
mn_dec__zero(mn_dec_t *d)
{
   d->kind = MN_DEC_FINITE;
   d->neg = false;
   d->n = 0;
   d->exp = 0;
}

static void
dec_strip_leading(mn_dec_t *d)
{
   int k = 0;

   while (k < d->n && d->d[k] == 0) {
      k++;
   }
   if (k > 0) {
      memmove(d->d, d->d + k, (size_t)(d->n - k));
      d->n -= k;
   }
}

/* Drop trailing zeros after the decimal point ("177.80" -> "177.8"). */
void
mn_dec__strip_fraction_zeros(mn_dec_t *d)
{
   while (d->exp < 0 && d->n > 0 && d->d[d->n - 1] == 0) {
      d->n--;
      d->exp++;
   }
   if (d->n == 0 && d->exp < 0) {
      d->exp = 0;
   }
}

/* Equal as numbers (1.50 == 1.5, -0 == -0, 0 != -0 only by sign). */
bool
mn_dec__same_value(const mn_dec_t *a, const mn_dec_t *b)
{
   int na = a->n, nb = b->n;
   int64_t ea = a->exp, eb = b->exp;

   if (a->kind != b->kind) {
      return false;
   }
   if (a->kind == MN_DEC_NAN) {
      return true;
   }
   if (a->neg != b->neg) {
      return false;
   }
   if (a->kind == MN_DEC_INF) {
      return true;
   }
   while (na > 0 && a->d[na - 1] == 0) {
      na--;
      ea++;
   }
   while (nb > 0 && b->d[nb - 1] == 0) {
      nb--;
      eb++;
   }
   if (na == 0 || nb == 0) {
      return na == nb;
   }
   return na == nb && ea == eb && memcmp(a->d, b->d, (size_t)na) == 0;
}

/*
 * Parse an unsigned or signed decimal number at the start of s:
 *    [+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?
 * Returns the characters consumed, 0 when s does not start with a number.
 * *too_long is set when it has more than MN_DEC_INPUT_MAX significant digits.
 */
size_t
mn_dec__parse(const char *s, size_t len, bool allow_sign, mn_dec_t *d, bool *too_long)
{
   size_t i = 0, j;
   int64_t frac = 0, e = 0;
   bool any = false, eneg = false;

   mn_dec__zero(d);
   *too_long = false;
   if (allow_sign && i < len && (s[i] == '+' || s[i] == '-')) {
      d->neg = s[i] == '-';
      i++;
   }
   for (; i < len && mn_ascii__is_digit(s[i]); i++) {
      any = true;
      if (d->n == 0 && s[i] == '0') {
         continue;
      }
      if (d->n == MN_DEC_INPUT_MAX) {
         *too_long = true;
         continue;
      }
      d->d[d->n++] = (uint8_t)(s[i] - '0');
   }
   if (i < len && s[i] == '.') {
      for (j = i + 1; j < len && mn_ascii__is_digit(s[j]); j++) {
         any = true;
         frac++;
         if (d->n == 0 && s[j] == '0') {
            continue;
         }
         if (d->n == MN_DEC_INPUT_MAX) {
            *too_long = true;
            continue;
         }
         d->d[d->n++] = (uint8_t)(s[j] - '0');
      }
      if (any) {
         i = j;
      }
   }
   if (!any) {
      return 0;
   }
   if (i < len && (s[i] == 'e' || s[i] == 'E')) {
      j = i + 1;
      if (j < len && (s[j] == '+' || s[j] == '-')) {
         eneg = s[j] == '-';
         j++;
      }
      if (j < len && mn_ascii__is_digit(s[j])) {
         for (; j < len && mn_ascii__is_digit(s[j]); j++) {
            if (e < INT64_C(1000000000)) {
               e = e * 10 + (s[j] - '0');
            }
         }
         i = j;
      }
   }
   d->exp = (eneg ? -e : e) - frac;
   return i;
}

/* A whole string as a number, surrounding white space allowed; NaN and infinities too. */
bool
mn_dec__from_text(const char *s, size_t len, bool allow_special, mn_dec_t *d, bool *too_long)
{
   size_t used;

   *too_long = false;
   while (len > 0 && mn_ascii__is_space(s[0])) {
      s++;
      len--;
   }
   while (len > 0 && mn_ascii__is_space(s[len - 1])) {
      len--;
   }
   if (allow_special) {
      mn_dec__zero(d);
      if (mn_ascii__equal_nocase(s, len, "nan")) {
         d->kind = MN_DEC_NAN;
         return true;
      }
      if (len > 0 && (s[0] == '+' || s[0] == '-')) {
         d->neg = s[0] == '-';
         if (mn_ascii__equal_nocase(s + 1, len - 1, "infinity") ||
             mn_ascii__equal_nocase(s + 1, len - 1, "inf")) {
            d->kind = MN_DEC_INF;
            return true;
         }
      } else if (mn_ascii__equal_nocase(s, len, "infinity") ||
                 mn_ascii__equal_nocase(s, len, "inf")) {
         d->kind = MN_DEC_INF;
         return true;
      }
   }
   used = mn_dec__parse(s, len, true, d, too_long);
   return used > 0 && used == len && !*too_long;
}

void
mn_dec__from_int64(int64_t v, mn_dec_t *d)
{
   uint64_t mag = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
   uint8_t tmp[20];
   int k = 0;

   mn_dec__zero(d);
   d->neg = v < 0;
   while (mag > 0) {
      tmp[k++] = (uint8_t)(mag % 10);
      mag /= 10;
   }
   while (k > 0) {
      d->d[d->n++] = tmp[--k];
   }
}

/*
 * Shortest text that reads back as the same double (or float, when single),
 * in C-locale form ("0.1", "1e+300", "-0").  v must be finite.
 */
void
mn_dec__float_text(double v, bool single, char *buf, size_t size)
{
   int prec, max = single ? 9 : 17;
   size_t i, o;

   for (prec = 1; prec <= max; prec++) {
      snprintf(buf, size, "%.*g", prec, v);
      if (single ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) {
         break;
      }
   }
   /* The locale may have written its own decimal point: make it ".". */
   for (i = 0, o = 0; buf[i]; i++) {
      char ch = buf[i];
      if (mn_ascii__is_digit(ch) || ch == 'e' || ch == '-' || ch == '+') {
         buf[o++] = ch;
      } else if (o == 0 || buf[o - 1] != '.') {
         buf[o++] = '.';
      }
   }
   buf[o] = '\0';
}

/* NaN and infinities in PostgreSQL's spelling; finite values as mn_dec__float_text. */
void
mn_dec__float_text_any(double v, bool single, char *buf, size_t size)
{
   if (isnan(v)) {
      snprintf(buf, size, "NaN");
   } else if (isinf(v)) {
      snprintf(buf, size, "%s", v < 0 ? "-Infinity" : "Infinity");
   } else {
      mn_dec__float_text(v, single, buf, size);
   }
}

void
mn_dec__from_double(double v, bool single, mn_dec_t *d)
{
   char buf[64];
   bool too_long;

   mn_dec__zero(d);
   if (isnan(v)) {
      d->kind = MN_DEC_NAN;
   } else if (isinf(v)) {
      d->kind = MN_DEC_INF;
      d->neg = v < 0;
   } else {
      mn_dec__float_text(v, single, buf, sizeof buf);
      (void)mn_dec__parse(buf, strlen(buf), true, d, &too_long);
   }
}

/* d as the nearest double (or float).  Returns false on overflow or underflow to 0. */
bool
mn_dec__to_double(const mn_dec_t *d, bool single, double *out)
{
   char buf[MN_DEC_MAX + 32];
   size_t o = 0;
   int k;

   if (d->kind == MN_DEC_NAN) {
      *out = NAN;
      return true;
   }
   if (d->kind == MN_DEC_INF) {
      *out = d->neg ? -INFINITY : INFINITY;
      return true;
   }
   if (d->n == 0) {
      *out = d->neg ? -0.0 : 0.0;
      return true;
   }
   /* No decimal point, so strtod's locale does not matter. */
   if (d->neg) {
      buf[o++] = '-';
   }
   for (k = 0; k < d->n; k++) {
      buf[o++] = (char)('0' + d->d[k]);
   }
   snprintf(buf + o, sizeof buf - o, "e%" PRId64, d->exp);
   if (single) {
      float f = strtof(buf, NULL);
      if (isinf(f) || f == 0.0f) {
         return false;
      }
      *out = f;
   } else {
      double v = strtod(buf, NULL);
      if (isinf(v) || v == 0.0) {
         return false;
      }
      *out = v;
   }
   return true;
}

/* 0 ok, 1 not an integer (fraction, NaN), 2 out of int64 range. */
int
mn_dec__to_int64(const mn_dec_t *d, int64_t *out)
{
   uint64_t mag = 0;
   int64_t int_digits, k;

   if (d->kind == MN_DEC_NAN) {
      return 1;
   }
   if (d->kind == MN_DEC_INF) {
      return 2;
   }
   if (d->n == 0) {
      *out = 0;
      return 0;
   }
   int_digits = d->n + d->exp;
   for (k = int_digits < 0 ? 0 : int_digits; k < d->n; k++) {
      if (d->d[k] != 0) {
         return 1;
      }
   }
   if (int_digits > 19) {
      return 2;
   }
   for (k = 0; k < int_digits; k++) {
      uint64_t digit = k < d->n ? d->d[k] : 0;
      mag = mag * 10 + digit; /* at most 19 digits: no wrap-around */
   }
   if (d->neg) {
      if (mag > (uint64_t)INT64_MAX + 1) {
         return 2;
      }
      *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
   } else {
      if (mag > (uint64_t)INT64_MAX) {
         return 2;
      }
      *out = (int64_t)mag;
   }
   return 0;
}

/* r = a * b (finite).  False when the product has more than MN_DEC_MAX digits. */
bool
mn_dec__mul(const mn_dec_t *a, const mn_dec_t *b, mn_dec_t *r)
{
   uint32_t acc[MN_DEC_MAX + 1];
   int i, j, n;

   mn_dec__zero(r);
   r->neg = a->neg != b->neg;
   r->exp = a->exp + b->exp;
   if (a->n == 0 || b->n == 0) {
      return true;
   }
   n = a->n + b->n;
   if (n > MN_DEC_MAX) {
      return false;
   }
   memset(acc, 0, sizeof acc);
   /* acc[k] accumulates digit position k counted from the right. */
   for (i = a->n - 1; i >= 0; i--) {
      for (j = b->n - 1; j >= 0; j--) {
         acc[(a->n - 1 - i) + (b->n - 1 - j)] += (uint32_t)a->d[i] * b->d[j];
      }
      for (j = 0; j < n; j++) {
         acc[j + 1] += acc[j] / 10;
         acc[j] %= 10;
      }
   }
   for (i = 0; i < n; i++) {
      r->d[i] = (uint8_t)acc[n - 1 - i];
   }
   r->n = n;
   dec_strip_leading(r);
   return true;
}

/* r = |a| + |b|.  False when aligning them needs more than MN_DEC_MAX digits. */
bool
mn_dec__add_magnitudes(const mn_dec_t *a, const mn_dec_t *b, mn_dec_t *r)
{
   int64_t e, la, lb, len, k;
   int carry = 0;

   if (a->n == 0) {
      *r = *b;
      r->neg = false;
      return true;
   }
   if (b->n == 0) {
      *r = *a;
      r->neg = false;
      return true;
   }
   e = a->exp < b->exp ? a->exp : b->exp;
   if (a->exp - e > MN_DEC_MAX || b->exp - e > MN_DEC_MAX) {
      return false;
   }
   la = a->n + (a->exp - e);
   lb = b->n + (b->exp - e);
   len = (la > lb ? la : lb) + 1;
   if (len > MN_DEC_MAX) {
      return false;
   }
   mn_dec__zero(r);
   r->exp = e;
   r->n = (int)len;
   /* Position k counts from the right, in units of 10^e. */
   for (k = 0; k < len; k++) {
      int64_t ia = a->n - 1 - (k - (a->exp - e));
      int64_t ib = b->n - 1 - (k - (b->exp - e));
      int sum = carry;
      if (k >= a->exp - e && ia >= 0) {
         sum += a->d[ia];
      }
      if (k >= b->exp - e && ib >= 0) {
         sum += b->d[ib];
      }
      r->d[len - 1 - k] = (uint8_t)(sum % 10);
      carry = sum / 10;
   }
   dec_strip_leading(r);
   return true;
}

/*
 * Round to `scale` digits after the point (negative: to 10^-scale), half away
 * from zero.  *lost says whether a nonzero digit was dropped.
 */
void
mn_dec__round(mn_dec_t *d, int scale, bool *lost)
{
   int64_t drop = -(int64_t)scale - d->exp;
   int64_t keep, k;
   bool up;

   *lost = false;
   if (d->kind != MN_DEC_FINITE || drop <= 0) {
      return;
   }
   d->exp = -(int64_t)scale;
   keep = d->n - drop;
   if (keep < 0) {
      *lost = d->n > 0;
      d->n = 0;
      return;
   }
   up = d->d[keep] >= 5;
   for (k = keep; k < d->n; k++) {
      if (d->d[k] != 0) {
         *lost = true;
      }
   }
   d->n = (int)keep;
   if (up) {
      for (k = d->n - 1; k >= 0; k--) {
         if (d->d[k] < 9) {
            d->d[k]++;
            break;
         }
         d->d[k] = 0;
      }
      if (k < 0) {
         memmove(d->d + 1, d->d, (size_t)d->n);
         d->d[0] = 1;
         d->n++;
      }
   }
   dec_strip_leading(d);
}

/*
 * Append d in plain notation with at least min_frac decimals: the text
 * PostgreSQL itself prints for the value, so what is stored reads back the
 * same.  Negative zero is written as "0".
 */
void
mn_dec__append_plain(const mn_dec_t *d, int64_t min_frac, bson_string_t *out)
{
   int64_t int_digits = d->n + d->exp;
   int64_t frac = d->exp < 0 ? -d->exp : 0;
   int64_t k;

   if (frac < min_frac) {
      frac = min_frac;
   }
   if (d->neg && d->n > 0) {
      bson_string_append_c(out, '-');
   }
   if (int_digits <= 0) {
      bson_string_append_c(out, '0');
   }
   for (k = 0; k < int_digits; k++) {
      bson_string_append_c(out, (char)('0' + (k < d->n ? d->d[k] : 0)));
   }
   if (frac > 0) {
      bson_string_append_c(out, '.');
      for (k = 0; k < frac; k++) {
         int64_t pos = int_digits + k;
         bson_string_append_c(out, (char)('0' + (pos >= 0 && pos < d->n ? d->d[pos] : 0)));
      }
   }
}
