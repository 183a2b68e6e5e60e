/*
 * strings.h - counted string arrays, as the plan, the catalog check and init keep them:
 * `char **strings` of `size_t n` bson_malloc'ed strings in a bson_malloc'ed array.
 */
#ifndef MN_UTIL_STRINGS_H
#define MN_UTIL_STRINGS_H

#include <bson/bson.h>
#include <stddef.h>

/** Free the n strings of a counted array and the array itself; NULL is allowed. */
static inline void
mn_strings__free(char **strings, size_t n)
{
   for (size_t i = 0; strings && i < n; i++) {
      bson_free(strings[i]);
   }
   bson_free(strings);
}

#endif /* MN_UTIL_STRINGS_H */
