/*
 * source.c - one interface over a live server, a mongodump folder and an
 * Extended JSON folder.
 *
 * This file picks the kind from the location (source/mongo.c for a server,
 * source/folder.c for the folders) and forwards everything else through the
 * tables in source_private.h.
 */
#include "source/source_private.h"

#include <stdlib.h>
#include <string.h>

bool
mn_source_is_uri(const char *location)
{
   return strncmp(location, "mongodb://", 10) == 0 || strncmp(location, "mongodb+srv://", 14) == 0;
}

mn_source_t *
mn_source_open(const char *location, const char *database, mn_error_t *error)
{
   if (mn_source_is_uri(location)) {
      return mn_source__mongo_open(location, database, error);
   }
   return mn_source__folder_open(location, database, error);
}

mn_source_t *
mn_source__new(const mn_source__ops_t *ops, mn_source_kind_t kind, void *impl, char *description)
{
   mn_source_t *source = bson_malloc0(sizeof *source);

   source->ops = ops;
   source->kind = kind;
   source->impl = impl;
   source->description = description;
   return source;
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

static int
compare_names(const void *a, const void *b)
{
   return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
mn_source_list_collections(mn_source_t *source, mn_error_t *error)
{
   char **names = source->ops->list(source, error);
   size_t n = 0;

   if (!names) {
      return NULL;
   }
   while (names[n]) {
      n++;
   }
   qsort(names, n, sizeof *names, compare_names);
   return names;
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
