// SPDX-License-Identifier: GPL-2.0
/*
 * static_cmd.c - `bpfmasq static add|del|list IFACE ...`: the addresses
 * checked, the statics changed under the instance lock, and the list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "instance.h"
#include "json.h"
#include "log.h"
#include "opts.h"
#include "show.h"
#include "static.h"

static int static_print(const struct masq_maps *m, bool as_json)
{
	char in[INET_ADDRSTRLEN], out[INET_ADDRSTRLEN];
	__be32 *inside, *outside;
	struct json j;
	long n, i;

	n = statics_list(m, &inside, &outside);
	if (n < 0) {
		pr_err("cannot read the statics: %s", strerror(-n));
		return n;
	}
	json_init(&j, stdout);
	if (as_json)
		json_array_begin(&j);
	else
		printf("%-15s %s\n", "inside", "outside");
	for (i = 0; i < n; i++) {
		inet_ntop(AF_INET, &inside[i], in, sizeof(in));
		inet_ntop(AF_INET, &outside[i], out, sizeof(out));
		if (!as_json) {
			printf("%-15s %s\n", in, out);
			continue;
		}
		json_object_begin(&j);
		json_kv_string(&j, "inside_addr", in);
		json_kv_string(&j, "outside_addr", out);
		json_object_end(&j);
	}
	if (as_json) {
		json_array_end(&j);
		json_finish(&j);
	}
	free(inside);
	free(outside);
	return 0;
}

/* What add and del were given, checked before the lock is taken. */
static __be32 st_inside, st_outside;

static int static_locked(const struct masq_opts *o)
{
	struct masq_maps m;
	int err;

	err = open_instance(o, &m);
	if (err)
		return err;
	if (!strcmp(o->action, "add"))
		err = static_add(&m, st_inside, st_outside);
	else
		err = static_del(&m, st_inside, st_outside);
	if (!err && !strcmp(o->action, "add"))
		err = static_print(&m, o->json);
	maps_close(&m);
	return err;
}

static int parse_addr(const char *s, const char *what, __be32 *addr)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1 || !a.s_addr ||
	    a.s_addr == INADDR_BROADCAST || IN_MULTICAST(ntohl(a.s_addr))) {
		pr_err("bad %s address '%s': expected a unicast A.B.C.D", what,
		       s);
		return -1;
	}
	*addr = a.s_addr;
	return 0;
}

int cmd_static(const struct masq_opts *o)
{
	bool add = !strcmp(o->action, "add");

	if (!strcmp(o->action, "list"))
		return cmd_list(o, static_print);
	if (o->n_args != 2 && (add || o->n_args != 1)) {
		pr_err("static %s: expected INSIDE_ADDR %s", o->action,
		       add ? "OUTSIDE_ADDR" : "[OUTSIDE_ADDR]");
		return -1;
	}
	st_outside = 0;
	if (parse_addr(o->args[0], "inside", &st_inside) ||
	    (o->n_args == 2 && parse_addr(o->args[1], "outside", &st_outside)))
		return -1;
	return instance_locked(o, static_locked);
}
