/*
 * file.c - the buffered byte stream the two file readers (dump.c, json.c)
 * share: a plain or gzip-compressed file read in MN_SOURCE__FILE_BUF chunks,
 * counting what it hands out for the progress bar.
 */
#include "source/source_private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool
mn_source__has_suffix(const char *s, const char *suffix)
{
   size_t n = strlen(s);
   size_t m = strlen(suffix);

   return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool
mn_source__file_open(mn_source__file_t *file, const char *path, mn_error_t *error)
{
   struct stat st;
   int fd = -1;
   bool ok = false;

   memset(file, 0, sizeof *file);
   file->fd = -1;
   file->path = bson_strdup(path);

   /* O_NONBLOCK: a FIFO at the path must not block the open; it is refused below. */
   fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
   if (fd < 0 || fstat(fd, &st) != 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not open file \"%s\": %s", path,
                   strerror(errno));
      goto cleanup;
   }
   if (!S_ISREG(st.st_mode)) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not open file \"%s\": %s", path,
                   S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file");
      goto cleanup;
   }
   if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not open file \"%s\": %s", path,
                   strerror(errno));
      goto cleanup;
   }
   file->size = (uint64_t)st.st_size;
   if (mn_source__has_suffix(path, ".gz")) {
      /* gzdopen owns fd from here on, also when it fails. */
      file->gz = gzdopen(fd, "rb");
      fd = -1;
      if (!file->gz) {
         mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not open file \"%s\": %s", path,
                      "out of memory in zlib");
         goto cleanup;
      }
      gzbuffer(file->gz, 128u * 1024u);
   } else {
      file->fd = fd;
      fd = -1;
   }
   file->buf = bson_malloc(MN_SOURCE__FILE_BUF);
   ok = true;

cleanup:
   if (fd >= 0) {
      close(fd);
   }
   if (!ok) {
      mn_source__file_close(file);
   }
   return ok;
}

/* read() of a plain file, retried on EINTR: the bytes read; 0 at the end (eof set), -1
 * when it failed (failed and error set). */
static ssize_t
read_plain(mn_source__file_t *file, void *dst, size_t n)
{
   ssize_t got;

   do {
      got = read(file->fd, dst, n);
   } while (got < 0 && errno == EINTR);
   if (got < 0) {
      mn_set_error(&file->error, MN_ERROR_IO, MN_IO_READ, "could not read file \"%s\": %s",
                   file->path, strerror(errno));
      file->failed = true;
   } else if (got == 0) {
      file->eof = true;
   }
   return got;
}

/*
 * Refill the buffer from the file (gzread for a compressed one, read() retried on EINTR
 * for a plain one).  Sets eof at the end, cut_short when a gzip stream stopped before its
 * trailer, failed and error when a read failed; len is then 0.
 */
static void
file_fill(mn_source__file_t *file)
{
   ssize_t n;
   int errnum = Z_OK;
   const char *msg;

   file->pos = 0;
   file->len = 0;
   if (file->eof || file->failed) {
      return;
   }
   if (file->gz) {
      n = gzread(file->gz, file->buf, MN_SOURCE__FILE_BUF);
      if (n < 0) {
         msg = gzerror(file->gz, &errnum);
         if (errnum == Z_ERRNO) {
            msg = strerror(errno);
         }
         mn_set_error(&file->error, MN_ERROR_IO, MN_IO_READ, "could not read file \"%s\": %s",
                      file->path, msg);
         file->failed = true;
         return;
      }
      if (n == 0) {
         /* zlib reports a stream that stops before its trailer as
          * Z_BUF_ERROR, and gzread() itself then just returns 0. */
         (void)gzerror(file->gz, &errnum);
         file->cut_short = errnum == Z_BUF_ERROR;
         file->eof = true;
         return;
      }
   } else if ((n = read_plain(file, file->buf, MN_SOURCE__FILE_BUF)) <= 0) {
      return;
   }
   file->len = (size_t)n;
}

const unsigned char *
mn_source__file_peek(mn_source__file_t *file, size_t *avail)
{
   if (file->pos == file->len) {
      file_fill(file);
   }
   *avail = file->len - file->pos;
   return file->buf + file->pos;
}

void
mn_source__file_consume(mn_source__file_t *file, size_t n)
{
   file->pos += n;
   file->consumed += n;
}

size_t
mn_source__file_read(mn_source__file_t *file, void *dst, size_t n)
{
   unsigned char *out = dst;
   const unsigned char *p;
   size_t got = 0;
   size_t avail;
   size_t take;

   while (got < n) {
      if (file->pos == file->len && !file->gz && !file->eof && !file->failed &&
          n - got >= MN_SOURCE__FILE_BUF) {
         /* the buffer is empty and the caller wants at least as much: read() into its
          * memory, not through the buffer (one copy of every byte less) */
         ssize_t r = read_plain(file, out + got, n - got);
         if (r <= 0) {
            break;
         }
         file->consumed += (size_t)r;
         got += (size_t)r;
         continue;
      }
      p = mn_source__file_peek(file, &avail);
      if (avail == 0) {
         break;
      }
      take = n - got < avail ? n - got : avail;
      memcpy(out + got, p, take);
      mn_source__file_consume(file, take);
      got += take;
   }
   return got;
}

void
mn_source__file_progress(const mn_source__file_t *file, uint64_t *done, uint64_t *total)
{
   z_off_t offset;

   *total = file->size;
   if (file->gz) {
      offset = gzoffset(file->gz);
      *done = offset > 0 ? (uint64_t)offset : 0;
   } else {
      *done = file->consumed;
   }
   if (file->eof || *done > *total) {
      *done = *total;
   }
}

void
mn_source__file_close(mn_source__file_t *file)
{
   if (!file) {
      return;
   }
   if (file->gz) {
      gzclose(file->gz);
   }
   if (file->fd >= 0) {
      close(file->fd);
   }
   bson_free(file->buf);
   bson_free(file->path);
   file->gz = NULL;
   file->fd = -1;
   file->buf = NULL;
   file->path = NULL;
}
