/*
 * uuidset.c - hash tables keyed by 16-byte row ids (see uuidset.h).
 */
#include "util/uuidset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * mn_zeroed_slots (uuidset.h): zeroed by writing, not calloc: the
 * pages of a large calloc'ed block are the kernel's shared zero page until written, and a
 * probe reads a slot before it writes it, so each page would fault twice, the second time
 * a copy-on-write that flushes the TLB of every thread of the process (perf, a re-run
 * reading 100,000 records: 4% of its time).
 */
void *
mn_zeroed_slots(size_t n, size_t size)
{
   void *p = n <= SIZE_MAX / size ? malloc(n * size) : NULL;

   if (!p) {
      abort();
   }
   memset(p, 0, n * size);
   return p;
}

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
   size_t i = (size_t)mn_uuid__mix(id) & mask;

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
   bigger.slots = mn_zeroed_slots(bigger.capacity, 16);
   bigger.count = 0;
   bigger.has_zero = set->has_zero;
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

/* ---- mn_idmap_t: the same open addressing, 16 bytes of id and 8 of value a slot ---- */

#define IDMAP_SLOT 24

void
mn_idmap__init(mn_idmap_t *map)
{
   memset(map, 0, sizeof *map);
}

void
mn_idmap__cleanup(mn_idmap_t *map)
{
   if (map) {
      free(map->slots);
      mn_idmap__init(map);
   }
}

void
mn_idmap__clear(mn_idmap_t *map)
{
   if (map->count) {
      memset(map->slots, 0, map->capacity * IDMAP_SLOT);
   }
   map->count = 0;
   map->zero_value = 0;
}

/* The slot holding id, or the empty slot where it would go (linear probing). */
static uint8_t *
idmap_slot(const mn_idmap_t *map, const uint8_t *id)
{
   size_t mask = map->capacity - 1;
   size_t i = (size_t)mn_uuid__mix(id) & mask;

   for (;;) {
      uint8_t *slot = map->slots + i * IDMAP_SLOT;
      if (memcmp(slot, zero_id, 16) == 0 || memcmp(slot, id, 16) == 0) {
         return slot;
      }
      i = (i + 1) & mask;
   }
}

/* The map in `capacity` slots (a power of two, more than it needs). */
static void
idmap_resize(mn_idmap_t *map, size_t capacity)
{
   mn_idmap_t bigger;

   bigger.capacity = capacity;
   bigger.slots = mn_zeroed_slots(bigger.capacity, IDMAP_SLOT);
   bigger.count = map->count;
   bigger.zero_value = map->zero_value;
   for (size_t i = 0; i < map->capacity; i++) {
      const uint8_t *old = map->slots + i * IDMAP_SLOT;
      if (memcmp(old, zero_id, 16) != 0) {
         memcpy(idmap_slot(&bigger, old), old, IDMAP_SLOT);
      }
   }
   free(map->slots);
   *map = bigger;
}

static void
idmap_grow(mn_idmap_t *map)
{
   idmap_resize(map, map->capacity ? map->capacity * 2 : 1024);
}

void
mn_idmap__reserve(mn_idmap_t *map, size_t n)
{
   size_t capacity = 1024;

   while ((n + 1) * 10 > capacity * 7) {
      capacity *= 2;
   }
   if (map->capacity < capacity) {
      idmap_resize(map, capacity);
   }
}

uint64_t
mn_idmap__get(const mn_idmap_t *map, const uint8_t *id)
{
   const uint8_t *slot;
   uint64_t value;

   if (memcmp(id, zero_id, 16) == 0) {
      return map->zero_value;
   }
   if (!map->capacity || memcmp((slot = idmap_slot(map, id)), id, 16) != 0) {
      return 0;
   }
   memcpy(&value, slot + 16, sizeof value);
   return value;
}

void
mn_idmap__put(mn_idmap_t *map, const uint8_t *id, uint64_t value)
{
   uint8_t *slot;

   if (memcmp(id, zero_id, 16) == 0) {
      map->zero_value = value;
      return;
   }
   if ((map->count + 1) * 10 > map->capacity * 7) {
      idmap_grow(map);
   }
   slot = idmap_slot(map, id);
   if (memcmp(slot, id, 16) != 0) {
      memcpy(slot, id, 16);
      map->count++;
   }
   memcpy(slot + 16, &value, sizeof value);
}

uint64_t
mn_idmap__add(mn_idmap_t *map, const uint8_t *id, uint64_t value)
{
   uint8_t *slot;
   uint64_t had;

   if (memcmp(id, zero_id, 16) == 0) {
      had = map->zero_value;
      map->zero_value = had ? had : value;
      return had;
   }
   if ((map->count + 1) * 10 > map->capacity * 7) {
      idmap_grow(map);
   }
   slot = idmap_slot(map, id);
   if (memcmp(slot, id, 16) == 0) {
      memcpy(&had, slot + 16, sizeof had);
      return had;
   }
   memcpy(slot, id, 16);
   memcpy(slot + 16, &value, sizeof value);
   map->count++;
   return 0;
}
