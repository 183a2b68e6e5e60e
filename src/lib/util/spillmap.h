/*
 * spillmap.h - a map of 16-byte keys to fixed-size values whose memory is bounded: in
 * memory up to a budget, then spilled to sorted run files in a private temporary
 * directory (convert's `_id` sets and run-wide unique keys, run's `_id`s of a pass).
 *
 * The newest value of a key wins: the in-memory table first, then the runs from the
 * newest.  Each run is a file of sorted records (key, value), unlinked as soon as it is
 * made, read with pread() (never mapped: mapped pages would count in the RSS) through a
 * sparse index in memory (the first key of every block of 256 records), a one-block cache
 * and a Bloom filter (8 bits a record), so a key in no run costs no I/O.  More than 8
 * runs are merged into one.  The directory (mkdtemp under TMPDIR, else /tmp; mode 0700)
 * is made at the first spill and removed when the map is destroyed.
 *
 * Errors: a spill that fails (no directory, a full disk) keeps the map in memory, whole
 * and correct, and makes the map failed; a read of a run that fails makes it failed too
 * (that lookup answers "absent").  mn_spillmap__ok() tells, with the message: callers
 * check it before anything decided with the map is committed.  No memory aborts.
 */
#ifndef MN_SPILLMAP_H
#define MN_SPILLMAP_H

#include <mongonorm/error.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mn_spillmap mn_spillmap_t;

/** The size of a key, in bytes. */
#define MN_SPILLMAP_KEY 16

/** The largest value size mn_spillmap__new() takes. */
#define MN_SPILLMAP_MAX_VALUE 64

/**
 * The memory budget of one map's in-memory table, in bytes: MN_SET_MEMORY from the
 * environment (a number of bytes, with an optional K, M or G suffix), else 2 MiB.  A value
 * that is not such a number is ignored (the default).  The budget is the most the table
 * may take, including the moment it grows.
 */
size_t mn_spillmap__default_budget(void);

/**
 * A new empty map of value_size-byte values (0 for a set, at most MN_SPILLMAP_MAX_VALUE)
 * whose table keeps at most budget bytes (0: mn_spillmap__default_budget()).
 * @return the map, owned by the caller (mn_spillmap__destroy).  Aborts on no memory.
 */
mn_spillmap_t *mn_spillmap__new(size_t value_size, size_t budget);

/** Free the map, its runs and its directory. NULL-safe. */
void mn_spillmap__destroy(mn_spillmap_t *m);

/**
 * Look key up.  @return whether it is in the map; when it is and value is not NULL, its
 * value is copied there.
 */
bool mn_spillmap__get(mn_spillmap_t *m, const uint8_t *key, void *value);

/** Set key's value (value_size bytes; NULL with value size 0), replacing any. */
void mn_spillmap__put(mn_spillmap_t *m, const uint8_t *key, const void *value);

/** For a set (value size 0): insert key.  @return true when it was not in the map yet. */
bool mn_spillmap__add(mn_spillmap_t *m, const uint8_t *key);

/** Remove every key (the runs too); the map stays usable, and a failure stays. */
void mn_spillmap__clear(mn_spillmap_t *m);

/** Whether the map has never had a key since it was made or cleared. */
bool mn_spillmap__empty(const mn_spillmap_t *m);

/** Called once per key by mn_spillmap__foreach with its newest value. */
typedef void (*mn_spillmap_fn)(const uint8_t *key, const void *value, void *ctx);

/**
 * Call fn for every key in the map once, with its newest value, in no stated order.  fn
 * must not change the map.  A run that cannot be read makes the map failed (its keys are
 * then missed).  Several threads may iterate one map at once while none changes it.
 */
void mn_spillmap__foreach(mn_spillmap_t *m, mn_spillmap_fn fn, void *ctx);

/** How many runs the map has on disk now (tests, statistics). */
size_t mn_spillmap__runs(const mn_spillmap_t *m);

/**
 * Whether the map has not failed.  @return false after a failed spill or read, with the
 * first failure's message in error (MN_ERROR_IO: it names the directory).
 */
bool mn_spillmap__ok(const mn_spillmap_t *m, mn_error_t *error);

#endif
