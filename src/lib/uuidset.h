/*
 * uuidset.h - GLib hash tables keyed by 16-byte row ids (convert, state, run).
 */
#ifndef MN_UUIDSET_H
#define MN_UUIDSET_H

#include <glib.h>

/** Hash of a 16-byte id (ObjectId-derived ids vary most in their last ObjectId bytes). */
guint mn_uuid__hash(gconstpointer key);

/** Equality of two 16-byte ids. */
gboolean mn_uuid__equal(gconstpointer a, gconstpointer b);

/** A table whose keys are g_malloc'ed 16-byte ids (freed with it); values as given. */
GHashTable *mn_uuid__table_new(GDestroyNotify value_free);

#endif
