/*
 * mongonorm/status.h - what the recorded runs did, and how far the target lags the source.
 */
#ifndef MONGONORM_STATUS_H
#define MONGONORM_STATUS_H

#include <bson/bson.h>
#include <mongonorm/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The most recent runs recorded in mongonorm.runs, newest first.
 * @param conninfo libpq connection string, NULL for the PG* environment
 * @param limit    how many runs at most (> 0)
 * @param out      an initialised bson_t that receives {"runs": [{id, started_at,
 *                 finished_at, seconds, source, mapping, outcome, report}, ...]}
 *                 (report is the run's statistics document, or absent while it runs).
 *                 outcome is "running" only while the run's session still holds the run
 *                 lock; a run recorded as running whose session is gone (killed, or cut
 *                 off by a server restart) is "interrupted", with neither finished_at nor
 *                 seconds (unknown).  While a bulk load is in progress (state.h),
 *                 also {"bulk_load": {indexes, foreign_keys, since}}: what it dropped and
 *                 has not put back yet, and when it dropped it
 * @return false with MN_ERROR_PG set (MN_PG_SCHEMA when mongonorm's schema is missing).
 */
bool mn_status_runs(const char *conninfo, int limit, bson_t *out, mn_error_t *error);

/**
 * Compare the source with what the target records, without writing anything: per mapped
 * collection, the documents that are new, changed (their bytes differ from the last
 * loaded ones), gone from the source, rejected last time, and unchanged.
 * @param out receives {"mapping_changed": bool, "collections": {name: {source, new,
 *            changed, deleted, rejected_before, unchanged}}}
 *            A mapped collection the source lacks reads as empty only when the mapping
 *            declares it `optional`; otherwise, as in a run, nothing is counted and the
 *            error is MN_ERROR_MONGO / MN_MONGO_NOT_FOUND naming it.
 * @return false with error set (MN_ERROR_MAPPING, MN_ERROR_MONGO, MN_ERROR_PG, MN_ERROR_IO).
 */
bool mn_status_pending(const char *conninfo, const char *source, const char *database,
                       const char *mapping_path, bson_t *out, mn_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
