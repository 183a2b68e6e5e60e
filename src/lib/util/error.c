/*
 * error.c - filling mn_error_t.
 */
#include <mongonorm/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
mn_set_error(mn_error_t *error, uint32_t domain, uint32_t code, const char *fmt, ...)
{
   va_list ap;

   if (!error) {
      return;
   }
   error->domain = domain;
   error->code = code;
   va_start(ap, fmt);
   vsnprintf(error->message, sizeof error->message, fmt, ap);
   va_end(ap);
}

void
mn_error_prefix(mn_error_t *error, const char *fmt, ...)
{
   char prefix[MN_ERROR_MESSAGE_SIZE];
   char old[MN_ERROR_MESSAGE_SIZE];
   va_list ap;

   if (!error) {
      return;
   }
   va_start(ap, fmt);
   vsnprintf(prefix, sizeof prefix, fmt, ap);
   va_end(ap);
   memcpy(old, error->message, sizeof old);
   /* Truncation is intended: the message keeps its fixed size. */
   {
      size_t n = strlen(prefix);
      if (n > sizeof error->message - 3) {
         n = sizeof error->message - 3;
      }
      memcpy(error->message, prefix, n);
      memcpy(error->message + n, ": ", 2);
      n += 2;
      size_t rest = strnlen(old, sizeof old - 1);
      if (rest > sizeof error->message - 1 - n) {
         rest = sizeof error->message - 1 - n;
      }
      memcpy(error->message + n, old, rest);
      error->message[n + rest] = '\0';
   }
}

void
mn_error_clear(mn_error_t *error)
{
   if (error) {
      memset(error, 0, sizeof *error);
   }
}
