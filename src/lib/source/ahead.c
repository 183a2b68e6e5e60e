/*
 * ahead.c - read ahead: a cursor's records read, and its documents digested, on a thread
 * of the cursor's own, while the caller works on the ones before.
 *
 * mn_cursor_read_ahead() moves the cursor's kind (its operations and state) into an inner
 * cursor that only the thread touches, and gives the cursor itself the operations below.
 * The thread takes records from the inner cursor with mn_cursor_next() and appends them
 * to chunks: a document's bytes and digest, a bad record's description, the end or the
 * error.  A chunk holds up to CHUNK_BYTES of documents (or one bigger document) and goes
 * to the caller's side through a queue of at most QUEUE_CHUNKS; so the thread is never
 * more than about QUEUE_CHUNKS * CHUNK_BYTES ahead, whatever the source's size.  The
 * caller's mn_cursor_next() hands out the records of one chunk after the other, in the
 * order the kind produced them; a document stays valid until the next call, as always.
 *
 * The digests are shared work.  The thread reads ahead first; while the queue is full
 * it digests the documents of the chunk it queued last, from the last one back, and the
 * caller, when it comes to a document not digested yet, digests it itself, from the
 * first one on.  Each document is claimed by one of them (record_t.state, compare-and-
 * swap), and the thread leaves a chunk at the first one the caller has.  So the caller
 * never waits for a digest the thread has not begun, the thread keeps the queue full
 * before it digests, and the digesting, the most of reading a file that the page cache
 * holds (SHA-256 at about 1.4 GB/s, the copies at several times that), goes to
 * whichever side has time, on two cores.
 * POSIX threads, as in pg/loader.c, so that ThreadSanitizer sees the locks.
 */
#include "source/source_private.h"

#include <mongonorm/keys.h>

#include <glib.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define CHUNK_BYTES ((size_t)128 << 10)
#define CHUNK_RECORDS 512
#define QUEUE_CHUNKS 3

/* record_t.state: a document's digest to compute, being computed, or there. */
enum { DIGEST_PENDING, DIGEST_CLAIMED, DIGEST_DONE };

/* One record read by the thread. */
typedef struct {
   atomic_int state; /* DIGEST_*: DONE for any record but a document */
   mn_cursor_status_t status;
   size_t at, len;                 /* DOC: its bytes in the chunk's */
   uint8_t digest[MN_DIGEST_SIZE]; /* DOC: mn_digest() of them */
   char *location, *reason, *raw;  /* BAD: owned */
   char *file, *kept;              /* BAD, a .bson span: owned, or NULL */
   uint64_t offset, skipped;       /* BAD */
   mn_error_t error;               /* ERROR */
} record_t;

typedef struct {
   GByteArray *bytes;    /* the documents' bytes, back to back */
   GArray *records;      /* record_t */
   guint back;           /* the thread's: its digests may still be wanted below this */
   uint64_t done, total; /* the inner cursor's progress after its last record */
} chunk_t;

typedef struct {
   mn_cursor_t *inner; /* the kind's cursor: the thread's only */
   pthread_t thread;
   pthread_mutex_t lock;
   pthread_cond_t changed;
   GQueue full;      /* chunk_t *, read and waiting for the caller */
   GQueue spare;     /* chunk_t *, handed out and emptied: the thread fills them again */
   bool stop;        /* the caller is done: the thread ends at its next record */
   chunk_t *current; /* the chunk the caller is in; owned */
   chunk_t *newest;  /* the thread's: the chunk it queued last (digest_one) */
   guint next;       /* its next record */
   bson_t doc;       /* the last document handed out, over current's bytes */
   uint8_t digest[MN_DIGEST_SIZE];
   bool has_digest;      /* digest is the last document's */
   uint64_t done, total; /* progress as of the records handed out */
} ahead_t;

/* A new chunk: room for CHUNK_BYTES and a document of up to as many more, so that the
 * document that fills it is appended without moving the others. */
static chunk_t *
chunk_new(void)
{
   chunk_t *c = g_new0(chunk_t, 1);

   c->bytes = g_byte_array_sized_new(2 * CHUNK_BYTES);
   c->records = g_array_new(FALSE, TRUE, sizeof(record_t));
   return c;
}

/* Empty c of its records, keeping its memory. */
static void
chunk_clear(chunk_t *c)
{
   for (guint i = 0; i < c->records->len; i++) {
      record_t *r = &g_array_index(c->records, record_t, i);
      bson_free(r->location);
      bson_free(r->reason);
      bson_free(r->raw);
      bson_free(r->file);
      bson_free(r->kept);
   }
   g_array_set_size(c->records, 0);
   g_byte_array_set_size(c->bytes, 0);
}

static void
chunk_free(chunk_t *c)
{
   if (!c) {
      return;
   }
   chunk_clear(c);
   g_array_free(c->records, TRUE);
   g_byte_array_free(c->bytes, TRUE);
   g_free(c);
}

static char *
dup_or_null(const char *s)
{
   return s ? bson_strdup(s) : NULL;
}

/* Append the inner cursor's record of status st (doc: its document) to c. */
static void
chunk_add(chunk_t *c, mn_cursor_t *inner, mn_cursor_status_t st, const bson_t *doc)
{
   record_t r;

   memset(&r, 0, sizeof r);
   r.status = st;
   if (st == MN_CURSOR_DOC) {
      r.at = c->bytes->len;
      r.len = doc->len;
      g_byte_array_append(c->bytes, bson_get_data(doc), doc->len);
   } else if (st == MN_CURSOR_BAD) {
      const mn_cursor_bad_t *bad = mn_cursor_bad(inner);
      r.location = dup_or_null(bad->location);
      r.reason = dup_or_null(bad->reason);
      r.raw = dup_or_null(bad->raw);
      r.file = dup_or_null(bad->file);
      r.kept = dup_or_null(bad->kept);
      r.offset = bad->offset;
      r.skipped = bad->skipped;
   } else if (st == MN_CURSOR_ERROR) {
      mn_cursor_error(inner, &r.error);
   }
   g_array_append_val(c->records, r);
   atomic_init(&g_array_index(c->records, record_t, c->records->len - 1).state,
               st == MN_CURSOR_DOC ? DIGEST_PENDING : DIGEST_DONE);
}

/* Digest r, a document of c, unless the other side claimed it first.  @return false
 * when it had. */
static bool
claim_digest(const chunk_t *c, record_t *r)
{
   int expected = DIGEST_PENDING;

   if (!atomic_compare_exchange_strong_explicit(&r->state, &expected, DIGEST_CLAIMED,
                                                memory_order_acquire, memory_order_relaxed)) {
      return false;
   }
   mn_digest(c->bytes->data + r->at, r->len, r->digest);
   atomic_store_explicit(&r->state, DIGEST_DONE, memory_order_release);
   return true;
}

/*
 * One digest of the thread's share, called with the lock held (and returning with it
 * held, dropped meanwhile): the last document not digested yet of the chunk the thread
 * queued last, the caller working from the front of the oldest.  That chunk stays valid
 * when the caller takes it meanwhile: the caller clears it only past its last record, by
 * then digested, and only the thread refills it.  @return false when it has no such
 * document left.
 */
static bool
digest_one(ahead_t *a)
{
   chunk_t *c = a->newest;

   while (c && c->back > 0) {
      record_t *r = &g_array_index(c->records, record_t, --c->back);
      int expected = DIGEST_PENDING;
      if (r->status != MN_CURSOR_DOC) {
         continue;
      }
      if (!atomic_compare_exchange_strong_explicit(&r->state, &expected, DIGEST_CLAIMED,
                                                   memory_order_acquire, memory_order_relaxed)) {
         c->back = 0; /* the caller's digests reach this far */
         break;
      }
      pthread_mutex_unlock(&a->lock);
      mn_digest(c->bytes->data + r->at, r->len, r->digest);
      atomic_store_explicit(&r->state, DIGEST_DONE, memory_order_release);
      pthread_mutex_lock(&a->lock);
      return true;
   }
   return false;
}

/* The thread: records into chunks, chunks into the queue, until the end, an error or stop. */
static void *
ahead_main(void *data)
{
   ahead_t *a = data;
   bool last = false;

   while (!last) {
      chunk_t *c;
      bool stop;

      pthread_mutex_lock(&a->lock);
      c = g_queue_pop_head(&a->spare);
      pthread_mutex_unlock(&a->lock);
      if (!c) {
         c = chunk_new();
      }
      while (!last && c->bytes->len < CHUNK_BYTES && c->records->len < CHUNK_RECORDS) {
         const bson_t *doc;
         mn_cursor_status_t st = mn_cursor_next(a->inner, &doc);
         chunk_add(c, a->inner, st, doc);
         last = st == MN_CURSOR_END || st == MN_CURSOR_ERROR;
      }
      mn_cursor_progress(a->inner, &c->done, &c->total);
      c->back = c->records->len;
      pthread_mutex_lock(&a->lock);
      /* the queue full: the thread's share of the digests while the caller catches up */
      while (!a->stop && g_queue_get_length(&a->full) >= QUEUE_CHUNKS) {
         if (!digest_one(a)) {
            pthread_cond_wait(&a->changed, &a->lock);
         }
      }
      stop = a->stop;
      if (!stop) {
         g_queue_push_tail(&a->full, c);
         a->newest = c;
         pthread_cond_broadcast(&a->changed);
      }
      pthread_mutex_unlock(&a->lock);
      if (stop) {
         chunk_free(c);
         break;
      }
   }
   /* all read: the thread's share of what is queued */
   pthread_mutex_lock(&a->lock);
   while (!a->stop && digest_one(a)) {
   }
   pthread_mutex_unlock(&a->lock);
   return NULL;
}

/* The next chunk from the thread (waiting for it), the current one given back to it. */
static void
take_chunk(ahead_t *a)
{
   chunk_t *done = a->current;

   if (done) {
      chunk_clear(done);
   }
   a->current = NULL;
   a->next = 0;
   pthread_mutex_lock(&a->lock);
   if (done) {
      g_queue_push_tail(&a->spare, done);
   }
   while (g_queue_is_empty(&a->full)) {
      pthread_cond_wait(&a->changed, &a->lock);
   }
   a->current = g_queue_pop_head(&a->full);
   pthread_cond_broadcast(&a->changed);
   pthread_mutex_unlock(&a->lock);
}

static mn_cursor_status_t
ahead_next(mn_cursor_t *cursor, const bson_t **doc)
{
   ahead_t *a = cursor->impl;
   record_t *r;

   a->has_digest = false;
   if (!a->current || a->next >= a->current->records->len) {
      take_chunk(a);
   }
   r = &g_array_index(a->current->records, record_t, a->next++);
   if (a->next == a->current->records->len) {
      a->done = a->current->done;
      a->total = a->current->total;
   }
   switch (r->status) {
   case MN_CURSOR_DOC:
      if (!bson_init_static(&a->doc, a->current->bytes->data + r->at, r->len)) {
         /* not a length the inner cursor would hand out; never happens */
         mn_error_t e;
         mn_set_error(&e, MN_ERROR_IO, MN_IO_READ, "a document read ahead has a bad length");
         return mn_cursor__fail(cursor, &e);
      }
      /* the caller's share of the digests (the file's comment): this one, unless the
       * thread has it, then wait for it (one document's digest, microseconds) */
      if (!claim_digest(a->current, r)) {
         while (atomic_load_explicit(&r->state, memory_order_acquire) != DIGEST_DONE) {
            sched_yield();
         }
      }
      memcpy(a->digest, r->digest, MN_DIGEST_SIZE);
      a->has_digest = true;
      *doc = &a->doc;
      return MN_CURSOR_DOC;
   case MN_CURSOR_BAD:
      mn_cursor__set_bad(cursor, r->location, r->reason, r->raw, r->raw ? strlen(r->raw) : 0,
                         false);
      if (r->file) {
         mn_cursor__set_skipped(cursor, r->file, r->offset, r->skipped, r->kept);
      }
      return MN_CURSOR_BAD;
   case MN_CURSOR_ERROR: return mn_cursor__fail(cursor, &r->error);
   default: return MN_CURSOR_END;
   }
}

static void
ahead_progress(const mn_cursor_t *cursor, uint64_t *done, uint64_t *total)
{
   const ahead_t *a = cursor->impl;

   *done = a->done;
   *total = a->total;
}

static void
ahead_destroy(void *impl)
{
   ahead_t *a = impl;

   pthread_mutex_lock(&a->lock);
   a->stop = true;
   pthread_cond_broadcast(&a->changed);
   pthread_mutex_unlock(&a->lock);
   pthread_join(a->thread, NULL);
   while (!g_queue_is_empty(&a->full)) {
      chunk_free(g_queue_pop_head(&a->full));
   }
   while (!g_queue_is_empty(&a->spare)) {
      chunk_free(g_queue_pop_head(&a->spare));
   }
   chunk_free(a->current);
   mn_cursor_destroy(a->inner);
   pthread_mutex_destroy(&a->lock);
   pthread_cond_destroy(&a->changed);
   g_free(a);
}

static const mn_cursor__ops_t ahead_ops = {ahead_next, ahead_progress, ahead_destroy};

bool
mn_cursor_read_ahead(mn_cursor_t *cursor)
{
   ahead_t *a;
   mn_cursor_t *inner;

   if (!cursor || cursor->ops == &ahead_ops || cursor->failed || cursor->ended) {
      return false;
   }
   inner = mn_cursor__new(cursor->ops, cursor->impl);
   inner->keep_dir = dup_or_null(cursor->keep_dir);
   inner->keep_prefix = dup_or_null(cursor->keep_prefix);
   a = g_new0(ahead_t, 1);
   a->inner = inner;
   pthread_mutex_init(&a->lock, NULL);
   pthread_cond_init(&a->changed, NULL);
   g_queue_init(&a->full);
   g_queue_init(&a->spare);
   if (pthread_create(&a->thread, NULL, ahead_main, a) != 0) {
      /* the cursor reads as before: give the kind back */
      inner->ops = NULL;
      inner->impl = NULL;
      bson_free(inner->keep_dir);
      bson_free(inner->keep_prefix);
      bson_free(inner);
      pthread_mutex_destroy(&a->lock);
      pthread_cond_destroy(&a->changed);
      g_free(a);
      return false;
   }
   cursor->ops = &ahead_ops;
   cursor->impl = a;
   return true;
}

void
mn_cursor_digest(const mn_cursor_t *cursor, const bson_t *doc, uint8_t out[MN_DIGEST_SIZE])
{
   const ahead_t *a = cursor && cursor->ops == &ahead_ops ? cursor->impl : NULL;

   if (a && a->has_digest && doc == &a->doc) {
      memcpy(out, a->digest, MN_DIGEST_SIZE);
   } else {
      mn_digest(bson_get_data(doc), doc->len, out);
   }
}
