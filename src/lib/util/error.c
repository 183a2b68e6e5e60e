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
mn_error_clear(mn_error_t *error)
{
   if (error) {
      memset(error, 0, sizeof *error);
   }
}
