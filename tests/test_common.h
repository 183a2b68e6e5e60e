/*
 * test_common.h - what the cmocka test programs share: a live test's service.
 *
 * cmocka's skip() counts as a pass, so a program whose live tests all skip would still
 * report success.  Instead a missing service is said on stderr and remembered, and the
 * program's exit status tells ctest: 77 (SKIP_RETURN_CODE) when a service was missing,
 * 1 under CI=true (the test command starts every service, so a missing one is a failure).
 *
 * Include after <cmocka.h>.  Each test program is one translation unit, so the state is
 * file-static.
 */
#ifndef MN_TEST_COMMON_H
#define MN_TEST_COMMON_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first service found missing, for the exit status; NULL while none is. */
static const char *mn_test_missing_service;

/* CI=true: a service a test needs that did not start is a failure, never a skip. */
static inline bool
mn_test_under_ci(void)
{
   const char *ci = getenv("CI");
   return ci && strcmp(ci, "true") == 0;
}

/* Say on stderr that environment variable NAME, which names SERVICE, is not set, and
 * remember it for mn_test_exit(). */
static inline void
mn_test_note_missing(const char *name, const char *service)
{
   if (mn_test_under_ci()) {
      fprintf(stderr, "FAIL: %s is not set under CI=true (%s; the test command starts it)\n", name,
              service);
   } else {
      fprintf(stderr, "SKIP: %s is not set (%s)\n", name, service);
   }
   if (!mn_test_missing_service) {
      mn_test_missing_service = service;
   }
}

/* The value of environment variable NAME, which names SERVICE; NULL when it is unset or
 * empty, after mn_test_note_missing(). */
static inline const char *
mn_test_env(const char *name, const char *service)
{
   const char *value = getenv(name);

   if (value && *value) {
      return value;
   }
   mn_test_note_missing(name, service);
   return NULL;
}

/* For a program every test of which needs SERVICE: the value of NAME, or exit now with
 * 77 (skipped), 1 under CI=true, when it is unset or empty. */
static inline const char *
mn_test_require_env(const char *name, const char *service)
{
   const char *value = mn_test_env(name, service);

   if (!value) {
      exit(mn_test_under_ci() ? 1 : 77);
   }
   return value;
}

/* Inside one live test, when the environment variable NAME (SERVICE) is unset: end the
 * test, failed under CI=true, skipped otherwise (and the program exits 77, mn_test_exit). */
static inline void
mn_test_skip_missing(const char *name, const char *service)
{
   mn_test_note_missing(name, service);
   if (mn_test_under_ci()) {
      fail_msg("%s is not set under CI=true (the test command starts %s)", name, service);
   }
   skip();
}

/* The program's exit status from cmocka_run_group_tests()'s STATUS: a failure stays a
 * failure; otherwise 1 when a service was missing under CI=true, 77 when one was missing
 * (the tests that could run passed, the others were skipped), 0 when none was. */
static inline int
mn_test_exit(int status)
{
   if (status != 0) {
      return status;
   }
   if (mn_test_missing_service) {
      fprintf(stderr, "%s: %s\n", mn_test_under_ci() ? "FAIL" : "SKIP", mn_test_missing_service);
      return mn_test_under_ci() ? 1 : 77;
   }
   return 0;
}

#endif
