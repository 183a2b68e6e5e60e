/*
 * uuidset.c - hash tables keyed by 16-byte row ids (see uuidset.h).
 */
#include "uuidset.h"

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
