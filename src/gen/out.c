/*
 * out.c - where generated documents go: a mongodump folder (.bson or
 * .bson.gz), Extended JSON lines (relaxed or canonical), or a live MongoDB
 * (unordered bulk inserts); and manifest.json beside them.
 */
#include "gen_private.h"

#include <errno.h>
#include <mongoc/mongoc.h>
#include <mongonorm/source.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define BULK_DOCS 1000

typedef struct {
   const mn_gen_model_t *m;
   const char *database;
   const char *out;
   mn_gen_format_t format;
   bool gzip;
   char *dir;     /* folder of the collection files */
   char *current; /* collection being written */
   char *path;    /* its file */
   FILE *f;
   gzFile gz;
   /* live */
   mongoc_client_t *client;
   mongoc_collection_t *coll;
   mongoc_bulk_operation_t *bulk;
   size_t in_bulk;
} writer_t;

static bool
mkdirs(const char *dir, mn_error_t *error)
{
   if (g_mkdir_with_parents(dir, 0755) != 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not create folder \"%s\": %s", dir,
                   strerror(errno));
      return false;
   }
   return true;
}

static bool
bulk_flush(writer_t *w, mn_error_t *error)
{
   bson_t reply;
   bson_error_t berr;
   bool ok;

   if (!w->bulk) {
      return true;
   }
   ok = w->in_bulk == 0 || mongoc_bulk_operation_execute(w->bulk, &reply, &berr);
   if (w->in_bulk) {
      bson_destroy(&reply);
   }
   mongoc_bulk_operation_destroy(w->bulk);
   w->bulk = NULL;
   w->in_bulk = 0;
   if (!ok) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_QUERY,
                   "could not insert into collection \"%s\": %s", w->current, berr.message);
   }
   return ok;
}

static bool
close_current(writer_t *w, mn_error_t *error)
{
   bool ok = true;

   if (w->f && fclose(w->f) != 0) {
      ok = false;
   }
   if (w->gz && gzclose(w->gz) != Z_OK) {
      ok = false;
   }
   w->f = NULL;
   w->gz = NULL;
   if (!ok) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write \"%s\": %s", w->path,
                   strerror(errno));
   }
   if (ok && w->client) {
      ok = bulk_flush(w, error);
   }
   if (w->coll) {
      mongoc_collection_destroy(w->coll);
      w->coll = NULL;
   }
   return ok;
}

static bool
write_file(const char *path, const char *text, mn_error_t *error)
{
   FILE *f = fopen(path, "w");

   if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write \"%s\": %s", path,
                   strerror(errno));
      if (f) {
         fclose(f);
      }
      return false;
   }
   return true;
}

/*
 * Start collection `name`: a collection handle of the MongoDB client, or a new file in
 * the output folder (a dump's NAME.bson[.gz] after its NAME.metadata.json, or NAME.json).
 * gzip is written without name or time, so the same seed gives the same bytes.
 */
static bool
open_collection(writer_t *w, const char *name, mn_error_t *error)
{
   g_free(w->current);
   w->current = g_strdup(name);
   g_free(w->path);
   w->path = NULL;
   if (w->client) {
      w->coll = mongoc_client_get_collection(w->client, w->database, name);
      return true;
   }
   if (w->format == MN_GEN_FORMAT_DUMP) {
      char *meta = g_strdup_printf("%s/%s.metadata.json", w->dir, name);
      char *text = g_strdup_printf("{\"indexes\":[{\"v\":2,\"key\":{\"_id\":1},\"name\":\"_id_\"}],"
                                   "\"uuid\":\"\",\"collectionName\":\"%s\"}",
                                   name);
      bool ok = write_file(meta, text, error);
      g_free(meta);
      g_free(text);
      if (!ok) {
         return false;
      }
      w->path = g_strdup_printf("%s/%s.bson%s", w->dir, name, w->gzip ? ".gz" : "");
   } else {
      w->path = g_strdup_printf("%s/%s.json", w->dir, name);
   }
   if (w->gzip && w->format == MN_GEN_FORMAT_DUMP) {
      /* gzopen writes a header without a file name or time: same bytes every run */
      w->gz = gzopen(w->path, "wb6");
   } else {
      w->f = fopen(w->path, "wb");
   }
   if (!w->gz && !w->f) {
      mn_set_error(error, MN_ERROR_IO, MN_IO_OPEN, "could not create \"%s\": %s", w->path,
                   strerror(errno));
      return false;
   }
   if (w->gz) {
      gzbuffer(w->gz, 1 << 17);
   } else {
      setvbuf(w->f, NULL, _IOFBF, 1 << 20);
   }
   return true;
}

/*
 * The mn_gen_emit_fn of the writers: document `doc` of `collection` (documents come
 * collection by collection) into an unordered bulk insert of BULK_DOCS documents, a BSON
 * dump file, or one Extended JSON document per line.
 */
static bool
emit(void *ctx, const char *collection, const bson_t *doc, mn_error_t *error)
{
   writer_t *w = ctx;

   if (!w->current || strcmp(w->current, collection) != 0) {
      if (!close_current(w, error) || !open_collection(w, collection, error)) {
         return false;
      }
   }
   if (w->client) {
      if (!w->bulk) {
         bson_t opts = BSON_INITIALIZER;
         BSON_APPEND_BOOL(&opts, "ordered", false);
         w->bulk = mongoc_collection_create_bulk_operation_with_opts(w->coll, &opts);
         bson_destroy(&opts);
      }
      mongoc_bulk_operation_insert(w->bulk, doc);
      if (++w->in_bulk >= BULK_DOCS) {
         return bulk_flush(w, error);
      }
      return true;
   }
   if (w->format == MN_GEN_FORMAT_DUMP) {
      bool ok = w->gz ? gzwrite(w->gz, bson_get_data(doc), doc->len) == (int)doc->len
                      : fwrite(bson_get_data(doc), 1, doc->len, w->f) == doc->len;
      if (!ok) {
         mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write \"%s\": %s", w->path,
                      strerror(errno));
      }
      return ok;
   } else {
      size_t len = 0;
      char *json = w->format == MN_GEN_FORMAT_JSON ? bson_as_relaxed_extended_json(doc, &len)
                                                   : bson_as_canonical_extended_json(doc, &len);
      bool ok = json && fwrite(json, 1, len, w->f) == len && fputc('\n', w->f) != EOF;
      bson_free(json);
      if (!ok) {
         mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE, "could not write \"%s\": %s", w->path,
                      strerror(errno));
      }
      return ok;
   }
}

bool
mn_generate(const mn_gen_model_t *m, const mn_gen_opts_t *o, const char *out,
            mn_gen_format_t format, bool gzip, const char *manifest_path, mn_error_t *error)
{
   writer_t w = {0};
   mn_gen_manifest_t *mf = NULL;
   mongoc_uri_t *uri = NULL;
   char *mpath = NULL;
   char *json = NULL;
   bool ok = false;

   w.m = m;
   w.database = o->database ? o->database : m->database;
   w.out = out;
   w.format = format;
   w.gzip = gzip;
   if (mn_source_is_uri(out)) {
      bson_error_t berr;
      if (!manifest_path) {
         mn_set_error(error, MN_ERROR_USAGE, MN_USAGE_MISSING_OPTION,
                      "generating into MongoDB needs a manifest file path");
         goto cleanup;
      }
      mn_source_mongo_init();
      uri = mongoc_uri_new_with_error(out, &berr);
      if (!uri) {
         mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_CONNECT, "invalid MongoDB URI: %s",
                      berr.message);
         goto cleanup;
      }
      w.client = mongoc_client_new_from_uri(uri);
      if (!w.client) {
         mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_CONNECT, "could not create a MongoDB client");
         goto cleanup;
      }
      mongoc_client_set_appname(w.client, "mongonorm-generate");
   } else {
      w.dir =
         format == MN_GEN_FORMAT_DUMP ? g_strdup_printf("%s/%s", out, w.database) : g_strdup(out);
      if (!mkdirs(w.dir, error)) {
         goto cleanup;
      }
   }
   if (!mn_gen_run(m, o, emit, &w, &mf, error) || !close_current(&w, error)) {
      goto cleanup;
   }
   mpath = manifest_path ? g_strdup(manifest_path) : g_strdup_printf("%s/manifest.json", out);
   json = mn_gen_manifest_to_json(mf);
   if (!write_file(mpath, json, error)) {
      goto cleanup;
   }
   ok = true;
cleanup:
   if (w.f) {
      fclose(w.f);
   }
   if (w.gz) {
      gzclose(w.gz);
   }
   if (w.bulk) {
      mongoc_bulk_operation_destroy(w.bulk);
   }
   if (w.coll) {
      mongoc_collection_destroy(w.coll);
   }
   if (w.client) {
      mongoc_client_destroy(w.client);
   }
   mongoc_uri_destroy(uri);
   g_free(w.dir);
   g_free(w.current);
   g_free(w.path);
   g_free(mpath);
   bson_free(json);
   mn_gen_manifest_destroy(mf);
   return ok;
}
