// SPDX-License-Identifier: MIT
/*
 * A small JSON writer for the command line tools (README.md, "Machine-readable
 * output"): objects, arrays, numbers, booleans and byte strings that always
 * come out as valid JSON.
 *
 * Two kinds of string. Text (names, messages, report fields) goes through
 * json_str / json_write_string: valid UTF-8 passes as it is; `"` and `\` are
 * escaped as \" and \\; the control bytes 0x00..0x1f and 0x7f as \u00XX; a
 * byte that is not part of a valid UTF-8 sequence as \ufffd (text is not
 * expected to hold one; the replacement keeps the output valid for every
 * parser, which a lone surrogate would not).
 *
 * Bytes that a reader must get back exactly — keys, values, bucket names —
 * go through json_field_bytes / json_write_bytes_member, which say in the
 * member's name how they are written: "NAME" holding the string as above when
 * the bytes are valid UTF-8 throughout (a NUL or a control byte included,
 * as \u0000 and \u00XX), else "NAME_base64" holding standard base64 (RFC 4648,
 * section 4, padded). Every key, value and bucket of every --json output is
 * such a member, so an array of keys is an array of objects.
 */
#ifndef PKV_TOOLS_JSON_H
#define PKV_TOOLS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *f;
	unsigned depth;
	bool after_key; /* a key was written: the value needs no comma */
	bool nonempty[JSON_MAX_DEPTH + 1]; /* a member was written at this depth */
};

void json_init(struct json *j, FILE *f);
/* Whether the len bytes at s are valid UTF-8 throughout (RFC 3629). */
bool json_utf8_valid(const void *s, size_t len);
/* A text's escaped form alone, quotes included. */
void json_write_string(FILE *f, const void *s, size_t len);
/* The len bytes at s in base64 (RFC 4648, padded), quotes included. */
void json_write_base64(FILE *f, const void *s, size_t len);
/*
 * An object member of bytes for writers of their own (pkv-bench):
 * "NAME": "text" or "NAME_base64": "…", without a comma. NAME is the
 * caller's identifier, written as it is.
 */
void json_write_bytes_member(FILE *f, const char *name, const void *s, size_t len);

void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
/* An object member's name; the next call writes its value. */
void json_key(struct json *j, const char *name);
void json_str(struct json *j, const void *s, size_t len);
void json_cstr(struct json *j, const char *s);
/* A member of bytes: "NAME" (valid UTF-8) or "NAME_base64" (see above). */
void json_field_bytes(struct json *j, const char *name, const void *s, size_t len);
void json_u64(struct json *j, uint64_t v);
/* json_key(name), then json_u64(v): one member. */
void json_member_u64(struct json *j, const char *name, uint64_t v);
void json_i64(struct json *j, int64_t v);
/* A number already in JSON's syntax (the caller checked it). */
void json_number(struct json *j, const char *text);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Ends the document with a newline. */
void json_end(struct json *j);

#endif
