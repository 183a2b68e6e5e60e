/*
 * dump.c - read a mongodump "<collection>.bson" or ".bson.gz" file.
 *
 * A .bson file is BSON documents back to back, each starting with its own
 * int32 length.  The framing is done here over the shared file stream rather
 * than with bson_reader_t, for two reasons: a corrupt length must not make us
 * allocate or read gigabytes (we check it against MAX_DOCUMENT first), and a
 * bad record must carry its first bytes, which bson_reader_t keeps to itself.
 *
 * The bytes are read into a window that can look ahead of the current
 * position, so that reading can re-synchronise after damage.  What the
 * cursor yields:
 *   - a record with a plausible length and a final 0 byte: returned as stored
 *     (the converter validates its contents), unless what follows it is no
 *     document either and its bytes are no valid BSON (its length is wrong);
 *   - anything else starts an unreadable span: the reader scans forward, byte
 *     by byte, for the next offset where a valid document starts (a plausible
 *     length, a final 0 byte, BSON that validates, and after it the end of the
 *     file or another such document, so that a sub-document inside the damaged
 *     bytes is not taken for a document), and yields one BAD for the span,
 *     with its offset and length, then goes on from there.  The record's own
 *     declared end is also accepted as a restart point, with the weaker test
 *     above (its length framed it, only its contents were wrong).
 * When the cursor was told where (mn_cursor_keep_skipped()), each span is
 * written whole to "<dir>/<prefix>-<offset>.bin" (mode 0600).
 */
#include "source/source_private.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest document accepted: MongoDB's largest message (48 MB), well above
 * its 16 MiB document limit, so nothing a server wrote is refused. */
#define MAX_DOCUMENT (48 * 1000 * 1000)

/* Bytes of a bad record shown as hex. */
#define RAW_BYTES 256

/* Smallest read into the window. */
#define WINDOW_READ (256u * 1024u)

/* Span bytes kept in the window before they are written out. */
#define SPAN_FLUSH (1024u * 1024u)

/* Nesting walked iteratively before libbson's (recursive) bson_validate is trusted. */
#define MAX_WALK_DEPTH 100

typedef struct {
   mn_source__file_t file;
   char *name;                  /* file name for locations, e.g. "users.bson" */
   mn_source__projection_t out; /* what next() hands out: doc, or its {_id} */
   uint8_t *w;                  /* window of bytes read ahead */
   size_t w_cap;                /* allocated size of w */
   size_t w_pos;                /* first unconsumed byte of w */
   size_t w_len;                /* bytes in w */
   uint64_t w_off;              /* file offset of w[w_pos] */
   bool input_done;             /* the file has nothing more to read into w */
   size_t pending;              /* bytes of the last document, consumed on the next call */
   bson_t doc;                  /* static over the window */
   bool finished;               /* a BAD for the tail was returned: END next */
   /* the span being skipped */
   int span_fd;       /* -1 when not kept */
   int span_dir;      /* -1 when not kept */
   char *span_tmp;    /* temporary name in span_dir */
   char *span_final;  /* final name in span_dir */
   uint64_t span_len; /* bytes of the span written out so far */
} dump_cursor_t;

static uint32_t
le32(const uint8_t *p)
{
   return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool
plausible_length(int32_t len)
{
   return len >= 5 && len <= MAX_DOCUMENT;
}

/*
 * At least n bytes after w_pos in the window, reading as needed.  Returns the
 * bytes there: fewer than n only at the end of the input or on a read failure
 * (c->file.failed).
 */
static size_t
window_ensure(dump_cursor_t *c, size_t n)
{
   size_t have = c->w_len - c->w_pos;

   while (have < n && !c->file.failed && !c->input_done) {
      /* grow by doubling, so that a large length prefix near the end of a small file
       * does not allocate what the file cannot fill */
      size_t step = c->w_len - c->w_pos > WINDOW_READ ? c->w_len - c->w_pos : WINDOW_READ;
      size_t want = n - have < step ? n - have : step;
      size_t got;

      if (want < WINDOW_READ) {
         want = WINDOW_READ;
      }
      if (c->w_len + want > c->w_cap && c->w_pos > 0) {
         memmove(c->w, c->w + c->w_pos, have);
         c->w_pos = 0;
         c->w_len = have;
      }
      if (c->w_len + want > c->w_cap) {
         c->w_cap = c->w_len + want;
         c->w = bson_realloc(c->w, c->w_cap);
      }
      got = mn_source__file_read(&c->file, c->w + c->w_len, want);
      c->w_len += got;
      have += got;
      if (got < want) {
         c->input_done = !c->file.failed; /* end of input */
         break;
      }
   }
   return have;
}

static void
window_consume(dump_cursor_t *c, size_t n)
{
   c->w_pos += n;
   c->w_off += n;
}

/* Whether t is a BSON element type byte. */
static bool
valid_type(uint8_t t)
{
   return (t >= 0x01 && t <= 0x13) || t == 0x7f || t == 0xff;
}

/*
 * Whether the len bytes at p are a document whose elements frame correctly
 * at every level, walked without recursion; then bson_validate when the
 * nesting is shallow enough for it.
 */
static bool
valid_bson(const uint8_t *p, size_t len)
{
   /* a struct per level: bson_iter_t is over-aligned, so no plain array of it */
   struct level {
      bson_iter_t it;
   } * stack;
   int depth = 0;
   bool ok = false;
   bson_t doc;
   bool deep = false;

   if (!bson_init_static(&doc, p, len)) {
      return false;
   }
   stack = bson_malloc(sizeof *stack * (MAX_WALK_DEPTH + 1));
   if (!bson_iter_init(&stack[0].it, &doc)) {
      goto done;
   }
   for (;;) {
      bson_iter_t *it = &stack[depth].it;

      if (!bson_iter_next(it)) {
         if (it->err_off != 0) {
            goto done;
         }
         if (depth == 0) {
            break;
         }
         depth--;
         continue;
      }
      if (BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it)) {
         if (depth == MAX_WALK_DEPTH) {
            deep = true;
            continue;
         }
         if (!bson_iter_recurse(it, &stack[depth + 1].it)) {
            goto done;
         }
         depth++;
      }
   }
   ok = deep || bson_validate(&doc, BSON_VALIDATE_NONE, NULL);

done:
   bson_free(stack);
   return ok;
}

/*
 * Whether a valid document starts at window offset k (relative to w_pos):
 * plausible length, final 0, valid BSON.  *end gets k + its length.  Reads
 * ahead as needed.
 */
static bool
strict_at(dump_cursor_t *c, size_t k, size_t *end)
{
   size_t have = window_ensure(c, k + 5);
   const uint8_t *p;
   int32_t len;

   if (have < k + 5) {
      return false;
   }
   p = c->w + c->w_pos + k;
   len = (int32_t)le32(p);
   if (len <= 5 || !plausible_length(len) || !valid_type(p[4])) {
      return false;
   }
   if (window_ensure(c, k + (size_t)len) < k + (size_t)len) {
      return false;
   }
   p = c->w + c->w_pos + k; /* the window may have moved */
   if (p[len - 1] != 0 || !valid_bson(p, (size_t)len)) {
      return false;
   }
   *end = k + (size_t)len;
   return true;
}

/* A restart point: a valid document followed by the end of input or by another one. */
static bool
restart_at(dump_cursor_t *c, size_t k)
{
   size_t end;
   size_t next_end;

   if (!strict_at(c, k, &end)) {
      return false;
   }
   if (window_ensure(c, end + 1) == end) {
      return !c->file.failed;
   }
   return strict_at(c, end, &next_end);
}

/* The record's declared end as a restart point: a plausible length and a final 0. */
static bool
loose_at(dump_cursor_t *c, size_t k)
{
   const uint8_t *p;
   int32_t len;

   if (window_ensure(c, k + 4) < k + 4) {
      return false;
   }
   len = (int32_t)le32(c->w + c->w_pos + k);
   if (!plausible_length(len) || window_ensure(c, k + (size_t)len) < k + (size_t)len) {
      return false;
   }
   p = c->w + c->w_pos + k;
   return p[len - 1] == 0;
}

/*
 * Whether the document ending at window offset end is followed by the end of
 * input or by what looks like another document (a plausible length and a
 * final 0 byte): a cheap test that the current length framed a document.
 */
static bool
followed_ok(dump_cursor_t *c, size_t end)
{
   size_t have = window_ensure(c, end + 4);
   int32_t len;

   if (have == end) {
      return !c->file.failed;
   }
   if (have < end + 4) {
      return false;
   }
   len = (int32_t)le32(c->w + c->w_pos + end);
   if (!plausible_length(len) || window_ensure(c, end + (size_t)len) < end + (size_t)len) {
      return false;
   }
   return c->w[c->w_pos + end + (size_t)len - 1] == 0;
}

/*
 * Start keeping a span, when mn_cursor_keep_skipped() named a folder: create the folder
 * (0700) if missing and a fresh temporary file in it (0600, O_EXCL, no link followed),
 * renamed to "<prefix>-<offset>.bin" once the span is whole.  Without a folder, nothing
 * to do.  False with MN_IO_WRITE when the folder or the file cannot be made.
 */
static bool
span_open(mn_cursor_t *cursor, dump_cursor_t *c, mn_error_t *error)
{
   const char *dir = cursor->keep_dir;
   char *final = NULL;
   char *tmp = NULL;

   c->span_len = 0;
   if (!dir) {
      return true;
   }
   if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
      goto fail;
   }
   c->span_dir = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
   if (c->span_dir < 0) {
      goto fail;
   }
   final = bson_strdup_printf("%s-%" PRIu64 ".bin", cursor->keep_prefix, c->w_off);
   tmp = bson_strdup_printf(".%s.%ld.tmp", final, (long)getpid());
   (void)unlinkat(c->span_dir, tmp, 0);
   c->span_fd =
      openat(c->span_dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
   if (c->span_fd < 0) {
      goto fail;
   }
   c->span_tmp = tmp;
   c->span_final = final;
   return true;

fail:
   mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE,
                "could not keep the unreadable bytes of \"%s\" in folder \"%s\": %s", c->name, dir,
                strerror(errno));
   if (c->span_dir >= 0) {
      close(c->span_dir);
      c->span_dir = -1;
   }
   bson_free(final);
   bson_free(tmp);
   return false;
}

/* Write the first n window bytes to the span file and consume them. */
static bool
span_write(dump_cursor_t *c, size_t n, const char *dir, mn_error_t *error)
{
   const uint8_t *p = c->w + c->w_pos;
   size_t done = 0;

   while (c->span_fd >= 0 && done < n) {
      ssize_t w = write(c->span_fd, p + done, n - done);
      if (w < 0 && errno == EINTR) {
         continue;
      }
      if (w < 0) {
         mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE,
                      "could not keep the unreadable bytes of \"%s\" in folder \"%s\": %s", c->name,
                      dir, strerror(errno));
         return false;
      }
      done += (size_t)w;
   }
   c->span_len += n;
   window_consume(c, n);
   return true;
}

static void
span_discard(dump_cursor_t *c)
{
   if (c->span_fd >= 0) {
      close(c->span_fd);
      (void)unlinkat(c->span_dir, c->span_tmp, 0);
   }
   if (c->span_dir >= 0) {
      close(c->span_dir);
   }
   c->span_fd = -1;
   c->span_dir = -1;
   bson_free(c->span_tmp);
   bson_free(c->span_final);
   c->span_tmp = NULL;
   c->span_final = NULL;
}

/* Close the span file and give it its name; *kept gets the path (owned) or NULL. */
static bool
span_close(dump_cursor_t *c, const char *dir, char **kept, mn_error_t *error)
{
   *kept = NULL;
   if (c->span_fd < 0) {
      return true;
   }
   if (fsync(c->span_fd) != 0 || close(c->span_fd) != 0) {
      c->span_fd = -1;
      goto fail;
   }
   c->span_fd = -1;
   if (renameat(c->span_dir, c->span_tmp, c->span_dir, c->span_final) != 0) {
      goto fail;
   }
   *kept = bson_strdup_printf("%s/%s", dir, c->span_final);
   span_discard(c);
   return true;

fail:
   mn_set_error(error, MN_ERROR_IO, MN_IO_WRITE,
                "could not keep the unreadable bytes of \"%s\" in folder \"%s\": %s", c->name, dir,
                strerror(errno));
   span_discard(c);
   return false;
}

/*
 * Consume the unreadable span at w_pos up to the next restart point (a valid document
 * followed by another or the end; declared_end, if not 0, the record's own end), or to
 * the end of the input (*found false), writing its bytes to the span file as they go.
 * False with error set when a read or a write failed.
 */
static bool
pass_span(mn_cursor_t *cursor, dump_cursor_t *c, size_t declared_end, bool *found,
          mn_error_t *error)
{
   size_t k = 1;

   for (;;) {
      size_t have = window_ensure(c, k + 1);

      if (c->file.failed) {
         *error = c->file.error;
         return false;
      }
      if (have <= k) {
         k = have; /* the rest of the input is unreadable */
         break;
      }
      if (restart_at(c, k) || (declared_end && k == declared_end && loose_at(c, k))) {
         *found = true;
         break;
      }
      if (c->file.failed) {
         *error = c->file.error;
         return false;
      }
      k++;
      if (k >= SPAN_FLUSH) {
         if (!span_write(c, k, cursor->keep_dir, error)) {
            return false;
         }
         declared_end = declared_end > k ? declared_end - k : 0;
         k = 0;
      }
   }
   return span_write(c, k, cursor->keep_dir, error);
}

/*
 * Skip the unreadable span starting at w_pos: scan for the next restart point
 * (declared_end, if not 0, is the record's own end), keep the bytes, and
 * report one BAD.  what: why the record at w_pos is unreadable.
 */
static mn_cursor_status_t
skip_span(mn_cursor_t *cursor, dump_cursor_t *c, const char *what, size_t declared_end)
{
   uint8_t head[RAW_BYTES];
   uint64_t start = c->w_off;
   size_t head_len = window_ensure(c, sizeof head);
   char reason[512];
   char location[512];
   mn_error_t error;
   char *kept = NULL;
   bool found = false;

   if (c->file.failed) {
      return mn_cursor__fail(cursor, &c->file.error);
   }
   if (head_len > sizeof head) {
      head_len = sizeof head;
   }
   memcpy(head, c->w + c->w_pos, head_len);
   if (!span_open(cursor, c, &error)) {
      return mn_cursor__fail(cursor, &error);
   }
   if (!pass_span(cursor, c, declared_end, &found, &error) ||
       !span_close(c, cursor->keep_dir, &kept, &error)) {
      span_discard(c);
      return mn_cursor__fail(cursor, &error);
   }
   if (found) {
      snprintf(reason, sizeof reason,
               "%s; %" PRIu64 " bytes skipped, reading resumes at offset %" PRIu64, what,
               c->span_len, c->w_off);
   } else {
      c->finished = true;
      snprintf(reason, sizeof reason, "%s; %" PRIu64 " bytes skipped to the end of the file%s",
               what, c->span_len,
               c->file.cut_short ? " (compressed file ends early: unexpected end of file)" : "");
   }
   snprintf(location, sizeof location, "%s offset %" PRIu64, c->name, start);
   mn_cursor__set_bad(cursor, location, reason, head, head_len, true);
   mn_cursor__set_skipped(cursor, c->name, start, c->span_len, kept);
   bson_free(kept);
   return MN_CURSOR_BAD;
}

/*
 * The length of the document at w_pos into *len, with all its bytes in the window.  False
 * with *status what dump_next() returns instead: END at the end of the file, ERROR when a
 * read failed, BAD for a gzip stream cut short or (through skip_span) a length that is
 * cut off, impossible, or runs past the end of the file.
 */
static bool
read_length(mn_cursor_t *cursor, dump_cursor_t *c, int32_t *len, mn_cursor_status_t *status)
{
   char what[256];
   size_t have = window_ensure(c, 4);

   *status = MN_CURSOR_END;
   if (c->file.failed) {
      *status = mn_cursor__fail(cursor, &c->file.error);
      return false;
   }
   if (have == 0) {
      if (c->file.cut_short) {
         char location[512];
         c->finished = true;
         snprintf(location, sizeof location, "%s offset %" PRIu64, c->name, c->w_off);
         mn_cursor__set_bad(cursor, location, "compressed file ends early: unexpected end of file",
                            NULL, 0, true);
         *status = MN_CURSOR_BAD;
      }
      return false;
   }
   if (have < 4) {
      snprintf(what, sizeof what, "file ends inside a document length (%zu of 4 bytes)", have);
      *status = skip_span(cursor, c, what, 0);
      return false;
   }
   *len = (int32_t)le32(c->w + c->w_pos);
   if (!plausible_length(*len)) {
      snprintf(what, sizeof what, "invalid document length %" PRId32, *len);
      *status = skip_span(cursor, c, what, 0);
      return false;
   }
   have = window_ensure(c, (size_t)*len);
   if (c->file.failed) {
      *status = mn_cursor__fail(cursor, &c->file.error);
      return false;
   }
   if (have < (size_t)*len) {
      snprintf(what, sizeof what,
               "file cut short: %zu bytes left of a document of %" PRId32 " bytes", have, *len);
      *status = skip_span(cursor, c, what, 0);
      return false;
   }
   return true;
}

/*
 * The next document of the .bson file, framed by its length (read_length): the last
 * byte must be 0 and, when the next bytes are no document either, the document valid
 * BSON (a length a little too small can still end on a string's 0 byte).  Anything else
 * starts an unreadable span (skip_span).  The document is static over the window and
 * consumed on the next call.
 */
static mn_cursor_status_t
dump_next(mn_cursor_t *cursor, const bson_t **doc)
{
   dump_cursor_t *c = cursor->impl;
   mn_cursor_status_t status;
   char what[256];
   int32_t len = 0;

   mn_source__projection_release(&c->out);
   window_consume(c, c->pending);
   c->pending = 0;
   if (c->finished) {
      return MN_CURSOR_END;
   }
   if (!read_length(cursor, c, &len, &status)) {
      return status;
   }
   if (c->w[c->w_pos + (size_t)len - 1] != 0) {
      return skip_span(cursor, c, "document does not end with a zero byte", (size_t)len);
   }
   if (!bson_init_static(&c->doc, c->w + c->w_pos, (size_t)len)) {
      return skip_span(cursor, c, "invalid document", (size_t)len);
   }
   /* A length that is a little too small can still end on a 0 byte (a string's): when
    * what follows is no document either, and these bytes are no valid BSON, the length
    * is wrong, not just the contents. */
   if (!followed_ok(c, (size_t)len) && !c->file.failed &&
       !valid_bson(c->w + c->w_pos, (size_t)len)) {
      snprintf(what, sizeof what, "document length %" PRId32 " does not frame a document", len);
      return skip_span(cursor, c, what, 0);
   }
   if (c->file.failed) {
      return mn_cursor__fail(cursor, &c->file.error);
   }
   /* the window may have moved */
   if (!bson_init_static(&c->doc, c->w + c->w_pos, (size_t)len)) {
      return skip_span(cursor, c, "invalid document", (size_t)len);
   }
   c->pending = (size_t)len;
   *doc = mn_source__project(&c->out, &c->doc);
   return MN_CURSOR_DOC;
}

static void
dump_progress(const mn_cursor_t *cursor, uint64_t *done, uint64_t *total)
{
   const dump_cursor_t *c = cursor->impl;

   mn_source__file_progress(&c->file, done, total);
   if (!c->file.gz) {
      /* the window reads ahead: count what was handed out, not what was read */
      *done = c->w_off + c->pending;
      if (*done > *total) {
         *done = *total;
      }
   }
}

static void
dump_destroy(void *impl)
{
   dump_cursor_t *c = impl;

   if (!c) {
      return;
   }
   mn_source__projection_release(&c->out);
   span_discard(c);
   mn_source__file_close(&c->file);
   bson_free(c->w);
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

   c->span_fd = -1;
   c->span_dir = -1;
   if (!mn_source__file_open(&c->file, path, error)) {
      dump_destroy(c);
      return NULL;
   }
   c->name = bson_strdup(name);
   c->out.ids_only = opts->ids_only;
   return mn_cursor__new(&dump_ops, c);
}
