/*
 * keys.c - stable row ids: ObjectId layout and RFC 4122 version-5 UUIDs.
 */
#include <mongonorm/keys.h>

#include "util/bson_private.h"

#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
mn_uuid_from_oid(const bson_oid_t *oid, mn_uuid_t *out)
{
   memcpy(out->bytes, oid->bytes, 12);
   memset(out->bytes + 12, 0, 4);
}

/*
 * The digests, fetched from OpenSSL's default provider once per process: EVP_sha256()
 * and EVP_sha1() make EVP_Digest() fetch the implementation again on every call (a
 * provider lookup, locks), which cost a re-run 4% of its time, one SHA-256 per document.
 */
static const EVP_MD *sha256_md;
static const EVP_MD *sha1_md;
static pthread_once_t digests_once = PTHREAD_ONCE_INIT;
/* Each thread's digest context, made at its first digest and freed when it ends: one
 * context a call (EVP_Digest() makes and frees one inside) cost about 70 ns of the 300-870
 * of a 0.4-1.3 KB document's SHA-256, and a row id's SHA-1 is mostly that. */
static pthread_key_t ctx_key;
static bool have_ctx_key;

static void
free_ctx(void *ctx)
{
   EVP_MD_CTX_free(ctx);
}

static void
fetch_digests(void)
{
   EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
   sha256_md = md ? md : EVP_sha256(); /* kept for the life of the process */
   md = EVP_MD_fetch(NULL, "SHA1", NULL);
   sha1_md = md ? md : EVP_sha1();
   have_ctx_key = pthread_key_create(&ctx_key, free_ctx) == 0;
}

/* The calling thread's context, ready for EVP_DigestInit_ex(); NULL when none could be
 * made (the caller then makes its own). */
static EVP_MD_CTX *
thread_ctx(void)
{
   EVP_MD_CTX *ctx;

   pthread_once(&digests_once, fetch_digests);
   if (!have_ctx_key) {
      return NULL;
   }
   ctx = pthread_getspecific(ctx_key);
   if (!ctx && (ctx = EVP_MD_CTX_new()) != NULL && pthread_setspecific(ctx_key, ctx) != 0) {
      EVP_MD_CTX_free(ctx);
      ctx = NULL;
   }
   return ctx;
}

/* Digest the n parts (data[i], len[i] bytes) with md into out, on the thread's context. */
static void
digest_parts(const EVP_MD *md, size_t n, const void *const data[], const size_t len[],
             unsigned char *out)
{
   EVP_MD_CTX *shared = thread_ctx();
   EVP_MD_CTX *ctx = shared ? shared : EVP_MD_CTX_new();
   unsigned int got = 0;

   if (!ctx) {
      abort(); /* no memory for a context */
   }
   EVP_DigestInit_ex(ctx, md, NULL);
   for (size_t i = 0; i < n; i++) {
      EVP_DigestUpdate(ctx, data[i], len[i]);
   }
   EVP_DigestFinal_ex(ctx, out, &got);
   if (!shared) {
      EVP_MD_CTX_free(ctx);
   }
}

void
mn_uuid_v5(const mn_uuid_t *ns, const void *name, size_t name_len, mn_uuid_t *out)
{
   unsigned char digest[EVP_MAX_MD_SIZE];
   const void *parts[2] = {ns->bytes, name};
   const size_t lens[2] = {16, name_len};

   /* RFC 4122 4.3: SHA-1 over namespace then name; take 16 bytes, then set
    * the version (high nibble of byte 6) and the variant (byte 8). */
   pthread_once(&digests_once, fetch_digests);
   digest_parts(sha1_md, 2, parts, lens, digest);
   memcpy(out->bytes, digest, 16);
   out->bytes[6] = (uint8_t)((out->bytes[6] & 0x0f) | 0x50);
   out->bytes[8] = (uint8_t)((out->bytes[8] & 0x3f) | 0x80);
}

void
mn_digest(const void *data, size_t len, uint8_t out[MN_DIGEST_SIZE])
{
   pthread_once(&digests_once, fetch_digests);
   digest_parts(sha256_md, 1, &data, &len, out);
}

void
mn_digest_parts(size_t n, const void *const data[], const size_t len[], uint8_t out[MN_DIGEST_SIZE])
{
   pthread_once(&digests_once, fetch_digests);
   digest_parts(sha256_md, n, data, len, out);
}

static mn_uuid_t namespace_id;
static pthread_once_t namespace_once = PTHREAD_ONCE_INIT;

static void
parse_namespace(void)
{
   mn_uuid_parse(MN_KEY_NAMESPACE, &namespace_id);
}

/* The namespace of name-based ids, parsed once (run --jobs converts on several threads). */
static const mn_uuid_t *
namespace_uuid(void)
{
   pthread_once(&namespace_once, parse_namespace);
   return &namespace_id;
}

static void
v5_text(const char *text, size_t len, mn_uuid_t *out)
{
   mn_uuid_v5(namespace_uuid(), text, len, out);
}

/*
 * "n:<integer>" for a Decimal128 string ("42", "42.000", "4.2E+1", "-0") whose value is an
 * integer of at most 19 digits; false otherwise.
 */
static bool
decimal_integer_text(const char *text, char *buf, size_t size)
{
   char digits[64];
   size_t n = 0;
   int point = -1; /* digits before the decimal point */
   long exp = 0;
   bool neg = false;
   const char *p = text;
   size_t lead = 0;
   long int_len;

   if (*p == '-' || *p == '+') {
      neg = *p == '-';
      p++;
   }
   for (; *p && *p != 'E' && *p != 'e'; p++) {
      if (*p == '.') {
         point = (int)n;
      } else if (*p >= '0' && *p <= '9' && n < sizeof digits - 1) {
         digits[n++] = *p;
      } else {
         return false;
      }
   }
   if (*p) {
      exp = strtol(p + 1, NULL, 10);
   }
   if (point < 0) {
      point = (int)n;
   }
   int_len = point + exp;
   /* every digit after the integer part must be zero */
   for (size_t i = 0; i < n; i++) {
      if ((long)i >= int_len && digits[i] != '0') {
         return false;
      }
   }
   while (lead < n && (long)lead < int_len && digits[lead] == '0') {
      lead++;
   }
   if (int_len - (long)lead > 19) {
      return false;
   }
   {
      char num[32];
      size_t o = 0;
      for (long i = (long)lead; i < int_len; i++) {
         num[o++] = i < (long)n ? digits[i] : '0';
      }
      num[o] = '\0';
      if (o == 0) {
         snprintf(buf, size, "n:0");
      } else {
         snprintf(buf, size, "n:%s%s", neg ? "-" : "", num);
      }
   }
   return true;
}

/*
 * "n:<integer>" for a number whose value is an integer, whatever its type (MongoDB
 * compares numbers by value: Decimal128 42, 42.0 or 4.2E+1 is the same _id as Int32 42),
 * "d:<%.17g>" for another double; false for a Decimal128 that is no integer and for
 * every other type.
 */
static bool
number_name(const bson_iter_t *value, char *buf, size_t size)
{
   char text[BSON_DECIMAL128_STRING];
   bson_decimal128_t dec;
   double d;

   switch (bson_iter_type(value)) {
   case BSON_TYPE_INT32: snprintf(buf, size, "n:%d", (int)bson_iter_int32(value)); return true;
   case BSON_TYPE_INT64:
      snprintf(buf, size, "n:%lld", (long long)bson_iter_int64(value));
      return true;
   case BSON_TYPE_DOUBLE:
      d = bson_iter_double(value);
      if (isfinite(d) && d == floor(d) && fabs(d) < 9.2e18) {
         snprintf(buf, size, "n:%lld", (long long)d);
      } else {
         snprintf(buf, size, "d:%.17g", d);
      }
      return true;
   case BSON_TYPE_DECIMAL128:
      if (!bson_iter_decimal128(value, &dec)) {
         return false;
      }
      bson_decimal128_to_string(&dec, text);
      return decimal_integer_text(text, buf, size);
   default: return false;
   }
}

void
mn_uuid_from_value(const bson_iter_t *value, mn_uuid_t *out)
{
   char buf[64];
   bson_string_t *s = NULL;

   if (bson_iter_type(value) == BSON_TYPE_OID) {
      mn_uuid_from_oid(bson_iter_oid(value), out);
      return;
   }
   if (number_name(value, buf, sizeof buf)) {
      v5_text(buf, strlen(buf), out);
      return;
   }
   if (bson_iter_type(value) == BSON_TYPE_UTF8) {
      uint32_t len = 0;
      const char *str = bson_iter_utf8(value, &len);

      s = bson_string_new("s:");
      /* Append by length: the string may hold bytes after an embedded NUL. */
      for (uint32_t i = 0; i < len; i++) {
         bson_string_append_c(s, str[i]);
      }
   } else {
      bson_t wrapper = BSON_INITIALIZER;
      char *json;
      size_t len = 0;

      mn_bson__append_iter(&wrapper, "v", 1, value);
      json = bson_as_canonical_extended_json(&wrapper, &len);
      s = bson_string_new("j:");
      bson_string_append(s, json ? json : "");
      bson_free(json);
      bson_destroy(&wrapper);
   }
   v5_text(s->str, s->len, out);
   bson_string_free(s, true);
}

void
mn_uuid_derive(const mn_uuid_t *parent, const char *component, const char *index, mn_uuid_t *out)
{
   char parent_text[MN_UUID_TEXT_LEN + 1];
   bson_string_t *s;

   mn_uuid_format(parent, parent_text);
   s = bson_string_new(parent_text);
   bson_string_append_c(s, '/');
   bson_string_append(s, component);
   if (index) {
      bson_string_append_c(s, '/');
      bson_string_append(s, index);
   }
   v5_text(s->str, s->len, out);
   bson_string_free(s, true);
}

void
mn_uuid_format(const mn_uuid_t *uuid, char out[MN_UUID_TEXT_LEN + 1])
{
   static const char hex[] = "0123456789abcdef";
   size_t o = 0;

   for (int i = 0; i < 16; i++) {
      if (i == 4 || i == 6 || i == 8 || i == 10) {
         out[o++] = '-';
      }
      out[o++] = hex[uuid->bytes[i] >> 4];
      out[o++] = hex[uuid->bytes[i] & 0x0f];
   }
   out[o] = '\0';
}

static int
hex_value(char c)
{
   if (c >= '0' && c <= '9') {
      return c - '0';
   }
   if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
   }
   if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
   }
   return -1;
}

bool
mn_uuid_parse(const char *text, mn_uuid_t *out)
{
   int n = 0;
   int hi = -1;

   for (const char *p = text; *p; p++) {
      int v;

      if (*p == '-') {
         continue;
      }
      v = hex_value(*p);
      if (v < 0 || n >= 16) {
         return false;
      }
      if (hi < 0) {
         hi = v;
      } else {
         out->bytes[n++] = (uint8_t)(hi << 4 | v);
         hi = -1;
      }
   }
   return n == 16 && hi < 0;
}
