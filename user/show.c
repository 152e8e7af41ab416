// SPDX-License-Identifier: GPL-2.0
/* show.c - what the CLI prints: status, translations (conns) and counters. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "bpffs.h"
#include "clock.h"
#include "gc.h"
#include "instance.h"
#include "log.h"
#include "maps.h"
#include "show.h"

static const char *const tcp_states[BPFMASQ_TCP_STATE_MAX] = {
	[BPFMASQ_TCP_NONE] = "none",
	[BPFMASQ_TCP_SYN_SENT] = "syn_sent",
	[BPFMASQ_TCP_ESTABLISHED] = "established",
	[BPFMASQ_TCP_FIN_SEEN] = "fin_seen",
	[BPFMASQ_TCP_RST_SEEN] = "rst_seen",
	[BPFMASQ_TCP_CLOSED] = "closed",
};

static const char *proto_name(__u8 proto)
{
	switch (proto) {
	case BPFMASQ_PROTO_TCP:
		return "tcp";
	case BPFMASQ_PROTO_UDP:
		return "udp";
	case BPFMASQ_PROTO_ICMP:
		return "icmp";
	}
	return "?";
}

/* "A.B.C.D:PORT" into @buf. */
static const char *ep_str(char *buf, size_t len, __be32 addr, __be16 port)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(buf, len, "%s:%u", a, ntohs(port));
	return buf;
}

static const char *addr_str(char *buf, __be32 addr)
{
	return inet_ntop(AF_INET, &addr, buf, INET_ADDRSTRLEN);
}

static const char *state_name(const struct bpfmasq_session_key *k,
			      const struct bpfmasq_session *s)
{
	if (k->proto == BPFMASQ_PROTO_TCP && s->tcp_state < BPFMASQ_TCP_STATE_MAX)
		return tcp_states[s->tcp_state];
	return s->flags & BPFMASQ_SESS_REPLIED ? "replied" : "unreplied";
}

static void print_conn(const struct masq_opts *o,
		       const struct bpfmasq_instance *inst,
		       const struct bpfmasq_session_key *k,
		       const struct bpfmasq_session *s, uint64_t now, bool first)
{
	char in[32], out[32], rem[32];
	uint64_t idle = now > s->last_ns ? (now - s->last_ns) / 1000000000ull : 0;
	uint32_t timeout = session_timeout(inst, k, s);
	__be16 remote_port = k->remote_port;

	/* ICMP echo sessions are keyed by id alone; show it on both sides. */
	if (k->proto == BPFMASQ_PROTO_ICMP)
		remote_port = s->ext_port;
	ep_str(in, sizeof(in), k->inside_addr, k->inside_port);
	ep_str(out, sizeof(out), s->ext_addr, s->ext_port);
	ep_str(rem, sizeof(rem), k->remote_addr, remote_port);
	if (o->json) {
		printf("%s\n  {\"proto\": \"%s\", \"inside\": \"%s\", \"outside\": \"%s\", "
		       "\"remote\": \"%s\", \"state\": \"%s\", \"direction\": \"%s\", "
		       "\"idle_s\": %llu, \"expires_s\": %llu, \"packets\": %llu, "
		       "\"bytes\": %llu, \"packets_out\": %llu, \"bytes_out\": %llu, "
		       "\"packets_in\": %llu, \"bytes_in\": %llu}",
		       first ? "" : ",", proto_name(k->proto), in, out, rem,
		       state_name(k, s),
		       s->flags & BPFMASQ_SESS_INBOUND ? "in" : "out",
		       (unsigned long long)idle,
		       (unsigned long long)(idle < timeout ? timeout - idle : 0),
		       (unsigned long long)(s->packets_out + s->packets_in),
		       (unsigned long long)(s->bytes_out + s->bytes_in),
		       (unsigned long long)s->packets_out,
		       (unsigned long long)s->bytes_out,
		       (unsigned long long)s->packets_in,
		       (unsigned long long)s->bytes_in);
		return;
	}
	printf("%-5s %-21s %-21s %-21s %-11s %6llu %8llu %10llu\n",
	       proto_name(k->proto), in, out, rem, state_name(k, s),
	       (unsigned long long)idle,
	       (unsigned long long)(s->packets_out + s->packets_in),
	       (unsigned long long)(s->bytes_out + s->bytes_in));
}

int cmd_conns(const struct masq_opts *o)
{
	struct bpfmasq_session_key *keys = NULL;
	struct bpfmasq_session *vals = NULL;
	struct bpfmasq_instance inst;
	struct masq_maps m;
	uint64_t now;
	long n, i;
	int err;

	err = open_instance(o, &m);
	if (err)
		return err;
	err = instance_read(&m, &inst);
	n = err ? err : map_dump(m.sessions, (void **)&keys, (void **)&vals);
	if (n < 0) {
		pr_err("cannot read the sessions: %s", strerror(-n));
		maps_close(&m);
		return n;
	}
	now = now_boot_ns();
	if (o->json)
		printf("[");
	else
		printf("%-5s %-21s %-21s %-21s %-11s %6s %8s %10s\n", "proto",
		       "inside", "outside", "remote", "state", "idle", "packets",
		       "bytes");
	for (i = 0; i < n; i++)
		print_conn(o, &inst, &keys[i], &vals[i], now, i == 0);
	if (o->json)
		printf("%s]\n", n ? "\n" : "");
	free(keys);
	free(vals);
	maps_close(&m);
	return 0;
}

int cmd_stats(const struct masq_opts *o)
{
	uint64_t totals[BPFMASQ_STAT_MAX];
	struct masq_maps m;
	int err, i;

	err = open_instance(o, &m);
	if (err)
		return err;
	err = stats_read(&m, totals);
	maps_close(&m);
	if (err) {
		pr_err("cannot read the counters: %s", strerror(-err));
		return err;
	}
	if (o->json)
		printf("{");
	for (i = 0; i < BPFMASQ_STAT_MAX; i++) {
		if (o->json)
			printf("%s\"%s\": %llu", i ? ", " : "", stat_names[i],
			       (unsigned long long)totals[i]);
		else
			printf("%-20s %llu\n", stat_names[i],
			       (unsigned long long)totals[i]);
	}
	if (o->json)
		printf("}\n");
	return 0;
}

/* The inside prefixes, as "a/b, c/d" (JSON strings when @json). */
static void print_internal(const struct masq_maps *m, bool json)
{
	struct bpfmasq_lpm_key key, next;
	char a[INET_ADDRSTRLEN];
	void *prev = NULL;
	bool first = true;

	while (!bpf_map_get_next_key(m->internal_nets, prev, &next)) {
		printf("%s%s%s/%u%s", first ? "" : ", ", json ? "\"" : "",
		       addr_str(a, next.addr), next.prefixlen, json ? "\"" : "");
		first = false;
		key = next;
		prev = &key;
	}
}

static int print_status(const struct masq_opts *o, const char *ifname,
			const char *dir, bool first)
{
	struct bpfmasq_instance inst;
	struct bpfmasq_config cfg;
	char a[INET_ADDRSTRLEN];
	long sessions, mappings;
	const char *mode;
	struct masq_maps m;
	int err, i;

	err = maps_open_pinned(dir, &m);
	if (err)
		return err;
	err = instance_read(&m, &inst);
	if (!err)
		err = config_read(&m, &cfg);
	sessions = map_count(m.sessions);
	mappings = map_count(m.mappings);
	if (err) {
		maps_close(&m);
		return err;
	}
	addr_str(a, cfg.ext_addr);
	mode = inst.ingress < BPFMASQ_INGRESS_MAX ? ingress_names[inst.ingress] :
						    "?";
	if (o->json) {
		printf("%s{\"ifname\": \"%s\", \"ifindex\": %u, \"address\": \"%s\", "
		       "\"address_source\": \"%s\", \"ports\": \"%u-%u\", "
		       "\"filtering\": \"%s\", \"mode\": \"%s\", "
		       "\"internal\": [",
		       first ? "" : ", ", ifname, inst.ifindex, a,
		       inst.flags & BPFMASQ_INST_FIXED_ADDR ? "fixed" :
							      "interface",
		       cfg.port_min, cfg.port_max,
		       cfg.filtering ? "independent" : "dependent", mode);
		print_internal(&m, true);
		printf("], \"max_sessions\": %u, \"sessions\": %ld, \"mappings\": %ld, "
		       "\"layout_version\": %u, \"timeouts\": {",
		       inst.max_sessions, sessions, mappings,
		       inst.layout_version);
		for (i = 0; i < BPFMASQ_TIMEOUT_MAX; i++)
			printf("%s\"%s\": %u", i ? ", " : "", timeout_keys[i],
			       inst.timeouts[i]);
		printf("}}");
	} else {
		printf("%s:\n  address    %s (%s)\n  ports      %u-%u\n"
		       "  filtering  %s\n  mode       %s\n  internal   ",
		       ifname, a,
		       inst.flags & BPFMASQ_INST_FIXED_ADDR ? "fixed" :
							      "from interface",
		       cfg.port_min, cfg.port_max,
		       cfg.filtering ? "endpoint-independent" :
				       "address-and-port-dependent",
		       mode);
		print_internal(&m, false);
		printf("\n  sessions   %ld of %u\n  mappings   %ld\n  timeouts  ",
		       sessions, inst.max_sessions, mappings);
		for (i = 0; i < BPFMASQ_TIMEOUT_MAX; i++)
			printf("%s %s %us", i ? "," : "", timeout_keys[i],
			       inst.timeouts[i]);
		printf("\n");
	}
	maps_close(&m);
	return 0;
}

int cmd_status(const struct masq_opts *o)
{
	char base[PATH_MAX], dir[PATH_MAX];
	struct dirent *de;
	bool first = true;
	int err = 0;
	DIR *d;

	if (o->ifname) {
		err = instance_dir(dir, sizeof(dir), o->bpffs, o->ifname);
		if (!err)
			err = print_status(o, o->ifname, dir, true);
		if (!err && o->json)
			printf("\n");
		return err;
	}
	if (pin_base(base, sizeof(base), o->bpffs))
		return -ENAMETOOLONG;
	if (o->json)
		printf("[");
	d = opendir(base);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (pin_path(dir, sizeof(dir), base, de->d_name) ||
		    !pin_dir_exists(dir))
			continue;
		err = print_status(o, de->d_name, dir, first);
		if (err)
			break;
		first = false;
	}
	if (d)
		closedir(d);
	if (o->json)
		printf("]\n");
	else if (first && !err)
		printf("no interface attached (looked in %s)\n", base);
	return err;
}
