// SPDX-License-Identifier: MIT
/* The JSON writer of the command line tools (json.h). */
#include "json.h"

#include <inttypes.h>
#include <string.h>

void json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

/* Length of the valid UTF-8 sequence at s (RFC 3629), 0 when there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* no overlong forms */
	else if (c == 0xed)
		hi = 0x9f; /* no surrogates */
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f; /* nothing past U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

bool json_utf8_valid(const void *sv, size_t len)
{
	const unsigned char *s = sv;
	for (size_t i = 0; i < len;) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = utf8_len(s + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

void json_write_string(FILE *f, const void *sv, size_t len)
{
	const unsigned char *s = sv;
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
		} else if (c < 0x80) {
			fputc(c, f);
			i++;
		} else {
			size_t n = utf8_len(s + i, len - i);
			if (n) {
				fwrite(s + i, 1, n, f);
				i += n;
			} else {
				fputs("\\ufffd", f); /* text only: bytes to keep go as base64 */
				i++;
			}
		}
	}
	fputc('"', f);
}

void json_write_base64(FILE *f, const void *sv, size_t len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = sv;
	fputc('"', f);
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		fputc(alphabet[v >> 18], f);
		fputc(alphabet[(v >> 12) & 63], f);
		fputc(alphabet[(v >> 6) & 63], f);
		fputc(alphabet[v & 63], f);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		fputc(alphabet[v >> 18], f);
		fputc(alphabet[(v >> 12) & 63], f);
		fputs("==", f);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		fputc(alphabet[v >> 18], f);
		fputc(alphabet[(v >> 12) & 63], f);
		fputc(alphabet[(v >> 6) & 63], f);
		fputc('=', f);
	}
	fputc('"', f);
}

void json_write_bytes_member(FILE *f, const char *name, const void *s, size_t len)
{
	bool text = json_utf8_valid(s, len);
	fputc('"', f);
	fputs(name, f);
	fputs(text ? "\": " : "_base64\": ", f);
	if (text)
		json_write_string(f, s, len);
	else
		json_write_base64(f, s, len);
}

/* Before a value or a key: the comma between members. */
static void sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->nonempty[j->depth])
		fputc(',', j->f);
	j->nonempty[j->depth] = true;
}

static void open_(struct json *j, char c)
{
	sep(j);
	fputc(c, j->f);
	if (j->depth < JSON_MAX_DEPTH)
		j->depth++;
	j->nonempty[j->depth] = false;
}

static void close_(struct json *j, char c)
{
	fputc(c, j->f);
	if (j->depth)
		j->depth--;
}

void json_obj_begin(struct json *j)
{
	open_(j, '{');
}

void json_obj_end(struct json *j)
{
	close_(j, '}');
}

void json_arr_begin(struct json *j)
{
	open_(j, '[');
}

void json_arr_end(struct json *j)
{
	close_(j, ']');
}

void json_key(struct json *j, const char *name)
{
	sep(j);
	json_write_string(j->f, name, strlen(name));
	fputc(':', j->f);
	j->after_key = true;
}

void json_str(struct json *j, const void *s, size_t len)
{
	sep(j);
	json_write_string(j->f, s, len);
}

void json_cstr(struct json *j, const char *s)
{
	json_str(j, s, strlen(s));
}

void json_field_bytes(struct json *j, const char *name, const void *s, size_t len)
{
	if (json_utf8_valid(s, len)) {
		json_key(j, name);
		json_str(j, s, len);
		return;
	}
	/* the name is the caller's identifier: nothing in it to escape */
	sep(j);
	fprintf(j->f, "\"%s_base64\":", name);
	json_write_base64(j->f, s, len);
}

void json_u64(struct json *j, uint64_t v)
{
	sep(j);
	fprintf(j->f, "%" PRIu64, v);
}

void json_member_u64(struct json *j, const char *name, uint64_t v)
{
	json_key(j, name);
	json_u64(j, v);
}

void json_i64(struct json *j, int64_t v)
{
	sep(j);
	fprintf(j->f, "%" PRId64, v);
}

void json_number(struct json *j, const char *text)
{
	sep(j);
	fputs(text, j->f);
}

void json_bool(struct json *j, bool v)
{
	sep(j);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j)
{
	sep(j);
	fputs("null", j->f);
}

void json_end(struct json *j)
{
	fputc('\n', j->f);
}
