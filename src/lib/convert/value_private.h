/*
 * value_private.h - calendar arithmetic shared inside the library.
 */
#ifndef MN_VALUE_PRIVATE_H
#define MN_VALUE_PRIVATE_H

#include <stdint.h>

/** Days since 1970-01-01 of a proleptic Gregorian date (year 0 = 1 BC). */
int64_t mn_value__days_from_civil(int64_t y, int m, int d);

/** The proleptic Gregorian date of a day number (days since 1970-01-01). */
void mn_value__civil_from_days(int64_t z, int64_t *y, int *m, int *d);

#endif
