/*
 * source_dump.c - read a mongodump "<collection>.bson" or ".bson.gz" file.
 *
 * A .bson file is BSON documents back to back, each starting with its own
 * int32 length.  The framing is done here over the shared file stream rather
 * than with bson_reader_t, for two reasons: a corrupt length must not make us
 * allocate or read gigabytes (we check it against MAX_DOCUMENT first), and a
 * bad record must carry its first bytes, which bson_reader_t keeps to itself.
 *
 * What the cursor yields for damaged input:
 *   - a document whose length is sane but whose bytes are not valid BSON:
 *     returned as stored (the converter validates);
 *   - a document whose last byte is not 0: BAD, then reading goes on after it;
 *   - an impossible length, or a file cut short: one BAD for the rest of the
 *     file, then END (there is no way to find the next document again).
 */
#include "source_private.h"

#include <inttypes.h>
#include <string.h>

/* Largest document accepted: MongoDB's largest message (48 MB), well above
 * its 16 MiB document limit, so nothing a server wrote is refused. */
#define MAX_DOCUMENT (48 * 1000 * 1000)

/* Bytes of a bad record shown as hex. */
#define RAW_BYTES 256

typedef struct {
   mn_source__file_t file;
   char *name; /* file name for locations, e.g. "users.bson" */
   bool ids_only;
   uint8_t *data;    /* the current document's bytes */
   size_t cap;       /* allocated size of data */
   bson_t doc;       /* static over data */
   bson_t projected; /* {_id} of doc when ids_only */
   bool has_projected;
   bool finished; /* a BAD for the tail was returned: END next */
} dump_cursor_t;

static void
dump_bad(mn_cursor_t *cursor, uint64_t offset, const char *reason, const void *raw, size_t raw_len)
{
   dump_cursor_t *c = cursor->impl;
   char location[512];

   snprintf(location, sizeof location, "%s offset %" PRIu64, c->name, offset);
   mn_cursor__set_bad(cursor, location, reason, raw, raw_len > RAW_BYTES ? RAW_BYTES : raw_len,
                      true);
}

static mn_cursor_status_t
dump_next(mn_cursor_t *cursor, const bson_t **doc)
{
   dump_cursor_t *c = cursor->impl;
   uint8_t head[RAW_BYTES];
   uint64_t offset = c->file.consumed;
   char reason[256];
   size_t got;
   size_t want;
   int32_t len;

   if (c->has_projected) {
      bson_destroy(&c->projected);
      c->has_projected = false;
   }
   if (c->finished) {
      return MN_CURSOR_END;
   }

   got = mn_source__file_read(&c->file, head, 4);
   if (c->file.failed) {
      return mn_cursor__fail(cursor, &c->file.error);
   }
   if (got == 0) {
      if (c->file.cut_short) {
         c->finished = true;
         dump_bad(cursor, offset, "compressed file ends early: unexpected end of file", NULL, 0);
         return MN_CURSOR_BAD;
      }
      return MN_CURSOR_END;
   }
   if (got < 4) {
      c->finished = true;
      snprintf(reason, sizeof reason, "file ends inside a document length (%zu of 4 bytes)", got);
      dump_bad(cursor, offset, reason, head, got);
      return MN_CURSOR_BAD;
   }

   len = (int32_t)((uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 |
                   (uint32_t)head[3] << 24);
   if (len < 5 || len > MAX_DOCUMENT) {
      c->finished = true;
      got += mn_source__file_read(&c->file, head + 4, sizeof head - 4);
      if (c->file.failed) {
         return mn_cursor__fail(cursor, &c->file.error);
      }
      snprintf(reason, sizeof reason,
               "invalid document length %" PRId32 "; the rest of the file is skipped", len);
      dump_bad(cursor, offset, reason, head, got);
      return MN_CURSOR_BAD;
   }

   if ((size_t)len > c->cap) {
      c->data = bson_realloc(c->data, (size_t)len);
      c->cap = (size_t)len;
   }
   memcpy(c->data, head, 4);
   want = (size_t)len - 4;
   got = mn_source__file_read(&c->file, c->data + 4, want);
   if (c->file.failed) {
      return mn_cursor__fail(cursor, &c->file.error);
   }
   if (got < want) {
      c->finished = true;
      snprintf(reason, sizeof reason,
               "file cut short: %zu bytes left of a document of %" PRId32 " bytes", got + 4, len);
      dump_bad(cursor, offset, reason, c->data, got + 4);
      return MN_CURSOR_BAD;
   }
   if (c->data[len - 1] != 0) {
      /* The length may still be right: go on with the next document. */
      dump_bad(cursor, offset, "document does not end with a zero byte", c->data, (size_t)len);
      return MN_CURSOR_BAD;
   }
   if (!bson_init_static(&c->doc, c->data, (size_t)len)) {
      dump_bad(cursor, offset, "invalid document", c->data, (size_t)len);
      return MN_CURSOR_BAD;
   }
   *doc = &c->doc;
   if (c->ids_only && mn_source__project_id(&c->doc, &c->projected)) {
      c->has_projected = true;
      *doc = &c->projected;
   }
   return MN_CURSOR_DOC;
}

static void
dump_progress(const mn_cursor_t *cursor, uint64_t *done, uint64_t *total)
{
   const dump_cursor_t *c = cursor->impl;

   mn_source__file_progress(&c->file, done, total);
}

static void
dump_destroy(void *impl)
{
   dump_cursor_t *c = impl;

   if (!c) {
      return;
   }
   if (c->has_projected) {
      bson_destroy(&c->projected);
   }
   mn_source__file_close(&c->file);
   bson_free(c->data);
   bson_free(c->name);
   bson_free(c);
}

static const mn_cursor__ops_t dump_ops = {
   dump_next,
   dump_progress,
   dump_destroy,
};

mn_cursor_t *
mn_source__dump_cursor(const char *path, const char *name, const mn_find_opts_t *opts,
                       mn_error_t *error)
{
   dump_cursor_t *c = bson_malloc0(sizeof *c);

   if (!mn_source__file_open(&c->file, path, error)) {
      dump_destroy(c);
      return NULL;
   }
   c->name = bson_strdup(name);
   c->ids_only = opts->ids_only;
   return mn_cursor__new(&dump_ops, c);
}
