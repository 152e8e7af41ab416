// SPDX-License-Identifier: GPL-2.0
/*
 * forward_cmd.c - `bpfmasq forward add|del|list IFACE ...`: the words
 * after IFACE checked, the forwards changed under the instance lock and
 * put in effect at once (gc_forwards_now), and the list, in runs of ports.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "clock.h"
#include "forward.h"
#include "gc.h"
#include "instance.h"
#include "json.h"
#include "log.h"
#include "opts.h"
#include "show.h"

static int parse_port(const char *s, __u16 *port)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || !v || v > 65535)
		return -1;
	*port = v;
	return 0;
}

/* "tcp|udp PORT[-END] [ADDR[:PORT]]" into @spec; @need_addr for add. */
static int parse_spec(const struct masq_opts *o, bool need_addr,
		      struct forward_spec *spec)
{
	char buf[32], *colon;
	struct in_addr a;
	int want = need_addr ? 3 : 2;

	memset(spec, 0, sizeof(*spec));
	if (o->n_args != want) {
		pr_err("forward %s: expected tcp|udp PORT[-END]%s", o->action,
		       need_addr ? " ADDR[:PORT]" : "");
		return -1;
	}
	if (!strcmp(o->args[0], "tcp"))
		spec->proto = BPFMASQ_PROTO_TCP;
	else if (!strcmp(o->args[0], "udp"))
		spec->proto = BPFMASQ_PROTO_UDP;
	else {
		pr_err("bad protocol '%s': tcp or udp", o->args[0]);
		return -1;
	}
	if (strchr(o->args[1], '-')
		    ? parse_port_range(o->args[1], &spec->lo, &spec->hi)
		    : parse_port(o->args[1], &spec->lo)) {
		if (!strchr(o->args[1], '-'))
			pr_err("bad port '%s': expected 1 to 65535",
			       o->args[1]);
		return -1;
	}
	if (!strchr(o->args[1], '-'))
		spec->hi = spec->lo;
	if (o->have_from)
		spec->from = o->from;
	if (!need_addr)
		return 0;
	if (strlen(o->args[2]) >= sizeof(buf))
		goto bad_addr;
	strcpy(buf, o->args[2]);
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		if (parse_port(colon + 1, &spec->inside_port)) {
			pr_err("bad inside port in '%s': expected 1 to 65535",
			       o->args[2]);
			return -1;
		}
		if (spec->inside_port + (spec->hi - spec->lo) > 65535) {
			pr_err("inside ports from %u: %u ports do not fit",
			       spec->inside_port, spec->hi - spec->lo + 1);
			return -1;
		}
	}
	if (inet_pton(AF_INET, buf, &a) != 1 || !a.s_addr)
		goto bad_addr;
	spec->inside_addr = a.s_addr;
	return 0;
bad_addr:
	pr_err("bad inside address '%s': expected A.B.C.D[:PORT]", o->args[2]);
	return -1;
}

/* A run of forwards: consecutive ports to consecutive inside ports. */
struct fwd_run {
	struct bpfmasq_forward_key key;
	struct bpfmasq_forward f;
	__u16 n;
	bool active;
	char why[96];
};

static int key_cmp(const void *a, const void *b)
{
	const struct fwd_run *x = a, *y = b;
	uint32_t px = (uint32_t)x->key.proto << 16 | ntohs(x->key.port);
	uint32_t py = (uint32_t)y->key.proto << 16 | ntohs(y->key.port);

	return px < py ? -1 : px > py;
}

/* Does run @r go on with @next, the port after its last, as one run? */
static bool run_extends(const struct fwd_run *r, const struct fwd_run *next)
{
	return r->key.proto == next->key.proto &&
	       ntohs(r->key.port) + r->n == ntohs(next->key.port) &&
	       r->f.inside_addr == next->f.inside_addr &&
	       ntohs(r->f.inside_port) + r->n == ntohs(next->f.inside_port) &&
	       r->f.from_addr == next->f.from_addr &&
	       r->f.from_len == next->f.from_len && r->active == next->active &&
	       !strcmp(r->why, next->why);
}

static void range_str(char *buf, size_t len, __u16 lo, __u16 n)
{
	if (n > 1)
		snprintf(buf, len, "%u-%u", lo, lo + n - 1);
	else
		snprintf(buf, len, "%u", lo);
}

static void print_run(struct json *j, const struct fwd_run *r)
{
	char out[16], in[40], ports[16], from[24], a[INET_ADDRSTRLEN];

	range_str(out, sizeof(out), ntohs(r->key.port), r->n);
	range_str(ports, sizeof(ports), ntohs(r->f.inside_port), r->n);
	inet_ntop(AF_INET, &r->f.inside_addr, a, sizeof(a));
	snprintf(in, sizeof(in), "%s:%s", a, ports);
	if (r->f.from_len || r->f.from_addr) {
		inet_ntop(AF_INET, &r->f.from_addr, a, sizeof(a));
		snprintf(from, sizeof(from), "%s/%u", a, r->f.from_len);
	} else {
		snprintf(from, sizeof(from), "any");
	}
	if (j) {
		json_object_begin(j);
		json_kv_string(j, "proto", proto_name(r->key.proto));
		json_kv_uint(j, "port", ntohs(r->key.port));
		json_kv_uint(j, "port_end", ntohs(r->key.port) + r->n - 1);
		inet_ntop(AF_INET, &r->f.inside_addr, a, sizeof(a));
		json_kv_string(j, "inside_addr", a);
		json_kv_uint(j, "inside_port", ntohs(r->f.inside_port));
		json_kv_string(j, "from", from);
		json_kv_bool(j, "active", r->active);
		if (!r->active)
			json_kv_string(j, "waiting_for", r->why);
		json_object_end(j);
		return;
	}
	printf("%-5s %-11s %-27s %-18s %s%s\n", proto_name(r->key.proto), out,
	       in, from, r->active ? "active" : "waiting for ",
	       r->active ? "" : r->why);
}

/* The forwards of @m, in runs, sorted by protocol and port. */
static int forward_print(const struct masq_maps *m, bool as_json)
{
	struct bpfmasq_forward_key *keys;
	struct bpfmasq_forward *vals;
	struct bpfmasq_instance inst;
	struct bpfmasq_config cfg;
	struct fwd_run *runs;
	struct json j;
	long n, i, nr = 0;
	int err;

	err = instance_read(m, &inst);
	if (!err)
		err = config_read(m, &cfg);
	n = err ? err : map_dump(m->forwards, (void **)&keys, (void **)&vals);
	if (n < 0) {
		pr_err("cannot read the forwards: %s", strerror(-n));
		return n;
	}
	runs = calloc(n ? n : 1, sizeof(*runs));
	if (!runs) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		runs[i] = (struct fwd_run){ .key = keys[i],
					    .f = vals[i],
					    .n = 1 };
		runs[i].active =
			forward_active(m, &cfg, &inst, &keys[i], &vals[i],
				       runs[i].why, sizeof(runs[i].why));
	}
	qsort(runs, n, sizeof(*runs), key_cmp);
	for (i = 0; i < n; i++) {
		if (nr && run_extends(&runs[nr - 1], &runs[i]))
			runs[nr - 1].n++;
		else
			runs[nr++] = runs[i];
	}
	json_init(&j, stdout);
	if (as_json)
		json_array_begin(&j);
	else
		printf("%-5s %-11s %-27s %-18s %s\n", "proto", "outside",
		       "inside", "from", "state");
	for (i = 0; i < nr; i++)
		print_run(as_json ? &j : NULL, &runs[i]);
	if (as_json) {
		json_array_end(&j);
		json_finish(&j);
	}
	free(runs);
	free(keys);
	free(vals);
	return 0;
}

/* What add and del were given, checked before the lock is taken. */
static struct forward_spec fwd_spec;

static int forward_locked(const struct masq_opts *o)
{
	bool add = !strcmp(o->action, "add");
	const struct forward_spec *spec = &fwd_spec;
	struct gc_result res;
	struct masq_maps m;
	int err;

	err = open_instance(o, &m);
	if (err)
		return err;
	if (add)
		err = forward_add(&m, spec);
	else
		err = forward_del(&m, spec);
	if (!err) {
		err = gc_forwards_now(&m, now_boot_ns(), &res);
		if (err)
			pr_err("cannot put the forwards in effect: %s",
			       strerror(-err));
	}
	if (!err && add)
		err = forward_print(&m, o->json);
	maps_close(&m);
	return err;
}

int cmd_forward(const struct masq_opts *o)
{

	if (!strcmp(o->action, "list"))
		return cmd_list(o, forward_print);
	if (o->have_from && strcmp(o->action, "add")) {
		pr_err("forward %s does not take --from", o->action);
		return -1;
	}
	if (parse_spec(o, !strcmp(o->action, "add"), &fwd_spec))
		return -1;
	return instance_locked(o, forward_locked);
}
