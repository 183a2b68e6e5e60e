/*
 * test_uuidset.c - unit tests for util/uuidset.c: mn_idset_t and mn_idmap_t against a
 * GLib hash table holding the same members (random ids, ids alike but for one byte, the
 * all-zero id), through growth, replaced values and clearing.  No server needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/uuidset.h"

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

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idset_matches_a_hash_table),
      cmocka_unit_test(test_idmap_matches_a_hash_table),
   };
   return cmocka_run_group_tests(tests, 0, 0);
}
