/*
 * shape.c - what libbson's validation does not check in a document: nesting depth, a
 * field name twice in one sub-document, array keys out of order.  One walk with an
 * explicit stack of iterators, no recursion, and no allocation per document.  And a quick
 * proof, for the plain documents most are, that these checks and libbson's validation
 * would pass them (mn_shape__surely_fine), which then need not walk them at all.
 */
#include "convert/convert_private.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void
mn_shape__init(mn_shape_check_t *sc)
{
   void *mem = NULL;

   sc->keys_cap = 64;
   sc->keys = g_new0(mn_key_slot_t, sc->keys_cap);
   sc->key_gen = 0;
   /* bson_iter_t is declared 128-byte aligned: malloc's alignment is not enough */
   if (posix_memalign(&mem, _Alignof(mn_iter_slot_t),
                      (MN_MAX_DEPTH + 1) * sizeof(mn_iter_slot_t)) != 0) {
      abort();
   }
   sc->stack = mem;
   sc->real = g_string_new(NULL);
   sc->shown = g_string_new(NULL);
   sc->reason = g_string_new(NULL);
}

void
mn_shape__cleanup(mn_shape_check_t *sc)
{
   g_free(sc->keys);
   free(sc->stack);
   g_string_free(sc->real, TRUE);
   g_string_free(sc->shown, TRUE);
   g_string_free(sc->reason, TRUE);
}

/*
 * Whether no sub-document or array of doc is nested deeper than max levels, checked with
 * an explicit stack of iterators, not recursion: libbson's validation recurses, and a
 * document nested 10,000 levels deep overflows the stack.  bson_iter bounds-checks every
 * length, so this is safe on bytes that do not validate (it stops where they break; the
 * validation that follows judges them).
 */
bool
mn_shape__depth_within(const bson_t *doc, int max)
{
   void *mem = NULL;
   mn_iter_slot_t *stack;
   int depth = 0;
   bool ok = true;

   /* bson_iter_t is declared 128-byte aligned: malloc's alignment is not enough */
   if (posix_memalign(&mem, _Alignof(mn_iter_slot_t), (size_t)(max + 1) * sizeof(mn_iter_slot_t)) !=
       0) {
      abort();
   }
   stack = mem;
   if (!bson_iter_init(&stack[0].it, doc)) {
      free(mem);
      return true;
   }
   while (depth >= 0) {
      if (!bson_iter_next(&stack[depth].it)) {
         depth--;
         continue;
      }
      if (BSON_ITER_HOLDS_DOCUMENT(&stack[depth].it) || BSON_ITER_HOLDS_ARRAY(&stack[depth].it)) {
         if (depth + 1 >= max) {
            ok = false;
            break;
         }
         if (bson_iter_recurse(&stack[depth].it, &stack[depth + 1].it)) {
            depth++;
         }
      }
   }
   free(mem);
   return ok;
}

/* Whether the fields of the sub-document at `start` (before its first element) have
 * distinct names; on false *dup is the second occurrence.  Linear: one hash probe per
 * field in the converter's table, which grows (is allocated) only for a sub-document with
 * more fields than any before it, never per field or per document. */
static bool
names_distinct(mn_shape_check_t *sc, const bson_iter_t *start, bson_iter_t *dup)
{
   bson_iter_t it;
   size_t n;

again:
   it = *start;
   n = 0;
   if (++sc->key_gen == 0) {
      /* wrapped around: every slot looks fresh again */
      memset(sc->keys, 0, sc->keys_cap * sizeof *sc->keys);
      sc->key_gen = 1;
   }
   while (bson_iter_next(&it)) {
      const char *key = bson_iter_key(&it);
      uint32_t len = bson_iter_key_len(&it);
      uint32_t h = 2166136261u; /* FNV-1a */
      size_t mask = sc->keys_cap - 1;

      if (++n > sc->keys_cap / 2) {
         /* keep the load at most 1/2: a table twice as large, and this sub-document again */
         g_free(sc->keys);
         sc->keys_cap *= 2;
         sc->keys = g_new0(mn_key_slot_t, sc->keys_cap);
         sc->key_gen = 0;
         goto again;
      }
      for (uint32_t k = 0; k < len; k++) {
         h = (h ^ (uint8_t)key[k]) * 16777619u;
      }
      for (size_t i = h & mask;; i = (i + 1) & mask) {
         mn_key_slot_t *slot = &sc->keys[i];

         if (slot->gen != sc->key_gen) {
            slot->key = key;
            slot->len = len;
            slot->gen = sc->key_gen;
            break;
         }
         if (slot->len == len && memcmp(slot->key, key, len) == 0) {
            *dup = it;
            return false;
         }
      }
   }
   return true;
}

/* Whether key is the decimal text of index, as BSON array keys must be ("0", "1", ...). */
static bool
is_index_key(const char *key, uint32_t len, uint32_t index)
{
   uint64_t v = 0;

   if (len == 0 || len > 10 || (len > 1 && key[0] == '0')) {
      return false;
   }
   for (uint32_t k = 0; k < len; k++) {
      if (key[k] < '0' || key[k] > '9') {
         return false;
      }
      v = v * 10 + (uint64_t)(key[k] - '0');
   }
   return v == index;
}

/*
 * The path of the element stack[depth] is on, for a reject: `real` as written, and
 * `shown` with every key that looks like data (mn_stats_drift_key_is_data: a patient's
 * name as a key) as MN_STATS_DRIFT_KEY, since a reject's path is counted in the
 * statistics as it is, while its message's quoted parts are blanked there.
 */
static void
shape_path(const mn_iter_slot_t *stack, const bool *is_array, int depth, GString *real,
           GString *shown)
{
   for (int d = 0; d <= depth; d++) {
      const char *key = bson_iter_key(&stack[d].it);
      uint32_t len = bson_iter_key_len(&stack[d].it);

      if (d) {
         g_string_append_c(real, '.');
         g_string_append_c(shown, '.');
      }
      g_string_append_len(real, key, len);
      if (!is_array[d] && mn_stats_drift_key_is_data(key, len)) {
         g_string_append(shown, MN_STATS_DRIFT_KEY);
      } else {
         g_string_append_len(shown, key, len);
      }
   }
}

/*
 * One walk over the document, with an explicit stack of iterators (no recursion: see
 * mn_shape__depth_within), checking what libbson's validation does not:
 *  - nesting deeper than MN_MAX_DEPTH (checked first, before libbson's validation,
 *    which recurses);
 *  - a field name twice in one (sub-)document ({"a": 1, "a": 2}, possible in a BSON
 *    file and in JSON, which libbson parses as written): every reader keeps one value
 *    and drops the other without a word, so which one is meant is unknown;
 *  - array keys other than "0", "1", ... in order: BSON says they are, readers go by
 *    position or by key, and libbson prints a warning on stderr when such an array is
 *    copied.
 * Safe on bytes that do not validate (bson_iter bounds-checks every length).  The first
 * problem stops the walk: the path to reject at goes into shown (see shape_path), the
 * reason into reason (both emptied first).
 */
mn_shape_problem_t
mn_shape__check(mn_shape_check_t *sc, const bson_t *doc)
{
   GString *shown = sc->shown, *reason = sc->reason;
   mn_iter_slot_t *stack = sc->stack;
   bool *is_array = sc->is_array;
   uint32_t *index = sc->index;
   bson_iter_t dup;
   int depth = 0;

   g_string_truncate(sc->real, 0);
   g_string_truncate(shown, 0);
   g_string_truncate(reason, 0);
   if (!bson_iter_init(&stack[0].it, doc)) {
      return MN_SHAPE_OK;
   }
   is_array[0] = false;
   if (!names_distinct(sc, &stack[0].it, &dup)) {
      stack[0].it = dup;
      goto duplicate;
   }
   while (depth >= 0) {
      bool doc_child, array_child;

      if (!bson_iter_next(&stack[depth].it)) {
         depth--;
         continue;
      }
      if (is_array[depth] && !is_index_key(bson_iter_key(&stack[depth].it),
                                           bson_iter_key_len(&stack[depth].it), index[depth]++)) {
         shape_path(stack, is_array, depth - 1, sc->real, shown);
         g_string_append_printf(reason, "array element %" PRIu32 " has key \"", index[depth] - 1);
         g_string_append_len(reason, bson_iter_key(&stack[depth].it),
                             (gssize)bson_iter_key_len(&stack[depth].it));
         g_string_append(reason, "\", not its index (BSON array keys are 0, 1, 2, ... in order)");
         return MN_SHAPE_ARRAY_KEY;
      }
      doc_child = BSON_ITER_HOLDS_DOCUMENT(&stack[depth].it);
      array_child = BSON_ITER_HOLDS_ARRAY(&stack[depth].it);
      if (!doc_child && !array_child) {
         continue;
      }
      if (depth + 1 >= MN_MAX_DEPTH) {
         return MN_SHAPE_TOO_DEEP;
      }
      if (!bson_iter_recurse(&stack[depth].it, &stack[depth + 1].it)) {
         continue;
      }
      depth++;
      is_array[depth] = array_child;
      index[depth] = 0;
      if (doc_child && !names_distinct(sc, &stack[depth].it, &dup)) {
         stack[depth].it = dup;
         goto duplicate;
      }
   }
   return MN_SHAPE_OK;

duplicate:
   shape_path(stack, is_array, depth, sc->real, shown);
   g_string_append_printf(reason,
                          "duplicate field \"%s\" (the name appears twice: which value is meant "
                          "cannot be told)",
                          sc->real->str);
   return MN_SHAPE_DUPLICATE;
}

/* ---- a quick proof that the document is fine ---- */

#define SURE_MAX_DEPTH 100 /* deeper: not sure (the full checks decide) */

static uint32_t
le32(const uint8_t *p)
{
   return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Bytes of a value of fixed size after its key, by type; -1: not fixed (or not plain). */
static int
fixed_size(uint8_t type)
{
   switch (type) {
   case BSON_TYPE_DOUBLE:
   case BSON_TYPE_DATE_TIME:
   case BSON_TYPE_TIMESTAMP:
   case BSON_TYPE_INT64: return 8;
   case BSON_TYPE_INT32: return 4;
   case BSON_TYPE_DECIMAL128: return 16;
   case BSON_TYPE_OID: return 12;
   case BSON_TYPE_NULL: return 0;
   case BSON_TYPE_BOOL: return 1;
   default: return -1;
   }
}

/* The size of a value the first pass proved plain and framed (surely_value). */
static uint32_t
framed_size(uint8_t type, const uint8_t *p)
{
   int fixed = fixed_size(type);

   if (fixed >= 0) {
      return (uint32_t)fixed;
   }
   return le32(p) + (type == BSON_TYPE_UTF8 ? 4 : type == BSON_TYPE_BINARY ? 5 : 0);
}

/*
 * The value of type `type` at p (end: the containing document's final 0 byte): its size
 * into *size, when it is plain and well-formed (see mn_shape__surely_fine).  A document
 * or array is only framed here (a header of at least 5 bytes that fits); its contents are
 * proved by the caller's second pass.
 */
static bool
surely_value(uint8_t type, const uint8_t *p, const uint8_t *end, uint32_t *size)
{
   size_t room = (size_t)(end - p);
   int fixed = fixed_size(type);
   uint32_t l;

   if (fixed >= 0) {
      *size = (uint32_t)fixed;
      return room >= (size_t)fixed && (type != BSON_TYPE_BOOL || p[0] <= 1);
   }
   if (room < 5) {
      return false;
   }
   l = le32(p);
   switch (type) {
   case BSON_TYPE_UTF8:
      /* length with its final NUL, which must be the only one */
      *size = 4 + l;
      return l >= 1 && l <= room - 4 && p[4 + l - 1] == 0 && !memchr(p + 4, 0, l - 1) &&
             mn_convert__utf8_valid((const char *)p + 4, l - 1);
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY: *size = l; return l >= 5 && l <= room;
   case BSON_TYPE_BINARY:
      *size = 5 + l;
      return l <= room - 5 && l <= INT32_MAX && p[4] != BSON_SUBTYPE_BINARY_DEPRECATED;
   default: return false;
   }
}

/* Whether key (len bytes) is new among the names of the sub-document whose generation
 * of sc's table is current (names_distinct's table; false also when it is full). */
static bool
surely_new_name(mn_shape_check_t *sc, const char *key, uint32_t len, size_t *n)
{
   uint32_t h = 2166136261u; /* FNV-1a */
   size_t mask = sc->keys_cap - 1;

   if (++*n > sc->keys_cap / 2) {
      return false; /* a wider sub-document than the table holds: not sure */
   }
   for (uint32_t k = 0; k < len; k++) {
      h = (h ^ (uint8_t)key[k]) * 16777619u;
   }
   for (size_t i = h & mask;; i = (i + 1) & mask) {
      mn_key_slot_t *slot = &sc->keys[i];
      if (slot->gen != sc->key_gen) {
         slot->key = key;
         slot->len = len;
         slot->gen = sc->key_gen;
         return true;
      }
      if (slot->len == len && memcmp(slot->key, key, len) == 0) {
         return false;
      }
   }
}

/*
 * One pass over the elements of the (sub-)document at p, len bytes, without descending:
 * every element plain and framed exactly up to its final 0 byte, keys well-formed UTF-8,
 * an array's keys its indexes in order, a document's names distinct.
 */
static bool
surely_elements(mn_shape_check_t *sc, const uint8_t *p, uint32_t len, bool is_array)
{
   const uint8_t *end = p + len - 1; /* the final 0 */
   const uint8_t *q = p + 4;
   uint32_t index = 0;
   size_t names = 0;

   if (len < 5 || le32(p) != len || *end != 0) {
      return false;
   }
   if (!is_array && ++sc->key_gen == 0) {
      memset(sc->keys, 0, sc->keys_cap * sizeof *sc->keys);
      sc->key_gen = 1;
   }
   while (q < end) {
      uint8_t type = *q++;
      const char *key = (const char *)q;
      const uint8_t *nul = memchr(q, 0, (size_t)(end - q));
      uint32_t size, klen;
      if (type == 0 || !nul) {
         return false;
      }
      klen = (uint32_t)(nul - q);
      if (is_array
             ? !is_index_key(key, klen, index++)
             : !mn_convert__utf8_valid(key, klen) || !surely_new_name(sc, key, klen, &names)) {
         return false;
      }
      q = nul + 1;
      if (!surely_value(type, q, end, &size)) {
         return false;
      }
      q += size;
   }
   return q == end;
}

/* The (sub-)document at p, len bytes, and below it (surely_elements, then each child). */
static bool
surely_doc(mn_shape_check_t *sc, const uint8_t *p, uint32_t len, bool is_array, int depth)
{
   const uint8_t *end = p + len - 1;
   const uint8_t *q = p + 4;

   if (depth > SURE_MAX_DEPTH || !surely_elements(sc, p, len, is_array)) {
      return false;
   }
   while (q < end) {
      uint8_t type = *q++;
      uint32_t size;
      q += strlen((const char *)q) + 1;
      size = framed_size(type, q); /* the first pass proved it fits */
      if ((type == BSON_TYPE_DOCUMENT || type == BSON_TYPE_ARRAY) &&
          !surely_doc(sc, q, size, type == BSON_TYPE_ARRAY, depth + 1)) {
         return false;
      }
      q += size;
   }
   return true;
}

bool
mn_shape__surely_fine(mn_shape_check_t *sc, const bson_t *doc)
{
   return surely_doc(sc, bson_get_data(doc), doc->len, false, 0);
}
