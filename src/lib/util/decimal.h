/*
 * decimal.h - exact decimal numbers for conversion: parsing, unit arithmetic, rounding
 * and PostgreSQL's plain text form, so that "12345678901234567890.1" and
 * "5'10\"" = 5 * 30.48 + 10 * 2.54 stay exact.  Doubles go through their shortest
 * round-trip text.  A mn_dec_t is about 1.1 kB: keep one per conversion, not per digit.
 */
#ifndef MN_DECIMAL_H
#define MN_DECIMAL_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MN_DEC_MAX 1100       /* digits a mn_dec_t holds */
#define MN_DEC_INPUT_MAX 1000 /* significant digits accepted from one number in a string */

typedef enum { MN_DEC_FINITE = 0, MN_DEC_NAN, MN_DEC_INF } mn_dec_kind_t;

/*
 * value = (neg ? -1 : 1) * d[0..n) * 10^exp.  d has no leading zeros; n == 0
 * is zero (exp then still carries the scale, so "0.00" keeps two decimals).
 * Trailing zeros are kept: decimal128 "1.50" stays "1.50".
 */
typedef struct {
   mn_dec_kind_t kind;
   bool neg;
   int n;                 /* digits in d */
   int64_t exp;           /* power of ten of the last digit */
   uint8_t d[MN_DEC_MAX]; /* one decimal digit (0-9) a byte, most significant first */
} mn_dec_t;

/** Set d to (positive, finite) zero. */
void mn_dec__zero(mn_dec_t *d);

/** Drop trailing zeros after the decimal point ("177.80" -> "177.8"). */
void mn_dec__strip_fraction_zeros(mn_dec_t *d);

/** Whether a and b are equal as numbers (1.50 == 1.5; NaN equals NaN; 0 and -0 differ). */
bool mn_dec__same_value(const mn_dec_t *a, const mn_dec_t *b);

/**
 * Parse a decimal number at the start of s[0..len):
 *    [+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?
 * (the sign only when allow_sign).
 * @return the characters consumed, 0 when s does not start with a number; *too_long is
 *         set when it has more than MN_DEC_INPUT_MAX significant digits (the rest are
 *         dropped).
 */
size_t mn_dec__parse(const char *s, size_t len, bool allow_sign, mn_dec_t *d, bool *too_long);

/**
 * A whole string as a number, white space around it allowed; with allow_special also
 * NaN, [+-]inf and [+-]infinity in any case.
 * @return false when s is not exactly one number or has too many digits (*too_long).
 */
bool mn_dec__from_text(const char *s, size_t len, bool allow_special, mn_dec_t *d, bool *too_long);

/** d = v, exactly. */
void mn_dec__from_int64(int64_t v, mn_dec_t *d);

/**
 * The shortest text that reads back as the same double (or float, when single), in
 * C-locale form ("0.1", "1e+300", "-0"), into buf (64 bytes is enough).  v must be finite.
 */
void mn_dec__float_text(double v, bool single, char *buf, size_t size);

/** As mn_dec__float_text, and NaN, Infinity and -Infinity in PostgreSQL's spelling. */
void mn_dec__float_text_any(double v, bool single, char *buf, size_t size);

/** d = the decimal that mn_dec__float_text_any writes for v (NaN and infinities too). */
void mn_dec__from_double(double v, bool single, mn_dec_t *d);

/**
 * d as the nearest double (or float, when single) into *out.
 * @return false on overflow, or when a nonzero d underflows to 0.
 */
bool mn_dec__to_double(const mn_dec_t *d, bool single, double *out);

/**
 * d as an int64 into *out.
 * @return 0 when it is one, 1 when it is not an integer (a fraction, NaN), 2 when it is
 *         out of int64's range (infinities too).
 */
int mn_dec__to_int64(const mn_dec_t *d, int64_t *out);

/**
 * r = a * b, both finite; r may not be a or b.
 * @return false when the product has more than MN_DEC_MAX digits.
 */
bool mn_dec__mul(const mn_dec_t *a, const mn_dec_t *b, mn_dec_t *r);

/**
 * r = |a| + |b|; r may not be a or b.
 * @return false when aligning them takes more than MN_DEC_MAX digits.
 */
bool mn_dec__add_magnitudes(const mn_dec_t *a, const mn_dec_t *b, mn_dec_t *r);

/**
 * Round d to `scale` digits after the point (a negative scale: to 10^-scale), half away
 * from zero.  *lost says whether a nonzero digit was dropped.  NaN and infinities stay.
 */
void mn_dec__round(mn_dec_t *d, int scale, bool *lost);

/**
 * Append finite d to out in plain notation with at least min_frac decimals: the text
 * PostgreSQL itself prints for the value, so what is stored reads back the same.
 * Negative zero is written as "0".
 */
void mn_dec__append_plain(const mn_dec_t *d, int64_t min_frac, bson_string_t *out);

#endif
