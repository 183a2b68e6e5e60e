/*
 * source.c - one interface over a live server, a mongodump folder and an
 * Extended JSON folder.
 *
 * This file picks the kind from the location, finds the data folder of the
 * file kinds (the folder itself or its "<database>/" sub-folder), maps a
 * collection to its file, and forwards everything else through the tables in
 * source_private.h.  It also holds the cursor base (bad record, error) and
 * the buffered file stream the two file readers share.
 */
#include "source/source_private.h"

#include "util/bson_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* -- Cursor base ----------------------------------------------------------- */

mn_cursor_t *
mn_cursor__new(const mn_cursor__ops_t *ops, void *impl)
{
   mn_cursor_t *cursor = bson_malloc0(sizeof *cursor);

   cursor->ops = ops;
   cursor->impl = impl;
   return cursor;
}

static void
clear_bad(mn_cursor_t *cursor)
{
   bson_free(cursor->bad_location);
   bson_free(cursor->bad_reason);
   bson_free(cursor->bad_raw);
   bson_free(cursor->bad_file);
   bson_free(cursor->bad_kept);
   cursor->bad_location = NULL;
   cursor->bad_reason = NULL;
   cursor->bad_raw = NULL;
   cursor->bad_file = NULL;
   cursor->bad_kept = NULL;
   memset(&cursor->bad, 0, sizeof cursor->bad);
}

void
mn_cursor__set_bad(mn_cursor_t *cursor, const char *location, const char *reason, const void *raw,
                   size_t raw_len, bool hex)
{
   static const char digits[] = "0123456789abcdef";
   const unsigned char *bytes = raw;
   char *text = NULL;
   size_t i;

   clear_bad(cursor);
   if (!raw) {
      raw_len = 0;
   }
   if (hex) {
      if (raw_len > MN_SOURCE__RAW_MAX / 2) {
         raw_len = MN_SOURCE__RAW_MAX / 2;
      }
      text = bson_malloc(raw_len * 2 + 1);
      for (i = 0; i < raw_len; i++) {
         text[2 * i] = digits[bytes[i] >> 4];
         text[2 * i + 1] = digits[bytes[i] & 0x0f];
      }
      text[raw_len * 2] = '\0';
   } else {
      if (raw_len > MN_SOURCE__RAW_MAX) {
         raw_len = MN_SOURCE__RAW_MAX;
      }
      text = bson_malloc(raw_len + 1);
      if (raw_len > 0) {
         memcpy(text, raw, raw_len);
      }
      text[raw_len] = '\0';
   }
   cursor->bad_location = bson_strdup(location);
   cursor->bad_reason = bson_strdup(reason);
   cursor->bad_raw = text;
   cursor->bad.location = cursor->bad_location;
   cursor->bad.reason = cursor->bad_reason;
   cursor->bad.raw = cursor->bad_raw;
}

void
mn_cursor__set_skipped(mn_cursor_t *cursor, const char *file, uint64_t offset, uint64_t length,
                       const char *kept)
{
   cursor->bad_file = bson_strdup(file);
   cursor->bad_kept = kept ? bson_strdup(kept) : NULL;
   cursor->bad.file = cursor->bad_file;
   cursor->bad.offset = offset;
   cursor->bad.skipped = length;
   cursor->bad.kept = cursor->bad_kept;
}

void
mn_cursor_keep_skipped(mn_cursor_t *cursor, const char *dir, const char *prefix)
{
   bson_free(cursor->keep_dir);
   bson_free(cursor->keep_prefix);
   cursor->keep_dir = dir ? bson_strdup(dir) : NULL;
   cursor->keep_prefix = bson_strdup(prefix ? prefix : "skipped");
}

mn_cursor_status_t
mn_cursor__fail(mn_cursor_t *cursor, const mn_error_t *error)
{
   cursor->error = *error;
   cursor->failed = true;
   return MN_CURSOR_ERROR;
}

mn_cursor_status_t
mn_cursor_next(mn_cursor_t *cursor, const bson_t **doc)
{
   mn_cursor_status_t status;

   *doc = NULL;
   if (cursor->failed) {
      return MN_CURSOR_ERROR;
   }
   if (cursor->ended) {
      return MN_CURSOR_END;
   }
   clear_bad(cursor);
   status = cursor->ops->next(cursor, doc);
   if (status == MN_CURSOR_END) {
      cursor->ended = true;
   } else if (status == MN_CURSOR_ERROR) {
      cursor->failed = true;
   }
   return status;
}

const mn_cursor_bad_t *
mn_cursor_bad(const mn_cursor_t *cursor)
{
   return &cursor->bad;
}

void
mn_cursor_error(const mn_cursor_t *cursor, mn_error_t *error)
{
   if (!error) {
      return;
   }
   if (cursor->failed) {
      *error = cursor->error;
   } else {
      mn_error_clear(error);
   }
}

void
mn_cursor_progress(const mn_cursor_t *cursor, uint64_t *done, uint64_t *total)
{
   *done = 0;
   *total = 0;
   cursor->ops->progress(cursor, done, total);
}

void
mn_cursor_destroy(mn_cursor_t *cursor)
{
   if (!cursor) {
      return;
   }
   cursor->ops->destroy(cursor->impl);
   clear_bad(cursor);
   bson_free(cursor->keep_dir);
   bson_free(cursor->keep_prefix);
   bson_free(cursor);
}

bool
mn_source__project_id(const bson_t *doc, bson_t *out)
{
   bson_iter_t iter;

   if (!bson_iter_init_find(&iter, doc, "_id")) {
      return false;
   }
   bson_init(out);
   if (!mn_bson__append_iter(out, "_id", 3, &iter)) {
      bson_destroy(out);
      return false;
   }
   return true;
}

/* -- Buffered file stream ------------------------------------------------- */

static bool
has_suffix(const char *s, const char *suffix)
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
   if (has_suffix(path, ".gz")) {
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
   } else {
      do {
         n = read(file->fd, file->buf, MN_SOURCE__FILE_BUF);
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
         mn_set_error(&file->error, MN_ERROR_IO, MN_IO_READ, "could not read file \"%s\": %s",
                      file->path, strerror(errno));
         file->failed = true;
         return;
      }
      if (n == 0) {
         file->eof = true;
         return;
      }
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

/* -- Folder sources -------------------------------------------------------- */

typedef struct {
   char *dir; /* the folder holding the collection files */
} folder_t;

typedef struct {
   bool bson; /* holds a .bson or .bson.gz file */
   bool json; /* holds a .json or .json.gz file (mongodump metadata excluded) */
} scan_t;

static bool
is_json_data(const char *name)
{
   /* mongodump writes "<collection>.metadata.json" next to each .bson, and
    * "prelude.json" at the top of its --out folder: neither is a collection
    * export, so neither makes a folder a JSON folder. */
   if (has_suffix(name, ".metadata.json") || has_suffix(name, ".metadata.json.gz") ||
       strcmp(name, "prelude.json") == 0) {
      return false;
   }
   return has_suffix(name, ".json") || has_suffix(name, ".json.gz");
}

static bool
scan_folder(const char *dir, scan_t *scan, mn_error_t *error)
{
   DIR *d;
   struct dirent *entry;

   memset(scan, 0, sizeof *scan);
   d = opendir(dir);
   if (!d) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not open folder \"%s\": %s", dir,
                   strerror(errno));
      return false;
   }
   while ((entry = readdir(d)) != NULL) {
      if (entry->d_name[0] == '.') {
         continue;
      }
      if (has_suffix(entry->d_name, ".bson") || has_suffix(entry->d_name, ".bson.gz")) {
         scan->bson = true;
      } else if (is_json_data(entry->d_name)) {
         scan->json = true;
      }
   }
   closedir(d);
   return true;
}

static bool
is_dir(const char *path)
{
   struct stat st;

   return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool
is_system_database(const char *name)
{
   return strcmp(name, "admin") == 0 || strcmp(name, "config") == 0 || strcmp(name, "local") == 0;
}

/*
 * The one sub-folder of root holding files of the wanted kind (bson or
 * json).  When several do, the system databases admin, config and local are
 * left out (mongodump --out writes "admin" beside the real database).
 * Returns 0 with *out unset, 1 with *out set (owned), or more than 1 with the
 * candidates listed in names.
 */
static int
pick_subfolder(const char *root, bool want_bson, char **out, bson_string_t *names)
{
   DIR *d;
   struct dirent *entry;
   char *path;
   char *first_any = NULL;
   char *first_user = NULL;
   int n_any = 0;
   int n_user = 0;
   int result;
   scan_t scan;

   d = opendir(root);
   if (!d) {
      return 0;
   }
   while ((entry = readdir(d)) != NULL) {
      if (entry->d_name[0] == '.') {
         continue;
      }
      path = bson_strdup_printf("%s/%s", root, entry->d_name);
      if (is_dir(path) && scan_folder(path, &scan, NULL) && (want_bson ? scan.bson : scan.json)) {
         bson_string_append_printf(names, "%s\"%s\"", n_any ? ", " : "", entry->d_name);
         n_any++;
         if (!first_any) {
            first_any = bson_strdup(path);
         }
         if (!is_system_database(entry->d_name)) {
            n_user++;
            if (!first_user) {
               first_user = bson_strdup(path);
            }
         }
      }
      bson_free(path);
   }
   closedir(d);

   result = n_any;
   if (n_any == 1) {
      *out = first_any;
      first_any = NULL;
   } else if (n_user == 1) {
      *out = first_user;
      first_user = NULL;
      result = 1;
   }
   bson_free(first_any);
   bson_free(first_user);
   return result;
}

/*
 * Decide which folder holds the data and whether it is a dump or a JSON
 * folder.  A dump wins over JSON at each step, so a mongodump --out root
 * (prelude.json beside the database folders) reads as a dump.
 */
static bool
locate_data(const char *root, const char *database, char **dir, mn_source_kind_t *kind,
            mn_error_t *error)
{
   bson_string_t *names = bson_string_new(NULL);
   char *sub = NULL;
   scan_t scan;
   int found;
   bool ok = false;

   if (!scan_folder(root, &scan, error)) {
      goto cleanup;
   }
   if (database) {
      sub = bson_strdup_printf("%s/%s", root, database);
      if (is_dir(sub)) {
         if (!scan_folder(sub, &scan, error)) {
            goto cleanup;
         }
         if (!scan.bson && !scan.json) {
            mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND,
                         "folder \"%s\" holds no .bson or .json file", sub);
            goto cleanup;
         }
         *dir = sub;
         sub = NULL;
      } else if (scan.bson || scan.json) {
         /* The user pointed at the database folder itself. */
         *dir = bson_strdup(root);
      } else {
         mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND,
                      "folder \"%s\" has no database folder \"%s\" and holds no .bson or "
                      ".json file",
                      root, database);
         goto cleanup;
      }
      *kind = scan.bson ? MN_SOURCE_DUMP : MN_SOURCE_JSON;
      ok = true;
      goto cleanup;
   }

   for (int pass = 0; pass < 2 && !*dir; pass++) {
      bool want_bson = pass == 0;

      if (want_bson ? scan.bson : scan.json) {
         *dir = bson_strdup(root);
      } else {
         bson_string_truncate(names, 0);
         found = pick_subfolder(root, want_bson, dir, names);
         if (found > 1) {
            mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND,
                         "folder \"%s\" holds several databases (%s): name the one to read", root,
                         names->str);
            goto cleanup;
         }
      }
      if (*dir) {
         *kind = want_bson ? MN_SOURCE_DUMP : MN_SOURCE_JSON;
      }
   }
   if (!*dir) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND,
                   "folder \"%s\" holds no .bson or .json file", root);
      goto cleanup;
   }
   ok = true;

cleanup:
   bson_free(sub);
   bson_string_free(names, true);
   return ok;
}

static bool
valid_collection_name(const char *collection)
{
   return collection[0] != '\0' && !strchr(collection, '/') && strcmp(collection, ".") != 0 &&
          strcmp(collection, "..") != 0;
}

/* What lies at path: 0 nothing, 1 a regular file (or a link to one), -1 something else. */
static int
file_kind(const char *path, const char **what)
{
   struct stat st;

   if (stat(path, &st) != 0) {
      return 0;
   }
   if (S_ISREG(st.st_mode)) {
      return 1;
   }
   *what = S_ISDIR(st.st_mode)    ? "a directory"
           : S_ISFIFO(st.st_mode) ? "a FIFO"
                                  : "not a regular file";
   return -1;
}

/*
 * The path of the collection's file into *out (owned, bson_free), or NULL when it has
 * none.  False with error set when its name is taken by something that is not a file, or
 * when it has two files (".bson" and ".bson.gz", ".json" and ".json.gz", or, in a dump
 * folder, a ".json" file next to its ".bson"): which one to read is not for us to guess.
 */
static bool
collection_file(const mn_source_t *source, const char *collection, char **out, mn_error_t *error)
{
   const folder_t *folder = source->impl;
   static const char *const all_suffixes[] = {".bson", ".bson.gz", ".json", ".json.gz"};
   /* a dump folder reads .bson files; a .json file only makes one of them ambiguous */
   size_t first = source->kind == MN_SOURCE_DUMP ? 0 : 2;
   char *found = NULL;
   char *path;
   const char *what = NULL;

   *out = NULL;
   if (!valid_collection_name(collection)) {
      return true;
   }
   for (size_t i = first; i < 4; i++) {
      int kind;

      path = bson_strdup_printf("%s/%s%s", folder->dir, collection, all_suffixes[i]);
      kind = file_kind(path, &what);
      if (kind < 0) {
         mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN,
                      "cannot read collection \"%s\" from \"%s\": it is %s", collection, path,
                      what);
         bson_free(path);
         bson_free(found);
         return false;
      }
      if (kind > 0 && found) {
         mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND,
                      "collection \"%s\" has two files in %s folder \"%s\": \"%s\" and \"%s\" "
                      "(remove or rename one)",
                      collection, source->kind == MN_SOURCE_DUMP ? "dump" : "JSON", folder->dir,
                      strrchr(found, '/') + 1, strrchr(path, '/') + 1);
         bson_free(path);
         bson_free(found);
         return false;
      }
      if (kind > 0 && (i < 2 || first == 2)) {
         found = path;
      } else {
         /* nothing there, or a .json beside no .bson in a dump folder: not read */
         bson_free(path);
      }
   }
   *out = found;
   return true;
}

static bool
folder_has_collection(mn_source_t *source, const char *collection, mn_error_t *error)
{
   char *path = NULL;
   bool found;

   if (!collection_file(source, collection, &path, error)) {
      return false;
   }
   found = path != NULL;
   bson_free(path);
   return found;
}

static mn_cursor_t *
folder_find(mn_source_t *source, const char *collection, const mn_find_opts_t *opts,
            mn_error_t *error)
{
   const folder_t *folder = source->impl;
   mn_cursor_t *cursor = NULL;
   char *path = NULL;
   const char *name;

   if (!collection_file(source, collection, &path, error)) {
      goto cleanup;
   }
   if (!path) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND,
                   "collection \"%s\" has no file in %s folder \"%s\"", collection,
                   source->kind == MN_SOURCE_DUMP ? "dump" : "JSON", folder->dir);
      goto cleanup;
   }
   name = strrchr(path, '/') + 1;
   if (source->kind == MN_SOURCE_DUMP) {
      cursor = mn_source__dump_cursor(path, name, opts, error);
   } else {
      cursor = mn_source__json_cursor(path, name, opts, error);
   }

cleanup:
   bson_free(path);
   return cursor;
}

static void
folder_destroy(mn_source_t *source)
{
   folder_t *folder = source->impl;

   if (folder) {
      bson_free(folder->dir);
      bson_free(folder);
   }
}

static const mn_source__ops_t folder_ops = {
   folder_has_collection,
   folder_find,
   folder_destroy,
};

static mn_source_t *
folder_open(const char *location, const char *database, mn_error_t *error)
{
   mn_source_t *source = NULL;
   folder_t *folder = NULL;
   char *root = bson_strdup(location);
   char *dir = NULL;
   mn_source_kind_t kind = MN_SOURCE_DUMP;
   size_t n = strlen(root);

   while (n > 1 && root[n - 1] == '/') {
      root[--n] = '\0';
   }
   if (database && !valid_collection_name(database)) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_NOT_FOUND, "invalid database name \"%s\"",
                   database);
      goto cleanup;
   }
   if (!locate_data(root, database, &dir, &kind, error)) {
      goto cleanup;
   }
   folder = bson_malloc0(sizeof *folder);
   folder->dir = dir;
   dir = NULL;
   source = bson_malloc0(sizeof *source);
   source->ops = &folder_ops;
   source->kind = kind;
   source->impl = folder;
   source->description =
      bson_strdup_printf("%s folder %s", kind == MN_SOURCE_DUMP ? "dump" : "JSON", folder->dir);

cleanup:
   bson_free(dir);
   bson_free(root);
   return source;
}

/* -- Public entry points -------------------------------------------------- */

static bool
is_mongodb_uri(const char *location)
{
   return strncmp(location, "mongodb://", 10) == 0 || strncmp(location, "mongodb+srv://", 14) == 0;
}

mn_source_t *
mn_source_open(const char *location, const char *database, mn_error_t *error)
{
   if (is_mongodb_uri(location)) {
      return mn_source__mongo_open(location, database, error);
   }
   return folder_open(location, database, error);
}

mn_source_kind_t
mn_source_kind(const mn_source_t *source)
{
   return source->kind;
}

const char *
mn_source_describe(const mn_source_t *source)
{
   return source->description;
}

bool
mn_source_has_collection(mn_source_t *source, const char *collection, mn_error_t *error)
{
   return source->ops->has_collection(source, collection, error);
}

mn_cursor_t *
mn_source_find(mn_source_t *source, const char *collection, const mn_find_opts_t *opts,
               mn_error_t *error)
{
   static const mn_find_opts_t defaults = {0};

   return source->ops->find(source, collection, opts ? opts : &defaults, error);
}

void
mn_source_destroy(mn_source_t *source)
{
   if (!source) {
      return;
   }
   source->ops->destroy(source);
   bson_free(source->description);
   bson_free(source);
}
