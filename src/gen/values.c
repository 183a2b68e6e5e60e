/*
 * values.c - the value of one generator for the current document: ObjectIds (a document's
 * own from its index, sub-document ids from a counter), references, the scope of named
 * values, vocabulary picks, templates, dates, strings and their case/spaces mess, and
 * decimal and seq values.  Every random choice is a draw from the stream it is given.
 */
#include "gen_state.h"
#include "util/calendar.h"

#include <stdio.h>
#include <string.h>

/* ---- ObjectIds ---- */

static uint8_t
seed_byte(const gctx_t *g)
{
   return (uint8_t)(mn_gen__mix(g->seed_key ^ 0x5eed) >> 56);
}

int64_t
mn_gen__doc_seconds(const gctx_t *g, size_t ci, uint64_t di)
{
   const mn_gen_coll_t *c = &g->m->colls[ci];
   const mn_gen_gen_t *idg = &c->fields[c->id_field].gen;
   int64_t from = idg->from_ms / 1000, to = idg->to_ms / 1000;
   uint64_t n = g->cs[ci].count;

   if (n <= 1) {
      return from;
   }
   return from + (int64_t)((unsigned __int128)(uint64_t)(to - from) * di / (n - 1));
}

static void
oid_build(bson_oid_t *oid, int64_t ts, uint8_t tag, uint8_t seedb, uint64_t low48)
{
   uint32_t t = (uint32_t)ts;

   oid->bytes[0] = (uint8_t)(t >> 24);
   oid->bytes[1] = (uint8_t)(t >> 16);
   oid->bytes[2] = (uint8_t)(t >> 8);
   oid->bytes[3] = (uint8_t)t;
   oid->bytes[4] = tag;
   oid->bytes[5] = seedb;
   for (int i = 0; i < 6; i++) {
      oid->bytes[6 + i] = (uint8_t)(low48 >> (8 * (5 - i)));
   }
}

static void
doc_oid(const gctx_t *g, size_t ci, uint64_t di, bson_oid_t *oid)
{
   oid_build(oid, mn_gen__doc_seconds(g, ci, di), (uint8_t)(ci * 4), seed_byte(g), di);
}

/* ---- scope (named values of the fields generated so far) ---- */

void
mn_gen__scope_push(gctx_t *g, const char *name, const char *str, bool has_ms, int64_t ms,
                   int64_t target)
{
   named_t n = {name, ms, has_ms, NULL, target};
   if (!name || g->regen) {
      return;
   }
   n.str = str ? g_strdup(str) : NULL;
   g_array_append_val(g->scope, n);
}

void
mn_gen__scope_truncate(gctx_t *g, guint len)
{
   for (guint i = len; i < g->scope->len; i++) {
      g_free(g_array_index(g->scope, named_t, i).str);
   }
   g_array_set_size(g->scope, len);
}

const named_t *
mn_gen__scope_find(const gctx_t *g, const char *name)
{
   for (guint i = g->scope->len; i-- > 0;) {
      const named_t *n = &g_array_index(g->scope, named_t, i);
      if (!strcmp(n->name, name)) {
         return n;
      }
   }
   return NULL;
}

/* ---- values ---- */

static const mn_gen_list_t *
vocab_list(const gctx_t *g, int v)
{
   const mn_gen_vocab_t *voc = &g->m->vocabs[v];
   int t = g->coll->vocab_trait[v];

   if (t >= 0) {
      int li = g->coll->vocab_group[v][g->traits[t]];
      if (li >= 0) {
         return &voc->lists[li];
      }
   }
   return &voc->lists[0];
}

static const char *
pick_list(rng_t *r, const mn_gen_list_t *l)
{
   return l->items[weighted(r, l->cum, l->n)];
}

static void
ascii_lower(char *s)
{
   for (; *s; s++) {
      if (*s >= 'A' && *s <= 'Z') {
         *s = (char)(*s - 'A' + 'a');
      }
   }
}

static void
append_template(gctx_t *g, const mn_gen_gen_t *gen, rng_t *r, GString *out)
{
   for (size_t i = 0; i < gen->n_parts; i++) {
      const mn_gen_tpl_t *t = &gen->parts[i];
      size_t start = out->len;
      switch (t->kind) {
      case TPL_TEXT: g_string_append(out, t->text); break;
      case TPL_INDEX: g_string_append_printf(out, "%" PRIu64, g->di); break;
      case TPL_INT:
         g_string_append_printf(out, "%0*" PRId64, t->pad, in_range(r, t->lo, t->hi));
         break;
      case TPL_VOCAB: g_string_append(out, pick_list(r, vocab_list(g, t->vocab))); break;
      case TPL_FIELD: {
         const named_t *n = mn_gen__scope_find(g, t->text);
         if (n && n->str) {
            g_string_append(out, n->str);
         }
         break;
      }
      }
      if (t->lower) {
         ascii_lower(out->str + start);
      }
   }
}

/* A date's milliseconds. */
static int64_t
date_ms(gctx_t *g, const mn_gen_gen_t *gen, rng_t *r)
{
   int64_t base = 0;
   bool have = false;

   if (gen->cumulative && g->array_instance) {
      cum_t *c = g_hash_table_lookup(g->cum, gen);
      if (c && c->instance == g->array_instance) {
         base = c->ms;
         have = true;
      }
   }
   if (!have && gen->after) {
      const named_t *n = mn_gen__scope_find(g, gen->after);
      if (n && n->has_ms) {
         base = n->ms;
         have = true;
      }
   }
   if (!have && gen->from_id) {
      base = g->doc_ts * 1000;
      have = true;
   }
   if (!have) {
      if (gen->from_ms || gen->to_ms) {
         return in_range(r, gen->from_ms, gen->to_ms);
      }
      base = g->doc_ts * 1000;
   }
   if (gen->step_lo || gen->step_hi) {
      base += in_range(r, gen->step_lo, gen->step_hi);
   }
   return base;
}

/* A string generator's value (NULL when `gen` does not make strings). Caller frees. */
char *
mn_gen__string_value(gctx_t *g, const mn_gen_gen_t *gen, rng_t *r)
{
   switch (gen->kind) {
   case MN_GEN_CONST: return g_strdup(gen->text);
   case MN_GEN_TRAIT: return g_strdup(g->coll->traits[gen->trait].values[g->traits[gen->trait]]);
   case MN_GEN_PICK:
      return g_strdup(pick_list(r, gen->vocab >= 0 ? vocab_list(g, gen->vocab) : &gen->list));
   case MN_GEN_TEMPLATE: {
      GString *s = g_string_new(NULL);
      int64_t reps = gen->rep_hi ? in_range(r, gen->rep_lo, gen->rep_hi) : 1;
      for (int64_t i = 0; i < reps; i++) {
         if (i) {
            g_string_append_c(s, ' ');
         }
         append_template(g, gen, r, s);
      }
      return g_string_free(s, FALSE);
   }
   case MN_GEN_DATE_TEXT: {
      int64_t y;
      int mo, d;
      mn_calendar__civil_from_days(mn_calendar__floor_div(date_ms(g, gen, r), MN_MS_PER_DAY, NULL),
                                   &y, &mo, &d);
      return g_strdup_printf("%04" PRId64 "-%02d-%02d", y, mo, d);
   }
   default: return NULL;
   }
}

/* A string mess: other letter case, or surrounding spaces. */
char *
mn_gen__mess_string(const char *s, mn_gen_inj_kind_t kind, rng_t *r)
{
   char *out = g_strdup(s);

   if (kind == MN_INJ_SPACES) {
      static const char *const pads[] = {" ", "  ", "\t"};
      char *o = g_strdup_printf("%s%s%s", pads[below(r, 3)], s, pads[below(r, 2)]);
      g_free(out);
      return o;
   }
   /* CASE: upper, Capitalised or lower, whichever first differs from the value */
   for (uint64_t v = below(r, 3), tries = 0; tries < 3; tries++, v = (v + 1) % 3) {
      for (char *p = out; *p; p++) {
         bool first = p == out;
         if (v == 0 || (v == 1 && first)) {
            if (*p >= 'a' && *p <= 'z') {
               *p = (char)(*p - 'a' + 'A');
            }
         } else if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
         }
      }
      if (strcmp(out, s) != 0) {
         break;
      }
   }
   return out;
}

static void
append_date(bson_t *parent, const char *k, int64_t ms)
{
   BSON_APPEND_DATE_TIME(parent, k, ms);
}

static void
sub_oid(gctx_t *g, bson_oid_t *oid)
{
   if (g->sub_counter >= 65535) {
      mn_gen__fail(g, "a document of collection \"%s\" needs more than 65535 sub-document ids",
                   g->coll->name);
   }
   oid_build(oid, g->doc_ts, (uint8_t)(g->ci * 4 + 1), seed_byte(g),
             ((g->di & 0xffffffffu) << 16) | (g->sub_counter++ & 0xffff));
}

static int64_t
pick_ref(gctx_t *g, const mn_gen_gen_t *gen, rng_t *r)
{
   const coll_state_t *t = &g->cs[gen->target];
   uint64_t total = 0, x;

   if (gen->where_trait < 0) {
      if (!t->count) {
         mn_gen__fail(
            g, "collection \"%s\" refers to collection \"%s\", which has no document at this scale",
            g->coll->name, g->m->colls[gen->target].name);
         return -1;
      }
      return (int64_t)below(r, t->count);
   }
   for (size_t v = 0; v < 64; v++) {
      if (gen->where_mask & (UINT64_C(1) << v)) {
         total += t->by_value[gen->where_trait][v]->len;
      }
   }
   if (!total) {
      mn_gen__fail(
         g,
         "collection \"%s\" refers to collection \"%s\", which has no matching document at "
         "this scale",
         g->coll->name, g->m->colls[gen->target].name);
      return -1;
   }
   x = below(r, total);
   for (size_t v = 0; v < 64; v++) {
      if (gen->where_mask & (UINT64_C(1) << v)) {
         GArray *a = t->by_value[gen->where_trait][v];
         if (x < a->len) {
            return g_array_index(a, uint32_t, x);
         }
         x -= a->len;
      }
   }
   return -1;
}

static bool
is_rejected(const gctx_t *g, size_t ci, int64_t di)
{
   return ci < g->ci && (g->cs[ci].rejected[di / 8] >> (di % 8)) & 1;
}

/* ---- one generator kind's value ---- */

/* The document's own _id, or a sub-document id. */
void
mn_gen__emit_objectid(gctx_t *g, const mn_gen_field_t *f, bson_t *parent, const char *k)
{
   bson_oid_t oid;

   if (f && f->top && f->name && !strcmp(f->name, "_id")) {
      doc_oid(g, g->ci, g->di, &oid);
   } else {
      sub_oid(g, &oid);
   }
   BSON_APPEND_OID(parent, k, &oid);
}

/*
 * A reference to a document of the target collection.  With `on_rejected_target: reject`,
 * a rejected target rejects this document too, unless it already has a reject cause: then
 * an accepted target is looked for instead (one cause per document).
 */
void
mn_gen__emit_ref(gctx_t *g, const mn_gen_gen_t *gen, const mn_gen_field_t *f, rng_t *r,
                 bson_t *parent, const char *k)
{
   int64_t t = pick_ref(g, gen, r);
   bson_oid_t oid;

   if (t < 0) {
      return;
   }
   if (gen->reject_if_rejected && is_rejected(g, (size_t)gen->target, t)) {
      if (g->rejected) {
         for (int i = 0; i < 64 && is_rejected(g, (size_t)gen->target, t); i++) {
            t = pick_ref(g, gen, r);
         }
      }
      if (is_rejected(g, (size_t)gen->target, t)) {
         mn_gen__reject_doc(g, gen->reject_reason ? gen->reject_reason : (f ? f->path : "?"));
      }
   }
   doc_oid(g, (size_t)gen->target, (uint64_t)t, &oid);
   BSON_APPEND_OID(parent, k, &oid);
   mn_gen__scope_push(g, f ? f->name : NULL, NULL, false, 0, t);
}

/* A decimal128 from an integer in units of 10^-decimals, through its exact text. */
void
mn_gen__emit_decimal(const mn_gen_gen_t *gen, rng_t *r, bson_t *parent, const char *k)
{
   int64_t v = in_range(r, gen->lo, gen->hi);
   int64_t p = 1;
   char buf[64];
   bson_decimal128_t d;

   for (int i = 0; i < gen->decimals; i++) {
      p *= 10;
   }
   if (gen->decimals) {
      snprintf(buf, sizeof buf, "%s%" PRId64 ".%0*" PRId64, v < 0 ? "-" : "", (v < 0 ? -v : v) / p,
               gen->decimals, (v < 0 ? -v : v) % p);
   } else {
      snprintf(buf, sizeof buf, "%" PRId64, v);
   }
   bson_decimal128_from_string(buf, &d);
   BSON_APPEND_DECIMAL128(parent, k, &d);
}

/* A date; a cumulative one remembers its value for the next element of the same array. */
void
mn_gen__emit_date(gctx_t *g, const mn_gen_gen_t *gen, const char *name, rng_t *r, bson_t *parent,
                  const char *k)
{
   int64_t ms = date_ms(g, gen, r);

   append_date(parent, k, ms);
   if (gen->cumulative && g->array_instance) {
      cum_t *c = g_hash_table_lookup(g->cum, gen);
      if (!c) {
         c = g_new0(cum_t, 1);
         g_hash_table_insert(g->cum, (gpointer)gen, c);
      }
      c->instance = g->array_instance;
      c->ms = ms;
   }
   mn_gen__scope_push(g, name, NULL, true, ms, -1);
}

/* The next number of the sequence for the document's `per` ref target (1 without one). */
void
mn_gen__emit_seq(gctx_t *g, const mn_gen_gen_t *gen, bson_t *parent, const char *k)
{
   const named_t *n = mn_gen__scope_find(g, gen->per);
   coll_state_t *cs = &g->cs[g->ci];
   int32_t v = 1;

   if (n && n->target >= 0) {
      if (!cs->seq) {
         cs->seq_n = 1 + (size_t)n->target;
         for (size_t c = 0; c < g->m->n_colls; c++) {
            cs->seq_n = MAX(cs->seq_n, g->cs[c].count);
         }
         cs->seq = g_new0(uint32_t, cs->seq_n);
      }
      v = (int32_t)++cs->seq[n->target];
   }
   BSON_APPEND_INT32(parent, k, v);
}

/* The string-valued generator behind gen (resolving oneof with the same draws). */
const mn_gen_gen_t *
mn_gen__string_gen(const mn_gen_gen_t *gen, uint64_t key, uint64_t *key_out)
{
   *key_out = key;
   if (gen->kind == MN_GEN_ONEOF) {
      rng_t r = stream(key);
      size_t i = weighted(&r, gen->alt_cum, gen->n_alts);
      return mn_gen__string_gen(&gen->alts[i], derive(key, 0xa17 + i), key_out);
   }
   switch (gen->kind) {
   case MN_GEN_CONST:
   case MN_GEN_TRAIT:
   case MN_GEN_PICK:
   case MN_GEN_TEMPLATE:
   case MN_GEN_DATE_TEXT: return gen;
   default: return NULL;
   }
}

/* dangling: an ObjectId in the target's time range that no target document has. */
void
mn_gen__emit_dangling(gctx_t *g, const mn_gen_field_t *f, rng_t *ir, bson_t *parent, const char *k)
{
   bson_oid_t oid;
   const mn_gen_coll_t *tc = &g->m->colls[f->gen.target];
   const mn_gen_gen_t *idg = &tc->fields[tc->id_field].gen;

   oid_build(&oid, in_range(ir, idg->from_ms / 1000, idg->to_ms / 1000),
             (uint8_t)(f->gen.target * 4 + 2), seed_byte(g), next64(ir) >> 16);
   BSON_APPEND_OID(parent, k, &oid);
}
