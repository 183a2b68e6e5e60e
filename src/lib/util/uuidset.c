/*
 * uuidset.c - hash tables keyed by 16-byte row ids (see uuidset.h).
 */
#include "util/uuidset.h"

#include <stdlib.h>
#include <string.h>

guint
mn_uuid__hash(gconstpointer key)
{
   const guint8 *b = key;
   guint h;

   memcpy(&h, b + 8, sizeof h);
   return h ^ ((guint)b[0] << 24) ^ ((guint)b[3] << 8);
}

gboolean
mn_uuid__equal(gconstpointer a, gconstpointer b)
{
   return memcmp(a, b, 16) == 0;
}

GHashTable *
mn_uuid__table_new(GDestroyNotify value_free)
{
   return g_hash_table_new_full(mn_uuid__hash, mn_uuid__equal, g_free, value_free);
}

static const uint8_t zero_id[16];

void
mn_idset__init(mn_idset_t *set)
{
   memset(set, 0, sizeof *set);
}

void
mn_idset__cleanup(mn_idset_t *set)
{
   if (set) {
      free(set->slots);
      mn_idset__init(set);
   }
}

/* The slot holding id, or the empty slot where it would go (linear probing). */
static uint8_t *
idset_slot(const mn_idset_t *set, const uint8_t *id)
{
   size_t mask = set->capacity - 1;
   size_t i = (size_t)mn_uuid__hash(id) * 2654435761u & mask;

   for (;;) {
      uint8_t *slot = set->slots + i * 16;
      if (memcmp(slot, zero_id, 16) == 0 || memcmp(slot, id, 16) == 0) {
         return slot;
      }
      i = (i + 1) & mask;
   }
}

static void
idset_grow(mn_idset_t *set)
{
   mn_idset_t bigger;

   bigger.capacity = set->capacity ? set->capacity * 2 : 1024;
   bigger.slots = calloc(bigger.capacity, 16);
   bigger.count = 0;
   bigger.has_zero = set->has_zero;
   if (!bigger.slots) {
      abort();
   }
   for (size_t i = 0; i < set->capacity; i++) {
      const uint8_t *old = set->slots + i * 16;
      if (memcmp(old, zero_id, 16) != 0) {
         memcpy(idset_slot(&bigger, old), old, 16);
         bigger.count++;
      }
   }
   free(set->slots);
   *set = bigger;
}

bool
mn_idset__add(mn_idset_t *set, const uint8_t *id)
{
   uint8_t *slot;

   if (memcmp(id, zero_id, 16) == 0) {
      bool added = !set->has_zero;
      set->has_zero = true;
      return added;
   }
   if ((set->count + 1) * 10 > set->capacity * 7) {
      idset_grow(set);
   }
   slot = idset_slot(set, id);
   if (memcmp(slot, id, 16) == 0) {
      return false;
   }
   memcpy(slot, id, 16);
   set->count++;
   return true;
}

bool
mn_idset__has(const mn_idset_t *set, const uint8_t *id)
{
   if (memcmp(id, zero_id, 16) == 0) {
      return set->has_zero;
   }
   return set->capacity && memcmp(idset_slot(set, id), id, 16) == 0;
}
