// SPDX-License-Identifier: GPL-2.0
/* show.c - what the CLI prints: status, translations (conns) and counters. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "addrs.h"
#include "bpffs.h"
#include "check.h"
#include "clock.h"
#include "fast.h"
#include "hairpin.h"
#include "hosts.h"
#include "frag.h"
#include "gc.h"
#include "instance.h"
#include "json.h"
#include "log.h"
#include "maps.h"
#include "show.h"
#include "state.h"

static const char *const tcp_states[BPFMASQ_TCP_STATE_MAX] = {
	[BPFMASQ_TCP_NONE] = "none",
	[BPFMASQ_TCP_SYN_SENT] = "syn_sent",
	[BPFMASQ_TCP_ESTABLISHED] = "established",
	[BPFMASQ_TCP_FIN_SEEN] = "fin_seen",
	[BPFMASQ_TCP_RST_SEEN] = "rst_seen",
	[BPFMASQ_TCP_CLOSED] = "closed",
	[BPFMASQ_TCP_PICKED_UP] = "picked_up",
};

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
	if (k->proto == BPFMASQ_PROTO_TCP &&
	    s->tcp_state < BPFMASQ_TCP_STATE_MAX)
		return tcp_states[s->tcp_state];
	return s->flags & BPFMASQ_SESS_REPLIED ? "replied" : "unreplied";
}

static void print_conn(struct json *j, const struct bpfmasq_instance *inst,
		       const struct bpfmasq_session_key *k,
		       const struct bpfmasq_session *s, uint64_t now)
{
	char in[32], out[32], rem[32], state[16];
	uint64_t idle =
		now > s->last_ns ? (now - s->last_ns) / 1000000000ull : 0;
	uint32_t timeout = session_timeout(inst, k, s);
	__be16 remote_port = k->remote_port;

	/* ICMP echo sessions are keyed by id alone; show it on both sides. */
	if (k->proto == BPFMASQ_PROTO_ICMP)
		remote_port = s->ext_port;
	ep_str(in, sizeof(in), k->inside_addr, k->inside_port);
	ep_str(out, sizeof(out), s->ext_addr, s->ext_port);
	ep_str(rem, sizeof(rem), k->remote_addr, remote_port);
	if (j) {
		json_object_begin(j);
		json_kv_string(j, "proto", proto_name(k->proto));
		json_kv_string(j, "inside", in);
		json_kv_string(j, "outside", out);
		json_kv_string(j, "remote", rem);
		json_kv_string(j, "state", state_name(k, s));
		json_kv_string(j, "direction",
			       s->flags & BPFMASQ_SESS_INBOUND ? "in" : "out");
		json_kv_bool(j, "shared", s->flags & BPFMASQ_SESS_SHARED);
		json_kv_bool(j, "forwarded", s->flags & BPFMASQ_SESS_FORWARDED);
		json_kv_bool(j, "reset_unsure",
			     s->flags & BPFMASQ_SESS_RST_UNSURE);
		json_kv_uint(j, "idle_s", idle);
		json_kv_uint(j, "expires_s",
			     idle < timeout ? timeout - idle : 0);
		json_kv_uint(j, "packets", s->packets_out + s->packets_in);
		json_kv_uint(j, "bytes", s->bytes_out + s->bytes_in);
		json_kv_uint(j, "packets_out", s->packets_out);
		json_kv_uint(j, "bytes_out", s->bytes_out);
		json_kv_uint(j, "packets_in", s->packets_in);
		json_kv_uint(j, "bytes_in", s->bytes_in);
		json_object_end(j);
		return;
	}
	/* A shared port, and a RST in doubt, are marked where they show. */
	if (s->flags & BPFMASQ_SESS_SHARED)
		strcat(out, "*");
	snprintf(state, sizeof(state), "%s%s", state_name(k, s),
		 s->flags & BPFMASQ_SESS_RST_UNSURE ? "?" : "");
	printf("%-5s %-22s %-22s %-21s %-11s %6llu %8llu %10llu\n",
	       proto_name(k->proto), in, out, rem, state,
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
	struct json j;
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
	json_init(&j, stdout);
	if (o->json)
		json_array_begin(&j);
	else
		printf("%-5s %-22s %-22s %-21s %-11s %6s %8s %10s\n", "proto",
		       "inside", "outside", "remote", "state", "idle",
		       "packets", "bytes");
	/* A LENT entry is the claim of a shared session, which is shown. */
	for (i = 0; i < n; i++)
		if (!(vals[i].flags & BPFMASQ_SESS_LENT))
			print_conn(o->json ? &j : NULL, &inst, &keys[i],
				   &vals[i], now);
	if (o->json) {
		json_array_end(&j);
		json_finish(&j);
	}
	free(keys);
	free(vals);
	maps_close(&m);
	return 0;
}

/*
 * The hosts that hit --max-ports-per-host or --max-sessions-per-host:
 * with @j, a JSON array.
 */
static void print_limited(struct json *j, const struct host_row *r, long n)
{
	__u64 now = now_boot_ns();
	char a[INET_ADDRSTRLEN];
	long i;

	if (j)
		json_array_begin(j);
	for (i = 0; i < n; i++) {
		__u64 ago = (now - r[i].h.limited_ns) / 1000000000ull;

		addr_str(a, r[i].addr);
		if (!j) {
			printf("host %s: %u ports, %u sessions, %u new flows refused at the per-host limits, the last %llu s ago\n",
			       a, r[i].h.ports & ~BPFMASQ_HOST_DEAD,
			       r[i].h.sessions, r[i].h.limited,
			       (unsigned long long)ago);
			continue;
		}
		json_object_begin(j);
		json_kv_string(j, "host", a);
		json_kv_uint(j, "ports", r[i].h.ports & ~BPFMASQ_HOST_DEAD);
		json_kv_uint(j, "sessions", r[i].h.sessions);
		json_kv_uint(j, "refused", r[i].h.limited);
		json_kv_uint(j, "last_refused_s_ago", ago);
		json_object_end(j);
	}
	if (j)
		json_array_end(j);
}

int cmd_stats(const struct masq_opts *o)
{
	uint64_t totals[BPFMASQ_STAT_MAX];
	struct host_row *limited = NULL;
	struct masq_maps m;
	struct json j;
	long nl;
	int err, i;

	err = open_instance(o, &m);
	if (err)
		return err;
	err = stats_read(&m, totals);
	nl = err ? 0 : hosts_limited(&m, &limited);
	maps_close(&m);
	if (!err && nl < 0)
		err = nl;
	if (err) {
		pr_err("cannot read the counters: %s", strerror(-err));
		free(limited);
		return err;
	}
	if (o->json) {
		json_init(&j, stdout);
		json_object_begin(&j);
		for (i = 0; i < BPFMASQ_STAT_MAX; i++)
			json_kv_uint(&j, stat_names[i], totals[i]);
		json_key(&j, "hosts_limited");
		print_limited(&j, limited, nl);
		json_object_end(&j);
		json_finish(&j);
	} else {
		for (i = 0; i < BPFMASQ_STAT_MAX; i++)
			printf("%-20s %llu\n", stat_names[i],
			       (unsigned long long)totals[i]);
		print_limited(NULL, limited, nl);
	}
	free(limited);
	return 0;
}

/*
 * The prefixes of LPM trie @fd, as "a/b, c/d" (a JSON array of strings
 * with @j); @none when there are none, in text.
 */
static void print_prefixes(int fd, struct json *j, const char *none)
{
	struct cidr c[BPFMASQ_MAX_INTERNAL];
	char a[INET_ADDRSTRLEN], p[INET_ADDRSTRLEN + 4];
	int n = lpm_get(fd, c, BPFMASQ_MAX_INTERNAL), i;

	if (j)
		json_array_begin(j);
	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/%u", addr_str(a, c[i].addr),
			 c[i].plen);
		if (j)
			json_string(j, p);
		else
			printf("%s%s", i ? ", " : "", p);
	}
	if (j)
		json_array_end(j);
	else if (n <= 0)
		printf("%s", none);
}

/* Where replies are translated: native, generic or tc. */
static const char *mode_name(const struct bpfmasq_instance *inst)
{
	return inst->ingress < BPFMASQ_INGRESS_MAX
		       ? ingress_names[inst->ingress]
		       : "?";
}

/* The fast path's LAN interfaces, by name (a JSON array with @j). */
/* The interfaces @lans[0..@n), by name, as a list or a JSON array. */
static void print_ifaces(const __u32 *lans, int n, struct json *j)
{
	char name[IF_NAMESIZE];
	int i;

	if (j)
		json_array_begin(j);
	for (i = 0; i < n; i++) {
		if (!if_indextoname(lans[i], name))
			snprintf(name, sizeof(name), "%u", lans[i]);
		if (j)
			json_string(j, name);
		else
			printf("%s%s", i ? ", " : "", name);
	}
	if (j)
		json_array_end(j);
	else if (n <= 0)
		printf("none");
}

static void print_fast_path(const struct masq_maps *m, struct json *j)
{
	__u32 lans[BPFMASQ_MAX_FAST_LANS];

	print_ifaces(lans, fast_list(m, lans, BPFMASQ_MAX_FAST_LANS), j);
}

static void print_hairpin(const struct masq_maps *m, struct json *j)
{
	__u32 lans[BPFMASQ_MAX_HAIRPIN_LANS];

	print_ifaces(lans, hairpin_list(m, lans, BPFMASQ_MAX_HAIRPIN_LANS), j);
}

/* The pool's addresses, in addr_pool's order, the draining ones after. */
struct pool_row {
	__be32 addr;
	__u32 state;
	long mappings; /* on it now */
	long hosts; /* paired with it, with mappings */
};

static int pool_rows(const struct masq_maps *m, struct pool_row *rows)
{
	__be32 addrs[BPFMASQ_MAX_EXT_ADDRS], *hk;
	__u32 states[BPFMASQ_MAX_EXT_ADDRS];
	struct bpfmasq_addr_pool pool;
	struct bpfmasq_endpoint *mk;
	struct bpfmasq_mapping *mv;
	struct bpfmasq_host *hv;
	__u32 zero = 0;
	long nm, nh, i;
	int n, r, k;

	n = ext_addrs_read(m, addrs, states, BPFMASQ_MAX_EXT_ADDRS);
	if (n <= 0)
		return n;
	if (bpf_map_lookup_elem(m->addr_pool, &zero, &pool))
		pool.count = 0;
	/* ACTIVE first, in the order new hosts are spread over them. */
	for (r = 0, k = 0; k < (int)pool.count && k < BPFMASQ_MAX_ADDRS; k++)
		for (i = 0; i < n; i++)
			if (addrs[i] == pool.addrs[k] &&
			    states[i] == BPFMASQ_ADDR_ACTIVE) {
				rows[r++] =
					(struct pool_row){ .addr = addrs[i],
							   .state = states[i] };
				states[i] = 0;
			}
	for (i = 0; i < n; i++)
		if (states[i])
			rows[r++] = (struct pool_row){ .addr = addrs[i],
						       .state = states[i] };
	n = r;
	nm = map_dump(m->mappings, (void **)&mk, (void **)&mv);
	nh = map_dump(m->hosts, (void **)&hk, (void **)&hv);
	for (r = 0; r < n; r++) {
		for (i = 0; i < nm; i++)
			rows[r].mappings += mv[i].ext_addr == rows[r].addr;
		for (i = 0; i < nh; i++)
			rows[r].hosts += hv[i].ext_addr == rows[r].addr &&
					 (hv[i].ports & ~BPFMASQ_HOST_DEAD);
	}
	if (nm >= 0) {
		free(mk);
		free(mv);
	}
	if (nh >= 0) {
		free(hk);
		free(hv);
	}
	return n;
}

static const char *addr_state_name(__u32 state)
{
	return state == BPFMASQ_ADDR_ACTIVE ? "active" : "draining";
}

static void print_pool(const struct masq_maps *m, struct json *j)
{
	struct pool_row rows[BPFMASQ_MAX_EXT_ADDRS];
	char a[INET_ADDRSTRLEN];
	int n = pool_rows(m, rows), i;

	if (j)
		json_array_begin(j);
	for (i = 0; i < n; i++) {
		if (j) {
			json_object_begin(j);
			json_kv_string(j, "address", addr_str(a, rows[i].addr));
			json_kv_string(j, "state",
				       addr_state_name(rows[i].state));
			json_kv_int(j, "hosts", rows[i].hosts);
			json_kv_int(j, "mappings", rows[i].mappings);
			json_object_end(j);
		} else {
			printf("%s%s %s, %ld hosts, %ld mappings",
			       i ? "\n             " : "       ",
			       addr_str(a, rows[i].addr),
			       addr_state_name(rows[i].state), rows[i].hosts,
			       rows[i].mappings);
		}
	}
	if (j)
		json_array_end(j);
}

/* --max-sessions-per-host, 0: none (the limits map). */
static __u32 max_sessions_per_host(const struct masq_maps *m)
{
	struct bpfmasq_limits l;
	__u32 zero = 0;

	return bpf_map_lookup_elem(m->limits, &zero, &l)
		       ? 0
		       : l.max_sessions_per_host;
}

static void status_json(struct json *j, const char *ifname, const char *dir,
			const struct bpfmasq_config *cfg,
			const struct bpfmasq_instance *inst,
			const struct masq_maps *m, long sessions, long mappings)
{
	char a[INET_ADDRSTRLEN], ports[48];
	int i;

	ports_str(inst, ports, sizeof(ports));
	json_object_begin(j);
	json_kv_string(j, "ifname", ifname);
	json_kv_uint(j, "ifindex", inst->ifindex);
	json_kv_string(j, "pins", dir);
	json_kv_string(j, "address", addr_str(a, cfg->ext_addr));
	json_kv_string(j, "address_source",
		       inst->flags & BPFMASQ_INST_FIXED_ADDR ? "fixed"
							     : "interface");
	json_key(j, "pool");
	print_pool(m, j);
	json_kv_string(j, "ports", ports);
	json_kv_string(j, "filtering",
		       cfg->filtering ? "independent" : "dependent");
	json_kv_string(j, "mode", mode_name(inst));
	json_kv_bool(j, "port_sharing",
		     !(inst->flags & BPFMASQ_INST_NO_SHARING));
	json_key(j, "internal");
	print_prefixes(m->internal_nets, j, NULL);
	json_key(j, "excluded");
	print_prefixes(m->excluded_nets, j, NULL);
	json_key(j, "fast_path");
	print_fast_path(m, j);
	json_key(j, "hairpin");
	print_hairpin(m, j);
	json_kv_uint(j, "max_sessions", inst->max_sessions);
	json_kv_uint(j, "max_ports_per_host", inst->max_ports_per_host);
	json_kv_uint(j, "max_sessions_per_host", max_sessions_per_host(m));
	json_kv_int(j, "sessions", sessions);
	json_kv_int(j, "mappings", mappings);
	json_kv_int(j, "forwards", map_count(m->forwards));
	json_kv_int(j, "statics", map_count(m->statics) / 2);
	json_key(j, "timeouts");
	json_object_begin(j);
	for (i = 0; i < BPFMASQ_TIMEOUT_MAX; i++)
		json_kv_uint(j, timeout_keys[i], inst->timeouts[i]);
	json_object_end(j);
	json_kv_uint(j, "layout_version", inst->layout_version);
	json_kv_uint(j, "daemon_pid", daemon_alive_pid(m));
	json_object_end(j);
}

/* Whether `run` is there, and so holds fragments that come early. */
static void print_daemon(const struct masq_maps *m)
{
	__u32 pid = daemon_alive_pid(m);

	if (pid)
		printf("\n  daemon     pid %u: early fragments are held\n",
		       pid);
	else
		printf("\n  daemon     none: early fragments go to the stack\n");
}

/* One instance's status; in JSON when @j is not NULL. */
static int print_status(struct json *j, const char *ifname, const char *dir)
{
	struct bpfmasq_instance inst;
	struct bpfmasq_config cfg;
	char a[INET_ADDRSTRLEN], ports[48];
	long sessions, mappings;
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
	if (j) {
		status_json(j, ifname, dir, &cfg, &inst, &m, sessions,
			    mappings);
	} else {
		printf("%s:\n  address    %s (%s)", ifname,
		       addr_str(a, cfg.ext_addr),
		       inst.flags & BPFMASQ_INST_FIXED_ADDR ? "fixed"
							    : "from interface");
		if (cfg.flags & BPFMASQ_CFG_POOL) {
			printf("\n  pool");
			print_pool(&m, NULL);
		}
		printf("\n  ports      %s, %s\n"
		       "  filtering  %s\n  mode       %s\n  internal   ",
		       ports_str(&inst, ports, sizeof(ports)),
		       inst.flags & BPFMASQ_INST_NO_SHARING
			       ? "never shared"
			       : "shared when they run out",
		       cfg.filtering ? "endpoint-independent"
				     : "address-and-port-dependent",
		       mode_name(&inst));
		print_prefixes(m.internal_nets, NULL, "none");
		printf("\n  excluded   ");
		print_prefixes(m.excluded_nets, NULL, "none");
		printf("\n  fast path  ");
		print_fast_path(&m, NULL);
		printf("\n  hairpin    ");
		print_hairpin(&m, NULL);
		printf("\n  per host   ");
		if (inst.max_ports_per_host)
			printf("at most %u ports", inst.max_ports_per_host);
		else
			printf("no port limit");
		if (max_sessions_per_host(&m))
			printf(", at most %u sessions",
			       max_sessions_per_host(&m));
		else
			printf(", no session limit");
		printf("\n  sessions   %ld of %u\n  mappings   %ld\n"
		       "  forwards   %ld ports (bpfmasq forward list)\n"
		       "  statics    %ld (bpfmasq static list)\n"
		       "  timeouts  ",
		       sessions, inst.max_sessions, mappings,
		       map_count(m.forwards), map_count(m.statics) / 2);
		for (i = 0; i < BPFMASQ_TIMEOUT_MAX; i++)
			printf("%s %s %us", i ? "," : "", timeout_keys[i],
			       inst.timeouts[i]);
		print_daemon(&m);
	}
	maps_close(&m);
	return 0;
}

int cmd_status(const struct masq_opts *o)
{
	char base[PATH_MAX], dir[PATH_MAX];
	struct json json, *j = NULL;
	struct dirent *de;
	bool none = true;
	int err = 0;
	DIR *d;

	if (o->json) {
		json_init(&json, stdout);
		j = &json;
	}
	if (o->ifname) {
		err = instance_dir(dir, sizeof(dir), o->bpffs, o->ifname);
		if (!err)
			err = print_status(j, o->ifname, dir);
		if (!err && j)
			json_finish(j);
		return err;
	}
	if (pin_base(base, sizeof(base), o->bpffs))
		return -ENAMETOOLONG;
	if (j)
		json_array_begin(j);
	d = opendir(base);
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (pin_path(dir, sizeof(dir), base, de->d_name) ||
		    !pin_dir_exists(dir))
			continue;
		err = print_status(j, de->d_name, dir);
		if (err)
			break;
		none = false;
	}
	if (d)
		closedir(d);
	if (j) {
		json_array_end(j);
		json_finish(j);
	} else if (none && !err) {
		printf("no interface attached (looked in %s)\n", base);
	}
	return err;
}

static void print_finding(struct json *j, const struct check_finding *f)
{
	json_object_begin(j);
	json_kv_string(j, "kind", check_kind_names[f->kind]);
	json_kv_string(j, "message", f->msg);
	json_object_end(j);
}

/* Exit status 1 (through -EBADMSG) when a violation was found. */
int cmd_check(const struct masq_opts *o)
{
	const struct check_opts co = { .pools = o->pools };
	struct check_result res = {};
	struct masq_maps m;
	struct json j;
	int err, lock = -1;
	long i;

	err = open_instance(o, &m);
	if (err)
		return err;
	/* Reading the pools empties them a moment: not beside a GC pass. */
	if (o->pools) {
		lock = bpffs_lock(o->bpffs);
		if (lock < 0) {
			maps_close(&m);
			return lock;
		}
	}
	err = check_run(&m, &co, &res);
	bpffs_unlock(lock);
	maps_close(&m);
	if (err) {
		pr_err("cannot read the state: %s", strerror(-err));
		check_result_free(&res);
		return err;
	}
	if (o->json) {
		json_init(&j, stdout);
		json_object_begin(&j);
		json_kv_int(&j, "mappings", res.mappings);
		json_kv_int(&j, "owners", res.owners);
		json_kv_int(&j, "sessions", res.sessions);
		json_kv_bool(&j, "pools", o->pools);
		json_kv_int(&j, "ports_queued", res.ports_queued);
		json_kv_int(&j, "statics", res.statics);
		json_kv_int(&j, "violation_count", res.n_violations);
		json_key(&j, "violations");
		json_array_begin(&j);
		for (i = 0; i < res.n_violations; i++)
			print_finding(&j, &res.violations[i]);
		json_array_end(&j);
		json_key(&j, "stale");
		json_array_begin(&j);
		for (i = 0; i < res.n_stale; i++)
			print_finding(&j, &res.stale[i]);
		json_array_end(&j);
		json_object_end(&j);
		json_finish(&j);
	} else {
		for (i = 0; i < res.n_violations; i++)
			printf("violation: %s: %s\n",
			       check_kind_names[res.violations[i].kind],
			       res.violations[i].msg);
		for (i = 0; i < res.n_stale; i++)
			printf("stale: %s\n", res.stale[i].msg);
		printf("%ld mappings, %ld owners, %ld sessions", res.mappings,
		       res.owners, res.sessions);
		if (o->pools)
			printf(", %ld queued ports", res.ports_queued);
		if (res.statics)
			printf(", %ld static entries", res.statics);
		printf(" checked: %ld violations", res.n_violations);
		if (res.n_stale)
			printf(", %ld stale sessions", res.n_stale);
		printf("\n");
	}
	err = res.n_violations ? -EBADMSG : 0;
	check_result_free(&res);
	return err;
}

int cmd_list(const struct masq_opts *o,
	     int (*print)(const struct masq_maps *m, bool as_json))
{
	struct masq_maps m;
	int err;

	if (o->n_args) {
		pr_err("%s list: unexpected argument '%s'", o->cmd, o->args[0]);
		return -1;
	}
	err = open_instance(o, &m);
	if (err)
		return err;
	err = print(&m, o->json);
	maps_close(&m);
	return err;
}
