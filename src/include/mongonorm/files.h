/*
 * mongonorm/files.h - files that hold source data (the reject file, reports).
 */
#ifndef MONGONORM_FILES_H
#define MONGONORM_FILES_H

#include <mongonorm/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Create a new private file at `path` and return it open for writing.
 *
 * The file is created under a fresh name in the same folder (mkostemp: O_CREAT|O_EXCL,
 * mode 0600, so nothing at that name is followed or reused), then renamed over `path`
 * (rename(2) replaces a symbolic link or a hard link at `path` instead of writing through
 * it).  So a reader holding the old file open never sees the new contents, and the new
 * file is never readable by others, whatever was at `path` before.
 *
 * @param path  where the file ends up
 * @param what  what it is, for the message ("reject file")
 * @return a file descriptor (close it with close(2)), or -1 with error set
 *         (MN_ERROR_IO, MN_IO_OPEN, `could not create <what> "<path>": <reason>`: the
 *         folder cannot be written, or the rename failed; the temporary file is removed)
 */
int mn_private_file_create(const char *path, const char *what, mn_error_t *error);

/**
 * The first half of mn_private_file_create(): the new private file under a fresh name
 * beside `path` ("<path>.partial-XXXXXX", mkostemp: O_CREAT|O_EXCL, mode 0600), not yet at
 * `path`.  For a file that must appear only once complete, or only if its writer gets to
 * do its work (a run's report: a run refused by the run lock leaves the running run's
 * report alone); mn_private_file_commit() puts it in place, unlink(2) drops it.
 * @param tmp_path receives the fresh name (free with free()), NULL on failure
 * @return a file descriptor (close it with close(2)), or -1 with error set (MN_ERROR_IO,
 *         MN_IO_OPEN, `could not create <what> "<path>": <reason>`)
 */
int mn_private_file_begin(const char *path, const char *what, char **tmp_path, mn_error_t *error);

/**
 * Rename the file mn_private_file_begin() created over `path` (replacing a link, never
 * writing through it).
 * @return false with error set (MN_ERROR_IO, MN_IO_OPEN, `could not create <what>
 *         "<path>": <reason>`); the file at tmp_path is removed then
 */
bool mn_private_file_commit(const char *tmp_path, const char *path, const char *what,
                            mn_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
