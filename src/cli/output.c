/*
 * output.c - the progress line and the report file of run and verify (output.h).
 */
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

void
mn_cli_progress(void *ctx, const char *collection, uint64_t documents, uint64_t done,
                uint64_t total)
{
   const char *prefix = ctx;

   if (total > 0) {
      fprintf(stderr, "\r%s%-20s %12llu documents %5.1f%%", prefix, collection,
              (unsigned long long)documents, 100.0 * (double)done / (double)total);
   } else {
      fprintf(stderr, "\r%s%-20s %12llu documents", prefix, collection,
              (unsigned long long)documents);
   }
   if (total > 0 && done >= total) {
      fputc('\n', stderr);
   }
   fflush(stderr);
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
