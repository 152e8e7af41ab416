// SPDX-License-Identifier: GPL-2.0
/*
 * forward.c - port forwards as the CLI writes them. An entry of the
 * forwards map says where connections to one external port go; the
 * collector (gc.c) takes the port for it as soon as it may (free, or
 * once a live dynamic mapping on it has gone and its quarantine is over)
 * and lets it go once the forward is gone and its connections ended.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "clock.h"
#include "forward.h"
#include "log.h"
#include "netif.h"

static struct bpfmasq_forward_key fwd_key(__u8 proto, __u16 port)
{
	struct bpfmasq_forward_key k = { .port = htons(port), .proto = proto };

	return k;
}

static struct bpfmasq_forward fwd_val(const struct forward_spec *spec,
				      __u16 port)
{
	__u16 first = spec->inside_port ? spec->inside_port : spec->lo;
	struct bpfmasq_forward f = {
		.inside_addr = spec->inside_addr,
		.inside_port = htons(first + (port - spec->lo)),
		.from_len = spec->from.plen,
		.from_addr = spec->from.addr,
	};

	return f;
}

static const char *ep_str(char *buf, size_t len, __be32 addr, __be16 port)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, a, sizeof(a));
	snprintf(buf, len, "%s:%u", a, ntohs(port));
	return buf;
}

/* Refuse @spec if it cannot be had: one line, -errno. */
static int forward_refuse(const struct masq_maps *m,
			  const struct forward_spec *spec)
{
	uint8_t *own = calloc(65536, 1);
	struct bpfmasq_forward_key k;
	struct bpfmasq_forward f;
	char a[INET_ADDRSTRLEN], e[32];
	__u32 port;
	int err = 0;

	inet_ntop(AF_INET, &spec->inside_addr, a, sizeof(a));
	if (!addr_translated(m, spec->inside_addr)) {
		pr_err("forward to %s: not an inside address (see --internal)",
		       a);
		err = -EINVAL;
	}
	if (!err && !own)
		err = -ENOMEM;
	if (!err)
		err = netif_own_ports(spec->proto, own);
	for (port = spec->lo; !err && port <= spec->hi; port++) {
		k = fwd_key(spec->proto, port);
		if (!bpf_map_lookup_elem(m->forwards, &k, &f)) {
			pr_err("%s port %u is forwarded already, to %s",
			       proto_name(spec->proto), port,
			       ep_str(e, sizeof(e), f.inside_addr,
				      f.inside_port));
			err = -EEXIST;
		} else if (own[port]) {
			pr_err("%s port %u: the gateway itself has a socket on it",
			       proto_name(spec->proto), port);
			err = -EADDRINUSE;
		}
	}
	free(own);
	return err;
}

int forward_add(const struct masq_maps *m, const struct forward_spec *spec)
{
	struct bpfmasq_forward_key k;
	struct bpfmasq_forward f;
	__u32 port, added;
	int err;

	err = forward_refuse(m, spec);
	for (port = spec->lo; !err && port <= spec->hi; port++) {
		k = fwd_key(spec->proto, port);
		f = fwd_val(spec, port);
		if (bpf_map_update_elem(m->forwards, &k, &f, BPF_NOEXIST)) {
			err = -errno;
			pr_err("cannot add the forward of %s port %u: %s",
			       proto_name(spec->proto), port, strerror(errno));
			break;
		}
	}
	if (!err)
		return 0;
	/* Undo what was added of it: the ports before the one that failed. */
	for (added = spec->lo; added < port; added++) {
		k = fwd_key(spec->proto, added);
		bpf_map_delete_elem(m->forwards, &k);
	}
	return err;
}

int forward_del(const struct masq_maps *m, const struct forward_spec *spec)
{
	struct bpfmasq_forward_key k;
	struct bpfmasq_forward f;
	__u32 port;

	for (port = spec->lo; port <= spec->hi; port++) {
		k = fwd_key(spec->proto, port);
		if (bpf_map_lookup_elem(m->forwards, &k, &f)) {
			pr_err("%s port %u is not forwarded",
			       proto_name(spec->proto), port);
			return -ENOENT;
		}
	}
	for (port = spec->lo; port <= spec->hi; port++) {
		k = fwd_key(spec->proto, port);
		if (bpf_map_delete_elem(m->forwards, &k)) {
			pr_err("cannot delete the forward of %s port %u: %s",
			       proto_name(spec->proto), port, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

int forwards_install(const struct masq_maps *m,
		     const struct bpfmasq_config *cfg)
{
	struct bpfmasq_forward_key *keys;
	struct bpfmasq_forward *vals;
	long n, i;
	int err = 0;

	if (!cfg->ext_addr)
		return 0;
	n = map_dump(m->forwards, (void **)&keys, (void **)&vals);
	if (n < 0)
		return n;
	for (i = 0; i < n && !err; i++) {
		struct bpfmasq_endpoint ext = { .addr = cfg->ext_addr,
						.port = keys[i].port,
						.proto = keys[i].proto };
		struct bpfmasq_endpoint in = { .addr = vals[i].inside_addr,
					       .port = vals[i].inside_port,
					       .proto = keys[i].proto };
		struct bpfmasq_owner o = { .addr = in.addr,
					   .port = in.port,
					   .proto = in.proto,
					   .state = BPFMASQ_PORT_FORWARD };
		struct bpfmasq_mapping map = {
			.ext_addr = ext.addr,
			.ext_port = ext.port,
			.flags = BPFMASQ_MAP_FORWARD,
			.used_ms = (uint32_t)(now_boot_ns() / 1000000),
		};

		if (bpf_map_update_elem(m->port_owners, &ext, &o, BPF_NOEXIST))
			err = -errno;
		/* Two forwards to one inside endpoint: the first one's. */
		else if (bpf_map_update_elem(m->mappings, &in, &map,
					     BPF_NOEXIST) &&
			 errno != EEXIST)
			err = -errno;
	}
	free(keys);
	free(vals);
	return err;
}

bool forward_active(const struct masq_maps *m, const struct bpfmasq_config *cfg,
		    const struct bpfmasq_instance *inst,
		    const struct bpfmasq_forward_key *k,
		    const struct bpfmasq_forward *f, char *why, size_t len)
{
	struct bpfmasq_endpoint ext = { .addr = cfg->ext_addr,
					.port = k->port,
					.proto = k->proto };
	struct bpfmasq_owner o;
	uint64_t now_s = now_boot_ns() / 1000000000ull, until;
	char e[32];

	if (!cfg->ext_addr) {
		snprintf(why, len, "no external address");
		return false;
	}
	if (bpf_map_lookup_elem(m->port_owners, &ext, &o)) {
		snprintf(why, len, "the collector's next pass");
		return false;
	}
	switch (o.state) {
	case BPFMASQ_PORT_FORWARD:
	case BPFMASQ_PORT_FORWARD_QUEUED:
		if (o.addr == f->inside_addr && o.port == f->inside_port)
			return true;
		snprintf(why, len,
			 "connections of the port's previous forward, to %s",
			 ep_str(e, sizeof(e), o.addr, o.port));
		return false;
	case BPFMASQ_PORT_OWNED:
		snprintf(
			why, len,
			"the mapping of %s on the port to expire, then its quarantine",
			ep_str(e, sizeof(e), o.addr, o.port));
		return false;
	case BPFMASQ_PORT_QUARANTINED:
		until = (uint64_t)o.released_s +
			inst->timeouts[BPFMASQ_TIMEOUT_QUARANTINE];
		snprintf(why, len, "the port's quarantine, %llu s more",
			 (unsigned long long)(until > now_s ? until - now_s
							    : 0));
		return false;
	case BPFMASQ_PORT_RESERVED:
		snprintf(why, len, "a socket of the gateway's own on the port");
		return false;
	}
	snprintf(why, len, "the collector's next pass");
	return false;
}
