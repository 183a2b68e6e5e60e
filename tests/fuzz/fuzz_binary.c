/*
 * tests/fuzz/fuzz_binary.c - COPY's binary encoder (pg/binary.c) on any text.
 *
 * The first byte picks the kind (mn_pg__bin_kind_t, modulo their number), the rest is the
 * text.  Whatever it is: a text that encodes appends exactly one field whose length word
 * counts the bytes after it (and for the fixed-size types the size their receive function
 * reads); one that does not appends nothing; the text and JSON kinds always encode; a
 * refused field of every kind is a well-formed field.
 */
#include "fuzz_common.h"
#include "pg/pg_private.h"

#define N_KINDS (MN_PG_BIN_TEXT_ARRAY + 1)

static uint32_t
get32(const char *p)
{
   const uint8_t *b = (const uint8_t *)p;
   return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The size of kind's value as its receive function reads it, or 0 when it varies. */
static uint32_t
fixed_size(mn_pg__bin_kind_t kind)
{
   switch (kind) {
   case MN_PG_BIN_UUID: return 16;
   case MN_PG_BIN_INT2: return 2;
   case MN_PG_BIN_INT4:
   case MN_PG_BIN_FLOAT4:
   case MN_PG_BIN_DATE: return 4;
   case MN_PG_BIN_INT8:
   case MN_PG_BIN_FLOAT8:
   case MN_PG_BIN_TIMESTAMP:
   case MN_PG_BIN_TIMESTAMPTZ: return 8;
   case MN_PG_BIN_BOOL: return 1;
   default: return 0;
   }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
   mn_pg__bin_kind_t kind;
   GString *out;
   const char *text;
   size_t len;

   if (size == 0) {
      return 0;
   }
   kind = (mn_pg__bin_kind_t)(data[0] % N_KINDS);
   text = (const char *)data + 1;
   len = size - 1;
   out = g_string_new("x"); /* a byte before: the field must start after it */
   if (mn_pg__bin_append(out, kind, text, len)) {
      uint32_t n;
      if (out->len < 5 || (n = get32(out->str + 1)) != out->len - 5) {
         fprintf(stderr, "fuzz_binary: kind %d: a field of %zu bytes\n", (int)kind, out->len - 1);
         abort();
      }
      if (fixed_size(kind) && n != fixed_size(kind)) {
         fprintf(stderr, "fuzz_binary: kind %d: %u bytes, not %u\n", (int)kind, n,
                 fixed_size(kind));
         abort();
      }
      if (kind == MN_PG_BIN_NUMERIC && (n < 8 || (n - 8) % 2 != 0)) {
         abort();
      }
   } else if (out->len != 1 || kind == MN_PG_BIN_TEXT || kind == MN_PG_BIN_JSON ||
              kind == MN_PG_BIN_JSONB) {
      fprintf(stderr, "fuzz_binary: kind %d: refused, %zu bytes left\n", (int)kind, out->len - 1);
      abort();
   }
   g_string_truncate(out, 0);
   mn_pg__bin_append_refused(out, kind == MN_PG_BIN_NONE ? MN_PG_BIN_INET : kind);
   if (out->len < 4 || get32(out->str) != out->len - 4) {
      abort();
   }
   g_string_free(out, TRUE);
   return 0;
}
