/*
 * calendar.h - dates for conversion and the generator: the proleptic Gregorian calendar
 * with astronomical years (0 is 1 BC), PostgreSQL's date and timestamp ranges and text
 * forms, and ISO 8601 input.  A moment is (days since 1970-01-01, time into that day),
 * so the whole range of a BSON date and of PostgreSQL's timestamp (which ends in
 * 294276 AD, past what int64 microseconds since 1970 can hold) fit.
 */
#ifndef MN_CALENDAR_H
#define MN_CALENDAR_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MN_MS_PER_DAY INT64_C(86400000)
#define MN_USEC_PER_DAY INT64_C(86400000000)

/**
 * a / b rounded toward negative infinity (b != 0); *rem (NULL allowed) gets the
 * remainder, which has b's sign: floor_div(-1, 86400000) is -1, remainder 86399999.
 */
static inline int64_t
mn_calendar__floor_div(int64_t a, int64_t b, int64_t *rem)
{
   int64_t q = a / b, r = a % b;

   if (r != 0 && (r < 0) != (b < 0)) {
      q--;
      r += b;
   }
   if (rem) {
      *rem = r;
   }
   return q;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (year 0 = 1 BC). */
int64_t mn_calendar__days_from_civil(int64_t y, int m, int d);

/** The proleptic Gregorian date of a day number (days since 1970-01-01). */
void mn_calendar__civil_from_days(int64_t z, int64_t *y, int *m, int *d);

/** PostgreSQL's first day of date and timestamp: Julian day 0 (4714-11-24 BC). */
int64_t mn_calendar__pg_min_day(void);

/** PostgreSQL's last day of date (5874897-12-31), inclusive. */
int64_t mn_calendar__pg_date_max_day(void);

/** Whether a day is within PostgreSQL's timestamp range (4714-11-24 BC to 294276 AD). */
bool mn_calendar__timestamp_in_range(int64_t days);

/** "year 2024" or "year 45 bc" of a day, for reasons, into dst (48 bytes). @return dst */
const char *mn_calendar__year_label(int64_t days, char *dst, size_t size);

/**
 * Append "YYYY-MM-DD HH:MM:SS.fff[fff][+00][ BC]", PostgreSQL's timestamp text, for a
 * day and usec microseconds into it; frac_digits is 3 or 6, with_zone adds "+00".
 */
void mn_calendar__append_timestamp(bson_string_t *out, int64_t days, int64_t usec, int frac_digits,
                                   bool with_zone);

/** Append "YYYY-MM-DD[ BC]", PostgreSQL's date text. */
void mn_calendar__append_date(bson_string_t *out, int64_t days);

/**
 * Append milliseconds since 1970 in ISO 8601 as JavaScript writes it:
 * "2020-01-02T03:04:05.678Z", "-000044-03-15T...".
 */
void mn_calendar__append_iso(bson_string_t *out, int64_t ms);

/** An ISO 8601 date or date-time string, read by mn_calendar__iso_parse(). */
typedef struct {
   int64_t days; /* of the written date, then of the UTC instant when has_zone */
   int64_t usec; /* into that day */
   bool has_time;
   bool has_zone;
   bool rounded;    /* more than 6 fractional digits, a nonzero one dropped */
   bool six_digits; /* the microseconds are not whole milliseconds */
} mn_iso_t;

/**
 * Read s[0..len) as YYYY-MM-DD, optionally followed by [T ]HH:MM[:SS[.frac]] and Z or
 * +-HH[:MM].  The year is 4 to 6 digits, or signed ("+012345", "-000044") as ISO 8601's
 * expanded form; fractions past microseconds are rounded half up.
 * @return false when s is not such a date (or names no real day or time).
 */
bool mn_calendar__iso_parse(const char *s, size_t len, mn_iso_t *t);

#endif
