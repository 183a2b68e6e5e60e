/*
 * files.c - private files for source data (see files.h).
 */
#define _GNU_SOURCE /* mkostemp */
#include <mongonorm/files.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
mn_private_file_begin(const char *path, const char *what, char **tmp_path, mn_error_t *error)
{
   size_t len = strlen(path);
   char *tmp = malloc(len + sizeof ".partial-XXXXXX");
   int fd;

   *tmp_path = NULL;
   if (!tmp) {
      abort();
   }
   memcpy(tmp, path, len);
   memcpy(tmp + len, ".partial-XXXXXX", sizeof ".partial-XXXXXX");
   fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT | O_EXCL, mode 0600 */
   if (fd < 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not create %s \"%s\": %s", what, path,
                   strerror(errno));
      free(tmp);
      return -1;
   }
   *tmp_path = tmp;
   return fd;
}

bool
mn_private_file_commit(const char *tmp_path, const char *path, const char *what, mn_error_t *error)
{
   if (rename(tmp_path, path) != 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not create %s \"%s\": %s", what, path,
                   strerror(errno));
      unlink(tmp_path);
      return false;
   }
   return true;
}

int
mn_private_file_create(const char *path, const char *what, mn_error_t *error)
{
   char *tmp = NULL;
   int fd = mn_private_file_begin(path, what, &tmp, error);

   if (fd >= 0 && !mn_private_file_commit(tmp, path, what, error)) {
      close(fd);
      fd = -1;
   }
   free(tmp);
   return fd;
}
