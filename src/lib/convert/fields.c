/*
 * fields.c - a sub-document's fields by name, for the walk of one document.
 *
 * Every column of a row reads its path from the same element, and libbson finds a field by
 * stepping through the sub-document from its first element (bson_iter_find): a row of n
 * columns over a sub-document of m fields parses about n * m / 2 elements.  Here the
 * iterator states that the steps reach are kept, per sub-document, in order, so a field
 * already passed is found by comparing names, and the stepping goes on from where it
 * stopped.  What a lookup returns is the very state bson_iter_find would have reached (the
 * first field of that name; nothing past a malformed element), since it is one of those
 * states, copied.
 *
 * A few tables (the most recently used sub-documents), each of at most FIELDS_KEPT fields:
 * past that the stepping goes on from the last state kept, as bson_iter_find would, so the
 * memory is fixed whatever the document.  mn_fields__reset() forgets them all: a table is
 * known by the address of the sub-document's bytes, valid for one document only.
 */
#include "convert/convert_private.h"

#include <stdlib.h>
#include <string.h>

#define FIELD_TABLES 4  /* sub-documents kept at once */
#define FIELDS_KEPT 256 /* fields kept per sub-document */

typedef struct {
   const uint8_t *data; /* the sub-document's bytes, or NULL: an unused table */
   uint32_t len;
   mn_iter_slot_t *its; /* the state after each step, in order (FIELDS_KEPT) */
   uint32_t *key_len;   /* the length of each one's key */
   size_t n;
   mn_iter_slot_t live; /* the state after its[n - 1] (before the first field when n is 0) */
   bool done;           /* every field is in its[] */
   uint64_t used;       /* when it was last looked up in (least recent is reused) */
} table_t;

struct mn_fields {
   table_t tables[FIELD_TABLES];
   uint64_t tick;
};

/* Memory for n iterators: bson_iter_t is declared 128-byte aligned, malloc's is less. */
static mn_iter_slot_t *
iter_slots(size_t n)
{
   void *mem = NULL;

   if (posix_memalign(&mem, _Alignof(mn_iter_slot_t), n * sizeof(mn_iter_slot_t)) != 0) {
      abort();
   }
   return mem;
}

mn_fields_t *
mn_fields__new(void)
{
   mn_fields_t *f = g_new0(mn_fields_t, 1);

   for (size_t i = 0; i < FIELD_TABLES; i++) {
      f->tables[i].its = iter_slots(FIELDS_KEPT);
      f->tables[i].key_len = g_new(uint32_t, FIELDS_KEPT);
   }
   return f;
}

void
mn_fields__destroy(mn_fields_t *f)
{
   if (!f) {
      return;
   }
   for (size_t i = 0; i < FIELD_TABLES; i++) {
      free(f->tables[i].its);
      g_free(f->tables[i].key_len);
   }
   g_free(f);
}

void
mn_fields__reset(mn_fields_t *f)
{
   for (size_t i = 0; i < FIELD_TABLES; i++) {
      f->tables[i].data = NULL;
   }
}

/* The table of the sub-document at data (len bytes), or the least recently used one
 * emptied for it (*fresh: the caller starts its iterator). */
static table_t *
table_for(mn_fields_t *f, const uint8_t *data, uint32_t len, bool *fresh)
{
   table_t *victim = &f->tables[0];

   f->tick++;
   *fresh = false;
   for (size_t i = 0; i < FIELD_TABLES; i++) {
      table_t *t = &f->tables[i];
      if (t->data == data && t->len == len) {
         t->used = f->tick;
         return t;
      }
      if (!t->data || (victim->data && t->used < victim->used)) {
         victim = t;
      }
   }
   victim->data = data;
   victim->len = len;
   victim->n = 0;
   victim->done = false;
   victim->used = f->tick;
   *fresh = true;
   return victim;
}

/* The first field named key of table t, as bson_iter_find finds it; stepping on from the
 * last state kept when it is not among them. */
static bool
table_find(table_t *t, const char *key, bson_iter_t *out)
{
   size_t klen = strlen(key);
   bson_iter_t it;
   bool keeping = true;

   for (size_t i = 0; i < t->n; i++) {
      if (t->key_len[i] == klen && memcmp(bson_iter_key(&t->its[i].it), key, klen) == 0) {
         *out = t->its[i].it;
         return true;
      }
   }
   if (t->done) {
      return false;
   }
   it = t->live.it;
   while (bson_iter_next(&it)) {
      const char *k = bson_iter_key(&it);
      size_t kl = strlen(k);
      if (keeping && t->n < FIELDS_KEPT) {
         t->its[t->n].it = it;
         t->key_len[t->n] = (uint32_t)kl;
         t->n++;
         t->live.it = it;
      } else {
         keeping = false;
      }
      if (kl == klen && memcmp(k, key, klen) == 0) {
         *out = it;
         return true;
      }
   }
   t->done = keeping;
   return false;
}

bool
mn_fields__find_doc(mn_fields_t *f, const bson_t *doc, const char *key, bson_iter_t *out)
{
   bool fresh;
   table_t *t = table_for(f, bson_get_data(doc), doc->len, &fresh);

   if (fresh && !bson_iter_init(&t->live.it, doc)) {
      t->done = true;
   }
   return table_find(t, key, out);
}

bool
mn_fields__find_in(mn_fields_t *f, const bson_iter_t *sub, const char *key, bson_iter_t *out)
{
   const uint8_t *data;
   uint32_t len;
   bool fresh;
   table_t *t;

   bson_iter_document(sub, &len, &data);
   if (!data) {
      return false; /* not a document */
   }
   t = table_for(f, data, len, &fresh);
   if (fresh && !bson_iter_recurse(sub, &t->live.it)) {
      t->done = true;
   }
   return table_find(t, key, out);
}
