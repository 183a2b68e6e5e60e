/*
 * version.c - mongonorm's version (MN_VERSION, from CMake's project(VERSION ...)) and the
 * run-time versions of the libraries it links (mongonorm/version.h).
 */
#include <mongonorm/version.h>

#include <bson/bson.h>
#include <glib.h>
#include <libpq-fe.h>
#include <mongoc/mongoc.h>
#include <openssl/crypto.h>
#include <yaml.h>
#include <zlib.h>

#include <stdio.h>

#ifndef MN_VERSION
#error "MN_VERSION is defined by CMakeLists.txt from project(VERSION ...)"
#endif

const char *
mn_version(void)
{
   return MN_VERSION;
}

/* PQlibVersion()'s number as PostgreSQL writes it: 150005 is 15.5, 90605 is 9.6.5. */
static void
libpq_version(char *buf, size_t size)
{
   int v = PQlibVersion();

   if (v >= 100000) {
      snprintf(buf, size, "%d.%d", v / 10000, v % 10000);
   } else {
      snprintf(buf, size, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
   }
}

size_t
mn_version_libraries(mn_library_version_t *out, size_t n)
{
   mn_library_version_t all[MN_VERSION_N_LIBRARIES] = {
      {"libmongoc", ""}, {"libbson", ""}, {"libpq", ""}, {"libyaml", ""},
      {"GLib", ""},      {"OpenSSL", ""}, {"zlib", ""},
   };

   snprintf(all[0].version, sizeof all[0].version, "%s", mongoc_get_version());
   snprintf(all[1].version, sizeof all[1].version, "%s", bson_get_version());
   libpq_version(all[2].version, sizeof all[2].version);
   snprintf(all[3].version, sizeof all[3].version, "%s", yaml_get_version_string());
   snprintf(all[4].version, sizeof all[4].version, "%u.%u.%u", glib_major_version,
            glib_minor_version, glib_micro_version);
   snprintf(all[5].version, sizeof all[5].version, "%s", OpenSSL_version(OPENSSL_VERSION_STRING));
   snprintf(all[6].version, sizeof all[6].version, "%s", zlibVersion());
   for (size_t i = 0; i < n && i < MN_VERSION_N_LIBRARIES; i++) {
      out[i] = all[i];
   }
   return MN_VERSION_N_LIBRARIES;
}
