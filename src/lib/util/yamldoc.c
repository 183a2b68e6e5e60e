/*
 * yamldoc.c - shared YAML reading with line numbers (see yamldoc.h).
 */
#include "util/yamldoc.h"

#include <bson/bson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One scalar key of a mapping, for the duplicate check. */
typedef struct {
   const char *text;
   size_t len;
   const yaml_mark_t *mark;
   size_t order; /* position in the mapping */
} yamlkey_t;

static int
cmp_key(const void *a, const void *b)
{
   const yamlkey_t *x = a, *y = b;
   int c;

   if (x->len != y->len) {
      return x->len < y->len ? -1 : 1;
   }
   if ((c = memcmp(x->text, y->text, x->len)) != 0) {
      return c;
   }
   return x->order < y->order ? -1 : x->order > y->order;
}

/* Whether mark a comes before mark b in the file. */
static bool
mark_before(const yaml_mark_t *a, const yaml_mark_t *b)
{
   return a->line != b->line ? a->line < b->line : a->column < b->column;
}

/*
 * A key given twice in one mapping: libyaml keeps both pairs and every lookup would take
 * the first, so `on_invalid: null` followed by `on_invalid: reject` would silently mean
 * null.  Keys are compared by their text (a quoted "1" and a plain 1 are the same key to
 * the readers of these files).  Reports the duplicate that comes first in the file.
 * Sorting keeps a mapping of n keys at O(n log n), whatever the file.
 */
static bool
check_duplicate_keys(mn_yamldoc_t *y)
{
   const yaml_mark_t *first = NULL, *second = NULL;
   yamlkey_t *keys = NULL;
   size_t cap = 0;
   char *text = NULL;

   for (yaml_node_t *n = y->doc.nodes.start; n < y->doc.nodes.top; n++) {
      size_t np, nk = 0;

      if (n->type != YAML_MAPPING_NODE) {
         continue;
      }
      np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
      if (np < 2) {
         continue;
      }
      if (np > cap) {
         cap = np;
         keys = bson_realloc(keys, cap * sizeof *keys);
      }
      for (size_t i = 0; i < np; i++) {
         yaml_node_t *k = mn_yaml__node(y, n->data.mapping.pairs.start[i].key);
         if (k && k->type == YAML_SCALAR_NODE) {
            keys[nk].text = (const char *)k->data.scalar.value;
            keys[nk].len = k->data.scalar.length;
            keys[nk].mark = &k->start_mark;
            keys[nk].order = i;
            nk++;
         }
      }
      qsort(keys, nk, sizeof *keys, cmp_key);
      for (size_t i = 1; i < nk; i++) {
         /* keys[i - 1] and keys[i] equal: keys[i] is the second of its group only when
          * keys[i - 2] differs, and the group's first is keys[i - 1] */
         if (keys[i].len == keys[i - 1].len &&
             memcmp(keys[i].text, keys[i - 1].text, keys[i].len) == 0 &&
             (i < 2 || keys[i - 2].len != keys[i].len ||
              memcmp(keys[i - 2].text, keys[i].text, keys[i].len) != 0) &&
             (!second || mark_before(keys[i].mark, second))) {
            first = keys[i - 1].mark;
            second = keys[i].mark;
            bson_free(text);
            text = bson_strndup(keys[i].text, keys[i].len);
         }
      }
   }
   if (second) {
      mn_set_error(y->error, MN_ERROR_MAPPING, MN_MAPPING_BAD_VALUE,
                   "%s \"%s\", line %d: key \"%.200s\" is given twice (first at line %d)", y->what,
                   y->name, (int)second->line + 1, text, (int)first->line + 1);
   }
   bson_free(text);
   bson_free(keys);
   return second == NULL;
}

bool
mn_yaml__parse(mn_yamldoc_t *y, const char *text, size_t len)
{
   yaml_parser_t parser;
   bool ok;

   if (!yaml_parser_initialize(&parser)) {
      mn_set_error(y->error, MN_ERROR_MAPPING, MN_MAPPING_SYNTAX,
                   "could not initialise the YAML parser");
      return false;
   }
   yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
   ok = yaml_parser_load(&parser, &y->doc);
   if (!ok) {
      mn_set_error(y->error, MN_ERROR_MAPPING, MN_MAPPING_SYNTAX, "%s \"%s\", line %d: %s%s%s",
                   y->what, y->name, (int)(parser.problem_mark.line + 1),
                   parser.problem ? parser.problem : "invalid YAML", parser.context ? " " : "",
                   parser.context ? parser.context : "");
   }
   y->loaded = ok;
   yaml_parser_delete(&parser);
   if (ok && !check_duplicate_keys(y)) {
      mn_yaml__cleanup(y);
      ok = false;
   }
   return ok;
}

void
mn_yaml__cleanup(mn_yamldoc_t *y)
{
   if (y->loaded) {
      yaml_document_delete(&y->doc);
      y->loaded = false;
   }
}

void
mn_yaml__fail(mn_yamldoc_t *y, uint32_t code, const yaml_node_t *at, const char *fmt, ...)
{
   char msg[MN_ERROR_MESSAGE_SIZE];
   va_list ap;

   va_start(ap, fmt);
   vsnprintf(msg, sizeof msg, fmt, ap);
   va_end(ap);
   if (at) {
      mn_set_error(y->error, MN_ERROR_MAPPING, code, "%s \"%s\", line %d: %s", y->what, y->name,
                   MN_YAML_LINE(at), msg);
   } else {
      mn_set_error(y->error, MN_ERROR_MAPPING, code, "%s \"%s\": %s", y->what, y->name, msg);
   }
}

yaml_node_t *
mn_yaml__node(mn_yamldoc_t *y, int index)
{
   return yaml_document_get_node(&y->doc, index);
}

const char *
mn_yaml__scalar(const yaml_node_t *n)
{
   return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

yaml_node_t *
mn_yaml__get(mn_yamldoc_t *y, yaml_node_t *n, const char *key)
{
   if (!n || n->type != YAML_MAPPING_NODE) {
      return NULL;
   }
   for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      const char *k = mn_yaml__scalar(mn_yaml__node(y, p->key));
      if (k && strcmp(k, key) == 0) {
         return mn_yaml__node(y, p->value);
      }
   }
   return NULL;
}

bool
mn_yaml__expect(mn_yamldoc_t *y, yaml_node_t *n, yaml_node_type_t kind, const char *what)
{
   static const char *names[] = {"nothing", "a scalar", "a list", "a mapping"};

   if (n->type != kind) {
      mn_yaml__fail(y, MN_MAPPING_BAD_VALUE, n, "%s must be %s", what, names[kind]);
      return false;
   }
   return true;
}

bool
mn_yaml__check_keys(mn_yamldoc_t *y, yaml_node_t *n, const char *const *allowed, const char *where)
{
   for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *kn = mn_yaml__node(y, p->key);
      const char *k = mn_yaml__scalar(kn);
      bool ok = false;

      if (!k) {
         mn_yaml__fail(y, MN_MAPPING_BAD_VALUE, kn, "keys must be scalars in %s", where);
         return false;
      }
      for (const char *const *a = allowed; *a && !ok; a++) {
         ok = strcmp(*a, k) == 0;
      }
      if (!ok) {
         mn_yaml__fail(y, MN_MAPPING_UNKNOWN_KEY, kn, "unknown key \"%s\" in %s", k, where);
         return false;
      }
   }
   return true;
}

size_t
mn_yaml__n_items(const yaml_node_t *n)
{
   return n && n->type == YAML_SEQUENCE_NODE
             ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
             : 0;
}

bool
mn_yaml__strings(mn_yamldoc_t *y, const yaml_node_t *seq, bool allow_empty, const char *message,
                 char ***out, size_t *n)
{
   size_t count = mn_yaml__n_items(seq);

   *out = bson_malloc0(sizeof(char *) * (count + 1));
   for (size_t i = 0; i < count; i++) {
      yaml_node_t *item = mn_yaml__node(y, seq->data.sequence.items.start[i]);
      const char *text = mn_yaml__scalar(item);

      if (!text || (!allow_empty && !*text)) {
         mn_yaml__fail(y, MN_MAPPING_BAD_VALUE, item, "%s", message);
         return false;
      }
      (*out)[i] = bson_strdup(text);
      *n = i + 1;
   }
   return true;
}
