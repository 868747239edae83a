// SPDX-License-Identifier: MIT
/*
 * A small JSON writer for the command line tools (README.md, "Machine-readable
 * output"): objects, arrays, numbers, booleans and byte strings that always
 * come out as valid JSON.
 *
 * Strings are bytes, not text. Valid UTF-8 passes as it is; `"` and `\` are
 * escaped as \" and \\; the control bytes 0x00..0x1f and 0x7f as \u00XX; a
 * byte that is not part of a valid UTF-8 sequence as \udcXX (XX its value:
 * the lone low surrogates U+DC80..U+DCFF, which no valid UTF-8 can encode, so
 * the escape is unambiguous and a reader gets the bytes back, e.g. Python's
 * s.encode("utf-8", "surrogateescape")).
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
/* A string's escaped form alone, quotes included. */
void json_write_string(FILE *f, const void *s, size_t len);

void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
/* An object member's name; the next call writes its value. */
void json_key(struct json *j, const char *name);
void json_str(struct json *j, const void *s, size_t len);
void json_cstr(struct json *j, const char *s);
void json_u64(struct json *j, uint64_t v);
void json_i64(struct json *j, int64_t v);
/* A number already in JSON's syntax (the caller checked it). */
void json_number(struct json *j, const char *text);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Ends the document with a newline. */
void json_end(struct json *j);

#endif
