/*
 * mongo.c - read a live MongoDB server with libmongoc.
 *
 * The server is pinged once at open so that a wrong URI or an unreachable
 * server fails early, before anything is written to PostgreSQL.  Passwords
 * never reach a message or the description: the description is rebuilt from
 * the parsed URI without credentials, and every message built here goes
 * through scrub(), which masks the password as it was written in the URI and
 * as libmongoc decoded it.
 */
#include "source/source_private.h"

#include <mongoc/mongoc.h>
#include <pthread.h>
#include <string.h>

typedef struct {
   mongoc_uri_t *uri;
   mongoc_client_t *client;
   char *database;   /* owned */
   char *secret_raw; /* password as written in the URI (percent-encoded), or NULL */
   char *secret;     /* password as libmongoc decoded it, or NULL */
} mongo_source_t;

typedef struct {
   mongoc_collection_t *collection;
   mongoc_cursor_t *cursor;
   char *name;       /* collection name, owned */
   char *secret_raw; /* copies of the source's, for messages */
   char *secret;
   uint64_t done;  /* documents returned */
   uint64_t total; /* estimated count, 0 when unknown */
} mongo_cursor_t;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
init_driver(void)
{
   mongoc_init();
   /* The library never prints: libmongoc would log to stderr by default
    * (e.g. "Empty hostname in URI"), and every error it logs also reaches
    * us through a bson_error_t that we report. */
   mongoc_log_set_handler(NULL, NULL);
}

void
mn_source_mongo_init(void)
{
   pthread_once(&init_once, init_driver);
}

/* Replace every occurrence of secret in message by "***". */
static void
mask(char *message, size_t size, const char *secret)
{
   char out[MN_ERROR_MESSAGE_SIZE];
   size_t n = secret ? strlen(secret) : 0;
   size_t o = 0;
   const char *p = message;
   const char *hit;

   if (n == 0 || !strstr(message, secret)) {
      return;
   }
   while ((hit = strstr(p, secret)) != NULL && o < sizeof out - 1) {
      o += (size_t)snprintf(out + o, sizeof out - o, "%.*s***", (int)(hit - p), p);
      if (o >= sizeof out) {
         o = sizeof out - 1;
      }
      p = hit + n;
   }
   if (o < sizeof out - 1) {
      snprintf(out + o, sizeof out - o, "%s", p);
   }
   snprintf(message, size, "%s", out);
}

static void
scrub(mn_error_t *error, const char *secret_raw, const char *secret)
{
   if (error) {
      mask(error->message, sizeof error->message, secret_raw);
      mask(error->message, sizeof error->message, secret);
   }
}

/*
 * The password as written in a URI string, found without parsing it with
 * libmongoc (which may be what failed): the text between the first ':' and
 * the last '@' of the part before any '?'.  NULL when there is none.
 */
static char *
raw_password(const char *location)
{
   const char *start = strstr(location, "://");
   const char *end;
   const char *at = NULL;
   const char *colon;

   if (!start) {
      return NULL;
   }
   start += 3;
   end = strchr(start, '?');
   if (!end) {
      end = start + strlen(start);
   }
   for (const char *p = start; p < end; p++) {
      if (*p == '@') {
         at = p;
      }
   }
   if (!at) {
      return NULL;
   }
   colon = memchr(start, ':', (size_t)(at - start));
   if (!colon || colon + 1 == at) {
      return NULL;
   }
   return bson_strndup(colon + 1, (size_t)(at - colon - 1));
}

/* "mongodb://host1:27017,host2:27017/db": the URI without credentials or options. */
static char *
describe(const mongoc_uri_t *uri, const char *database)
{
   bson_string_t *s = bson_string_new(NULL);
   const mongoc_host_list_t *host;
   const char *srv = mongoc_uri_get_srv_hostname(uri);

   if (srv) {
      bson_string_append_printf(s, "mongodb+srv://%s", srv);
   } else {
      bson_string_append(s, "mongodb://");
      for (host = mongoc_uri_get_hosts(uri); host; host = host->next) {
         bson_string_append_printf(s, "%s%s", host == mongoc_uri_get_hosts(uri) ? "" : ",",
                                   host->host_and_port);
      }
   }
   bson_string_append_printf(s, "/%s", database);
   return bson_string_free(s, false);
}

/* -- Cursor ---------------------------------------------------------------- */

static mn_cursor_status_t
mongo_next(mn_cursor_t *cursor, const bson_t **doc)
{
   mongo_cursor_t *c = cursor->impl;
   bson_error_t berr;
   mn_error_t error;

   if (mongoc_cursor_next(c->cursor, doc)) {
      c->done++;
      return MN_CURSOR_DOC;
   }
   *doc = NULL;
   if (mongoc_cursor_error_document(c->cursor, &berr, NULL)) {
      mn_set_error(&error, MN_ERROR_MONGO, MN_MONGO_QUERY, "could not read collection \"%s\": %s",
                   c->name, berr.message);
      scrub(&error, c->secret_raw, c->secret);
      return mn_cursor__fail(cursor, &error);
   }
   return MN_CURSOR_END;
}

static void
mongo_progress(const mn_cursor_t *cursor, uint64_t *done, uint64_t *total)
{
   const mongo_cursor_t *c = cursor->impl;

   *done = c->done;
   *total = c->total;
   if (*total != 0 && *done > *total) {
      *total = *done; /* the estimate was low, or documents were added */
   }
}

static void
mongo_cursor_destroy(void *impl)
{
   mongo_cursor_t *c = impl;

   if (!c) {
      return;
   }
   mongoc_cursor_destroy(c->cursor);
   mongoc_collection_destroy(c->collection);
   bson_free(c->name);
   bson_free(c->secret_raw);
   bson_free(c->secret);
   bson_free(c);
}

static const mn_cursor__ops_t mongo_cursor_ops = {
   mongo_next,
   mongo_progress,
   mongo_cursor_destroy,
};

/* -- Source ---------------------------------------------------------------- */

static bool
mongo_has_collection(mn_source_t *source, const char *collection, mn_error_t *error)
{
   mongo_source_t *m = source->impl;
   mongoc_database_t *db = mongoc_client_get_database(m->client, m->database);
   bson_error_t berr;
   bool found;

   memset(&berr, 0, sizeof berr);
   found = mongoc_database_has_collection(db, collection, &berr);
   if (!found && berr.code != 0) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_QUERY,
                   "could not list the collections of database \"%s\": %s", m->database,
                   berr.message);
      scrub(error, m->secret_raw, m->secret);
   }
   mongoc_database_destroy(db);
   return found;
}

/* A random sample of n documents: [{$sample: {size: n}}]. */
static mongoc_cursor_t *
sample_cursor(mongoc_collection_t *collection, uint64_t n)
{
   bson_t *pipeline = BCON_NEW("pipeline", "[", "{", "$sample", "{", "size",
                               BCON_INT64((int64_t)(n > INT64_MAX ? INT64_MAX : n)), "}", "}", "]");
   mongoc_cursor_t *cursor =
      mongoc_collection_aggregate(collection, MONGOC_QUERY_NONE, pipeline, NULL, NULL);

   bson_destroy(pipeline);
   return cursor;
}

/*
 * A libmongoc cursor over the collection: the filter given (or all), projected to _id
 * with ids_only, with the server's estimated count as the progress total when there is no
 * filter.  Messages are scrubbed of the password.
 */
static mn_cursor_t *
mongo_find(mn_source_t *source, const char *collection, const mn_find_opts_t *opts,
           mn_error_t *error)
{
   mongo_source_t *m = source->impl;
   mongo_cursor_t *c = bson_malloc0(sizeof *c);
   mn_cursor_t *cursor = NULL;
   bson_t find_opts = BSON_INITIALIZER;
   bson_t projection;
   bson_t empty = BSON_INITIALIZER;
   const bson_t *filter = opts->filter ? opts->filter : &empty;
   bson_error_t berr;
   int64_t count;

   c->name = bson_strdup(collection);
   c->secret_raw = m->secret_raw ? bson_strdup(m->secret_raw) : NULL;
   c->secret = m->secret ? bson_strdup(m->secret) : NULL;
   c->collection = mongoc_client_get_collection(m->client, m->database, collection);

   if (opts->ids_only) {
      BSON_APPEND_DOCUMENT_BEGIN(&find_opts, "projection", &projection);
      BSON_APPEND_INT32(&projection, "_id", 1);
      bson_append_document_end(&find_opts, &projection);
   }

   /* A total for the progress bar; an estimate means nothing under a filter. */
   if (bson_empty(filter)) {
      count = mongoc_collection_estimated_document_count(c->collection, NULL, NULL, NULL, &berr);
      c->total = count > 0 ? (uint64_t)count : 0;
   }

   if (opts->sample > 0) {
      c->cursor = sample_cursor(c->collection, opts->sample);
      c->total = opts->sample < c->total || !c->total ? opts->sample : c->total;
   } else {
      c->cursor = mongoc_collection_find_with_opts(c->collection, filter, &find_opts, NULL);
   }
   if (mongoc_cursor_error(c->cursor, &berr)) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_QUERY, "could not read collection \"%s\": %s",
                   collection, berr.message);
      scrub(error, m->secret_raw, m->secret);
      goto cleanup;
   }
   cursor = mn_cursor__new(&mongo_cursor_ops, c);
   c = NULL;

cleanup:
   mongo_cursor_destroy(c);
   bson_destroy(&find_opts);
   bson_destroy(&empty);
   return cursor;
}

static void
free_mongo_source(mongo_source_t *m)
{
   if (!m) {
      return;
   }
   mongoc_client_destroy(m->client);
   mongoc_uri_destroy(m->uri);
   bson_free(m->database);
   bson_free(m->secret_raw);
   bson_free(m->secret);
   bson_free(m);
}

static void
mongo_destroy(mn_source_t *source)
{
   free_mongo_source(source->impl);
}

static char **
mongo_list(mn_source_t *source, mn_error_t *error)
{
   mongo_source_t *m = source->impl;
   mongoc_database_t *db = mongoc_client_get_database(m->client, m->database);
   bson_error_t berr;
   char **all;
   char **names;
   size_t n = 0;

   memset(&berr, 0, sizeof berr);
   all = mongoc_database_get_collection_names_with_opts(db, NULL, &berr);
   mongoc_database_destroy(db);
   if (!all) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_QUERY,
                   "could not list the collections of database \"%s\": %s", m->database,
                   berr.message);
      scrub(error, m->secret_raw, m->secret);
      return NULL;
   }
   names = bson_malloc0(sizeof(char *));
   for (size_t i = 0; all[i]; i++) {
      if (strncmp(all[i], "system.", 7) != 0) {
         names = bson_realloc(names, (n + 2) * sizeof(char *));
         names[n++] = bson_strdup(all[i]);
         names[n] = NULL;
      }
   }
   bson_strfreev(all);
   return names;
}

static const mn_source__ops_t mongo_ops = {
   mongo_has_collection,
   mongo_find,
   mongo_destroy,
   mongo_list,
};

/*
 * Create m's client and ping the server once, so that an unreachable server fails at
 * open.  description: the server for messages (no credentials).
 */
static bool
connect_server(mongo_source_t *m, const char *description, mn_error_t *error)
{
   bson_t *ping = NULL;
   bson_error_t berr;
   bool ok = false;

   m->client = mongoc_client_new_from_uri_with_error(m->uri, &berr);
   if (!m->client) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_CONNECT,
                   "could not connect to MongoDB at \"%s\": %s", description, berr.message);
      scrub(error, m->secret_raw, m->secret);
      goto cleanup;
   }
   mongoc_client_set_error_api(m->client, MONGOC_ERROR_API_VERSION_2);

   ping = BCON_NEW("ping", BCON_INT32(1));
   if (!mongoc_client_command_simple(m->client, m->database, ping, NULL, NULL, &berr)) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_CONNECT,
                   "could not connect to MongoDB at \"%s\": %s", description, berr.message);
      scrub(error, m->secret_raw, m->secret);
      goto cleanup;
   }
   ok = true;

cleanup:
   bson_destroy(ping);
   return ok;
}

mn_source_t *
mn_source__mongo_open(const char *location, const char *database, mn_error_t *error)
{
   mn_source_t *source = NULL;
   mongo_source_t *m = bson_malloc0(sizeof *m);
   char *description = NULL;
   bson_error_t berr;
   const char *password;

   mn_source_mongo_init();
   m->secret_raw = raw_password(location);

   m->uri = mongoc_uri_new_with_error(location, &berr);
   if (!m->uri) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_CONNECT, "could not parse MongoDB URI: %s",
                   berr.message);
      scrub(error, m->secret_raw, NULL);
      goto cleanup;
   }
   password = mongoc_uri_get_password(m->uri);
   m->secret = password && *password ? bson_strdup(password) : NULL;

   if (!database) {
      database = mongoc_uri_get_database(m->uri);
   }
   if (!database || !*database) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_CONNECT,
                   "no database to read: the MongoDB URI names none and none was given");
      goto cleanup;
   }
   m->database = bson_strdup(database);
   if (!mongoc_uri_get_appname(m->uri)) {
      mongoc_uri_set_appname(m->uri, "mongonorm");
   }

   description = describe(m->uri, m->database);
   if (!connect_server(m, description, error)) {
      goto cleanup;
   }
   source = mn_source__new(&mongo_ops, MN_SOURCE_MONGODB, m, description);
   m = NULL;
   description = NULL;

cleanup:
   free_mongo_source(m);
   bson_free(description);
   return source;
}

/* -- Change streams ---------------------------------------------------------- */

struct mn_watch {
   mongoc_change_stream_t *stream;
   mongoc_database_t *db;
   char *secret_raw;
   char *secret;
};

mn_watch_t *
mn_source_watch(mn_source_t *source, const char *resume_token, mn_error_t *error)
{
   mongo_source_t *m;
   mn_watch_t *w;
   bson_t pipeline = BSON_INITIALIZER;
   bson_t opts = BSON_INITIALIZER;
   const bson_t *err_doc = NULL;
   bson_error_t berr;

   if (!source || source->kind != MN_SOURCE_MONGODB) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_QUERY,
                   "following changes needs a live MongoDB source (a mongodb:// URI)");
      return NULL;
   }
   m = source->impl;
   w = bson_malloc0(sizeof *w);
   w->db = mongoc_client_get_database(m->client, m->database);
   w->secret_raw = m->secret_raw ? bson_strdup(m->secret_raw) : NULL;
   w->secret = m->secret ? bson_strdup(m->secret) : NULL;
   BSON_APPEND_INT64(&opts, "maxAwaitTimeMS", 1000);
   if (resume_token) {
      bson_t *wrapped = bson_new_from_json((const uint8_t *)resume_token, -1, &berr);
      bson_iter_t it, token;
      if (!wrapped || !bson_iter_init_find(&it, wrapped, "v") || !BSON_ITER_HOLDS_DOCUMENT(&it)) {
         mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_QUERY,
                      "the stored resume token is not valid");
         if (wrapped) {
            bson_destroy(wrapped);
         }
         goto fail;
      }
      token = it;
      bson_append_iter(&opts, "resumeAfter", -1, &token);
      bson_destroy(wrapped);
   }
   w->stream = mongoc_database_watch(w->db, &pipeline, &opts);
   if (mongoc_change_stream_error_document(w->stream, &berr, &err_doc)) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_QUERY,
                   "could not follow the changes of database \"%s\": %s", m->database,
                   berr.message);
      scrub(error, m->secret_raw, m->secret);
      goto fail;
   }
   bson_destroy(&pipeline);
   bson_destroy(&opts);
   return w;

fail:
   bson_destroy(&pipeline);
   bson_destroy(&opts);
   mn_watch_destroy(w);
   return NULL;
}

bool
mn_watch_wait(mn_watch_t *w, bool *changed, mn_error_t *error)
{
   const bson_t *event = NULL;
   const bson_t *err_doc = NULL;
   bson_error_t berr;

   *changed = false;
   /* The first call waits up to maxAwaitTimeMS; then take what is already there. */
   while (mongoc_change_stream_next(w->stream, &event)) {
      *changed = true;
   }
   if (mongoc_change_stream_error_document(w->stream, &berr, &err_doc)) {
      mn_set_error(error, MN_ERROR_MONGO, MN_MONGO_QUERY, "the change stream failed: %s",
                   berr.message);
      scrub(error, w->secret_raw, w->secret);
      return false;
   }
   return true;
}

char *
mn_watch_token(const mn_watch_t *w)
{
   const bson_t *token = mongoc_change_stream_get_resume_token(w->stream);
   bson_t wrapped = BSON_INITIALIZER;
   char *json;

   if (!token) {
      return NULL;
   }
   BSON_APPEND_DOCUMENT(&wrapped, "v", token);
   json = bson_as_canonical_extended_json(&wrapped, NULL);
   bson_destroy(&wrapped);
   return json;
}

void
mn_watch_destroy(mn_watch_t *w)
{
   if (!w) {
      return;
   }
   mongoc_change_stream_destroy(w->stream);
   mongoc_database_destroy(w->db);
   bson_free(w->secret_raw);
   bson_free(w->secret);
   bson_free(w);
}
