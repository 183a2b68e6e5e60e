/*
 * ejson_check.h - strict validation of Extended JSON v2 type wrappers.
 *
 * libbson's JSON parser converts wrappers leniently: {"$numberDouble": "7abc"}
 * becomes 7, {"$numberDecimal": "abc"} NaN, {"$date": "2023-02-29T00:00:00Z"}
 * 2023-03-01.  The JSON reader runs this check over each record's text before
 * handing it to libbson, so that a malformed wrapper rejects the record with a
 * reason instead of changing a value.
 */
#ifndef MN_EJSON_CHECK_H
#define MN_EJSON_CHECK_H

#include <bson/bson.h>

#include <stdbool.h>
#include <stddef.h>

/**
 * Check every Extended JSON type wrapper in one JSON document.
 *
 * Each object below the top level that holds a wrapper key ("$oid", "$date",
 * "$numberLong", "$binary", ...) must hold exactly the keys of one wrapper,
 * with values of the forms the Extended JSON v2 specification gives (and the
 * legacy forms libbson reads: {"$binary": "...", "$type": "..."},
 * {"$regex": "...", "$options": "..."}, {"$date": <integer>}).
 *
 * @param text   the document's JSON text; not NUL-terminated; not NULL.
 * @param len    its length in bytes.
 * @param reason on false, set to a new bson_malloc'd reason the caller frees
 *               with bson_free(), e.g. `invalid $date "2023-02-29T00:00:00Z"
 *               in field "createdAt": no such day`; untouched on true.
 * @return false when a wrapper is malformed.  true otherwise, including when
 *         the text is not valid JSON (libbson's parser then reports it).
 */
bool mn_ejson__check(const char *text, size_t len, char **reason);

/**
 * Where the JSON object at the start of text ends, when it is whole: every string
 * closed, brackets nested properly (at most 1000 deep), keys, colons and commas where
 * JSON puts them.  Scalars (numbers, literals) are only delimited, not judged: libbson
 * judges them when it parses the object.  Never recurses.
 *
 * The JSON reader uses it to cut a line that holds several documents one after another
 * (`{"_id":1}{"_id":2}`) into those documents, and only when every piece is whole.
 *
 * @param text the text; not NUL-terminated; not NULL.  text[0] must be '{'.
 * @param len  its length in bytes.
 * @param end  on true, set to the offset just past the object's closing brace.
 * @return false when text does not start with a whole object.
 */
bool mn_ejson__object_end(const char *text, size_t len, size_t *end);

#endif /* MN_EJSON_CHECK_H */
