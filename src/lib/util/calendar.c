/*
 * calendar.c - dates (calendar.h): the proleptic Gregorian calendar, PostgreSQL's date
 * and timestamp ranges and text forms, and ISO 8601 input.
 */
#include "util/calendar.h"

#include "util/ascii.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Days since 1970-01-01 of a civil date (the classic era-of-400-years method). */
int64_t
mn_calendar__days_from_civil(int64_t y, int m, int d)
{
   int64_t era, yoe, doy, doe;

   y -= m <= 2;
   era = (y >= 0 ? y : y - 399) / 400;
   yoe = y - era * 400;
   doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
   doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
   return era * 146097 + doe - 719468;
}

void
mn_calendar__civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
   int64_t era, doe, yoe, doy, mp;

   z += 719468;
   era = (z >= 0 ? z : z - 146096) / 146097;
   doe = z - era * 146097;
   yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
   doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
   mp = (5 * doy + 2) / 153;
   *d = (int)(doy - (153 * mp + 2) / 5 + 1);
   *m = (int)(mp < 10 ? mp + 3 : mp - 9);
   *y = yoe + era * 400 + (*m <= 2);
}

static bool
is_leap(int64_t y)
{
   return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
   static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

   return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* PostgreSQL's ranges: Julian day 0 (4714-11-24 BC) up to these limits. */
int64_t
mn_calendar__pg_min_day(void)
{
   return mn_calendar__days_from_civil(-4713, 11, 24);
}

static int64_t
pg_timestamp_end_day(void) /* exclusive */
{
   return mn_calendar__days_from_civil(294277, 1, 1);
}

int64_t
mn_calendar__pg_date_max_day(void) /* inclusive */
{
   return mn_calendar__days_from_civil(5874897, 12, 31);
}

bool
mn_calendar__timestamp_in_range(int64_t days)
{
   return days >= mn_calendar__pg_min_day() && days < pg_timestamp_end_day();
}

/* "year 2024" or "year 45 bc", for reasons. */
const char *
mn_calendar__year_label(int64_t days, char *dst, size_t size)
{
   int64_t y;
   int m, d;

   mn_calendar__civil_from_days(days, &y, &m, &d);
   if (y <= 0) {
      snprintf(dst, size, "year %" PRId64 " bc", 1 - y);
   } else {
      snprintf(dst, size, "year %" PRId64, y);
   }
   return dst;
}

/*
 * v in decimal, at least width digits, at p; returns the end.  As printf's "%0*" PRId64
 * (a negative v through it), without the format parsing: dates are formatted once per
 * value converted.
 */
static char *
put_num(char *p, int64_t v, int width)
{
   if (v < 0) {
      return p + snprintf(p, MN_ASCII_INT_SIZE + 1, "%0*" PRId64, width, v);
   }
   return p + mn_ascii__format_uint((uint64_t)v, width, p);
}

/* "-MM-DD" at p (returns the end). */
static char *
put_month_day(char *p, int m, int d)
{
   *p++ = '-';
   p = put_num(p, m, 2);
   *p++ = '-';
   return put_num(p, d, 2);
}

/* "HH:MM:SS" of secs at p (returns the end). */
static char *
put_time(char *p, int64_t secs)
{
   p = put_num(p, (int)(secs / 3600), 2);
   *p++ = ':';
   p = put_num(p, (int)(secs / 60 % 60), 2);
   *p++ = ':';
   return put_num(p, (int)(secs % 60), 2);
}

/* "YYYY-MM-DD HH:MM:SS.fff[fff][+00][ BC]"; frac_digits is 3 or 6. */
void
mn_calendar__append_timestamp(bson_string_t *out, int64_t days, int64_t usec, int frac_digits,
                              bool with_zone)
{
   char text[8 * (MN_ASCII_INT_SIZE + 2)], *p = text;
   int64_t y;
   int m, d;
   bool bc;
   int64_t secs = usec / 1000000, sub = usec % 1000000;

   mn_calendar__civil_from_days(days, &y, &m, &d);
   bc = y <= 0;
   p = put_num(p, bc ? 1 - y : y, 4);
   p = put_month_day(p, m, d);
   *p++ = ' ';
   p = put_time(p, secs);
   *p++ = '.';
   p = frac_digits == 6 ? put_num(p, (int)sub, 6) : put_num(p, (int)(sub / 1000), 3);
   if (with_zone) {
      memcpy(p, "+00", 3);
      p += 3;
   }
   if (bc) {
      memcpy(p, " BC", 3);
      p += 3;
   }
   *p = '\0';
   bson_string_append(out, text);
}

void
mn_calendar__append_date(bson_string_t *out, int64_t days)
{
   char text[4 * (MN_ASCII_INT_SIZE + 2)], *p = text;
   int64_t y;
   int m, d;

   mn_calendar__civil_from_days(days, &y, &m, &d);
   p = put_num(p, y <= 0 ? 1 - y : y, 4);
   p = put_month_day(p, m, d);
   if (y <= 0) {
      memcpy(p, " BC", 3);
      p += 3;
   }
   *p = '\0';
   bson_string_append(out, text);
}

/* ISO 8601 as JavaScript writes it: "2020-01-02T03:04:05.678Z", "-000044-03-15T...". */
void
mn_calendar__append_iso(bson_string_t *out, int64_t ms)
{
   char text[8 * (MN_ASCII_INT_SIZE + 2)], *p = text;
   int64_t rem, days = mn_calendar__floor_div(ms, MN_MS_PER_DAY, &rem), y;
   int m, d;

   mn_calendar__civil_from_days(days, &y, &m, &d);
   if (y >= 0 && y <= 9999) {
      p = put_num(p, y, 4);
   } else {
      *p++ = y < 0 ? '-' : '+';
      p = put_num(p, y < 0 ? -y : y, 6);
   }
   p = put_month_day(p, m, d);
   *p++ = 'T';
   p = put_time(p, rem / 1000);
   *p++ = '.';
   p = put_num(p, (int)(rem % 1000), 3);
   memcpy(p, "Z", 2);
   bson_string_append(out, text);
}

/* `count` digits at s[*i] into *v, *i past them. */
static bool
read_digits(const char *s, size_t len, size_t *i, int count, int64_t *v)
{
   int k;

   *v = 0;
   for (k = 0; k < count; k++) {
      if (*i >= len || !mn_ascii__is_digit(s[*i])) {
         return false;
      }
      *v = *v * 10 + (s[(*i)++] - '0');
   }
   return true;
}

/* YYYY-MM-DD at s[*i] (the year as mn_calendar__iso_parse reads it): its day number. */
static bool
iso_date(const char *s, size_t len, size_t *i, int64_t *days)
{
   size_t start;
   int64_t y = 0, mo, d;
   int neg = 0;

   if (*i < len && (s[*i] == '+' || s[*i] == '-')) {
      neg = s[*i] == '-' ? -1 : 1;
      (*i)++;
   }
   start = *i;
   while (*i < len && mn_ascii__is_digit(s[*i]) && *i - start < 6) {
      y = y * 10 + (s[(*i)++] - '0');
   }
   if (*i - start < 4 || (neg && *i - start != 6 && *i - start != 4)) {
      return false;
   }
   if (neg < 0) {
      y = -y;
   }
   if (*i >= len || s[(*i)++] != '-' || !read_digits(s, len, i, 2, &mo) || *i >= len ||
       s[(*i)++] != '-' || !read_digits(s, len, i, 2, &d)) {
      return false;
   }
   if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, (int)mo)) {
      return false;
   }
   *days = mn_calendar__days_from_civil(y, (int)mo, (int)d);
   return true;
}

/*
 * The digits of a fraction of a second at s[*i] (at least one) as microseconds: the
 * seventh digit rounds half up, and *rounded is set when a nonzero digit past the sixth
 * is dropped.
 */
static bool
iso_fraction(const char *s, size_t len, size_t *i, int64_t *usec, bool *rounded)
{
   int k;

   *usec = 0;
   if (*i >= len || !mn_ascii__is_digit(s[*i])) {
      return false;
   }
   for (k = 0; *i < len && mn_ascii__is_digit(s[*i]); (*i)++, k++) {
      if (k < 6) {
         *usec = *usec * 10 + (s[*i] - '0');
      } else {
         if (k == 6 && s[*i] >= '5') {
            (*usec)++;
         }
         *rounded = *rounded || s[*i] != '0';
      }
   }
   for (; k < 6; k++) {
      *usec *= 10;
   }
   return true;
}

/* HH:MM[:SS[.frac]] at s[*i]: microseconds into the day (*rounded: see iso_fraction). */
static bool
iso_clock(const char *s, size_t len, size_t *i, int64_t *usec_of_day, bool *rounded)
{
   int64_t h, mi, sec = 0, usec = 0;

   if (!read_digits(s, len, i, 2, &h) || *i >= len || s[(*i)++] != ':' ||
       !read_digits(s, len, i, 2, &mi)) {
      return false;
   }
   if (*i < len && s[*i] == ':') {
      (*i)++;
      if (!read_digits(s, len, i, 2, &sec)) {
         return false;
      }
      if (*i < len && (s[*i] == '.' || s[*i] == ',')) {
         (*i)++;
         if (!iso_fraction(s, len, i, &usec, rounded)) {
            return false;
         }
      }
   }
   if (h > 23 || mi > 59 || sec > 59) {
      return false;
   }
   *usec_of_day = ((h * 60 + mi) * 60 + sec) * 1000000 + usec;
   return true;
}

/* Z, or +-HH[[:]MM], at s[*i]: *offset east of UTC in minutes.  No zone there is no error. */
static bool
iso_zone(const char *s, size_t len, size_t *i, int64_t *offset, bool *has_zone)
{
   int64_t oh, om = 0;
   int sign;

   if (*i < len && (s[*i] == 'Z' || s[*i] == 'z')) {
      (*i)++;
      *has_zone = true;
      return true;
   }
   if (*i >= len || (s[*i] != '+' && s[*i] != '-')) {
      return true;
   }
   sign = s[(*i)++] == '-' ? -1 : 1;
   if (!read_digits(s, len, i, 2, &oh)) {
      return false;
   }
   if (*i < len && s[*i] == ':') {
      (*i)++;
      if (!read_digits(s, len, i, 2, &om)) {
         return false;
      }
   } else if (*i < len && mn_ascii__is_digit(s[*i]) && !read_digits(s, len, i, 2, &om)) {
      return false;
   }
   if (oh > 23 || om > 59) {
      return false;
   }
   *offset = sign * (oh * 60 + om);
   *has_zone = true;
   return true;
}

bool
mn_calendar__iso_parse(const char *s, size_t len, mn_iso_t *t)
{
   size_t i = 0;
   int64_t usec_of_day, offset = 0;

   memset(t, 0, sizeof *t);
   if (!iso_date(s, len, &i, &t->days)) {
      return false;
   }
   if (i == len) {
      return true;
   }
   if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') {
      return false;
   }
   i++;
   t->has_time = true;
   if (!iso_clock(s, len, &i, &usec_of_day, &t->rounded) ||
       !iso_zone(s, len, &i, &offset, &t->has_zone) || i != len) {
      return false;
   }
   t->days +=
      mn_calendar__floor_div(usec_of_day - offset * 60 * 1000000, MN_USEC_PER_DAY, &t->usec);
   t->six_digits = t->usec % 1000 != 0;
   return true;
}
