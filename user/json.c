// SPDX-License-Identifier: GPL-2.0
/* json.c - the JSON writer behind every --json output. */
#include <string.h>

#include "json.h"

void json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

/* What goes before a value or a key: a comma, a space or a new line. */
static void sep(struct json *j)
{
	bool first;

	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->depth || j->depth > JSON_MAX_DEPTH)
		return;
	first = j->first[j->depth - 1];
	j->first[j->depth - 1] = false;
	if (!first)
		fputc(',', j->f);
	if (j->depth == 1 && j->array[0])
		fputs("\n  ", j->f);
	else if (!first)
		fputc(' ', j->f);
}

static void open_container(struct json *j, bool array)
{
	sep(j);
	fputc(array ? '[' : '{', j->f);
	if (j->depth < JSON_MAX_DEPTH) {
		j->first[j->depth] = true;
		j->array[j->depth] = array;
	}
	j->depth++;
}

static void close_container(struct json *j, bool array)
{
	if (!j->depth)
		return;
	j->depth--;
	if (!j->depth && array && !j->first[0])
		fputc('\n', j->f);
	fputc(array ? ']' : '}', j->f);
}

void json_object_begin(struct json *j)
{
	open_container(j, false);
}

void json_object_end(struct json *j)
{
	close_container(j, false);
}

void json_array_begin(struct json *j)
{
	open_container(j, true);
}

void json_array_end(struct json *j)
{
	close_container(j, true);
}

/* The length of the valid UTF-8 sequence at @s, 0 if there is none. */
static int utf8_len(const unsigned char *s)
{
	unsigned int c = s[0];
	int n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Over-long forms, UTF-16 surrogates, above U+10FFFF. */
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return n;
}

static void put_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	int n;

	fputc('"', f);
	while (*s) {
		switch (*s) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*s < 0x20) {
				fprintf(f, "\\u%04x", *s);
				break;
			}
			n = utf8_len(s);
			if (!n) {
				fputs("\\ufffd", f);
				break;
			}
			fwrite(s, 1, n, f);
			s += n - 1;
		}
		s++;
	}
	fputc('"', f);
}

void json_key(struct json *j, const char *key)
{
	sep(j);
	put_string(j->f, key);
	fputs(": ", j->f);
	j->after_key = true;
}

void json_string(struct json *j, const char *s)
{
	sep(j);
	put_string(j->f, s);
}

void json_uint(struct json *j, unsigned long long v)
{
	sep(j);
	fprintf(j->f, "%llu", v);
}

void json_int(struct json *j, long long v)
{
	sep(j);
	fprintf(j->f, "%lld", v);
}

void json_bool(struct json *j, bool v)
{
	sep(j);
	fputs(v ? "true" : "false", j->f);
}

void json_finish(struct json *j)
{
	fputc('\n', j->f);
}

void json_kv_string(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_string(j, s);
}

void json_kv_uint(struct json *j, const char *key, unsigned long long v)
{
	json_key(j, key);
	json_uint(j, v);
}

void json_kv_int(struct json *j, const char *key, long long v)
{
	json_key(j, key);
	json_int(j, v);
}

void json_kv_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	json_bool(j, v);
}
