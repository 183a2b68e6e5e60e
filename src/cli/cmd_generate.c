/*
 * cmd_generate.c - `mongonorm generate`: deterministic synthetic documents from a
 * model file, with the manifest of what a correct conversion must give.
 */
#include "commands.h"

#include <mongonorm/generate.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char USAGE_GENERATE[] =
   "usage: mongonorm generate --model FILE --scale N --out DIR|URI [options]\n"
   "\n"
   "Write a deterministic synthetic dataset described by a model file, and the manifest\n"
   "of what a correct conversion of it must give (docs/generate.md).  Same model, scale,\n"
   "seed and mess: same bytes, on any machine.\n"
   "\n"
   "  --model FILE     generator model (e.g. fixtures/medichat/generator.yaml)\n"
   "  --scale N        size: each collection's count is a function of N\n"
   "  --seed S         any whole number (default 1)\n"
   "  --mess X         multiply every mess rate by X: 0 = clean data, 1 = the model's\n"
   "                   rates (default 1)\n"
   "  --out DIR|URI    a folder, or a mongodb:// URI (inserts into the model's database)\n"
   "  --format F       dump (DIR/<db>/<collection>.bson, default), json (relaxed Extended\n"
   "                   JSON, one document per line) or json-canonical\n"
   "  --gzip           with --format dump: write .bson.gz\n"
   "  --db NAME        database name instead of the model's (dump folder, MongoDB)\n"
   "  --manifest FILE  where the manifest goes (default DIR/manifest.json; required\n"
   "                   with a URI)\n"
   "  --quiet          print nothing on success\n";

enum {
   OPT_MODEL = 2000,
   OPT_SCALE,
   OPT_SEED,
   OPT_MESS,
   OPT_OUT,
   OPT_FORMAT,
   OPT_GZIP,
   OPT_MANIFEST,
   OPT_QUIET,
   OPT_DB,
   OPT_HELP
};

static const struct option GEN_OPTS[] = {
   {"model", required_argument, NULL, OPT_MODEL},
   {"scale", required_argument, NULL, OPT_SCALE},
   {"seed", required_argument, NULL, OPT_SEED},
   {"mess", required_argument, NULL, OPT_MESS},
   {"out", required_argument, NULL, OPT_OUT},
   {"format", required_argument, NULL, OPT_FORMAT},
   {"gzip", no_argument, NULL, OPT_GZIP},
   {"manifest", required_argument, NULL, OPT_MANIFEST},
   {"quiet", no_argument, NULL, OPT_QUIET},
   {"db", required_argument, NULL, OPT_DB},
   {"help", no_argument, NULL, OPT_HELP},
   {NULL, 0, NULL, 0},
};

static int
usage_error(const char *fmt, const char *arg)
{
   fprintf(stderr, "mongonorm: error: ");
   fprintf(stderr, fmt, arg);
   fprintf(stderr, "\n%s", USAGE_GENERATE);
   return 2;
}

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

static int
exit_code(const mn_error_t *e)
{
   switch (e->domain) {
   case MN_ERROR_USAGE: return 2;
   case MN_ERROR_MAPPING: return 3;
   case MN_ERROR_MONGO: return 4;
   case MN_ERROR_IO: return 6;
   default: return 70;
   }
}

int
mn_cli_generate(int argc, char **argv)
{
   const char *model_path = NULL, *out = NULL, *manifest = NULL;
   mn_gen_format_t format = MN_GEN_FORMAT_DUMP;
   mn_gen_opts_t opts = {0};
   bool have_scale = false, gzip = false, quiet = false;
   mn_gen_model_t *model;
   mn_error_t error = {0};
   struct timespec t0, t1;
   int opt, longindex = -1;

   opts.seed = 1;
   opts.mess_ppm = MN_GEN_MESS_ONE;
   opterr = 0;
   optind = 1;
   while ((opt = getopt_long(argc, argv, ":h", GEN_OPTS, &longindex)) != -1) {
      switch (opt) {
      case OPT_MODEL: model_path = optarg; break;
      case OPT_SCALE:
         if (!parse_u64(optarg, &opts.scale) || opts.scale > UINT64_C(1000000000)) {
            return usage_error("--scale takes a whole number from 0 to 1000000000, not \"%s\"",
                               optarg);
         }
         have_scale = true;
         break;
      case OPT_SEED:
         if (!parse_u64(optarg, &opts.seed)) {
            return usage_error(
               "--seed takes a whole number from 0 to 18446744073709551615, not \"%s\"", optarg);
         }
         break;
      case OPT_MESS:
         if (!parse_ppm(optarg, &opts.mess_ppm)) {
            return usage_error("--mess takes a non-negative number such as 0, 0.5 or 2, not \"%s\"",
                               optarg);
         }
         break;
      case OPT_OUT: out = optarg; break;
      case OPT_FORMAT:
         if (!strcmp(optarg, "dump")) {
            format = MN_GEN_FORMAT_DUMP;
         } else if (!strcmp(optarg, "json")) {
            format = MN_GEN_FORMAT_JSON;
         } else if (!strcmp(optarg, "json-canonical")) {
            format = MN_GEN_FORMAT_JSON_CANONICAL;
         } else {
            return usage_error(
               "unrecognized format \"%s\" (expected one of: dump, json, json-canonical)", optarg);
         }
         break;
      case OPT_GZIP: gzip = true; break;
      case OPT_MANIFEST: manifest = optarg; break;
      case OPT_QUIET: quiet = true; break;
      case OPT_DB: opts.database = optarg; break;
      case OPT_HELP:
      case 'h': fputs(USAGE_GENERATE, stdout); return 0;
      case ':': return usage_error("option \"%s\" needs a value", argv[optind - 1]);
      default: return usage_error("unrecognized option \"%s\"", argv[optind - 1]);
      }
   }
   if (optind < argc) {
      return usage_error("unexpected argument \"%s\"", argv[optind]);
   }
   if (!model_path) {
      return usage_error("%s", "no model: give --model FILE");
   }
   if (!have_scale) {
      return usage_error("%s", "no scale: give --scale N");
   }
   if (!out) {
      return usage_error("%s", "no output: give --out DIR or --out mongodb://...");
   }
   if (gzip && format != MN_GEN_FORMAT_DUMP) {
      return usage_error("%s", "--gzip applies to --format dump");
   }
   if (!(model = mn_gen_model_load(model_path, &error))) {
      fprintf(stderr, "mongonorm: error: %s\n", error.message);
      return exit_code(&error);
   }
   clock_gettime(CLOCK_MONOTONIC, &t0);
   if (!mn_generate(model, &opts, out, format, gzip, manifest, &error)) {
      fprintf(stderr, "mongonorm: error: %s\n", error.message);
      mn_gen_model_destroy(model);
      return exit_code(&error);
   }
   clock_gettime(CLOCK_MONOTONIC, &t1);
   if (!quiet) {
      printf("generated scale %llu, seed %llu into \"%s\" in %.2f s; manifest: %s%s\n",
             (unsigned long long)opts.scale, (unsigned long long)opts.seed, out,
             (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
             manifest ? manifest : out, manifest ? "" : "/manifest.json");
   }
   mn_gen_model_destroy(model);
   return 0;
}
