/*
 * yamldoc.c - shared YAML reading with line numbers (see yamldoc.h).
 */
#include "yamldoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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
