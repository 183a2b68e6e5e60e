/*
 * cmd_generate.c - `mongonorm generate`: deterministic synthetic documents from a
 * model file, with the manifest of what a correct conversion must give.
 */
#include "commands.h"

#include <mongonorm/generate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OPT_SCALE = 1, OPT_SEED, OPT_MESS, OPT_FORMAT };

typedef struct {
   mn_gen_opts_t opts;
   const char *model;
   const char *out;
   const char *manifest;
   mn_gen_format_t format;
   bool have_scale;
   bool gzip;
   bool quiet;
} generate_args_t;

#define GEN_STRING(field) MN_CLI_STRING_AT(generate_args_t, field)

static const mn_cli_option_t GENERATE_OPTIONS[] = {
   {"model", 0, "FILE", "generator model (e.g. fixtures/medichat/generator.yaml)",
    GEN_STRING(model)},
   {"scale", 0, "N", "size: each collection's count is a function of N", MN_CLI_CHECKED(OPT_SCALE)},
   {"seed", 0, "S", "any whole number (default 1)", MN_CLI_CHECKED(OPT_SEED)},
   {"mess", 0, "X",
    "multiply every mess rate by X: 0 = clean data, 1 = the model's rates (default 1)",
    MN_CLI_CHECKED(OPT_MESS)},
   {"out", 0, "DIR|URI", "a folder, or a mongodb:// URI (inserts into the model's database)",
    GEN_STRING(out)},
   {"format", 0, "F",
    "dump (DIR/<db>/<collection>.bson, default), json (relaxed Extended JSON, one document "
    "per line) or json-canonical",
    MN_CLI_CHECKED(OPT_FORMAT)},
   {"gzip", 0, NULL, "with --format dump: write .bson.gz", MN_CLI_FLAG_AT(generate_args_t, gzip)},
   {"db", 0, "NAME", "database name instead of the model's (dump folder, MongoDB)",
    GEN_STRING(opts.database)},
   {"manifest", 0, "FILE",
    "where the manifest goes (default DIR/manifest.json; required with a URI)",
    GEN_STRING(manifest)},
   {"quiet", 0, NULL, "print nothing on success", MN_CLI_FLAG_AT(generate_args_t, quiet)},
   MN_CLI_OPTIONS_END,
};

/* A decimal "1.5" as millionths; false when not a plain non-negative decimal. */
static bool
parse_ppm(const char *s, uint64_t *out)
{
   uint64_t v = 0;
   int frac = -1;

   if (!*s) {
      return false;
   }
   for (const char *p = s; *p; p++) {
      if (*p == '.' && frac < 0) {
         frac = 0;
         continue;
      }
      if (*p < '0' || *p > '9' || v > UINT64_C(1000000000000)) {
         return false;
      }
      if (frac >= 0 && ++frac > 6) {
         if (*p != '0') {
            return false;
         }
         continue;
      }
      v = v * 10 + (uint64_t)(*p - '0');
   }
   for (int f = frac < 0 ? 0 : frac; f < 6; f++) {
      v *= 10;
   }
   *out = v;
   return true;
}

static bool
parse_u64(const char *s, uint64_t *out)
{
   char *end = NULL;
   unsigned long long v;

   if (!*s || *s == '-') {
      return false;
   }
   v = strtoull(s, &end, 10);
   if (*end) {
      return false;
   }
   *out = v;
   return true;
}

/* --format's value. */
static bool
parse_format(const char *text, mn_gen_format_t *format)
{
   static const struct {
      const char *name;
      mn_gen_format_t format;
   } formats[] = {
      {"dump", MN_GEN_FORMAT_DUMP},
      {"json", MN_GEN_FORMAT_JSON},
      {"json-canonical", MN_GEN_FORMAT_JSON_CANONICAL},
   };

   for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
      if (!strcmp(text, formats[i].name)) {
         *format = formats[i].format;
         return true;
      }
   }
   return false;
}

/* Take one option of `generate` that needs a check: the numbers and the format. */
static mn_exit_t
set_generate_option(const mn_cli_command_t *cmd, void *ctx, int id, const char *value)
{
   generate_args_t *a = ctx;

   switch (id) {
   case OPT_SCALE:
      if (!parse_u64(value, &a->opts.scale) || a->opts.scale > UINT64_C(1000000000)) {
         return mn_cli_usage_error(
            cmd, "--scale takes a whole number from 0 to 1000000000, not \"%s\"", value);
      }
      a->have_scale = true;
      break;
   case OPT_SEED:
      if (!parse_u64(value, &a->opts.seed)) {
         return mn_cli_usage_error(
            cmd, "--seed takes a whole number from 0 to 18446744073709551615, not \"%s\"", value);
      }
      break;
   case OPT_MESS:
      if (!parse_ppm(value, &a->opts.mess_ppm)) {
         return mn_cli_usage_error(
            cmd, "--mess takes a non-negative number such as 0, 0.5 or 2, not \"%s\"", value);
      }
      break;
   case OPT_FORMAT:
      if (!parse_format(value, &a->format)) {
         return mn_cli_usage_error(
            cmd, "unrecognized format \"%s\" (expected one of: dump, json, json-canonical)", value);
      }
      break;
   default: break;
   }
   return MN_EXIT_OK;
}

const mn_cli_command_t mn_cli_generate_command = {
   .name = "generate",
   .summary = "write a deterministic synthetic dataset from a model file",
   .synopsis = "usage: mongonorm generate --model FILE --scale N --out DIR|URI [options]\n",
   .description =
      "Write a deterministic synthetic dataset described by a model file, and the manifest\n"
      "of what a correct conversion of it must give (docs/generate.md).  Same model, scale,\n"
      "seed and mess: same bytes, on any machine.\n",
   .options = GENERATE_OPTIONS,
   .set = set_generate_option,
};

/* The checks across options. */
static mn_exit_t
check_args(const generate_args_t *a)
{
   const mn_cli_command_t *cmd = &mn_cli_generate_command;

   if (!a->model) {
      return mn_cli_usage_error(cmd, "no model: give --model FILE");
   }
   if (!a->have_scale) {
      return mn_cli_usage_error(cmd, "no scale: give --scale N");
   }
   if (!a->out) {
      return mn_cli_usage_error(cmd, "no output: give --out DIR or --out mongodb://...");
   }
   if (a->gzip && a->format != MN_GEN_FORMAT_DUMP) {
      return mn_cli_usage_error(cmd, "--gzip applies to --format dump");
   }
   return MN_EXIT_OK;
}

int
mn_cli_generate(int argc, char **argv)
{
   generate_args_t a = {.format = MN_GEN_FORMAT_DUMP};
   mn_gen_model_t *model;
   mn_error_t error = {0};
   struct timespec t0, t1;
   mn_exit_t rc;

   a.opts.seed = 1;
   a.opts.mess_ppm = MN_GEN_MESS_ONE;
   if (!mn_cli_parse(&mn_cli_generate_command, argc, argv, &a, &rc) ||
       (rc = check_args(&a)) != MN_EXIT_OK) {
      return rc;
   }
   if (!(model = mn_gen_model_load(a.model, &error))) {
      return mn_cli_fail(&error);
   }
   clock_gettime(CLOCK_MONOTONIC, &t0);
   if (!mn_generate(model, &a.opts, a.out, a.format, a.gzip, a.manifest, &error)) {
      mn_gen_model_destroy(model);
      return mn_cli_fail(&error);
   }
   clock_gettime(CLOCK_MONOTONIC, &t1);
   if (!a.quiet) {
      printf("generated scale %llu, seed %llu into \"%s\" in %.2f s; manifest: %s%s\n",
             (unsigned long long)a.opts.scale, (unsigned long long)a.opts.seed, a.out,
             (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
             a.manifest ? a.manifest : a.out, a.manifest ? "" : "/manifest.json");
   }
   mn_gen_model_destroy(model);
   return MN_EXIT_OK;
}
