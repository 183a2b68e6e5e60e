/*
 * ascii.h - locale-independent ASCII character tests, for the parsers of user text
 * (decimal, calendar, value).  Unlike <ctype.h> they ignore the locale; white space is
 * that of the C locale's isspace(), '\v' included (GLib's g_ascii_isspace leaves it out).
 */
#ifndef MN_ASCII_H
#define MN_ASCII_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** Whether ch is '0'..'9'. */
static inline bool
mn_ascii__is_digit(char ch)
{
   return ch >= '0' && ch <= '9';
}

/** Whether ch is an ASCII letter. */
static inline bool
mn_ascii__is_alpha(char ch)
{
   return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/** Whether ch is ' ', '\t', '\n', '\r', '\f' or '\v'. */
static inline bool
mn_ascii__is_space(char ch)
{
   return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/** ch with an ASCII capital letter made small; any other byte as it is. */
static inline char
mn_ascii__to_lower(char ch)
{
   return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

/** The value of a hexadecimal digit (either case), or -1. */
static inline int
mn_ascii__hex_value(char ch)
{
   if (mn_ascii__is_digit(ch)) {
      return ch - '0';
   }
   ch = mn_ascii__to_lower(ch);
   return (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : -1;
}

/** Whether s[0..len) equals the NUL-terminated word, ignoring ASCII case. */
static inline bool
mn_ascii__equal_nocase(const char *s, size_t len, const char *word)
{
   if (strlen(word) != len) {
      return false;
   }
   for (size_t i = 0; i < len; i++) {
      if (mn_ascii__to_lower(s[i]) != mn_ascii__to_lower(word[i])) {
         return false;
      }
   }
   return true;
}

/** Room for any int64_t in decimal (sign, 19 digits) and a NUL. */
#define MN_ASCII_INT_SIZE 21

/**
 * Write v in decimal, at least `width` digits (zeros in front; width at most 20), into
 * dst (MN_ASCII_INT_SIZE bytes), NUL-terminated, as printf's "%0*" PRIu64 does without
 * its format parsing (the conversion hot paths).  @return the length written.
 */
static inline size_t
mn_ascii__format_uint(uint64_t v, int width, char *dst)
{
   char tmp[MN_ASCII_INT_SIZE];
   size_t n = 0;

   do {
      tmp[n++] = (char)('0' + v % 10);
      v /= 10;
   } while (v);
   while (n < (size_t)width && n < 20) {
      tmp[n++] = '0';
   }
   for (size_t i = 0; i < n; i++) {
      dst[i] = tmp[n - 1 - i];
   }
   dst[n] = '\0';
   return n;
}

/** v in decimal as printf's "%" PRId64 writes it, into dst (MN_ASCII_INT_SIZE bytes),
 * NUL-terminated.  @return the length written. */
static inline size_t
mn_ascii__format_int(int64_t v, char *dst)
{
   if (v < 0) {
      dst[0] = '-';
      return 1 + mn_ascii__format_uint(v == INT64_MIN ? (uint64_t)INT64_MAX + 1 : (uint64_t)-v, 1,
                                       dst + 1);
   }
   return mn_ascii__format_uint((uint64_t)v, 1, dst);
}

#endif
