/*
 * write.c - the draft's files in DIR: mapping.yaml and sql/001_schema.sql (each written
 * under a fresh name and renamed into place, g_file_set_contents), survey.md and
 * survey.json (private files, mode 0600: with --show-values they hold values).
 */
#include "infer/infer_private.h"

#include <mongonorm/files.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const FILES[] = {"mapping.yaml", "sql/001_schema.sql", "survey.md",
                                    "survey.json"};

static bool
make_dir(const char *path, mn_error_t *error)
{
   if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not create folder \"%s\": %s", path,
                   strerror(errno));
      return false;
   }
   return true;
}

static bool
write_public(const char *path, const char *text, mn_error_t *error)
{
   GError *gerr = NULL;

   if (!g_file_set_contents(path, text, -1, &gerr)) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write \"%s\": %s", path,
                   gerr->message);
      g_error_free(gerr);
      return false;
   }
   return true;
}

static bool
write_private(const char *path, const char *text, mn_error_t *error)
{
   char *tmp = NULL;
   int fd = mn_private_file_begin(path, "survey", &tmp, error);
   size_t len = strlen(text);
   size_t done = 0;

   if (fd < 0) {
      return false;
   }
   while (done < len) {
      ssize_t n = write(fd, text + done, len - done);
      if (n < 0 && errno == EINTR) {
         continue;
      }
      if (n <= 0) {
         mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write \"%s\": %s", path,
                      strerror(errno));
         close(fd);
         unlink(tmp);
         free(tmp);
         return false;
      }
      done += (size_t)n;
   }
   if (close(fd) != 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write \"%s\": %s", path,
                   strerror(errno));
      unlink(tmp);
      free(tmp);
      return false;
   }
   done = mn_private_file_commit(tmp, path, "survey", error);
   free(tmp);
   return done != 0;
}

/* Refuse a DIR holding a draft already, unless forced. */
static bool
check_dir(const char *dir, bool force, mn_error_t *error)
{
   for (size_t i = 0; !force && i < G_N_ELEMENTS(FILES); i++) {
      char *path = g_build_filename(dir, FILES[i], NULL);
      bool there = g_file_test(path, G_FILE_TEST_EXISTS);
      g_free(path);
      if (there) {
         mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN,
                      "folder \"%s\" holds a draft already (%s): give --force to overwrite it", dir,
                      FILES[i]);
         return false;
      }
   }
   return true;
}

bool
mn_infer_write(const mn_infer_survey_t *survey, const mn_infer_draft_t *draft, const char *dir,
               bool force, mn_error_t *error)
{
   char *texts[4] = {mn_infer_draft_yaml(draft), mn_infer_draft_sql(draft),
                     mn_infer_survey_markdown(survey, draft), mn_infer_survey_json(survey)};
   char *sql_dir = g_build_filename(dir, "sql", NULL);
   bool ok = false;

   if (!check_dir(dir, force, error) || !make_dir(dir, error) || !make_dir(sql_dir, error)) {
      goto cleanup;
   }
   for (size_t i = 0; i < G_N_ELEMENTS(FILES); i++) {
      char *path = g_build_filename(dir, FILES[i], NULL);
      bool done =
         i < 2 ? write_public(path, texts[i], error) : write_private(path, texts[i], error);
      g_free(path);
      if (!done) {
         goto cleanup;
      }
   }
   ok = true;

cleanup:
   for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
      bson_free(texts[i]);
   }
   g_free(sql_dir);
   return ok;
}
