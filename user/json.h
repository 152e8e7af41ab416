/* SPDX-License-Identifier: GPL-2.0 */
/*
 * json.h - a small streaming JSON writer (RFC 8259) for the --json outputs.
 *
 *	struct json j;
 *
 *	json_init(&j, stdout);
 *	json_object_begin(&j);
 *	json_kv_string(&j, "ifname", name);	// escaped
 *	json_key(&j, "internal");
 *	json_array_begin(&j);
 *	json_string(&j, "10.0.0.0/8");
 *	json_array_end(&j);
 *	json_object_end(&j);
 *	json_finish(&j);			// newline after the value
 *
 * Commas, ": " and the escaping are the writer's business. The elements of
 * a top-level array go one per line. Strings are escaped as the RFC asks
 * (quote, backslash, control characters); bytes that are not valid UTF-8
 * (an interface or file name may hold any) become U+FFFD, so the output is
 * always valid JSON.
 */
#ifndef BPFMASQ_USER_JSON_H
#define BPFMASQ_USER_JSON_H

#include <stdbool.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *f;
	int depth;
	bool after_key;
	bool first[JSON_MAX_DEPTH]; /* nothing in the open container yet */
	bool array[JSON_MAX_DEPTH]; /* the open container is an array */
};

void json_init(struct json *j, FILE *f);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);
void json_uint(struct json *j, unsigned long long v);
void json_int(struct json *j, long long v);
void json_bool(struct json *j, bool v);
/* Ends the top-level value with a newline. */
void json_finish(struct json *j);

/* A key and its value, in an object. */
void json_kv_string(struct json *j, const char *key, const char *s);
void json_kv_uint(struct json *j, const char *key, unsigned long long v);
void json_kv_int(struct json *j, const char *key, long long v);
void json_kv_bool(struct json *j, const char *key, bool v);

#endif /* BPFMASQ_USER_JSON_H */
