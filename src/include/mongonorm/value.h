/*
 * mongonorm/value.h - one BSON value into one PostgreSQL column value.
 *
 * The conversion layer of the pipeline.  It is policy-free: it says whether a
 * value converted, was coerced, was empty or is invalid, and why; the caller
 * (convert.c) applies the mapping's policy (reject, NULL, skip the row) and
 * counts.  Output is text in PostgreSQL's input syntax for the column type
 * (the form COPY ... FROM STDIN in text format expects, before COPY's own
 * backslash escaping), so the sink never needs to know BSON.
 *
 * Formats follow the PostgreSQL 15 manual, chapter 8 (Data Types):
 * timestamptz as "YYYY-MM-DD HH:MM:SS.mmm+00" in UTC (ISO 8601, with " BC"
 * for years before 1), numeric in plain or scientific decimal notation,
 * boolean as "t"/"f", arrays as "{...}" literals (section 8.15.6).
 */
#ifndef MONGONORM_VALUE_H
#define MONGONORM_VALUE_H

#include <bson/bson.h>
#include <mongonorm/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/** PostgreSQL column types a mapping may declare. */
typedef enum {
   MN_TYPE_TEXT = 0,
   MN_TYPE_UUID,
   MN_TYPE_SMALLINT,
   MN_TYPE_INTEGER,
   MN_TYPE_BIGINT,
   MN_TYPE_NUMERIC,
   MN_TYPE_DOUBLE, /**< double precision */
   MN_TYPE_REAL,
   MN_TYPE_BOOLEAN,
   MN_TYPE_DATE,
   MN_TYPE_TIMESTAMPTZ,
   MN_TYPE_TIMESTAMP, /**< without time zone; UTC wall clock */
   MN_TYPE_JSONB,
   MN_TYPE_INET,
   MN_TYPE_TEXT_ARRAY, /**< text[] */
   MN_TYPE_COUNT_
} mn_type_t;

/** String transforms, applied in declaration order before conversion. */
typedef enum {
   MN_TRANSFORM_TRIM = 1,
   MN_TRANSFORM_LOWER = 2, /**< ASCII letters only; other bytes are kept */
   MN_TRANSFORM_UPPER = 3
} mn_transform_t;

/**
 * `transform: [..., sha256]`: the column stores a digest of the text it would have stored
 * (after conversion), as 64 lowercase hexadecimal digits.
 */
typedef enum {
   MN_DIGEST_NONE = 0,
   MN_DIGEST_SHA256,     /**< SHA-256(text) */
   MN_DIGEST_HMAC_SHA256 /**< HMAC-SHA-256(key, text) (RFC 2104), the key from `salt_env` */
} mn_digest_kind_t;

/** Length of a digest's text: 64 hexadecimal digits. */
#define MN_VALUE_DIGEST_LEN 64

/** What an empty string (after transforms) becomes. */
typedef enum {
   MN_EMPTY_DEFAULT = 0, /**< KEEP for text, NULL for every other type */
   MN_EMPTY_KEEP,
   MN_EMPTY_NULL,
   MN_EMPTY_INVALID
} mn_empty_t;

/** One unit of a `units` table: a suffix and the factor to the column's unit. */
typedef struct {
   const char *suffix; /**< e.g. "cm", "'", "lbs"; borrowed, compared case-insensitively */
   double factor;      /**< value in column units = number * factor */
} mn_unit_t;

/**
 * The target column as the catalog describes it (mn_pg_check_mapping fills it in at the
 * start of a run).  A value the column would round or truncate when PostgreSQL reads the
 * converted text is INVALID, so that the mapping's on_invalid policy decides and nothing
 * is changed silently.
 */
typedef struct {
   mn_type_t type;   /**< the column's type; only checks that differ from the mapping's matter */
   int precision;    /**< numeric(p,s): p; 0 = numeric without a typmod */
   int scale;        /**< numeric(p,s): s (may be negative, PostgreSQL 15) */
   int max_chars;    /**< varchar(n)/char(n): n characters (UTF-8); 0 = unlimited */
   char name[48];    /**< the column's type for reasons, e.g. "numeric(12,1)", "varchar(8)" */
   char column[132]; /**< "table.column", for reasons */
} mn_value_target_t;

/** How to convert: compiled from a mapping column.  All pointers borrowed. */
typedef struct {
   mn_type_t type;
   int precision;                    /**< numeric: total digits, 0 = unlimited */
   int scale;                        /**< numeric: digits after the point, -1 = unlimited */
   const mn_transform_t *transforms; /**< may be NULL when n_transforms == 0 */
   size_t n_transforms;
   mn_empty_t empty;
   const char *const *enum_values; /**< may be NULL when n_enum == 0 */
   size_t n_enum;
   const mn_unit_t *units; /**< may be NULL when n_units == 0 */
   size_t n_units;
   const char *default_unit;  /**< suffix used for a bare number; NULL = bare numbers as is */
   bool has_target;           /**< `target` is set: the output must fit the target column */
   mn_value_target_t target;  /**< the target column's limits; see mn_value_target_t */
   mn_digest_kind_t digest;   /**< store a digest of the converted text instead of the text */
   const uint8_t *digest_key; /**< MN_DIGEST_HMAC_SHA256: the key (never printed) */
   size_t digest_key_len;     /**< its length in bytes */
   bool hide_values; /**< the column is hashed or redacted: reasons never quote the value */
} mn_value_spec_t;

/** Outcome of one conversion. */
typedef enum {
   MN_VALUE_OK = 0,  /**< converted without loss: the text reads back as exactly the source
                          value, only its representation may differ (ObjectId as hex, a
                          number or date as text, int32 into bigint); text appended to out */
   MN_VALUE_COERCED, /**< converted, but the meaning or precision may have changed (a string
                          read as a number, a whole double into an integer, case folded,
                          trimmed, unit converted, rounded, ...); text appended, reason set */
   MN_VALUE_NULL,    /**< the value is absent, BSON null/undefined, or an empty string
                          that the spec makes NULL; nothing appended */
   MN_VALUE_INVALID  /**< does not convert; nothing appended, reason set */
} mn_value_status_t;

/**
 * Convert one BSON value to PostgreSQL input text for spec->type.
 *
 * @param value   the value; NULL means the field is absent
 * @param spec    how to convert (never NULL)
 * @param out     receives the text (appended; never NUL-containing); never NULL
 * @param reason  receives a short lower-case reason for COERCED and INVALID, e.g.
 *                "string \"tall\" is not a number", "value 70000 out of range for smallint";
 *                may be NULL
 * @param reason_size size of reason in bytes
 * @return the outcome; only OK and COERCED append to out
 *
 * Conversions (anything not listed is INVALID):
 * - text: string (valid UTF-8 without NUL; else INVALID), int32/int64/double/decimal128/bool/
 *   ObjectId (hex)/date (ISO) as their exact text (OK: lossless);
 * - uuid: ObjectId -> 24 hex digits + 8 zeros; binary subtype 4 (or 3) of 16 bytes; a string
 *   holding a UUID (hyphens optional) or 24 hex digits (ObjectId as string, COERCED);
 * - smallint/integer/bigint: int32, int64, decimal128 holding an integer in range, a double
 *   holding one or a string of one (COERCED); fractions, NaN, infinities, overflow INVALID;
 * - numeric: int32, int64, decimal128 (exact digits), double (shortest text that reads back
 *   as the same double), NaN and +-Infinity (PostgreSQL 14+; with a precision only NaN, as
 *   numeric(p,s) refuses the infinities), a numeric string, or with units a string such as
 *   "178 cm", "5'10\"", "154 lbs" (COERCED); precision/scale enforced (rounded half away
 *   from zero to scale: COERCED when digits are lost, INVALID when the integer part does
 *   not fit);
 * - double precision/real: numbers and numeric strings; "NaN", "Infinity", "-Infinity";
 * - boolean: bool; int 0/1 and strings true/false/yes/no/1/0 (COERCED);
 * - date: date (UTC day; COERCED when the time of day is not midnight), string
 *   "YYYY-MM-DD" or an ISO 8601 date-time (COERCED);
 * - timestamptz / timestamp: date (to the millisecond), BSON timestamp (seconds), ISO 8601
 *   string with offset or Z (COERCED); out of PostgreSQL's range (4713 BC .. 294276 AD) INVALID;
 * - jsonb: any value as relaxed Extended JSON (a document or array as JSON text, a string as
 *   a JSON string); a string containing NUL (\u0000, which jsonb refuses) is INVALID;
 * - inet: a string that inet_pton(3) accepts as IPv4 or IPv6 (::ffff:10.0.0.5 included);
 * - text[]: an array of strings (other scalars as their exact text), or one string
 *   (COERCED), as an array literal with quoting per section 8.15.6.
 * Strings get transforms first, then the empty rule, then enum (INVALID when not listed).
 * Then, with spec->digest, the text is replaced by its digest (mn_value_digest): the
 * outcome (OK or COERCED) is the one of the conversion, and a value that does not convert
 * is INVALID as it would be without the digest.  Last, with spec->has_target, the text
 * (the digest, for a digest column) must fit the target column as PostgreSQL will read it
 * (mn_value_target_t): a value it would round or truncate is INVALID, with a reason naming
 * the column ("text longer than column things.code varchar(8): 9 characters").
 * With spec->hide_values, the reason names types and limits but no part of the value:
 * quoted excerpts become "..." and numbers, dates and the like `...` ("string \"...\" is
 * not a number", "value ... out of range for smallint").
 */
mn_value_status_t mn_value_convert(const bson_iter_t *value, const mn_value_spec_t *spec,
                                   bson_string_t *out, char *reason, size_t reason_size);

/**
 * The digest a `transform: [sha256]` column stores for a text: SHA-256 of the bytes, or
 * with spec->digest == MN_DIGEST_HMAC_SHA256 their HMAC-SHA-256 under spec->digest_key.
 * @param spec  the column's spec (its digest kind and key); never NULL
 * @param text  the bytes; may hold any byte
 * @param len   their length
 * @param out   receives MN_VALUE_DIGEST_LEN lowercase hexadecimal digits (appended)
 */
void mn_value_digest(const mn_value_spec_t *spec, const char *text, size_t len, bson_string_t *out);

/**
 * Parse a PostgreSQL type name as written in a mapping ("text", "timestamptz",
 * "timestamp with time zone", "double precision", "text[]", "int4", ...).
 * @return true and *type set, or false for an unknown name.
 */
bool mn_type_from_name(const char *name, mn_type_t *type);

/** The canonical PostgreSQL spelling of a type ("timestamptz"). Static string. */
const char *mn_type_name(mn_type_t type);

/**
 * Format milliseconds since the Unix epoch as timestamptz text, e.g.
 * "1969-12-31 23:59:59.999+00" or "0044-03-15 00:00:00.000+00 BC".
 * @return false when outside PostgreSQL's timestamptz range (nothing appended).
 */
bool mn_value_format_timestamp(int64_t ms, bool with_zone, bson_string_t *out);

#ifdef __cplusplus
}
#endif
#endif
