/*
 * rowset.c - the rows one document gives (convert_private.h has the layout): every value
 * in one text buffer, rows as runs of offsets into it, the document's rejects and
 * deferred references, and what is only counted once the document is accepted.
 */
#include "convert/convert_private.h"

#include <string.h>

mn_rowset_t *
mn_rowset_new(void)
{
   mn_rowset_t *rs = g_new0(mn_rowset_t, 1);

   rs->rows = g_array_new(FALSE, FALSE, sizeof(row_t));
   rs->values = g_array_new(FALSE, FALSE, sizeof(gssize));
   rs->text = g_string_new(NULL);
   rs->rejects = g_array_new(FALSE, FALSE, sizeof(reject_t));
   rs->deferred = g_array_new(FALSE, FALSE, sizeof(deferred_t));
   rs->coercions = g_array_new(FALSE, FALSE, sizeof(coercion_t));
   rs->scratch_docs = g_ptr_array_new_with_free_func((GDestroyNotify)bson_destroy);
   rs->scratch_strings = g_ptr_array_new_with_free_func(g_free);
   rs->pending_unique = g_ptr_array_new_with_free_func(g_free);
   rs->pending_unique_tables = g_array_new(FALSE, FALSE, sizeof(size_t));
   rs->refs = g_byte_array_new();
   return rs;
}

/* Rows kept allocated between documents: beyond, a document's arrays are given back. */
#define ROWSET_KEEP_ROWS 65536
#define ROWSET_KEEP_TEXT ((gsize)8 << 20)

/* No rows, and what only rows need (values, deferred references, pending coercions and
 * keys).  Arrays a large document grew are freed, not kept for the rest of the run. */
void
mn_rowset__drop_rows(mn_rowset_t *rs)
{
   if (rs->rows->len > ROWSET_KEEP_ROWS || rs->text->allocated_len > ROWSET_KEEP_TEXT) {
      g_array_free(rs->rows, TRUE);
      g_array_free(rs->values, TRUE);
      g_string_free(rs->text, TRUE);
      g_array_free(rs->deferred, TRUE);
      g_array_free(rs->coercions, TRUE);
      rs->rows = g_array_new(FALSE, FALSE, sizeof(row_t));
      rs->values = g_array_new(FALSE, FALSE, sizeof(gssize));
      rs->text = g_string_new(NULL);
      rs->deferred = g_array_new(FALSE, FALSE, sizeof(deferred_t));
      rs->coercions = g_array_new(FALSE, FALSE, sizeof(coercion_t));
   }
   g_array_set_size(rs->rows, 0);
   g_array_set_size(rs->values, 0);
   g_string_truncate(rs->text, 0);
   g_array_set_size(rs->deferred, 0);
   g_array_set_size(rs->coercions, 0);
   g_ptr_array_set_size(rs->pending_unique, 0);
   g_array_set_size(rs->pending_unique_tables, 0);
}

void
mn_rowset__clear(mn_rowset_t *rs)
{
   for (guint i = 0; i < rs->rejects->len; i++) {
      reject_t *r = &g_array_index(rs->rejects, reject_t, i);
      g_free(r->path);
      g_free(r->message);
   }
   g_array_set_size(rs->rejects, 0);
   mn_rowset__drop_rows(rs);
   if (rs->refs->len > ROWSET_KEEP_TEXT) {
      g_byte_array_free(rs->refs, TRUE);
      rs->refs = g_byte_array_new();
   }
   g_byte_array_set_size(rs->refs, 0);
   g_ptr_array_set_size(rs->scratch_docs, 0);
   g_ptr_array_set_size(rs->scratch_strings, 0);
   bson_free(rs->doc_id_json);
   rs->doc_id_json = NULL;
   memset(&rs->doc_id, 0, sizeof rs->doc_id);
}

void
mn_rowset_destroy(mn_rowset_t *rs)
{
   if (!rs) {
      return;
   }
   mn_rowset__clear(rs);
   g_array_free(rs->rows, TRUE);
   g_array_free(rs->values, TRUE);
   g_string_free(rs->text, TRUE);
   g_array_free(rs->rejects, TRUE);
   g_array_free(rs->deferred, TRUE);
   g_array_free(rs->coercions, TRUE);
   g_ptr_array_free(rs->scratch_docs, TRUE);
   g_ptr_array_free(rs->scratch_strings, TRUE);
   g_ptr_array_free(rs->pending_unique, TRUE);
   g_array_free(rs->pending_unique_tables, TRUE);
   g_byte_array_free(rs->refs, TRUE);
   g_free(rs);
}

const mn_uuid_t *
mn_rowset_doc_id(const mn_rowset_t *rs)
{
   return &rs->doc_id;
}

const char *
mn_rowset_doc_id_json(const mn_rowset_t *rs)
{
   return rs->doc_id_json ? rs->doc_id_json : "null";
}

size_t
mn_rowset_n_rows(const mn_rowset_t *rs)
{
   return rs->rows->len;
}

size_t
mn_rowset_row_table(const mn_rowset_t *rs, size_t i)
{
   return g_array_index(rs->rows, row_t, i).table;
}

const char *
mn_rowset_value(const mn_rowset_t *rs, size_t i, size_t column)
{
   const row_t *r = &g_array_index(rs->rows, row_t, i);
   gssize off;

   if (column >= r->n) {
      return NULL;
   }
   off = g_array_index(rs->values, gssize, r->first + column);
   return off < 0 ? NULL : rs->text->str + off;
}

const char *
mn_rowset_value_len(const mn_rowset_t *rs, size_t i, size_t column, size_t *len)
{
   const char *v = mn_rowset_value(rs, i, column);
   uint32_t n = 0;

   if (v) {
      memcpy(&n, v - sizeof n, sizeof n); /* set_text (convert.c) writes it before the text */
   }
   *len = n;
   return v;
}

size_t
mn_rowset_n_rejects(const mn_rowset_t *rs)
{
   return rs->rejects->len;
}

void
mn_rowset_reject(const mn_rowset_t *rs, size_t i, const char **path, const char **message)
{
   const reject_t *r = &g_array_index(rs->rejects, reject_t, i);
   *path = r->path;
   *message = r->message;
}

static int
compare_refs(const void *a, const void *b)
{
   return memcmp(a, b, MN_ROWSET_REF_SIZE);
}

void
mn_rowset__finish_refs(mn_rowset_t *rs)
{
   size_t n = rs->refs->len / MN_ROWSET_REF_SIZE, kept = 0;
   guint8 *d = rs->refs->data;

   if (n < 2) {
      return;
   }
   qsort(d, n, MN_ROWSET_REF_SIZE, compare_refs);
   for (size_t i = 0; i < n; i++) {
      if (kept && memcmp(d + (kept - 1) * MN_ROWSET_REF_SIZE, d + i * MN_ROWSET_REF_SIZE,
                         MN_ROWSET_REF_SIZE) == 0) {
         continue;
      }
      if (kept != i) {
         memcpy(d + kept * MN_ROWSET_REF_SIZE, d + i * MN_ROWSET_REF_SIZE, MN_ROWSET_REF_SIZE);
      }
      kept++;
   }
   g_byte_array_set_size(rs->refs, (guint)(kept * MN_ROWSET_REF_SIZE));
}

const uint8_t *
mn_rowset_refs(const mn_rowset_t *rs, size_t *len)
{
   *len = rs->refs->len;
   return rs->refs->data;
}

size_t
mn_rowset_n_deferred(const mn_rowset_t *rs)
{
   return rs->deferred->len;
}

void
mn_rowset_deferred(const mn_rowset_t *rs, size_t i, size_t *table, size_t *column,
                   const mn_uuid_t **row_id, const mn_uuid_t **ref_id, size_t *ref_table)
{
   const deferred_t *d = &g_array_index(rs->deferred, deferred_t, i);
   *ref_table = d->ref_table;
   *table = d->table;
   *column = d->column;
   *row_id = &d->row_id;
   *ref_id = &d->ref_id;
}
