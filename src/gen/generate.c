/*
 * generate.c - documents from a compiled generator model (the run, documents, arrays,
 * fields and their mess), tallied into the manifest of what a correct conversion of them
 * must give (manifest.c).  One generator's value is values.c's.
 *
 * Randomness: splitmix64 (Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", 2014; the constants of Java's
 * SplittableRandom).  It is 64-bit integer arithmetic only, so it gives the
 * same numbers on every machine and compiler, and its mixing function doubles
 * as a hash to derive independent streams: one per (seed, collection,
 * document, field, element).  A document is therefore a pure function of the
 * seed and its index, and a field's clean value can be re-generated alone
 * (used by the "duplicate" mess on fields of the document).  No floating
 * point decides anything: rates are parts per billion, weights integers,
 * doubles are integers divided by a power of ten (correctly rounded).
 *
 * Accounting: each document keeps a tally of the rows it feeds per table
 * (declared by `rows:`), the rows merged or skipped by element mess, and the
 * first reject reason.  At its end the tally goes to the manifest: to the
 * tables when the document is accepted, to `rejected_rows` when not.  A
 * document carries at most one reject cause: once one fired, later
 * injections whose effect is `reject` are not applied (their random draws
 * are still made, so the rest of the document does not change).
 */
#include "gen_state.h"
#include "util/calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- randomness ---- */

uint64_t
mn_gen__mix(uint64_t z)
{
   z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
   z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
   return z ^ (z >> 31);
}

/* ---- generation state ---- */

void
mn_gen__fail(gctx_t *g, const char *fmt, ...)
{
   char msg[MN_ERROR_MESSAGE_SIZE];
   va_list ap;

   if (g->failed) {
      return;
   }
   va_start(ap, fmt);
   vsnprintf(msg, sizeof msg, fmt, ap);
   va_end(ap);
   mn_set_error(g->error, MN_ERROR_USAGE, MN_USAGE_BAD_OPTION, "%s", msg);
   g->failed = true;
}

static uint64_t
threshold(const gctx_t *g, uint64_t rate_ppb)
{
   unsigned __int128 t = (unsigned __int128)rate_ppb * g->o->mess_ppm / MN_GEN_MESS_ONE;
   return t > MN_GEN_PPB ? MN_GEN_PPB : (uint64_t)t;
}

static bool
draw_ppb(rng_t *r, uint64_t t)
{
   return below(r, MN_GEN_PPB) < t;
}

static uint64_t
coll_count(const mn_gen_coll_t *c, uint64_t scale)
{
   return (uint64_t)((unsigned __int128)scale * c->per_scale_ppm / 1000000u);
}

static uint64_t
doc_key(const gctx_t *g, size_t ci, uint64_t di)
{
   return derive(derive(g->seed_key, ci + 1), di);
}

static const uint8_t *
doc_traits(const gctx_t *g, size_t ci, uint64_t di)
{
   return g->cs[ci].traits + di * g->m->colls[ci].n_traits;
}

/* ---- accounting ---- */

static void
count_injection(gctx_t *g, const mn_gen_field_t *f, mn_gen_inj_kind_t kind)
{
   char *key;

   if (g->regen) {
      return;
   }
   key = g_strdup_printf("%s\x1f%s\x1f%s", g->coll->name, f->path, mn_gen__inj_name(kind));
   mn_gen__bump(g->mf->injected, key, 1);
   g_free(key);
}

void
mn_gen__reject_doc(gctx_t *g, const char *reason)
{
   if (g->regen || g->rejected) {
      return;
   }
   g->rejected = true;
   g->reason = g_strdup(reason);
}

static void
count_effect(gctx_t *g, int table, effect_t e)
{
   if (g->regen || table < 0) {
      return;
   }
   switch (e) {
   case EFF_ROW:
   case EFF_INVALID: g->t_rows[table]++; break;
   case EFF_SKIP: g->t_skipped[table]++; break;
   case EFF_MERGE: g->t_merged[table]++; break;
   default: break;
   }
}

/* ---- documents, arrays and fields ---- */

static void emit_gen(gctx_t *g, const mn_gen_gen_t *gen, const mn_gen_field_t *f, uint64_t key,
                     bson_t *parent, const char *k);
static effect_t emit_field(gctx_t *g, const mn_gen_field_t *f, uint64_t key, bson_t *parent,
                           const char *k);

/* An array (or join) of `n` elements of gen->of; returns nothing, counts element effects. */
static void
emit_elements(gctx_t *g, const mn_gen_gen_t *gen, uint64_t key, bson_t *arr, uint64_t n,
              effect_t *effects, char **strings)
{
   GPtrArray *seen = gen->distinct ? g_ptr_array_new_with_free_func(g_free) : NULL;
   uint64_t saved_instance = g->array_instance;
   uint64_t out = 0;

   g->array_instance = ++g->array_instances;
   for (uint64_t i = 0; i < n && !g->failed; i++) {
      uint64_t ek = derive(key, TAG_ELEM + i);
      char kbuf[24];
      const char *kstr;
      if (seen) {
         /* distinct: retry a few streams for an element not seen yet; else leave it out */
         bool fresh = false;
         for (int attempt = 0; attempt < 16 && !fresh; attempt++) {
            uint64_t ak = attempt ? derive(ek, TAG_ATTEMPT + (uint64_t)attempt) : ek;
            rng_t r = stream(ak);
            char *s = mn_gen__string_value(g, &gen->of->gen, &r);
            fresh = true;
            for (guint j = 0; s && j < seen->len; j++) {
               fresh &= strcmp(g_ptr_array_index(seen, j), s) != 0;
            }
            if (fresh) {
               ek = ak;
               if (s) {
                  g_ptr_array_add(seen, s);
               }
            } else {
               g_free(s);
            }
         }
         if (!fresh) {
            continue;
         }
      }
      bson_uint32_to_string((uint32_t)out, &kstr, kbuf, sizeof kbuf);
      if (strings) {
         /* join: the element as a string */
         bson_t tmp = BSON_INITIALIZER;
         bson_iter_t it;
         effect_t e = emit_field(g, gen->of, ek, &tmp, "s");
         if (e != EFF_ABSENT && bson_iter_init_find(&it, &tmp, "s") && BSON_ITER_HOLDS_UTF8(&it)) {
            strings[out] = g_strdup(bson_iter_utf8(&it, NULL));
            effects[out++] = e;
         }
         bson_destroy(&tmp);
         continue;
      }
      effects[out] = emit_field(g, gen->of, ek, arr, kstr);
      if (effects[out] != EFF_ABSENT) {
         out++;
      }
   }
   g->array_instance = saved_instance;
   if (seen) {
      g_ptr_array_free(seen, TRUE);
   }
   effects[out] = EFF_ABSENT; /* terminator */
}

static uint64_t
draw_count(rng_t *r, const mn_gen_count_t *c)
{
   size_t i = weighted(r, c->cum, c->n);
   return (uint64_t)in_range(r, c->lo[i], c->hi[i]);
}

/*
 * Emit an array value.  `count` overrides the element count (huge), `dup_rate` > 0 asks
 * for one element duplicated (with the effect `dup_expect` for the copy).
 */
static void
emit_array(gctx_t *g, const mn_gen_gen_t *gen, const mn_gen_field_t *f, uint64_t key,
           bson_t *parent, const char *k, const mn_gen_count_t *count, const mn_gen_inj_t *dup)
{
   rng_t r = stream(key);
   uint64_t n = draw_count(&r, count ? count : &gen->count);
   effect_t *eff = g_new0(effect_t, n + 2);
   bson_t tmp = BSON_INITIALIZER;
   bson_t arr;
   size_t m = 0;

   emit_elements(g, gen, key, &tmp, n, eff, NULL);
   while (eff[m] != EFF_ABSENT) {
      m++;
   }
   if (dup && m == 0) {
      dup = NULL; /* nothing to duplicate: the mess does not apply */
   }
   {
      rng_t dr = stream(derive(key, TAG_DUP));
      uint64_t src = dup ? below(&dr, m) : 0;
      uint64_t at = dup ? src + 1 + below(&dr, m - src) : 0; /* position of the copy */
      bson_iter_t it, copy;
      uint32_t o = 0;
      char kbuf[24];
      const char *kstr;

      bson_append_array_begin(parent, k, -1, &arr);
      bson_iter_init(&it, &tmp);
      for (uint64_t i = 0; i <= m; i++) {
         if (dup && i == at) {
            bson_iter_init(&copy, &tmp);
            for (uint64_t j = 0; j <= src; j++) {
               bson_iter_next(&copy);
            }
            bson_uint32_to_string(o++, &kstr, kbuf, sizeof kbuf);
            bson_append_iter(&arr, kstr, -1, &copy);
            count_injection(g, f, MN_INJ_DUPLICATE);
            if (dup->expect == MN_EXPECT_REJECT) {
               mn_gen__reject_doc(g, dup->reason ? dup->reason : f->path);
               count_effect(g, gen->rows_table, eff[src]);
            } else if (eff[src] == EFF_ROW && dup->expect == MN_EXPECT_MERGE) {
               count_effect(g, gen->rows_table, EFF_MERGE);
            } else if (eff[src] == EFF_ROW && dup->expect == MN_EXPECT_SKIP) {
               count_effect(g, gen->rows_table, EFF_SKIP);
            } else {
               count_effect(g, gen->rows_table, eff[src]);
            }
         }
         if (i < m && bson_iter_next(&it)) {
            bson_uint32_to_string(o++, &kstr, kbuf, sizeof kbuf);
            bson_append_iter(&arr, kstr, -1, &it);
            count_effect(g, gen->rows_table, eff[i]);
         }
      }
      bson_append_array_end(parent, &arr);
   }
   bson_destroy(&tmp);
   g_free(eff);
}

static void
emit_join(gctx_t *g, const mn_gen_gen_t *gen, uint64_t key, bson_t *parent, const char *k)
{
   rng_t r = stream(key);
   uint64_t n = draw_count(&r, &gen->count);
   effect_t *eff = g_new0(effect_t, n + 2);
   char **strs = g_new0(char *, n + 2);
   GString *s = g_string_new(NULL);

   emit_elements(g, gen, key, NULL, n, eff, strs);
   for (size_t i = 0; eff[i] != EFF_ABSENT; i++) {
      if (i) {
         g_string_append(s, gen->sep);
      }
      g_string_append(s, strs[i]);
      count_effect(g, gen->rows_table, eff[i]);
      g_free(strs[i]);
   }
   BSON_APPEND_UTF8(parent, k, s->str);
   g_string_free(s, TRUE);
   g_free(strs);
   g_free(eff);
}

static void
emit_document(gctx_t *g, const mn_gen_field_t *fields, size_t n, uint64_t key, bson_t *doc)
{
   guint mark = g->scope->len;

   for (size_t i = 0; i < n && !g->failed; i++) {
      emit_field(g, &fields[i], derive(key, i + 1), doc, fields[i].name);
   }
   mn_gen__scope_truncate(g, mark);
}

/* Emit gen's value under key k. */
static void
emit_gen(gctx_t *g, const mn_gen_gen_t *gen, const mn_gen_field_t *f, uint64_t key, bson_t *parent,
         const char *k)
{
   static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
   rng_t r = stream(key);
   const char *name = f ? f->name : NULL;

   switch (gen->kind) {
   case MN_GEN_OBJECTID: mn_gen__emit_objectid(g, f, parent, k); break;
   case MN_GEN_REF: mn_gen__emit_ref(g, gen, f, &r, parent, k); break;
   case MN_GEN_BOOL: BSON_APPEND_BOOL(parent, k, draw_ppb(&r, gen->true_ppb)); break;
   case MN_GEN_INT: BSON_APPEND_INT32(parent, k, (int32_t)in_range(&r, gen->lo, gen->hi)); break;
   case MN_GEN_LONG: BSON_APPEND_INT64(parent, k, in_range(&r, gen->lo, gen->hi)); break;
   case MN_GEN_DOUBLE:
      BSON_APPEND_DOUBLE(parent, k, (double)in_range(&r, gen->lo, gen->hi) / p10[gen->decimals]);
      break;
   case MN_GEN_DECIMAL: mn_gen__emit_decimal(gen, &r, parent, k); break;
   case MN_GEN_DATE: mn_gen__emit_date(g, gen, name, &r, parent, k); break;
   case MN_GEN_DOCUMENT: {
      bson_t sub;
      bson_append_document_begin(parent, k, -1, &sub);
      emit_document(g, gen->fields, gen->n_fields, key, &sub);
      bson_append_document_end(parent, &sub);
      count_effect(g, gen->rows_table, EFF_ROW);
      break;
   }
   case MN_GEN_ARRAY: emit_array(g, gen, f, key, parent, k, NULL, NULL); break;
   case MN_GEN_JOIN: emit_join(g, gen, key, parent, k); break;
   case MN_GEN_ONEOF: {
      size_t i = weighted(&r, gen->alt_cum, gen->n_alts);
      emit_gen(g, &gen->alts[i], f, derive(key, 0xa17 + i), parent, k);
      break;
   }
   case MN_GEN_SEQ: mn_gen__emit_seq(g, gen, parent, k); break;
   case MN_GEN_NULL: BSON_APPEND_NULL(parent, k); break;
   default: {
      char *s = mn_gen__string_value(g, gen, &r);
      BSON_APPEND_UTF8(parent, k, s);
      mn_gen__scope_push(g, name, s, false, 0, -1);
      g_free(s);
      break;
   }
   }
}

/* ---- mess ---- */

static effect_t
effect_of(const mn_gen_inj_t *inj)
{
   switch (inj->expect) {
   case MN_EXPECT_SKIP: return EFF_SKIP;
   case MN_EXPECT_MERGE: return EFF_MERGE;
   default: return EFF_ROW;
   }
}

/* Re-generate the clean value field f had in an earlier accepted document. */
static bool
emit_duplicate_of_earlier(gctx_t *g, const mn_gen_field_t *f, size_t fi_key_index, rng_t *r,
                          bson_t *parent, const char *k)
{
   uint64_t j;
   gctx_t save = *g;
   bool ok = false;

   if (g->di == 0) {
      return false;
   }
   j = below(r, g->di);
   for (int tries = 0; tries < 64; tries++, j = j ? j - 1 : g->di - 1) {
      if (!((g->cs[g->ci].rejected[j / 8] >> (j % 8)) & 1)) {
         ok = true;
         break;
      }
   }
   if (!ok) {
      return false;
   }
   g->regen = true;
   g->di = j;
   g->traits = doc_traits(g, g->ci, j);
   g->doc_ts = mn_gen__doc_seconds(g, g->ci, j);
   emit_gen(g, &f->gen, f, derive(doc_key(g, g->ci, j), fi_key_index), parent, k);
   g->regen = save.regen;
   g->di = save.di;
   g->traits = save.traits;
   g->doc_ts = save.doc_ts;
   return true;
}

static bool
trait_ok(const gctx_t *g, int trait, uint64_t mask)
{
   return trait < 0 || (mask >> g->traits[trait]) & 1;
}

/*
 * The mess that fires on field f, or NULL.  Every entry draws, fired or not, so that one
 * entry's rate does not move another's draws; the first that fires applies, except in a
 * re-generated or clean value, and except a second reject cause.
 */
static const mn_gen_inj_t *
fired_mess(gctx_t *g, const mn_gen_field_t *f, uint64_t key)
{
   const mn_gen_inj_t *inj = NULL;
   rng_t mr = stream(derive(key, TAG_MESS));

   for (size_t i = 0; i < f->n_mess; i++) {
      bool fire = draw_ppb(&mr, threshold(g, f->mess[i].rate_ppb));
      if (fire && !inj && !g->regen && !g->clean &&
          !(f->mess[i].expect == MN_EXPECT_REJECT && g->rejected)) {
         inj = &f->mess[i];
      }
   }
   return inj;
}

/* case/spaces: the string value changed; false (the clean value emitted) when it cannot be. */
static bool
emit_string_mess(gctx_t *g, const mn_gen_field_t *f, const mn_gen_inj_t *inj, uint64_t key,
                 rng_t *ir, bson_t *parent, const char *k)
{
   uint64_t sk;
   const mn_gen_gen_t *sg = mn_gen__string_gen(&f->gen, key, &sk);
   rng_t sr = stream(sk);
   char *s = sg ? mn_gen__string_value(g, sg, &sr) : NULL;
   char *v = s ? mn_gen__mess_string(s, inj->kind, ir) : NULL;
   bool applied = v && strcmp(v, s) != 0;

   if (applied) {
      BSON_APPEND_UTF8(parent, k, v);
      mn_gen__scope_push(g, f->name, s, false, 0, -1);
   } else {
      emit_gen(g, &f->gen, f, key, parent, k);
   }
   g_free(s);
   g_free(v);
   return applied;
}

/*
 * duplicate on a seq field (the previous number again) or a field of the document (its
 * value in an earlier accepted document); false (the clean value emitted) when there is none.
 */
static bool
emit_duplicate(gctx_t *g, const mn_gen_field_t *f, uint64_t key, rng_t *ir, bson_t *parent,
               const char *k)
{
   if (f->gen.kind == MN_GEN_SEQ) {
      const named_t *n = mn_gen__scope_find(g, f->gen.per);
      coll_state_t *cs = &g->cs[g->ci];
      if (n && n->target >= 0 && cs->seq && cs->seq[n->target] > 0) {
         BSON_APPEND_INT32(parent, k, (int32_t)cs->seq[n->target]);
         return true;
      }
   } else {
      size_t fi = (size_t)(f - g->coll->fields) + 1;
      if (emit_duplicate_of_earlier(g, f, fi, ir, parent, k)) {
         return true;
      }
   }
   emit_gen(g, &f->gen, f, key, parent, k);
   return false;
}

/*
 * Emit the messed value of field f under k.  *eff gets the element effect of the value
 * itself (absent, or a scalar's element).  False when the mess does not apply to this
 * value (the clean value is emitted instead) or is counted already (a duplicated element).
 */
static bool
emit_mess(gctx_t *g, const mn_gen_field_t *f, const mn_gen_inj_t *inj, uint64_t key, bson_t *parent,
          const char *k, effect_t *eff)
{
   rng_t ir = stream(derive(key, TAG_REPLACE));

   switch (inj->kind) {
   case MN_INJ_MISSING:
      *eff = EFF_ABSENT;
      if (f->drift) {
         g->drift_seen[f->drift_index] = false;
      }
      return true;
   case MN_INJ_NULL: BSON_APPEND_NULL(parent, k); return true;
   case MN_INJ_EMPTY:
      if (f->gen.kind == MN_GEN_ARRAY) {
         bson_t a;
         bson_append_array_begin(parent, k, -1, &a);
         bson_append_array_end(parent, &a);
      } else {
         BSON_APPEND_UTF8(parent, k, "");
      }
      return true;
   case MN_INJ_CASE:
   case MN_INJ_SPACES: return emit_string_mess(g, f, inj, key, &ir, parent, k);
   case MN_INJ_DANGLING: mn_gen__emit_dangling(g, f, &ir, parent, k); return true;
   case MN_INJ_SCALAR: {
      /* one clean element, alone where the array was */
      bool was_clean = g->clean;
      g->clean = true;
      *eff = emit_field(g, f->gen.of, derive(key, TAG_ELEM), parent, k);
      g->clean = was_clean;
      count_effect(g, f->gen.rows_table, *eff);
      return true;
   }
   case MN_INJ_HUGE: emit_array(g, &f->gen, f, key, parent, k, &inj->huge, NULL); return true;
   case MN_INJ_DUPLICATE:
      if (f->gen.kind == MN_GEN_ARRAY) {
         emit_array(g, &f->gen, f, key, parent, k, NULL, inj);
         return false; /* counted inside (only when an element could be copied) */
      }
      return emit_duplicate(g, f, key, &ir, parent, k);
   case MN_INJ_REPLACE:
      if (inj->with) {
         emit_gen(g, inj->with, f, derive(key, TAG_REPLACE), parent, k);
      } else {
         emit_document(g, inj->fields, inj->n_fields, derive(key, TAG_REPLACE), parent);
      }
      if (inj->rows_table >= 0) {
         count_effect(g, inj->rows_table, EFF_ROW);
      }
      return true;
   default: return true;
   }
}

/*
 * The accounting of a mess that applied to field f: the injection count, an unmapped path,
 * the document's reject cause, and the element effect (from `eff`, the value's own).
 */
static effect_t
mess_effect(gctx_t *g, const mn_gen_field_t *f, const mn_gen_inj_t *inj, effect_t eff)
{
   count_injection(g, f, inj->kind);
   if (inj->unmapped >= 0 && !g->regen) {
      g->drift_seen[inj->unmapped] = true;
   }
   if (inj->no_row) {
      eff = EFF_NOROW;
   }
   if (inj->expect == MN_EXPECT_REJECT) {
      mn_gen__reject_doc(g, inj->reason ? inj->reason : f->path);
      if (eff == EFF_ROW) {
         eff = EFF_INVALID;
      }
   } else if (eff != EFF_ABSENT && eff != EFF_NOROW && inj->kind != MN_INJ_SCALAR) {
      eff = effect_of(inj);
   }
   return inj->kind == MN_INJ_SCALAR ? EFF_ROW : eff;
}

/* Emit field f (value, or its mess) under key k; return the element effect. */
static effect_t
emit_field(gctx_t *g, const mn_gen_field_t *f, uint64_t key, bson_t *parent, const char *k)
{
   const mn_gen_inj_t *inj;
   effect_t eff = EFF_ROW;

   if (!trait_ok(g, f->only_trait, f->only_mask)) {
      return EFF_ABSENT;
   }
   if (f->optional_ppb) {
      rng_t orng = stream(derive(key, TAG_OPTIONAL));
      if (draw_ppb(&orng, f->optional_ppb)) {
         return EFF_ABSENT;
      }
   }
   inj = fired_mess(g, f, key);
   if (f->drift && !g->regen) {
      g->drift_seen[f->drift_index] = true;
   }
   if (!inj) {
      emit_gen(g, &f->gen, f, key, parent, k);
      return EFF_ROW;
   }
   if (!emit_mess(g, f, inj, key, parent, k, &eff)) {
      return EFF_ROW;
   }
   return mess_effect(g, f, inj, eff);
}

/* ---- the run ---- */

static void
state_cleanup(gctx_t *g)
{
   for (size_t c = 0; g->cs && c < g->m->n_colls; c++) {
      coll_state_t *s = &g->cs[c];
      const mn_gen_coll_t *mc = &g->m->colls[c];
      g_free(s->traits);
      g_free(s->rejected);
      g_free(s->seq);
      for (size_t t = 0; s->by_value && t < mc->n_traits; t++) {
         for (size_t v = 0; v < mc->traits[t].n; v++) {
            g_array_free(s->by_value[t][v], TRUE);
         }
         g_free(s->by_value[t]);
      }
      g_free(s->by_value);
   }
   g_free(g->cs);
   if (g->scope) {
      mn_gen__scope_truncate(g, 0);
      g_array_free(g->scope, TRUE);
   }
   if (g->cum) {
      g_hash_table_destroy(g->cum);
   }
   g_free(g->t_rows);
   g_free(g->t_merged);
   g_free(g->t_skipped);
   g_free(g->drift_seen);
   g_free(g->reason);
}

/*
 * Collection c's document count at this scale, and each document's traits (indexed by
 * value too, for `where` filters).  Done for every collection before any document is
 * generated: references may look ahead.
 */
static bool
plan_collection(gctx_t *g, size_t c)
{
   const mn_gen_coll_t *mc = &g->m->colls[c];
   coll_state_t *s = &g->cs[c];

   s->count = coll_count(mc, g->o->scale);
   if (s->count > UINT32_MAX) {
      mn_set_error(g->error, MN_ERROR_USAGE, MN_USAGE_BAD_OPTION,
                   "collection \"%s\" would have more than 4294967295 documents", mc->name);
      return false;
   }
   s->traits = g_new0(uint8_t, s->count * mc->n_traits + 1);
   s->rejected = g_new0(uint8_t, s->count / 8 + 1);
   s->by_value = g_new0(GArray **, mc->n_traits + 1);
   for (size_t t = 0; t < mc->n_traits; t++) {
      s->by_value[t] = g_new0(GArray *, mc->traits[t].n);
      for (size_t v = 0; v < mc->traits[t].n; v++) {
         s->by_value[t][v] = g_array_new(FALSE, FALSE, sizeof(uint32_t));
      }
   }
   for (uint64_t d = 0; d < s->count; d++) {
      for (size_t t = 0; t < mc->n_traits; t++) {
         rng_t r = stream(derive(doc_key(g, c, d), TAG_TRAIT + t));
         /* the first documents take each value in turn, so every value exists */
         size_t v = d < mc->traits[t].n && mc->traits[t].cum[d] > (d ? mc->traits[t].cum[d - 1] : 0)
                       ? (size_t)d
                       : weighted(&r, mc->traits[t].cum, mc->traits[t].n);
         uint32_t d32 = (uint32_t)d;
         s->traits[d * mc->n_traits + t] = (uint8_t)v;
         g_array_append_val(s->by_value[t][v], d32);
      }
   }
   return true;
}

/* Reset the per-document state for document d of the current collection. */
static void
begin_document(gctx_t *g, uint64_t d)
{
   const mn_gen_coll_t *mc = g->coll;
   size_t nt = g->m->tables->len;

   g->di = d;
   g->traits = doc_traits(g, g->ci, d);
   g->doc_ts = mn_gen__doc_seconds(g, g->ci, d);
   g->sub_counter = 0;
   g->rejected = false;
   g_free(g->reason);
   g->reason = NULL;
   memset(g->t_rows, 0, nt * sizeof *g->t_rows);
   memset(g->t_merged, 0, nt * sizeof *g->t_merged);
   memset(g->t_skipped, 0, nt * sizeof *g->t_skipped);
   memset(g->drift_seen, 0, g->m->drift_paths->len * sizeof(bool));
   for (size_t r = 0; r < mc->n_rows; r++) {
      if (trait_ok(g, mc->rows[r].trait, mc->rows[r].mask)) {
         g->t_rows[mc->rows[r].table]++;
      }
   }
}

/* The tally of the document just generated, into the manifest (see the file comment). */
static void
end_document(gctx_t *g)
{
   size_t c = g->ci, nt = g->m->tables->len;
   uint64_t d = g->di;
   mn_gen_manifest_t *mf = g->mf;

   mf->docs[c]++;
   if (g->rejected) {
      g->cs[c].rejected[d / 8] |= (uint8_t)(1u << (d % 8));
      mf->rejected[c]++;
      mn_gen__bump(mf->reasons[c], g->reason, 1);
      for (size_t t = 0; t < nt; t++) {
         mf->rejected_rows[t] += g->t_rows[t];
      }
   } else {
      for (size_t t = 0; t < nt; t++) {
         mf->rows[t] += g->t_rows[t];
         mf->merged[t] += g->t_merged[t];
         mf->skipped[t] += g->t_skipped[t];
      }
   }
   for (guint p = 0; p < g->m->drift_paths->len; p++) {
      if (g->drift_seen[p]) {
         const char *key = g_ptr_array_index(g->m->drift_paths, p);
         mn_gen__bump(mf->unmapped[c], strchr(key, '\x1f') + 1, 1);
      }
   }
}

/* Every document of collection c, each passed to `emit`. */
static bool
generate_collection(gctx_t *g, size_t c, mn_gen_emit_fn emit, void *ctx)
{
   g->ci = c;
   g->coll = &g->m->colls[c];
   for (uint64_t d = 0; d < g->cs[c].count; d++) {
      bson_t doc = BSON_INITIALIZER;
      bool ok;
      begin_document(g, d);
      emit_document(g, g->coll->fields, g->coll->n_fields, doc_key(g, c, d), &doc);
      ok = !g->failed;
      if (ok) {
         end_document(g);
         ok = emit(ctx, g->coll->name, &doc, g->error);
      }
      bson_destroy(&doc);
      if (!ok) {
         return false;
      }
   }
   return true;
}

bool
mn_gen_run(const mn_gen_model_t *m, const mn_gen_opts_t *o, mn_gen_emit_fn emit, void *ctx,
           mn_gen_manifest_t **manifest_out, mn_error_t *error)
{
   gctx_t g = {0};
   bool ok = false;
   size_t nt = m->tables->len;

   g.m = m;
   g.o = o;
   g.error = error;
   g.mf = mn_gen__manifest_new(m, o);
   g.seed_key = mn_gen__mix(o->seed ^ UINT64_C(0x6d6f6e676f6e6f72)); /* "mongonor" */
   g.cs = g_new0(coll_state_t, m->n_colls);
   g.scope = g_array_new(FALSE, TRUE, sizeof(named_t));
   g.cum = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
   g.t_rows = g_new0(uint64_t, nt + 1);
   g.t_merged = g_new0(uint64_t, nt + 1);
   g.t_skipped = g_new0(uint64_t, nt + 1);
   g.drift_seen = g_new0(bool, m->drift_paths->len + 1);
   for (size_t c = 0; c < m->n_colls; c++) {
      if (!plan_collection(&g, c)) {
         goto cleanup;
      }
   }
   for (size_t c = 0; c < m->n_colls; c++) {
      if (!generate_collection(&g, c, emit, ctx)) {
         goto cleanup;
      }
   }
   ok = true;
cleanup:
   state_cleanup(&g);
   if (ok && manifest_out) {
      *manifest_out = g.mf;
   } else {
      mn_gen_manifest_destroy(g.mf);
   }
   return ok;
}
