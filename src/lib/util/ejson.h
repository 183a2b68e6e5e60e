/*
 * ejson.h - canonical and relaxed Extended JSON, byte for byte as libbson writes them,
 * faster.
 *
 * libbson's bson_as_canonical_extended_json() escapes strings one character at a time
 * (a decode, an encode and a strlen per character), which made the reject file the
 * largest cost of a re-run: every unchanged rejected document is written again, whole.
 * mn_ejson__canonical() writes the common cases itself (documents, arrays, keys, valid
 * UTF-8 text, integers, doubles, booleans, null, ObjectIds, dates) and asks libbson
 * for every other value, and for the whole document whenever anything is unusual
 * (text that is not strict UTF-8 or holds a NUL, corrupt or deep BSON), so its result
 * is libbson's, NULL included.  A probe document is compared with libbson's text once
 * per process; if they differ (another libbson), libbson writes everything.  The same
 * holds of mn_ejson__relaxed() and bson_as_relaxed_extended_json(), which the converter
 * calls for every jsonb column.
 */
#ifndef MN_EJSON_H
#define MN_EJSON_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

/**
 * The canonical Extended JSON of doc: exactly bson_as_canonical_extended_json()'s text.
 * @param doc          the document (borrowed)
 * @param splice_key   NULL, or the key of a top-level element of doc, of type document,
 *                     whose value is written as splice_json instead of being encoded
 *                     (the caller encoded it already with this function)
 * @param splice_json  that value's text (borrowed); ignored when splice_key is NULL
 * @param len          NULL, or where the length of the text is stored
 * @return the text (free with bson_free()), or NULL where libbson gives NULL (a value
 *         Extended JSON cannot carry, corrupt BSON).
 */
char *mn_ejson__canonical(const bson_t *doc, const char *splice_key, const char *splice_json,
                          size_t *len);

/**
 * The canonical Extended JSON of doc (mn_ejson__canonical()'s text) when the fast writer
 * writes all of it itself: sound BSON (every element and sub-document in bounds, as
 * bson_iter checks them), at most 100 levels deep, every key and string strict UTF-8
 * without NUL, and only documents, arrays, strings, int32, int64, doubles, booleans,
 * null, ObjectIds and dates.  Such a document passes bson_validate(doc,
 * BSON_VALIDATE_NONE) (the same walk, the same bounds, UTF-8 at least as strict), so
 * a caller that would validate first may skip it.  libbson is never asked.
 * @param doc  the document (borrowed)
 * @param len  NULL, or where the length of the text is stored
 * @return the text (free with bson_free()), or NULL when the fast writer cannot write
 *         it alone (including when it is off: mn_ejson__fast() false)
 */
char *mn_ejson__plain(const bson_t *doc, size_t *len);

/**
 * The relaxed Extended JSON of doc: exactly bson_as_relaxed_extended_json()'s text, as
 * mn_ejson__canonical() is the canonical one's (the same cases written by the fast
 * writer, the same fallbacks to libbson).
 * @param doc  the document (borrowed)
 * @param len  NULL, or where the length of the text is stored
 * @return the text (free with bson_free()), or NULL where libbson gives NULL
 */
char *mn_ejson__relaxed(const bson_t *doc, size_t *len);

/**
 * Whether the fast writer is in use (its probe matched libbson's text); false: every
 * call is libbson's own.  For tests.
 */
bool mn_ejson__fast(void);

/** The same for mn_ejson__relaxed(): whether its probe matched libbson's relaxed text. */
bool mn_ejson__fast_relaxed(void);

#endif
