/*
 * folder.c - the file kinds of source: a mongodump folder or an Extended
 * JSON folder.
 *
 * Finds the data folder (the folder itself or its "<database>/" sub-folder),
 * tells a dump from a JSON folder, maps a collection to its one file and
 * hands that file to the reader of its kind (dump.c, json.c).
 */
#include "source/source_private.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

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
   if (mn_source__has_suffix(name, ".metadata.json") ||
       mn_source__has_suffix(name, ".metadata.json.gz") || strcmp(name, "prelude.json") == 0) {
      return false;
   }
   return mn_source__has_suffix(name, ".json") || mn_source__has_suffix(name, ".json.gz");
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
      if (mn_source__has_suffix(entry->d_name, ".bson") ||
          mn_source__has_suffix(entry->d_name, ".bson.gz")) {
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
 * locate_data() with a database named: its sub-folder of root when there is one (it
 * must hold data), else root itself when root holds data (the user pointed at the
 * database folder).  scan: what root holds.
 */
static bool
locate_named(const char *root, const char *database, scan_t scan, char **dir,
             mn_source_kind_t *kind, mn_error_t *error)
{
   char *sub = bson_strdup_printf("%s/%s", root, database);
   bool ok = false;

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

cleanup:
   bson_free(sub);
   return ok;
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
   bson_string_t *names = NULL;
   scan_t scan;
   int found;
   bool ok = false;

   if (!scan_folder(root, &scan, error)) {
      return false;
   }
   if (database) {
      return locate_named(root, database, scan, dir, kind, error);
   }
   names = bson_string_new(NULL);
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

/* The collection a file name holds, bson_malloc'd, or NULL when it holds none of this
 * kind of folder (a dump reads .bson files, a JSON folder .json ones). */
static char *
collection_of_file(const char *name, mn_source_kind_t kind)
{
   static const char *const dump_suffixes[] = {".bson", ".bson.gz", NULL};
   static const char *const json_suffixes[] = {".json", ".json.gz", NULL};
   const char *const *suffixes = kind == MN_SOURCE_DUMP ? dump_suffixes : json_suffixes;

   if (name[0] == '.' || (kind == MN_SOURCE_JSON && !is_json_data(name))) {
      return NULL;
   }
   for (size_t i = 0; suffixes[i]; i++) {
      size_t n = strlen(name);
      size_t ns = strlen(suffixes[i]);
      if (n > ns && mn_source__has_suffix(name, suffixes[i])) {
         return bson_strndup(name, n - ns);
      }
   }
   return NULL;
}

static char **
folder_list(mn_source_t *source, mn_error_t *error)
{
   const folder_t *folder = source->impl;
   DIR *d = opendir(folder->dir);
   struct dirent *entry;
   char **names = bson_malloc0(sizeof(char *));
   size_t n = 0;

   if (!d) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not open folder \"%s\": %s", folder->dir,
                   strerror(errno));
      bson_free(names);
      return NULL;
   }
   while ((entry = readdir(d)) != NULL) {
      char *name = collection_of_file(entry->d_name, source->kind);
      bool seen = false;

      for (size_t i = 0; name && i < n && !seen; i++) {
         seen = strcmp(names[i], name) == 0;
      }
      if (!name || seen) {
         bson_free(name);
         continue;
      }
      names = bson_realloc(names, (n + 2) * sizeof(char *));
      names[n++] = name;
      names[n] = NULL;
   }
   closedir(d);
   return names;
}

static const mn_source__ops_t folder_ops = {
   folder_has_collection,
   folder_find,
   folder_destroy,
   folder_list,
};

mn_source_t *
mn_source__folder_open(const char *location, const char *database, mn_error_t *error)
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
   source = mn_source__new(
      &folder_ops, kind, folder,
      bson_strdup_printf("%s folder %s", kind == MN_SOURCE_DUMP ? "dump" : "JSON", folder->dir));

cleanup:
   bson_free(dir);
   bson_free(root);
   return source;
}
