/*
 * test_spillmap.c - unit tests for util/spillmap.c: random keys and values against a
 * reference GHashTable with budgets so small that every put spills and merges (gets,
 * replacements, foreach, clear, the all-zero key, keys in no run); and the error paths:
 * an unwritable TMPDIR fails the map with a message naming the directory while it keeps
 * answering right from memory.  No server needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/spillmap.h"
#include "util/uuidset.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* a key from a number: ObjectId-like (a rising part, a random part) or fully random */
static void
make_key(GRand *rng, uint32_t n, uint8_t key[16], bool random)
{
   for (int i = 0; i < 16; i++) {
      key[i] = (uint8_t)g_rand_int_range(rng, 0, 256);
   }
   if (!random) {
      key[0] = (uint8_t)(n >> 24), key[1] = (uint8_t)(n >> 16);
      key[2] = (uint8_t)(n >> 8), key[3] = (uint8_t)n;
      memset(key + 12, 0, 4);
   }
}

typedef struct {
   GHashTable *seen; /* key -> value copy: each key once */
   GHashTable *ref;
   size_t vsize;
   size_t calls;
} check_t;

static void
check_each(const uint8_t *key, const void *value, void *ctx)
{
   check_t *c = ctx;
   const uint8_t *want = g_hash_table_lookup(c->ref, key);

   c->calls++;
   assert_non_null(want);
   if (c->vsize) {
      assert_memory_equal(want, value, c->vsize);
   }
   assert_false(g_hash_table_contains(c->seen, key));
   g_hash_table_add(c->seen, g_memdup2(key, 16));
}

/* the map holds exactly ref: every key of ref and fresh keys looked up, and foreach */
static void
same_as_reference(mn_spillmap_t *m, GHashTable *ref, size_t vsize, GRand *rng)
{
   GHashTableIter it;
   gpointer k, v;
   uint8_t got[MN_SPILLMAP_MAX_VALUE];
   check_t c = {mn_uuid__table_new(NULL), ref, vsize, 0};

   g_hash_table_iter_init(&it, ref);
   while (g_hash_table_iter_next(&it, &k, &v)) {
      assert_true(mn_spillmap__get(m, k, got));
      if (vsize) {
         assert_memory_equal(got, v, vsize);
      }
   }
   for (int i = 0; i < 2000; i++) {
      uint8_t key[16];
      make_key(rng, (uint32_t)g_rand_int(rng), key, i % 2);
      assert_int_equal(mn_spillmap__get(m, key, NULL), g_hash_table_contains(ref, key));
   }
   mn_spillmap__foreach(m, check_each, &c);
   assert_int_equal(c.calls, g_hash_table_size(ref));
   g_hash_table_destroy(c.seen);
}

static void
random_against_reference(size_t vsize, size_t budget, bool random_keys, size_t n)
{
   GRand *rng = g_rand_new_with_seed((guint32)(vsize * 7 + budget + n));
   GHashTable *ref = mn_uuid__table_new(g_free);
   mn_spillmap_t *m = mn_spillmap__new(vsize, budget);
   GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
   mn_error_t err;

   for (size_t i = 0; i < n; i++) {
      uint8_t key[16], value[MN_SPILLMAP_MAX_VALUE];
      uint32_t r = g_rand_int(rng);
      if (i == n / 3) {
         memset(key, 0, 16); /* the all-zero key */
      } else if (keys->len && r % 4 == 0) {
         memcpy(key, g_ptr_array_index(keys, r / 4 % keys->len), 16); /* again */
      } else {
         make_key(rng, (uint32_t)i, key, random_keys);
         g_ptr_array_add(keys, g_memdup2(key, 16));
      }
      for (size_t b = 0; b < vsize; b++) {
         value[b] = (uint8_t)g_rand_int(rng);
      }
      if (vsize == 0) {
         assert_int_equal(mn_spillmap__add(m, key), !g_hash_table_contains(ref, key));
      } else {
         assert_int_equal(mn_spillmap__get(m, key, NULL), g_hash_table_contains(ref, key));
         mn_spillmap__put(m, key, value);
      }
      g_hash_table_replace(ref, g_memdup2(key, 16), g_memdup2(value, vsize ? vsize : 1));
      if (i % (n / 4) == 0) {
         same_as_reference(m, ref, vsize, rng);
      }
   }
   same_as_reference(m, ref, vsize, rng);
   assert_true(mn_spillmap__ok(m, &err));
   if (budget < 4096) {
      assert_true(mn_spillmap__runs(m) >= 1); /* it spilled ... */
      assert_true(mn_spillmap__runs(m) <= 9); /* ... and merged */
   }
   mn_spillmap__clear(m);
   assert_true(mn_spillmap__empty(m));
   assert_int_equal(mn_spillmap__runs(m), 0);
   g_hash_table_remove_all(ref);
   same_as_reference(m, ref, vsize, rng);
   mn_spillmap__destroy(m);
   g_hash_table_destroy(ref);
   g_ptr_array_free(keys, TRUE);
   g_rand_free(rng);
}

static void
test_set_spills(void **state)
{
   (void)state;
   random_against_reference(0, 1, false, 20000);
   random_against_reference(0, 1, true, 20000);
   random_against_reference(0, 20000, true, 30000);
}

static void
test_map_spills(void **state)
{
   (void)state;
   random_against_reference(16, 1, false, 20000);
   random_against_reference(1, 1, true, 20000);
   random_against_reference(16, 50000, true, 30000);
}

static void
test_in_memory(void **state)
{
   (void)state;
   random_against_reference(16, 64 << 20, true, 20000); /* never spills */
}

/* the directory is made under TMPDIR, 0700, and gone after destroy */
static void
test_directory(void **state)
{
   char *base = g_dir_make_tmp("mn-spill-XXXXXX", NULL);
   const char *old = getenv("TMPDIR");
   char *saved = old ? g_strdup(old) : NULL;
   mn_spillmap_t *m;
   GDir *d;
   const char *name;
   struct stat st;
   int entries = 0;

   (void)state;
   setenv("TMPDIR", base, 1);
   m = mn_spillmap__new(0, 1);
   for (uint32_t i = 1; i < 5000; i++) {
      uint8_t key[16] = {0};
      memcpy(key, &i, 4);
      mn_spillmap__add(m, key);
   }
   assert_true(mn_spillmap__ok(m, NULL));
   d = g_dir_open(base, 0, NULL);
   while ((name = g_dir_read_name(d))) {
      char *p = g_build_filename(base, name, NULL);
      assert_int_equal(stat(p, &st), 0);
      assert_int_equal(st.st_mode & 0777, 0700);
      assert_true(g_str_has_prefix(name, "mongonorm-sets-"));
      g_free(p);
      entries++;
   }
   g_dir_close(d);
   assert_int_equal(entries, 1);
   mn_spillmap__destroy(m);
   assert_int_equal(g_rmdir(base), 0); /* empty again */
   if (saved) {
      setenv("TMPDIR", saved, 1);
   } else {
      unsetenv("TMPDIR");
   }
   g_free(saved);
   g_free(base);
}

/* TMPDIR unwritable: the map fails naming it, and answers right from memory */
static void
test_unwritable_tmpdir(void **state)
{
   const char *old = getenv("TMPDIR");
   char *saved = old ? g_strdup(old) : NULL;
   const char *dir = "/nonexistent/mongonorm-test-dir";
   GRand *rng = g_rand_new_with_seed(5);
   GHashTable *ref = mn_uuid__table_new(g_free);
   mn_spillmap_t *m;
   mn_error_t err;

   (void)state;
   setenv("TMPDIR", dir, 1);
   m = mn_spillmap__new(16, 1);
   assert_true(mn_spillmap__ok(m, &err));
   for (uint32_t i = 0; i < 3000; i++) {
      uint8_t key[16], value[16];
      make_key(rng, i, key, true);
      memset(value, (int)(i & 0xff), 16);
      mn_spillmap__put(m, key, value);
      g_hash_table_replace(ref, g_memdup2(key, 16), g_memdup2(value, 16));
   }
   assert_false(mn_spillmap__ok(m, &err));
   assert_int_equal(err.domain, MN_ERROR_IO);
   assert_non_null(strstr(err.message, dir));
   assert_non_null(strstr(err.message, "TMPDIR"));
   assert_int_equal(mn_spillmap__runs(m), 0);
   same_as_reference(m, ref, 16, rng); /* nothing lost */
   mn_spillmap__destroy(m);
   if (saved) {
      setenv("TMPDIR", saved, 1);
   } else {
      unsetenv("TMPDIR");
   }
   g_free(saved);
   g_hash_table_destroy(ref);
   g_rand_free(rng);
}

static void
test_default_budget(void **state)
{
   (void)state;
   setenv("MN_SET_MEMORY", "64K", 1);
   assert_int_equal(mn_spillmap__default_budget(), 64 << 10);
   setenv("MN_SET_MEMORY", "1000", 1);
   assert_int_equal(mn_spillmap__default_budget(), 1000);
   setenv("MN_SET_MEMORY", "2M", 1);
   assert_int_equal(mn_spillmap__default_budget(), 2 << 20);
   setenv("MN_SET_MEMORY", "lots", 1);
   assert_int_equal(mn_spillmap__default_budget(), 2 << 20);
   unsetenv("MN_SET_MEMORY");
   assert_int_equal(mn_spillmap__default_budget(), 2 << 20);
}

/* every test spills under a TMPDIR of its own, removed at the end (a failed assertion
 * skips a map's destroy: its empty directory stays there, not in /tmp) */
static char *tmpdir;

static int
group_setup(void **state)
{
   (void)state;
   tmpdir = g_dir_make_tmp("mn-spill-tests-XXXXXX", NULL);
   setenv("TMPDIR", tmpdir, 1);
   return tmpdir ? 0 : -1;
}

static int
group_teardown(void **state)
{
   char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);

   (void)state;
   if (system(cmd) != 0) {
      g_free(cmd);
      return -1;
   }
   g_free(cmd);
   g_free(tmpdir);
   return 0;
}

int
main(void)
{
   const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_spills),        cmocka_unit_test(test_map_spills),
      cmocka_unit_test(test_in_memory),         cmocka_unit_test(test_directory),
      cmocka_unit_test(test_unwritable_tmpdir), cmocka_unit_test(test_default_budget),
   };
   return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
