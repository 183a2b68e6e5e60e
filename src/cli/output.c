/*
 * output.c - the progress line and the report file of run and verify (output.h).
 */
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
now_seconds(void)
{
   struct timespec ts;

   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "<documents> documents[ <percent>%][ <rate>/s][ ETA <m:ss>]" into buf: columns padded
 * for the terminal's line, or separated by commas for a plain line. */
static void
progress_text(char *buf, size_t size, bool padded, uint64_t documents, uint64_t done,
              uint64_t total, double elapsed)
{
   const char *sep = padded ? " " : ", ";
   double fraction = total > 0 ? (double)done / (double)total : 0;
   int n = snprintf(buf, size, padded ? "%12llu documents" : " %llu documents",
                    (unsigned long long)documents);

   if (n > 0 && total > 0 && (size_t)n < size) {
      n += snprintf(buf + n, size - (size_t)n, padded ? "%s%5.1f%%" : "%s%.1f%%", sep,
                    100.0 * fraction);
   }
   if (n > 0 && elapsed >= 1 && (size_t)n < size) {
      n += snprintf(buf + n, size - (size_t)n, padded ? "%s%8.0f/s" : "%s%.0f/s", sep,
                    (double)documents / elapsed);
   }
   if (n > 0 && elapsed >= 1 && fraction > 0.01 && fraction < 1 && (size_t)n < size) {
      double eta = elapsed * (1 - fraction) / fraction;
      snprintf(buf + n, size - (size_t)n, "%sETA %llu:%02llu", sep, (unsigned long long)(eta / 60),
               (unsigned long long)eta % 60);
   }
}

void
mn_cli_progress(void *ctx, const char *collection, uint64_t documents, uint64_t done,
                uint64_t total)
{
   mn_cli_progress_t *p = ctx;
   double now = now_seconds();
   char text[128];

   pthread_mutex_lock(&p->lock);
   if (strcmp(p->collection, collection) != 0) {
      snprintf(p->collection, sizeof p->collection, "%s", collection);
      p->started = p->printed = now;
   }
   progress_text(text, sizeof text, p->terminal, documents, done, total, now - p->started);
   if (p->terminal) {
      fprintf(stderr, "\r\033[K%s%-20s%s", p->prefix, collection, text);
      if (total > 0 && done >= total) {
         fputc('\n', stderr);
      }
   } else if (now - p->printed >= p->every) {
      fprintf(stderr, "mongonorm: %s%s:%s\n", p->prefix, collection, text);
      p->printed = now;
   }
   fflush(stderr);
   pthread_mutex_unlock(&p->lock);
}

bool
mn_cli_write_report(int fd, const char *json, int *saved_errno)
{
   FILE *f = fdopen(fd, "w");
   bool written = f && fputs(json, f) >= 0 && fputc('\n', f) != EOF;

   *saved_errno = errno;
   if (!f) {
      close(fd);
   } else if (fclose(f) != 0 && written) {
      written = false;
      *saved_errno = errno;
   }
   return written;
}
