/*
 * names.c - the draft's identifiers: snake_case from field names, at most 63 bytes
 * (PostgreSQL's NAMEDATALEN - 1), made unique with a numbered suffix, and quoted in SQL
 * when PostgreSQL's own keyword list (parser/kwlist.h of PostgreSQL 15, from Debian's
 * postgresql-server-dev-15) says a bare one would not parse.
 */
#include "infer/infer_private.h"

#include <string.h>

#define IDENT_MAX 63

/* kwlist.h's categories, as PostgreSQL's common/keywords.h numbers them. */
enum { UNRESERVED_KEYWORD, COL_NAME_KEYWORD, TYPE_FUNC_NAME_KEYWORD, RESERVED_KEYWORD };

typedef struct {
   const char *name;
   int category;
} keyword_t;

#define PG_KEYWORD(kwname, value, category, collabel) {kwname, category},
static const keyword_t keywords[] = {
#include <parser/kwlist.h>
};
#undef PG_KEYWORD

static int
compare_keyword(const void *key, const void *entry)
{
   return strcmp(key, ((const keyword_t *)entry)->name);
}

bool
mn_infer__is_keyword(const char *name)
{
   /* kwlist.h is in ASCII order (gen_keywordlist.pl requires it) */
   const keyword_t *k = bsearch(name, keywords, sizeof keywords / sizeof keywords[0],
                                sizeof keywords[0], compare_keyword);

   /* quote_ident() quotes every keyword but the unreserved ones; so do we */
   return k && k->category != UNRESERVED_KEYWORD;
}

static bool
is_lower(char c)
{
   return c >= 'a' && c <= 'z';
}

static bool
is_upper(char c)
{
   return c >= 'A' && c <= 'Z';
}

static bool
is_digit(char c)
{
   return c >= '0' && c <= '9';
}

char *
mn_infer__snake(const char *text, size_t len)
{
   GString *out = g_string_sized_new(len + 8);

   for (size_t i = 0; i < len; i++) {
      char c = text[i];
      char prev = i ? text[i - 1] : 0;
      char next = i + 1 < len ? text[i + 1] : 0;

      if (is_upper(c)) {
         /* fooBar -> foo_bar, HTTPServer -> http_server, item2Name -> item2_name */
         if (is_lower(prev) || is_digit(prev) || (is_upper(prev) && is_lower(next))) {
            g_string_append_c(out, '_');
         }
         g_string_append_c(out, (char)(c - 'A' + 'a'));
      } else if (is_lower(c) || is_digit(c)) {
         g_string_append_c(out, c);
      } else if (out->len && out->str[out->len - 1] != '_') {
         g_string_append_c(out, '_'); /* anything else, non-ASCII bytes too */
      }
   }
   while (out->len && out->str[out->len - 1] == '_') {
      g_string_truncate(out, out->len - 1);
   }
   while (out->len && out->str[0] == '_') {
      g_string_erase(out, 0, 1);
   }
   for (size_t i = 1; i < out->len; i++) {
      if (out->str[i] == '_' && out->str[i - 1] == '_') {
         g_string_erase(out, (gssize)i--, 1);
      }
   }
   if (!out->len) {
      g_string_assign(out, "field");
   } else if (is_digit(out->str[0])) {
      g_string_prepend(out, "f_");
   }
   if (out->len > IDENT_MAX) {
      g_string_truncate(out, IDENT_MAX);
      while (out->len && out->str[out->len - 1] == '_') {
         g_string_truncate(out, out->len - 1);
      }
   }
   return g_string_free(out, FALSE);
}

char *
mn_infer__unique_name(GHashTable *taken, const char *base)
{
   char *name = g_strndup(base, IDENT_MAX);

   for (int k = 2; g_hash_table_contains(taken, name); k++) {
      char suffix[16];
      size_t keep;

      g_free(name);
      g_snprintf(suffix, sizeof suffix, "_%d", k);
      keep = MIN(strlen(base), IDENT_MAX - strlen(suffix));
      name = g_strdup_printf("%.*s%s", (int)keep, base, suffix);
   }
   g_hash_table_add(taken, g_strdup(name));
   return name;
}

char *
mn_infer_sql_ident(const char *name)
{
   bool bare = (is_lower(name[0]) || name[0] == '_') && !mn_infer__is_keyword(name);
   GString *out;

   for (const char *p = name; bare && *p; p++) {
      bare = is_lower(*p) || is_digit(*p) || *p == '_' || *p == '$';
   }
   if (bare) {
      return bson_strdup(name);
   }
   out = g_string_new("\"");
   for (const char *p = name; *p; p++) {
      if (*p == '"') {
         g_string_append_c(out, '"');
      }
      g_string_append_c(out, *p);
   }
   g_string_append_c(out, '"');
   {
      char *r = bson_strdup(out->str);
      g_string_free(out, TRUE);
      return r;
   }
}
