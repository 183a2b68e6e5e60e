/*
 * yaml_out.c - the draft as a mapping file.  Written as text, not through an emitter,
 * because it carries comments (the REVIEW notes); every name and path goes through
 * mn_infer_yaml_scalar(), which tests/test_infer.c checks by parsing its output back.
 */
#include "infer/infer_private.h"

#include <string.h>

/* Plain scalars that a YAML 1.1 reader could take for something other than text. */
static bool
looks_special(const char *s, size_t len)
{
   static const char *const words[] = {"true", "false", "yes", "no", "on",
                                       "off",  "null",  "y",   "n",  "~"};
   char *end = NULL;
   char buf[64];

   for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
      if (len == strlen(words[i]) && g_ascii_strncasecmp(s, words[i], len) == 0) {
         return true;
      }
   }
   if (len >= sizeof buf) {
      return false;
   }
   memcpy(buf, s, len);
   buf[len] = '\0';
   (void)g_ascii_strtod(buf, &end);
   return end && *end == '\0' && len > 0;
}

char *
mn_infer_yaml_scalar(const char *text, size_t len)
{
   bool plain = len > 0 && !looks_special(text, len) && text[0] != '-' && text[0] != '.';
   GString *out;
   char *r;

   for (size_t i = 0; plain && i < len; i++) {
      char c = text[i];
      plain = g_ascii_isalnum(c) || c == '_' || c == '$' || c == '.' || c == '-';
   }
   if (plain) {
      return bson_strndup(text, len);
   }
   out = g_string_new("\"");
   for (size_t i = 0; i < len; i++) {
      unsigned char c = (unsigned char)text[i];
      if (c == '"' || c == '\\') {
         g_string_append_c(out, '\\');
         g_string_append_c(out, (char)c);
      } else if (c < 0x20 || c == 0x7f) {
         g_string_append_printf(out, "\\x%02x", c);
      } else {
         g_string_append_c(out, (char)c); /* UTF-8 as it is */
      }
   }
   g_string_append_c(out, '"');
   r = bson_strdup(out->str);
   g_string_free(out, TRUE);
   return r;
}

static void
put_scalar(GString *out, const char *text)
{
   char *q = mn_infer_yaml_scalar(text, strlen(text));

   g_string_append(out, q);
   bson_free(q);
}

static void
put_column(GString *out, const mn_infer__col_t *c, const char *indent)
{
   g_string_append(out, indent);
   put_scalar(out, c->name);
   if (c->src == MN_INFER__SRC_VALUE) {
      g_string_append_printf(out, ": {value: %s", c->path);
   } else {
      g_string_append(out, ": {path: ");
      put_scalar(out, c->path);
      g_string_append_printf(out, ", type: %s", c->type);
   }
   if (c->references) {
      g_string_append(out, ", references: ");
      put_scalar(out, c->references);
      g_string_append(out, ", on_missing_reference: null");
   }
   if (c->lenient) {
      g_string_append(out, ", on_invalid: null");
   }
   if (c->raw_to) {
      g_string_append(out, ", raw_to: ");
      put_scalar(out, c->raw_to);
   }
   g_string_append_c(out, '}');
   if (c->comment) {
      g_string_append_printf(out, "  # %s%s", c->review ? "REVIEW: " : "", c->comment);
   }
   g_string_append_c(out, '\n');
}

/* A type's name as `shapes:` spells it. */
static const char *
shape_name(int slot)
{
   if (slot == mn_infer__slot(BSON_TYPE_INT32)) {
      return "int";
   }
   if (slot == mn_infer__slot(BSON_TYPE_INT64)) {
      return "long";
   }
   return mn_infer__type_name(slot);
}

/* The shapes of a table: `shapes:` with one block per element type that has columns, and
 * the `document` one whenever the elements have sub-documents (`document: {}` when all
 * their fields went elsewhere: an undeclared shape would reject the document). */
static void
put_shapes(GString *out, const mn_infer__table_t *t)
{
   bool any = false;

   for (int s = 0; s < MN_INFER__N_TYPES; s++) {
      bool header = false;
      if (t->doc_shape && s == mn_infer__slot(BSON_TYPE_DOCUMENT)) {
         bool has = false;
         for (guint i = 0; i < t->cols->len && !has; i++) {
            has = ((const mn_infer__col_t *)g_ptr_array_index(t->cols, i))->shape == s;
         }
         if (!has) {
            g_string_append_printf(out, "%s          document: {}\n",
                                   any ? "" : "        shapes:\n");
            any = true;
            continue;
         }
      }
      for (guint i = 0; i < t->cols->len; i++) {
         const mn_infer__col_t *c = g_ptr_array_index(t->cols, i);
         if (c->shape != s) {
            continue;
         }
         if (!any) {
            g_string_append(out, "        shapes:\n");
            any = true;
         }
         if (!header) {
            g_string_append_printf(out, "          %s:\n", shape_name(s));
            header = true;
         }
         put_column(out, c, "            ");
      }
   }
   if (t->skip_other) {
      g_string_append(out, "        on_other_shape: skip_row\n");
   }
}

static void
put_table(GString *out, const mn_infer__dcoll_t *dc, const mn_infer__table_t *t)
{
   g_string_append(out, "      - table: ");
   put_scalar(out, t->table);
   g_string_append_c(out, '\n');
   for (guint i = 0; i < t->notes->len; i++) {
      g_string_append_printf(out, "        # %s\n", (const char *)g_ptr_array_index(t->notes, i));
   }
   if (t->parent > 0) {
      g_string_append(out, "        parent: ");
      put_scalar(out, ((const mn_infer__table_t *)g_ptr_array_index(dc->tables, t->parent))->table);
      g_string_append_c(out, '\n');
   }
   if (t->each) {
      g_string_append(out, "        each: ");
      put_scalar(out, t->each);
      g_string_append_c(out, '\n');
   }
   if (t->map) {
      g_string_append(out, "        each_as: map\n");
   }
   if (t->single) {
      g_string_append(out, "        on_scalar: single\n");
   }
   g_string_append(out, t->cols->len ? "        columns:\n" : "        columns: {}\n");
   for (guint i = 0; i < t->cols->len; i++) {
      const mn_infer__col_t *c = g_ptr_array_index(t->cols, i);
      if (c->shape < 0) {
         put_column(out, c, "          ");
      }
   }
   put_shapes(out, t);
   if (t->unmapped_to) {
      g_string_append(out, "        unmapped_to: ");
      put_scalar(out, t->unmapped_to);
      g_string_append_c(out, '\n');
   }
}

static void
put_collection(GString *out, const mn_infer__dcoll_t *dc)
{
   g_string_append(out, "  - collection: ");
   put_scalar(out, dc->coll->name);
   g_string_append_printf(out, "  # %" G_GUINT64_FORMAT " documents surveyed\n",
                          dc->coll->documents);
   for (guint i = 0; i < dc->notes->len; i++) {
      g_string_append_printf(out, "    # %s\n", (const char *)g_ptr_array_index(dc->notes, i));
   }
   if (dc->ignore->len) {
      g_string_append(out, "    ignore:\n");
      for (guint i = 0; i < dc->ignore->len; i++) {
         const char *note = g_ptr_array_index(dc->ignore_notes, i);
         g_string_append(out, "      - ");
         put_scalar(out, g_ptr_array_index(dc->ignore, i));
         if (note) {
            g_string_append_printf(out, "  # %s", note);
         }
         g_string_append_c(out, '\n');
      }
   }
   g_string_append(out, "    tables:\n");
   for (guint i = 0; i < dc->tables->len; i++) {
      put_table(out, dc, g_ptr_array_index(dc->tables, i));
   }
}

char *
mn_infer_draft_yaml(const mn_infer_draft_t *draft)
{
   GString *out = g_string_new(NULL);
   char *r;

   g_string_append_printf(out,
                          "# Drafted by `mongonorm infer` from %" G_GUINT64_FORMAT
                          " documents of %u collections: %" G_GSIZE_FORMAT
                          " tables, %" G_GSIZE_FORMAT " REVIEW notes.\n"
                          "# Read every REVIEW note before the first load (docs/infer.md).\n",
                          draft->survey->documents, draft->survey->colls->len, draft->n_tables,
                          draft->reviews);
   g_string_append(out, "version: 1\nsql_dir: sql\ncollections:\n");
   for (guint i = 0; i < draft->colls->len; i++) {
      put_collection(out, g_ptr_array_index(draft->colls, i));
   }
   r = bson_strdup(out->str);
   g_string_free(out, TRUE);
   return r;
}
