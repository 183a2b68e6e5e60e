/*
 * spillmap.c - 16-byte keys -> fixed-size values in bounded memory (see spillmap.h).
 */
#define _GNU_SOURCE /* mkdtemp, mkostemp */
#include "util/spillmap.h"
#include "util/uuidset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY MN_SPILLMAP_KEY
#define BLOCK 256    /* records per block of a run (one sparse index key each) */
#define MAX_RUNS 8   /* more are merged into one */
#define BLOOM_BITS 8 /* per record: about 3% false positives, 6 probes in one line */
#define BLOOM_PROBES 6
#define IO_BUFFER 65536   /* a run's write buffer, and each run's read buffer in a merge */
#define FIRST_CAPACITY 64 /* slots of a table's first allocation */

typedef struct {
   int fd;
   uint64_t count; /* records */
   uint8_t *index; /* the first key of each block: nblocks * KEY */
   uint64_t nblocks;
   uint64_t *bloom; /* bloom_bits bits */
   uint64_t bloom_bits;
   uint8_t *cache; /* one block */
   int64_t cached; /* its number, -1: none */
} run_t;

struct mn_spillmap {
   size_t vsize, rec; /* value size; record size (KEY + vsize) */
   size_t budget;
   uint8_t *slots; /* capacity * rec; a slot whose key is all zero is empty */
   size_t capacity, count;
   bool has_zero; /* the all-zero key, kept apart */
   uint8_t zero_value[MN_SPILLMAP_MAX_VALUE];
   bool ever;   /* a key was put since the map was made or cleared */
   run_t *runs; /* oldest first */
   size_t n_runs;
   char *dir; /* the private directory, NULL until the first spill */
   bool failed;
   mn_error_t error;
};

static const uint8_t zero_key[KEY];

static void *
xmalloc(size_t n)
{
   void *p = malloc(n ? n : 1);
   if (!p) {
      abort();
   }
   return p;
}

/* Zeroed memory, written rather than calloc'ed (mn_zeroed_slots): a table's slots are
 * read before they are written. */
static void *
xcalloc(size_t n, size_t size)
{
   return mn_zeroed_slots(n ? n : 1, size ? size : 1);
}

/* The slot index is the low bits of the hash. */
static inline uint64_t
key_hash(const uint8_t *key)
{
   return mn_uuid__mix(key);
}

/* The map's first failure: the message fmt formats, then strerror(err). */
static void fail(mn_spillmap_t *m, int err, const char *fmt, ...)
   __attribute__((format(printf, 3, 4)));

static void
fail(mn_spillmap_t *m, int err, const char *fmt, ...)
{
   if (!m->failed) {
      char msg[MN_ERROR_MESSAGE_SIZE];
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(msg, sizeof msg, fmt, ap);
      va_end(ap);
      mn_set_error(&m->error, MN_ERROR_IO, MN_IO_WRITE, "%s: %s", msg, strerror(err));
   }
   m->failed = true;
}

#define DEFAULT_BUDGET ((size_t)2 << 20)

size_t
mn_spillmap__default_budget(void)
{
   const char *s = getenv("MN_SET_MEMORY");
   char *end;
   unsigned long long v;

   if (!s || !*s) {
      return DEFAULT_BUDGET;
   }
   errno = 0;
   v = strtoull(s, &end, 10);
   if (errno || end == s || *s == '-') {
      return DEFAULT_BUDGET;
   }
   if (*end == 'K' || *end == 'k') {
      v <<= 10, end++;
   } else if (*end == 'M' || *end == 'm') {
      v <<= 20, end++;
   } else if (*end == 'G' || *end == 'g') {
      v <<= 30, end++;
   }
   return *end ? DEFAULT_BUDGET : (size_t)v;
}

mn_spillmap_t *
mn_spillmap__new(size_t value_size, size_t budget)
{
   mn_spillmap_t *m;

   if (value_size > MN_SPILLMAP_MAX_VALUE) {
      abort();
   }
   m = xcalloc(1, sizeof *m);
   m->vsize = value_size;
   m->rec = KEY + value_size;
   m->budget = budget ? budget : mn_spillmap__default_budget();
   return m;
}

static void
run_close(run_t *r)
{
   if (r->fd >= 0) {
      close(r->fd);
   }
   free(r->index);
   free(r->bloom);
   free(r->cache);
   memset(r, 0, sizeof *r);
   r->fd = -1;
}

static void
drop_runs(mn_spillmap_t *m)
{
   for (size_t i = 0; i < m->n_runs; i++) {
      run_close(&m->runs[i]);
   }
   free(m->runs);
   m->runs = NULL;
   m->n_runs = 0;
}

void
mn_spillmap__destroy(mn_spillmap_t *m)
{
   if (!m) {
      return;
   }
   drop_runs(m);
   if (m->dir) {
      rmdir(m->dir);
      free(m->dir);
   }
   free(m->slots);
   free(m);
}

/* ---- the in-memory table ---- */

/* The slot holding key, or the empty slot where it would go (linear probing). */
static uint8_t *
table_slot(const mn_spillmap_t *m, const uint8_t *key, uint64_t h)
{
   size_t mask = m->capacity - 1;
   size_t i = (size_t)h & mask;

   for (;;) {
      uint8_t *slot = m->slots + i * m->rec;
      if (memcmp(slot, zero_key, KEY) == 0 || memcmp(slot, key, KEY) == 0) {
         return slot;
      }
      i = (i + 1) & mask;
   }
}

static void
table_grow(mn_spillmap_t *m)
{
   size_t old_cap = m->capacity;
   uint8_t *old = m->slots;

   m->capacity = old_cap ? old_cap * 2 : FIRST_CAPACITY;
   m->slots = xcalloc(m->capacity, m->rec);
   for (size_t i = 0; i < old_cap; i++) {
      const uint8_t *s = old + i * m->rec;
      if (memcmp(s, zero_key, KEY) != 0) {
         memcpy(table_slot(m, s, key_hash(s)), s, m->rec);
      }
   }
   free(old);
}

/* ---- runs: writing ---- */

/* The filter is blocked: every probe of a key falls in one 512-bit line (a cache line),
 * picked by the hash's high bits scaled to the lines without a division; the probes are
 * 9-bit slices of a second mix of the hash. */
static inline const uint64_t *
bloom_line(const run_t *r, uint64_t h, uint64_t *probes)
{
   uint64_t lines = r->bloom_bits / 512;
   uint64_t line = (uint64_t)(((unsigned __int128)h * lines) >> 64);

   *probes = (h ^ (h >> 31)) * 0x9e3779b97f4a7c15u;
   return r->bloom + line * 8;
}

static void
bloom_set(run_t *r, uint64_t h)
{
   uint64_t probes;
   uint64_t *line = (uint64_t *)bloom_line(r, h, &probes);

   for (int i = 0; i < BLOOM_PROBES; i++, probes >>= 9) {
      unsigned bit = (unsigned)(probes & 511);
      line[bit >> 6] |= (uint64_t)1 << (bit & 63);
   }
}

static bool
bloom_maybe(const run_t *r, uint64_t h)
{
   uint64_t probes;
   const uint64_t *line;

   if (!r->bloom) {
      return true; /* dropped by a merge that failed: every key may be there */
   }
   line = bloom_line(r, h, &probes);
   for (int i = 0; i < BLOOM_PROBES; i++, probes >>= 9) {
      unsigned bit = (unsigned)(probes & 511);
      if (!(line[bit >> 6] & ((uint64_t)1 << (bit & 63)))) {
         return false;
      }
   }
   return true;
}

typedef struct {
   mn_spillmap_t *m;
   run_t run;
   uint8_t *buf;
   size_t used;
   uint64_t max; /* records at most (the Bloom filter's and index's size) */
   bool ok;
} writer_t;

static bool
ensure_dir(mn_spillmap_t *m)
{
   const char *tmp = getenv("TMPDIR");
   size_t n;

   if (m->dir) {
      return true;
   }
   if (!tmp || !*tmp) {
      tmp = "/tmp";
   }
   n = strlen(tmp) + sizeof "/mongonorm-sets-XXXXXX";
   m->dir = xmalloc(n);
   snprintf(m->dir, n, "%s/mongonorm-sets-XXXXXX", tmp);
   if (!mkdtemp(m->dir)) { /* mode 0700 */
      int err = errno;
      free(m->dir);
      m->dir = NULL;
      fail(m, err,
           "could not create a temporary directory in \"%s\" (TMPDIR) for the sets that outgrew "
           "memory",
           tmp);
      return false;
   }
   return true;
}

static bool
writer_open(writer_t *w, mn_spillmap_t *m, uint64_t max)
{
   uint64_t bits = (max * BLOOM_BITS + 511) / 512 * 512;
   size_t n;
   char *path;

   memset(w, 0, sizeof *w);
   w->m = m;
   w->run.fd = -1;
   w->run.cached = -1;
   if (!ensure_dir(m)) {
      return false;
   }
   n = strlen(m->dir) + sizeof "/run-XXXXXX";
   path = xmalloc(n);
   snprintf(path, n, "%s/run-XXXXXX", m->dir);
   w->run.fd = mkostemp(path, O_CLOEXEC); /* 0600, O_EXCL */
   if (w->run.fd < 0) {
      fail(m, errno, "could not create a file in the temporary directory \"%s\"", m->dir);
      free(path);
      return false;
   }
   unlink(path); /* gone when closed, even by a crash */
   free(path);
   w->run.bloom = xcalloc(bits / 64, sizeof(uint64_t));
   w->run.bloom_bits = bits;
   w->run.index = xmalloc((max / BLOCK + 1) * KEY);
   w->buf = xmalloc(IO_BUFFER);
   w->max = max;
   w->ok = true;
   return true;
}

static bool
write_all(int fd, const uint8_t *p, size_t n)
{
   while (n > 0) {
      ssize_t k = write(fd, p, n);
      if (k < 0 && errno == EINTR) {
         continue;
      }
      if (k <= 0) {
         if (k == 0) {
            errno = EIO;
         }
         return false;
      }
      p += k;
      n -= (size_t)k;
   }
   return true;
}

static void
writer_flush(writer_t *w)
{
   if (w->ok && w->used && !write_all(w->run.fd, w->buf, w->used)) {
      fail(w->m, errno, "could not write a file in the temporary directory \"%s\"", w->m->dir);
      w->ok = false;
   }
   w->used = 0;
}

static void
writer_add(writer_t *w, const uint8_t *record, uint64_t h)
{
   size_t rec = w->m->rec;

   if (w->run.count % BLOCK == 0) {
      memcpy(w->run.index + (w->run.count / BLOCK) * KEY, record, KEY);
      w->run.nblocks++;
   }
   bloom_set(&w->run, h);
   if (w->used + rec > IO_BUFFER) {
      writer_flush(w);
   }
   memcpy(w->buf + w->used, record, rec);
   w->used += rec;
   w->run.count++;
}

/* Finish the run: added as the newest on success, else closed (the map failed). */
static bool
writer_close(writer_t *w)
{
   mn_spillmap_t *m = w->m;

   writer_flush(w);
   free(w->buf);
   w->buf = NULL;
   if (!w->ok) {
      run_close(&w->run);
      return false;
   }
   w->run.cache = xmalloc((size_t)BLOCK * m->rec);
   m->runs = realloc(m->runs, (m->n_runs + 1) * sizeof *m->runs);
   if (!m->runs) {
      abort();
   }
   m->runs[m->n_runs++] = w->run;
   return true;
}

/* ---- runs: reading ---- */

static bool
read_at(mn_spillmap_t *m, int fd, uint8_t *p, size_t n, uint64_t off)
{
   while (n > 0) {
      ssize_t k = pread(fd, p, n, (off_t)off);
      if (k < 0 && errno == EINTR) {
         continue;
      }
      if (k <= 0) {
         fail(m, k == 0 ? EIO : errno, "could not read a file in the temporary directory \"%s\"",
              m->dir ? m->dir : "?");
         return false;
      }
      p += k;
      n -= (size_t)k;
      off += (uint64_t)k;
   }
   return true;
}

/* Whether run r holds key; its value copied to value (when not NULL). */
static bool
run_get(mn_spillmap_t *m, run_t *r, const uint8_t *key, void *value)
{
   uint64_t lo = 0, hi = r->nblocks, b, n;
   size_t rec = m->rec;

   /* the last block whose first key is <= key */
   while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      if (memcmp(r->index + mid * KEY, key, KEY) <= 0) {
         lo = mid + 1;
      } else {
         hi = mid;
      }
   }
   if (lo == 0) {
      return false;
   }
   b = lo - 1;
   n = r->count - b * BLOCK < BLOCK ? r->count - b * BLOCK : BLOCK;
   if (r->cached != (int64_t)b) {
      r->cached = -1;
      if (!read_at(m, r->fd, r->cache, n * rec, b * BLOCK * rec)) {
         return false;
      }
      r->cached = (int64_t)b;
   }
   lo = 0, hi = n;
   while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      int c = memcmp(r->cache + mid * rec, key, KEY);
      if (c == 0) {
         if (value) {
            memcpy(value, r->cache + mid * rec + KEY, m->vsize);
         }
         return true;
      }
      if (c < 0) {
         lo = mid + 1;
      } else {
         hi = mid;
      }
   }
   return false;
}

/* A sequential reader of one run (merges, foreach). */
typedef struct {
   run_t *run;
   uint8_t *buf;
   uint64_t next; /* the next record to read into buf */
   size_t pos, n; /* records in buf: the current one, how many */
} reader_t;

static bool
reader_fill(mn_spillmap_t *m, reader_t *rd)
{
   uint64_t left = rd->run->count - rd->next;
   size_t per = IO_BUFFER / m->rec;
   size_t n = left < per ? (size_t)left : per;

   rd->pos = rd->n = 0;
   if (n == 0 || !read_at(m, rd->run->fd, rd->buf, n * m->rec, rd->next * m->rec)) {
      return false;
   }
   rd->n = n;
   rd->next += n;
   return true;
}

/* The current record of rd, or NULL at its end (or after a read error). */
static const uint8_t *
reader_peek(mn_spillmap_t *m, reader_t *rd)
{
   if (rd->pos == rd->n && !reader_fill(m, rd)) {
      return NULL;
   }
   return rd->buf + rd->pos * m->rec;
}

/* Merge every run, the newest value of each key once, in key order, into emit. */
static void
merge_runs(mn_spillmap_t *m, void (*emit)(const uint8_t *record, void *ctx), void *ctx)
{
   reader_t *rd = xcalloc(m->n_runs, sizeof *rd);

   for (size_t i = 0; i < m->n_runs; i++) {
      rd[i].run = &m->runs[i];
      rd[i].buf = xmalloc(IO_BUFFER);
   }
   for (;;) {
      const uint8_t *best = NULL;
      size_t bi = 0;
      for (size_t i = 0; i < m->n_runs; i++) { /* oldest first: a tie goes to the newer */
         const uint8_t *p = reader_peek(m, &rd[i]);
         if (p && (!best || memcmp(p, best, KEY) <= 0)) {
            best = p, bi = i;
         }
      }
      if (!best || m->failed) {
         break;
      }
      emit(best, ctx);
      for (size_t i = 0; i < m->n_runs; i++) {
         const uint8_t *p = i == bi ? best : reader_peek(m, &rd[i]);
         if (p && (i == bi || memcmp(p, best, KEY) == 0)) {
            rd[i].pos++;
         }
      }
   }
   for (size_t i = 0; i < m->n_runs; i++) {
      free(rd[i].buf);
   }
   free(rd);
}

static void
emit_to_writer(const uint8_t *record, void *ctx)
{
   writer_t *w = ctx;
   writer_add(w, record, key_hash(record));
}

/* Replace every run by one, their merge. */
static void
compact(mn_spillmap_t *m)
{
   uint64_t total = 0;
   writer_t w;

   for (size_t i = 0; i < m->n_runs; i++) {
      total += m->runs[i].count;
      /* a merge reads no filter: freed first, so the old and the new are never held at
       * once (should the merge fail, the runs answer without one) */
      free(m->runs[i].bloom);
      m->runs[i].bloom = NULL;
   }
   if (!writer_open(&w, m, total)) {
      return;
   }
   merge_runs(m, emit_to_writer, &w);
   if (m->failed) {
      w.ok = false;
   }
   if (writer_close(&w)) {
      run_t merged = m->runs[m->n_runs - 1];
      m->n_runs--;
      drop_runs(m);
      m->runs = xmalloc(sizeof *m->runs);
      m->runs[0] = merged;
      m->n_runs = 1;
   }
}

static int
record_cmp(const void *a, const void *b)
{
   return memcmp(a, b, KEY);
}

/* Write the table as the newest run and empty it; false (the table kept) on failure. */
static bool
spill(mn_spillmap_t *m)
{
   writer_t w;
   size_t j = 0;

   if (m->failed || !writer_open(&w, m, m->count)) {
      return false;
   }
   for (size_t i = 0; i < m->capacity; i++) { /* pack the records at the front, sort them */
      const uint8_t *s = m->slots + i * m->rec;
      if (memcmp(s, zero_key, KEY) != 0) {
         memmove(m->slots + j++ * m->rec, s, m->rec);
      }
   }
   qsort(m->slots, j, m->rec, record_cmp);
   for (size_t i = 0; i < j; i++) {
      writer_add(&w, m->slots + i * m->rec, key_hash(m->slots + i * m->rec));
   }
   if (!writer_close(&w)) {
      size_t cap = m->capacity; /* put the records back in a table */
      uint8_t *packed = m->slots;
      m->slots = xcalloc(cap, m->rec);
      for (size_t i = 0; i < j; i++) {
         const uint8_t *s = packed + i * m->rec;
         memcpy(table_slot(m, s, key_hash(s)), s, m->rec);
      }
      free(packed);
      return false;
   }
   memset(m->slots, 0, m->capacity * m->rec);
   m->count = 0;
   if (m->n_runs > MAX_RUNS) {
      compact(m);
   }
   return true;
}

/* ---- the map ---- */

bool
mn_spillmap__get(mn_spillmap_t *m, const uint8_t *key, void *value)
{
   uint64_t h;

   if (memcmp(key, zero_key, KEY) == 0) {
      if (m->has_zero && value) {
         memcpy(value, m->zero_value, m->vsize);
      }
      return m->has_zero;
   }
   h = key_hash(key);
   if (m->capacity) {
      const uint8_t *s = table_slot(m, key, h);
      if (memcmp(s, key, KEY) == 0) {
         if (value) {
            memcpy(value, s + KEY, m->vsize);
         }
         return true;
      }
   }
   for (size_t i = m->n_runs; i-- > 0;) {
      if (bloom_maybe(&m->runs[i], h) && run_get(m, &m->runs[i], key, value)) {
         return true;
      }
   }
   return false;
}

void
mn_spillmap__put(mn_spillmap_t *m, const uint8_t *key, const void *value)
{
   uint64_t h;
   uint8_t *slot;

   m->ever = true;
   if (memcmp(key, zero_key, KEY) == 0) {
      m->has_zero = true;
      if (m->vsize) {
         memcpy(m->zero_value, value, m->vsize);
      }
      return;
   }
   h = key_hash(key);
   if (m->capacity) {
      slot = table_slot(m, key, h);
      if (memcmp(slot, key, KEY) == 0) {
         if (m->vsize) {
            memcpy(slot + KEY, value, m->vsize);
         }
         return;
      }
   }
   if ((m->count + 1) * 10 > m->capacity * 7) {
      /* growing holds both tables at once: three times the table */
      if (!(m->capacity && m->capacity * 3 * m->rec > m->budget && spill(m))) {
         table_grow(m);
      }
   }
   slot = table_slot(m, key, h);
   memcpy(slot, key, KEY);
   if (m->vsize) {
      memcpy(slot + KEY, value, m->vsize);
   }
   m->count++;
}

bool
mn_spillmap__add(mn_spillmap_t *m, const uint8_t *key)
{
   if (mn_spillmap__get(m, key, NULL)) {
      return false;
   }
   mn_spillmap__put(m, key, NULL);
   return true;
}

void
mn_spillmap__clear(mn_spillmap_t *m)
{
   drop_runs(m);
   free(m->slots);
   m->slots = NULL;
   m->capacity = m->count = 0;
   m->has_zero = false;
   m->ever = false;
}

bool
mn_spillmap__empty(const mn_spillmap_t *m)
{
   return !m->ever;
}

typedef struct {
   mn_spillmap_t *m;
   mn_spillmap_fn fn;
   void *ctx;
} each_t;

static void
emit_unless_in_table(const uint8_t *record, void *ctx)
{
   each_t *e = ctx;
   mn_spillmap_t *m = e->m;

   if (m->capacity && memcmp(table_slot(m, record, key_hash(record)), record, KEY) == 0) {
      return; /* the table's value is newer */
   }
   e->fn(record, record + KEY, e->ctx);
}

void
mn_spillmap__foreach(mn_spillmap_t *m, mn_spillmap_fn fn, void *ctx)
{
   each_t e = {m, fn, ctx};

   if (m->n_runs) {
      merge_runs(m, emit_unless_in_table, &e);
   }
   for (size_t i = 0; i < m->capacity; i++) {
      const uint8_t *s = m->slots + i * m->rec;
      if (memcmp(s, zero_key, KEY) != 0) {
         fn(s, s + KEY, ctx);
      }
   }
   if (m->has_zero) {
      fn(zero_key, m->zero_value, ctx);
   }
}

size_t
mn_spillmap__runs(const mn_spillmap_t *m)
{
   return m->n_runs;
}

bool
mn_spillmap__ok(const mn_spillmap_t *m, mn_error_t *error)
{
   if (m->failed && error) {
      *error = m->error;
   }
   return !m->failed;
}
