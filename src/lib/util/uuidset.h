/*
 * uuidset.h - GLib hash tables keyed by 16-byte row ids (convert, state, run).
 */
#ifndef MN_UUIDSET_H
#define MN_UUIDSET_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/** Hash of a 16-byte id (ObjectId-derived ids vary most in their last ObjectId bytes). */
guint mn_uuid__hash(gconstpointer key);

/**
 * A 64-bit hash of all 16 bytes of an id whose low bits vary (open-addressing tables take
 * their slot from the low bits): the final mix of MurmurHash3's 64-bit finalizer over both
 * halves.  Row ids of ObjectIds differ mostly in bytes that left the low bits of
 * mn_uuid__hash() almost constant, so probe runs grew long (a re-run spent 10% of its time
 * there).
 */
static inline uint64_t
mn_uuid__mix(const uint8_t *id)
{
   uint64_t a, b, h;

   memcpy(&a, id, 8);
   memcpy(&b, id + 8, 8);
   h = a ^ (b * 0x9e3779b97f4a7c15u);
   h ^= h >> 33;
   h *= 0xff51afd7ed558ccdu;
   h ^= h >> 33;
   h *= 0xc4ceb9fe1a85ec53u;
   h ^= h >> 33;
   return h;
}

/** Equality of two 16-byte ids. */
gboolean mn_uuid__equal(gconstpointer a, gconstpointer b);

/** A table whose keys are g_malloc'ed 16-byte ids (freed with it); values as given. */
GHashTable *mn_uuid__table_new(GDestroyNotify value_free);

/**
 * A compact set of 16-byte ids: open addressing, 16 bytes a slot, at most 70% full
 * (about 23 bytes a member), for the sets that hold one member per source document
 * (the `_id`s a pass has seen).  The all-zero id is stored apart.
 */
typedef struct {
   uint8_t *slots;  /**< capacity * 16 bytes; owned */
   size_t capacity; /**< a power of two, or 0 before the first insert */
   size_t count;
   bool has_zero;
} mn_idset_t;

/** An empty set (no allocation until the first insert). */
void mn_idset__init(mn_idset_t *set);

/** Free the slots; the set is empty again. NULL-safe. */
void mn_idset__cleanup(mn_idset_t *set);

/** Insert id (16 bytes). @return true when it was not in the set yet. Aborts on no memory. */
bool mn_idset__add(mn_idset_t *set, const uint8_t *id);

/** Whether the set has no member. */
static inline bool
mn_idset__empty(const mn_idset_t *set)
{
   return set->count == 0 && !set->has_zero;
}

/** Whether id (16 bytes) is in the set. */
bool mn_idset__has(const mn_idset_t *set, const uint8_t *id);

/**
 * A compact map of 16-byte ids to non-zero 64-bit values, open addressing as mn_idset_t
 * (24 bytes a slot, at most 70% full), with no allocation per member: a pass's window
 * of the documents read since its last flush.  The all-zero id is stored apart.
 */
typedef struct {
   uint8_t *slots;      /**< capacity * 24 bytes (id, value); owned */
   size_t capacity;     /**< a power of two, or 0 before the first insert */
   size_t count;        /**< members other than the all-zero id */
   uint64_t zero_value; /**< the all-zero id's value, 0 when it is not a member */
} mn_idmap_t;

/** n slots of size bytes (size > 0), zeroed by writing them rather than calloc'ed: a hash
 * table reads a slot before it writes it, and a calloc'ed page read first faults twice, the
 * second time flushing every thread's TLB (uuidset.c).  free() it.  Aborts on no memory. */
void *mn_zeroed_slots(size_t n, size_t size);

/** An empty map (no allocation until the first insert). */
void mn_idmap__init(mn_idmap_t *map);

/** Free the slots; the map is empty again. NULL-safe. */
void mn_idmap__cleanup(mn_idmap_t *map);

/** Remove every member, keeping the slots for the next ones. */
void mn_idmap__clear(mn_idmap_t *map);

/** Make room for n members in all, so that inserting up to that many grows nothing: the
 * slots a map of n needs (at most 70% full), allocated once for an empty map.  Aborts on
 * no memory. */
void mn_idmap__reserve(mn_idmap_t *map, size_t n);

/** id's value (16 bytes), or 0 when id is not in the map. */
uint64_t mn_idmap__get(const mn_idmap_t *map, const uint8_t *id);

/** Set id's value (16 bytes; value must not be 0), inserting id when it is not in the map.
 * Aborts on no memory. */
void mn_idmap__put(mn_idmap_t *map, const uint8_t *id, uint64_t value);

/** Insert id (16 bytes) with value (not 0) when it is not in the map, in one probe.
 * @return 0 when it was inserted, else the value id has (left as it is). Aborts on no
 * memory. */
uint64_t mn_idmap__add(mn_idmap_t *map, const uint8_t *id, uint64_t value);

#endif
