/*
 * mongonorm/version.h - which mongonorm this is, and which libraries it runs with.
 *
 * The version has one source: CMake's project(VERSION ...), compiled into the library
 * (util/version.c); the pkg-config file and the man page take it from the same place.
 */
#ifndef MONGONORM_VERSION_H
#define MONGONORM_VERSION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How many libraries mn_version_libraries() reports. */
#define MN_VERSION_N_LIBRARIES 7

/** One library mongonorm links, and the version it reports at run time. */
typedef struct {
   const char *name; /**< "libmongoc", "libbson", "libpq", "libyaml", "GLib", "OpenSSL",
                          "zlib"; a static string */
   char version[64]; /**< the version the loaded library reports ("1.23.1") */
} mn_library_version_t;

/**
 * The version of the mongonorm library linked, "X.Y.Z".
 * @return a static string; never NULL
 */
const char *mn_version(void);

/**
 * The versions of the libraries mongonorm runs with, as they report them at run time
 * (which may differ from those it was built against, for shared libraries): libmongoc,
 * libbson, libpq, libyaml, GLib, OpenSSL and zlib, in that order.
 * @param out receives up to `n` entries; may be NULL when `n` is 0
 * @param n   how many entries `out` has room for
 * @return MN_VERSION_N_LIBRARIES, however many were written; cannot fail
 */
size_t mn_version_libraries(mn_library_version_t *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
