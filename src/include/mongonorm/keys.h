/*
 * mongonorm/keys.h - stable row ids.
 *
 * A row id is a UUID derived deterministically from the source, so that every
 * run produces the same ids (docs/mapping.md, "Row ids"):
 * - an ObjectId becomes its 24 hex digits followed by 8 zero digits (the
 *   layout of MediChat's own migration script: the ObjectId reads back from
 *   the first 12 bytes);
 * - anything else becomes a name-based UUID, version 5 (RFC 4122 section 4.3,
 *   SHA-1), in mongonorm's own namespace MN_KEY_NAMESPACE.
 */
#ifndef MONGONORM_KEYS_H
#define MONGONORM_KEYS_H

#include <bson/bson.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A UUID as 16 bytes, in network (RFC 4122) byte order. */
typedef struct {
   uint8_t bytes[16];
} mn_uuid_t;

/** Length of the text form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", NUL excluded. */
#define MN_UUID_TEXT_LEN 36

/** mongonorm's namespace UUID for version-5 ids. */
#define MN_KEY_NAMESPACE "b3a1c1e0-6d6f-4e67-8e6f-726d2d6b6579"

/** The UUID of an ObjectId: its 12 bytes then 4 zero bytes. */
void mn_uuid_from_oid(const bson_oid_t *oid, mn_uuid_t *out);

/** A version-5 UUID of (namespace, name bytes) per RFC 4122 section 4.3. */
void mn_uuid_v5(const mn_uuid_t *ns, const void *name, size_t name_len, mn_uuid_t *out);

/**
 * The row id of a document or sub-document `_id` value.  ObjectIds use the layout above;
 * every other type a v5 UUID of a typed text of the value, chosen so that values MongoDB
 * treats as the same _id give the same UUID (Int32 1, Int64 1 and Double 1.0 alike):
 * "s:<string>", "n:<integer>", "d:<double %.17g>", or "j:<canonical Extended JSON>".
 */
void mn_uuid_from_value(const bson_iter_t *value, mn_uuid_t *out);

/**
 * The id of a row that has no `_id` of its own: v5 of "<parent id>/<component>/<index>".
 * @param parent    the parent row's id
 * @param component the array path, or an entry name for 1:1 rows; never NULL
 * @param index     the element's index or map key as text; may be NULL (1:1 rows)
 */
void mn_uuid_derive(const mn_uuid_t *parent, const char *component, const char *index,
                    mn_uuid_t *out);

/** Size of a content digest (SHA-256), in bytes. */
#define MN_DIGEST_SIZE 32

/**
 * The content digest of bytes: SHA-256 (FIPS 180-4, through OpenSSL).  Used for the
 * per-document change detection of incremental runs and for the mapping's fingerprint.
 */
void mn_digest(const void *data, size_t len, uint8_t out[MN_DIGEST_SIZE]);

/**
 * The SHA-256 of the concatenation of n byte ranges (data[i], len[i] bytes each), as
 * mn_digest() of their bytes one after the other would give, without copying them.
 */
void mn_digest_parts(size_t n, const void *const data[], const size_t len[],
                     uint8_t out[MN_DIGEST_SIZE]);

/** Write the text form (lower-case hex, hyphens) plus NUL into out (37 bytes). */
void mn_uuid_format(const mn_uuid_t *uuid, char out[MN_UUID_TEXT_LEN + 1]);

/** Parse the text form (hyphens optional). @return false when not a UUID. */
bool mn_uuid_parse(const char *text, mn_uuid_t *out);

#ifdef __cplusplus
}
#endif
#endif
