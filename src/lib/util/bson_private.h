/*
 * bson_private.h - copying a source value into a new BSON document, inside the library.
 */
#ifndef MN_BSON_PRIVATE_H
#define MN_BSON_PRIVATE_H

#include <bson/bson.h>

/**
 * bson_append_iter(), but an array is copied byte for byte without libbson's check of its
 * keys: bson_append_array() prints "invalid array detected" on stderr (and nothing else)
 * when an array's first key is not "0", which a source document can hold (the converter
 * rejects such a document, after its _id has been read for the records and the reject
 * file).  Same arguments and result as bson_append_iter().
 */
static inline bool
mn_bson__append_iter(bson_t *b, const char *key, int key_len, const bson_iter_t *it)
{
   const uint8_t *data = NULL;
   uint32_t len = 0;
   bson_t items;
   bson_t child;
   bool ok;

   if (!BSON_ITER_HOLDS_ARRAY(it)) {
      return bson_append_iter(b, key, key_len, it);
   }
   bson_iter_array(it, &len, &data);
   if (!data || !bson_init_static(&items, data, len) ||
       !bson_append_array_begin(b, key, key_len, &child)) {
      return false;
   }
   ok = bson_concat(&child, &items); /* the elements as they are */
   return bson_append_array_end(b, &child) && ok;
}

#endif
