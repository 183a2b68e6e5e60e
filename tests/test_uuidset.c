/*
 * test_uuidset.c - unit tests for util/uuidset.c: mn_idset_t and mn_idmap_t against a
 * GLib hash table holding the same members (random ids, ids alike but for one byte, the
 * all-zero id), through growth, replaced values and clearing; and util/keys.c's
 * mn_digest_parts() against mn_digest() of the same bytes (FIPS 180-4's "abc" vector,
 * random cuts, empty parts); and pg/state.c's packed row counts (mn_state_pack_counts(),
 * mn_state_unpack_counts()): random counts at every varint length round-trip, and what is
 * not a packing is refused.  No server needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/uuidset.h"

#include <mongonorm/keys.h>
#include <mongonorm/state.h>

#include <stdlib.h>
#include <string.h>

/* id number i of a run: random bytes, or (every third) one byte apart from the last */
static void
make_id(uint8_t id[16], int i)
{
   if (i % 3 == 2) {
      id[i % 16] ^= (uint8_t)(1 + i % 255);
      return;
   }
   for (int b = 0; b < 16; b++) {
      id[b] = (uint8_t)rand();
   }
}

static void
test_idset_matches_a_hash_table(void **state)
{
   GHashTable *ref = mn_uuid__table_new(NULL);
   mn_idset_t set;
   uint8_t id[16] = {0}, zero[16] = {0};

   (void)state;
   srand(11);
   mn_idset__init(&set);
   assert_true(mn_idset__empty(&set));
   assert_false(mn_idset__has(&set, zero));
   for (int i = 0; i < 20000; i++) {
      bool fresh;
      make_id(id, i);
      fresh = !g_hash_table_contains(ref, id);
      assert_int_equal(mn_idset__add(&set, id), fresh);
      assert_false(mn_idset__add(&set, id));
      if (fresh) {
         g_hash_table_add(ref, g_memdup2(id, 16));
      }
   }
   assert_true(mn_idset__add(&set, zero));
   assert_false(mn_idset__add(&set, zero));
   assert_true(mn_idset__has(&set, zero));
   assert_int_equal(set.count, g_hash_table_size(ref));
   {
      GHashTableIter it;
      gpointer key;
      g_hash_table_iter_init(&it, ref);
      while (g_hash_table_iter_next(&it, &key, NULL)) {
         assert_true(mn_idset__has(&set, key));
      }
   }
   mn_idset__cleanup(&set);
   assert_true(mn_idset__empty(&set));
   g_hash_table_destroy(ref);
}

static void
test_idmap_matches_a_hash_table(void **state)
{
   GHashTable *ref = mn_uuid__table_new(NULL);
   mn_idmap_t map;
   uint8_t id[16] = {0}, zero[16] = {0};

   (void)state;
   srand(12);
   mn_idmap__init(&map);
   assert_int_equal(mn_idmap__get(&map, id), 0); /* nothing allocated yet */
   for (int round = 0; round < 3; round++) {
      for (int i = 0; i < 30000; i++) {
         uint64_t v = ((uint64_t)(unsigned)rand() << 20) | (uint64_t)(i + 1);
         make_id(id, i);
         mn_idmap__put(&map, id, v);
         g_hash_table_insert(ref, g_memdup2(id, 16), GSIZE_TO_POINTER((gsize)v));
         if (i % 7 == 0) { /* a value replaced */
            mn_idmap__put(&map, id, v | 1);
            g_hash_table_insert(ref, g_memdup2(id, 16), GSIZE_TO_POINTER((gsize)(v | 1)));
         }
      }
      assert_int_equal(mn_idmap__get(&map, zero), 0);
      mn_idmap__put(&map, zero, 42);
      assert_int_equal(mn_idmap__get(&map, zero), 42);
      /* add: a member keeps its value and gives it back; a new one is inserted */
      assert_int_equal(mn_idmap__add(&map, zero, 7), 42);
      assert_int_equal(mn_idmap__get(&map, zero), 42);
      {
         uint8_t fresh[16];
         size_t before = map.count;
         make_id(fresh, 0);
         assert_int_equal(mn_idmap__add(&map, fresh, 99), 0);
         assert_int_equal(mn_idmap__add(&map, fresh, 100), 99);
         assert_int_equal(mn_idmap__get(&map, fresh), 99);
         assert_int_equal(map.count, before + 1);
         g_hash_table_insert(ref, g_memdup2(fresh, 16), GSIZE_TO_POINTER((gsize)99));
      }
      assert_int_equal(map.count, g_hash_table_size(ref));
      {
         GHashTableIter it;
         gpointer key, value;
         g_hash_table_iter_init(&it, ref);
         while (g_hash_table_iter_next(&it, &key, &value)) {
            assert_int_equal(mn_idmap__get(&map, key), (uint64_t)GPOINTER_TO_SIZE(value));
         }
      }
      make_id(id, 0); /* a fresh random id: not a member */
      assert_int_equal(mn_idmap__get(&map, id), 0);
      /* cleared: no member left, the slots kept for the next round */
      mn_idmap__clear(&map);
      assert_int_equal(map.count, 0);
      assert_int_equal(mn_idmap__get(&map, zero), 0);
      {
         GHashTableIter it;
         gpointer key;
         g_hash_table_iter_init(&it, ref);
         while (g_hash_table_iter_next(&it, &key, NULL)) {
            assert_int_equal(mn_idmap__get(&map, key), 0);
         }
      }
      assert_true(map.capacity > 0);
      g_hash_table_remove_all(ref);
   }
   mn_idmap__cleanup(&map);
   assert_int_equal(map.capacity, 0);
   mn_idmap__cleanup(NULL);
   g_hash_table_destroy(ref);
}

/* mn_idmap__reserve: room for n at once, so n inserts grow nothing; members already in a
 * map are kept through it; a smaller reservation changes nothing */
static void
test_idmap_reserve(void **state)
{
   static const size_t sizes[] = {0, 1, 716, 717, 718, 5000, 100000};
   uint8_t id[16] = {0};

   (void)state;
   for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      size_t n = sizes[k], capacity;
      mn_idmap_t map;
      mn_idmap__init(&map);
      srand(11);
      memset(id, 0, sizeof id);
      for (int i = 0; i < 10; i++) { /* some members first */
         make_id(id, i);
         assert_int_equal(mn_idmap__add(&map, id, (uint64_t)i + 1), 0);
      }
      mn_idmap__reserve(&map, n + 10);
      capacity = map.capacity;
      assert_true((n + 10) * 10 <= capacity * 7);                        /* at most 70% full */
      assert_true(capacity == 1024 || (n + 11) * 10 > capacity / 2 * 7); /* the smallest */
      mn_idmap__reserve(&map, 1);
      assert_int_equal(map.capacity, capacity);
      srand(11);
      memset(id, 0, sizeof id);
      for (int i = 0; i < 10; i++) { /* the same ids again */
         make_id(id, i);
         assert_int_equal(mn_idmap__get(&map, id), (uint64_t)i + 1);
      }
      for (size_t i = 0; i < n; i++) {
         make_id(id, (int)i + 10);
         mn_idmap__put(&map, id, (uint64_t)i + 11);
      }
      assert_int_equal(map.capacity, capacity);
      mn_idmap__cleanup(&map);
   }
}

static void
test_digest_parts_is_the_digest_of_the_bytes(void **state)
{
   /* FIPS 180-4 (NIST's example): SHA-256("abc") */
   static const uint8_t abc[MN_DIGEST_SIZE] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                               0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                               0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                               0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
   const void *data[4] = {"a", "", "bc", ""};
   size_t len[4] = {1, 0, 2, 0};
   uint8_t got[MN_DIGEST_SIZE], want[MN_DIGEST_SIZE], bytes[3000];

   (void)state;
   mn_digest_parts(4, data, len, got);
   assert_memory_equal(got, abc, MN_DIGEST_SIZE);
   mn_digest_parts(0, data, len, got);
   mn_digest("", 0, want);
   assert_memory_equal(got, want, MN_DIGEST_SIZE);
   for (size_t i = 0; i < sizeof bytes; i++) {
      bytes[i] = (uint8_t)rand();
   }
   for (int round = 0; round < 50; round++) {
      size_t a = (size_t)rand() % sizeof bytes, b = (size_t)rand() % sizeof bytes;
      size_t lo = a < b ? a : b, hi = a < b ? b : a;
      const void *parts[3] = {bytes, bytes + lo, bytes + hi};
      size_t lens[3] = {lo, hi - lo, sizeof bytes - hi};
      mn_digest_parts(3, parts, lens, got);
      mn_digest(bytes, sizeof bytes, want);
      assert_memory_equal(got, want, MN_DIGEST_SIZE);
      lens[1] = hi - lo > 0 ? hi - lo - 1 : 0; /* one byte less: another digest */
      if (hi > lo) {
         mn_digest_parts(3, parts, lens, got);
         assert_memory_not_equal(got, want, MN_DIGEST_SIZE);
      }
   }
}

/* A count of each varint length (1 to 5 bytes) and their edges, or a random one. */
static int32_t
some_count(void)
{
   static const int32_t edges[] = {0,       1,       127,       128,       16383,    16384,
                                   2097151, 2097152, 268435455, 268435456, INT32_MAX};
   return rand() % 2 ? edges[rand() % (int)(sizeof edges / sizeof edges[0])]
                     : (int32_t)(rand() >> (rand() % 31));
}

static void
test_packed_counts_round_trip(void **state)
{
   int32_t counts[41], back[41], neg[3] = {-1, 5, INT32_MIN};
   uint8_t packed[MN_PACKED_COUNTS_MAX(40)];
   size_t len;

   (void)state;
   srand(11);
   for (int round = 0; round < 2000; round++) {
      size_t n = (size_t)(rand() % 41);
      for (size_t t = 0; t < n; t++) {
         counts[t] = some_count();
      }
      len = mn_state_pack_counts(counts, n, packed);
      assert_true(len >= n && len <= MN_PACKED_COUNTS_MAX(n));
      assert_true(mn_state_unpack_counts(packed, len, back, n));
      assert_memory_equal(counts, back, n * sizeof *counts);
      /* a longer mapping reads the missing counts as 0; a shorter one refuses */
      back[n] = 7;
      assert_true(mn_state_unpack_counts(packed, len, back, n + 1));
      assert_int_equal(back[n], 0);
      if (n > 0) {
         assert_false(mn_state_unpack_counts(packed, len, back, n - 1));
         /* a packing cut inside its last count */
         if (counts[n - 1] >= 128) {
            assert_false(mn_state_unpack_counts(packed, len - 1, back, n));
         }
      }
   }
   /* all zero: one byte each, as NULL counts; a negative count is written as 0 */
   assert_int_equal(mn_state_pack_counts(NULL, 12, packed), 12);
   for (int i = 0; i < 12; i++) {
      assert_int_equal(packed[i], 0);
   }
   len = mn_state_pack_counts(neg, 3, packed);
   assert_true(mn_state_unpack_counts(packed, len, back, 3));
   assert_int_equal(back[0], 0);
   assert_int_equal(back[1], 5);
   assert_int_equal(back[2], 0);
   /* above INT32_MAX, and a sixth byte */
   assert_false(mn_state_unpack_counts((const uint8_t *)"\x80\x80\x80\x80\x08", 5, back, 1));
   assert_false(mn_state_unpack_counts((const uint8_t *)"\x80\x80\x80\x80\x80\x01", 6, back, 1));
   assert_true(mn_state_unpack_counts((const uint8_t *)"\xff\xff\xff\xff\x07", 5, back, 1));
   assert_int_equal(back[0], INT32_MAX);
   assert_true(mn_state_unpack_counts(packed, 0, back, 3));
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idset_matches_a_hash_table),
      cmocka_unit_test(test_idmap_matches_a_hash_table),
      cmocka_unit_test(test_idmap_reserve),
      cmocka_unit_test(test_digest_parts_is_the_digest_of_the_bytes),
      cmocka_unit_test(test_packed_counts_round_trip),
   };
   return cmocka_run_group_tests(tests, 0, 0);
}
