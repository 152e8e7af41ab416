// SPDX-License-Identifier: GPL-2.0
/*
 * pools.c - the free-port pools: one queue map per (external address,
 * protocol), filled with the port range in random order (RFC 6056) minus
 * the ports that are owned or quarantined, installed in the port_pools map
 * of maps. Only the loader builds one, for an address no program allocates
 * from yet or under a flush (state.c): the data path takes ports from a
 * pool, the collector's control program returns them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "log.h"
#include "addrs.h"
#include "maps.h"
#include "netif.h"
#include "pools.h"

static const __u8 pool_protos[] = { BPFMASQ_PROTO_TCP, BPFMASQ_PROTO_UDP,
				    BPFMASQ_PROTO_ICMP };

static uint32_t random_below(uint32_t n)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)rand();
	return (uint32_t)(((uint64_t)r * n) >> 32);
}

/*
 * Ports of pool (@addr, @proto) that are not free: owned or quarantined,
 * as port_owners says.
 */
static int held_ports(const struct masq_maps *m, __be32 addr, __u8 proto,
		      uint8_t *held)
{
	struct bpfmasq_endpoint *ext;
	long n, i;

	n = map_dump(m->port_owners, (void **)&ext, NULL);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		if (ext[i].addr == addr && ext[i].proto == proto)
			held[ntohs(ext[i].port)] = 1;
	free(ext);
	return 0;
}

/*
 * Keep the ports of the range that the gateway's own sockets use out of
 * the pool: each gets a RESERVED entry in port_owners (unless it has one
 * already), and is marked in @held.
 */
static int reserve_own_ports(const struct masq_maps *m, __be32 addr,
			     const struct bpfmasq_instance *inst, __u8 proto,
			     uint8_t *held)
{
	const struct bpfmasq_owner r = { .state = BPFMASQ_PORT_RESERVED };
	struct bpfmasq_endpoint ext = { .addr = addr, .proto = proto };
	uint8_t *own;
	uint32_t port;
	int err;

	/* The gateway's own pings are translated (nat.h): no id to keep. */
	if (proto == IPPROTO_ICMP)
		return 0;
	own = calloc(65536, 1);
	if (!own)
		return -ENOMEM;
	err = netif_own_ports(proto, own);
	for (port = 1; !err && port < 65536; port++) {
		if (!own[port] || held[port] || !ports_contain(inst, port))
			continue;
		ext.port = htons(port);
		if (bpf_map_update_elem(m->port_owners, &ext, &r,
					BPF_NOEXIST) &&
		    errno != EEXIST)
			err = -errno;
		held[port] = 1;
	}
	free(own);
	return err;
}

/* How many ports the ranges of @inst hold. */
static uint32_t ports_total(const struct bpfmasq_instance *inst)
{
	uint32_t n = 0;
	int i;

	for (i = 0; i < BPFMASQ_MAX_PORT_RANGES; i++)
		if (inst->ports[i].lo)
			n += inst->ports[i].hi - inst->ports[i].lo + 1;
	return n;
}

static int pool_create(const struct masq_maps *m, __be32 addr,
		       const struct bpfmasq_instance *inst, __u8 proto)
{
	struct bpfmasq_pool_key pk = { .addr = addr, .proto = proto };
	uint32_t n = ports_total(inst), count = 0, port, i;
	uint8_t *held = calloc(65536, 1);
	__be16 *ports = calloc(n ? n : 1, sizeof(*ports));
	char name[16];
	int fd = -1, err = 0;

	if (!held || !ports) {
		err = -ENOMEM;
		goto out;
	}
	err = held_ports(m, addr, proto, held);
	if (!err)
		err = reserve_own_ports(m, addr, inst, proto, held);
	if (err)
		goto out;
	for (port = 1; port < 65536 && count < n; port++)
		if (ports_contain(inst, port) && !held[port])
			ports[count++] = htons(port);
	/* Fisher-Yates: the order of allocation must not be predictable. */
	for (i = count; i > 1; i--) {
		uint32_t j = random_below(i);
		__be16 t = ports[i - 1];

		ports[i - 1] = ports[j];
		ports[j] = t;
	}

	snprintf(name, sizeof(name), "masq_pool_%u", proto);
	fd = bpf_map_create(BPF_MAP_TYPE_QUEUE, name, 0, sizeof(__be16), n,
			    NULL);
	if (fd < 0) {
		err = -errno;
		pr_err("cannot create port pool map: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (bpf_map_update_elem(fd, NULL, &ports[i], BPF_ANY)) {
			err = -errno;
			pr_err("cannot fill port pool: %s", strerror(errno));
			goto out;
		}
	}
	if (bpf_map_update_elem(m->port_pools, &pk, &fd, BPF_ANY)) {
		err = -errno;
		pr_err("cannot install port pool: %s", strerror(errno));
	}
out:
	if (fd >= 0)
		close(fd);
	free(held);
	free(ports);
	return err;
}

/* The pools of @addr for each protocol: made anew (@all), or where missing. */
static int addr_pools(const struct masq_maps *m, __be32 addr,
		      const struct bpfmasq_instance *inst, bool all)
{
	struct bpfmasq_pool_key pk = { .addr = addr };
	int err = 0;
	size_t j;
	__u32 id;

	for (j = 0; j < sizeof(pool_protos) && !err; j++) {
		pk.proto = pool_protos[j];
		if (all || bpf_map_lookup_elem(m->port_pools, &pk, &id))
			err = pool_create(m, addr, inst, pool_protos[j]);
	}
	return err;
}

/*
 * The pools of each address of @cfg (its one, or each of the pool's), as
 * @how says: made anew, DRAINING ones too (POOLS_ALL: into an empty
 * port_pools), or where missing (POOLS_MISSING); or after a flush, when
 * nothing is on any (POOLS_FLUSH): the ACTIVE ones made anew, the
 * DRAINING ones forgotten.
 */
static int pools_make(const struct masq_maps *m,
		      const struct bpfmasq_config *cfg, enum pools_how how)
{
	__be32 addrs[BPFMASQ_MAX_EXT_ADDRS];
	__u32 states[BPFMASQ_MAX_EXT_ADDRS];
	struct bpfmasq_instance inst;
	int n = 1, i, err;

	if (!cfg->ext_addr)
		return 0;
	err = instance_read(m, &inst);
	if (err)
		return err;
	addrs[0] = cfg->ext_addr;
	states[0] = BPFMASQ_ADDR_ACTIVE;
	if (cfg->flags & BPFMASQ_CFG_POOL) {
		n = ext_addrs_read(m, addrs, states, BPFMASQ_MAX_EXT_ADDRS);
		if (n < 0)
			return n;
	}
	for (i = 0; i < n && !err; i++) {
		if (how == POOLS_FLUSH && states[i] != BPFMASQ_ADDR_ACTIVE)
			err = ext_addr_forget(m, addrs[i]);
		else
			err = addr_pools(m, addrs[i], &inst,
					 how != POOLS_MISSING);
	}
	return err;
}

int pools_create(const struct masq_maps *m, const struct bpfmasq_config *cfg)
{
	return pools_make(m, cfg, POOLS_ALL);
}

int pools_ensure(const struct masq_maps *m, const struct bpfmasq_config *cfg)
{
	return pools_make(m, cfg, POOLS_MISSING);
}

int pools_flush(const struct masq_maps *m, const struct bpfmasq_config *cfg)
{
	return pools_make(m, cfg, POOLS_FLUSH);
}

int pools_ensure_addr(const struct masq_maps *m, __be32 addr)
{
	struct bpfmasq_instance inst;
	int err = instance_read(m, &inst);

	return err ? err : addr_pools(m, addr, &inst, false);
}

int pools_delete(const struct masq_maps *m, __be32 addr)
{
	struct bpfmasq_pool_key pk = { .addr = addr };
	size_t i;

	for (i = 0; i < sizeof(pool_protos); i++) {
		pk.proto = pool_protos[i];
		if (bpf_map_delete_elem(m->port_pools, &pk) && errno != ENOENT)
			return -errno;
	}
	return 0;
}
