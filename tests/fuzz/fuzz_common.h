/*
 * tests/fuzz/fuzz_common.h - helpers shared by the libFuzzer harnesses.
 *
 * Each harness is one fuzz_<target>.c defining LLVMFuzzerTestOneInput; this
 * header gives them a private scratch folder (the file readers take a path)
 * and an iterative nesting-depth check for raw BSON bytes.
 */
#ifndef MN_FUZZ_COMMON_H
#define MN_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Inputs nested deeper than this are skipped by the harnesses that hand raw BSON to
 * libbson: a document nested 10,000 levels deep overflows the stack in libbson's
 * recursive bson_validate_with_error (a known crash, issue 9 point 2, being fixed in
 * convert.c).  Remove the skip once the converter checks the depth itself. */
#define FUZZ_MAX_DEPTH 1000

/* A private folder for this process, created on first use, in /dev/shm when there
 * is one (no disk writes per input); never removed (libFuzzer exits abruptly). */
static inline const char *
fuzz_scratch_dir(void)
{
   static char dir[256];

   if (!dir[0]) {
      const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
      snprintf(dir, sizeof dir, "%s/mn-fuzz-%ld-XXXXXX", base, (long)getpid());
      if (!mkdtemp(dir)) {
         perror("mkdtemp");
         abort();
      }
   }
   return dir;
}

/* Write the input to <scratch>/<name>, replacing what was there; aborts on failure
 * (a harness that cannot write its input must not report success). */
static inline const char *
fuzz_write_file(const char *name, const uint8_t *data, size_t size)
{
   static char path[512];
   FILE *f;

   snprintf(path, sizeof path, "%s/%s", fuzz_scratch_dir(), name);
   f = fopen(path, "wb");
   if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
      perror(path);
      abort();
   }
   return path;
}

static inline uint32_t
fuzz_le32(const uint8_t *p)
{
   return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * The nesting depth of the BSON document in data[0..size), walked iteratively with an
 * explicit stack, as far as its bytes make sense (the walk stops at the first element
 * that does not; libbson stops there too).  Stops counting once the depth passes
 * `limit`.  Embedded documents, arrays and the scope of code-with-scope values count.
 */
static inline size_t
fuzz_bson_depth(const uint8_t *data, size_t size, size_t limit)
{
   typedef struct {
      size_t end;    /* one past the document's last byte */
      size_t resume; /* where the parent goes on once this document ends */
   } frame_t;
   frame_t *stack = NULL;
   size_t depth = 0, max = 0, pos = 4;
   uint32_t len;

   if (size < 5 || (len = fuzz_le32(data)) < 5 || len > size) {
      return 0;
   }
   stack = malloc((limit + 2) * sizeof *stack);
   if (!stack) {
      abort();
   }
   stack[0].end = len;
   stack[0].resume = len;
   depth = max = 1;
   while (depth > 0 && max <= limit) {
      size_t end = stack[depth - 1].end;
      const uint8_t *nul;
      uint8_t type;
      uint32_t n, total;

      if (pos >= end) {
         break; /* no terminating byte: malformed */
      }
      type = data[pos++];
      if (type == 0) {
         pos = stack[--depth].resume;
         continue;
      }
      nul = memchr(data + pos, 0, end - pos);
      if (!nul) {
         break;
      }
      pos = (size_t)(nul - data) + 1;
#define NEED(k)                                                                                    \
   if (end - pos < (size_t)(k)) {                                                                  \
      goto done;                                                                                   \
   }
      switch (type) {
      case 0x01:
      case 0x09:
      case 0x11:
      case 0x12: NEED(8) pos += 8; break;
      case 0x10: NEED(4) pos += 4; break;
      case 0x13: NEED(16) pos += 16; break;
      case 0x07: NEED(12) pos += 12; break;
      case 0x08: NEED(1) pos += 1; break;
      case 0x06:
      case 0x0A:
      case 0x7F:
      case 0xFF: break;
      case 0x02:
      case 0x0D:
      case 0x0E:
         NEED(4) n = fuzz_le32(data + pos);
         NEED((size_t)n + 4) pos += 4 + (size_t)n;
         break;
      case 0x0C:
         NEED(4) n = fuzz_le32(data + pos);
         NEED((size_t)n + 16) pos += 16 + (size_t)n;
         break;
      case 0x05:
         NEED(4) n = fuzz_le32(data + pos);
         NEED((size_t)n + 5) pos += 5 + (size_t)n;
         break;
      case 0x0B:
         for (int k = 0; k < 2; k++) {
            nul = memchr(data + pos, 0, end - pos);
            if (!nul) {
               goto done;
            }
            pos = (size_t)(nul - data) + 1;
         }
         break;
      case 0x03:
      case 0x04:
         NEED(5) n = fuzz_le32(data + pos);
         if (n < 5) {
            goto done;
         }
         NEED(n) stack[depth].end = pos + n;
         stack[depth].resume = pos + n;
         depth++;
         pos += 4;
         if (depth > max) {
            max = depth;
         }
         break;
      case 0x0F:
         NEED(4) total = fuzz_le32(data + pos);
         if (total < 14) {
            goto done;
         }
         NEED(total) n = fuzz_le32(data + pos + 4);
         if ((size_t)n + 8 + 5 > total) {
            goto done;
         }
         {
            size_t scope = pos + 8 + n;
            uint32_t slen = fuzz_le32(data + scope);
            if (slen < 5 || scope + slen > pos + total) {
               goto done;
            }
            stack[depth].end = scope + slen;
            stack[depth].resume = pos + total;
            depth++;
            pos = scope + 4;
            if (depth > max) {
               max = depth;
            }
         }
         break;
      default: goto done;
      }
#undef NEED
   }
done:
   free(stack);
   return max;
}

#endif
