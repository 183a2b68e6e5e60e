/*
 * cursor.c - the cursor base every source kind builds on.
 *
 * struct mn_cursor (source_private.h) keeps what all kinds share: the bad
 * record of the last mn_cursor_next() and the error that stopped the cursor.
 * The kinds report them through mn_cursor__set_bad(), mn_cursor__set_skipped()
 * and mn_cursor__fail(); the public mn_cursor_* calls read them back and
 * forward the rest through the kind's table of operations.
 */
#include "source/source_private.h"

#include "util/bson_private.h"

#include <string.h>

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

const bson_t *
mn_source__project(mn_source__projection_t *p, const bson_t *doc)
{
   bson_iter_t iter;

   mn_source__projection_release(p);
   if (!p->ids_only || !bson_iter_init_find(&iter, doc, "_id")) {
      return doc;
   }
   bson_init(&p->doc);
   if (!mn_bson__append_iter(&p->doc, "_id", 3, &iter)) {
      bson_destroy(&p->doc);
      return doc;
   }
   p->held = true;
   return &p->doc;
}

void
mn_source__projection_release(mn_source__projection_t *p)
{
   if (p->held) {
      bson_destroy(&p->doc);
      p->held = false;
   }
}
