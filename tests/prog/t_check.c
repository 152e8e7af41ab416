// SPDX-License-Identifier: GPL-2.0
/*
 * t_check.c - the state checker (user/check.c): after real traffic it finds
 * nothing; after one corruption of the maps by hand, it finds exactly that.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "check.h"
#include "scenario.h"

#define OTHER_ADDR IP4(203, 0, 113, 99)

/* What the traffic of check_setup() left, for a corruption to act on. */
struct flows {
	__u16 tcp_port; /* HOST1:IN_RANGE_PORT's, from the pool */
	__u16 udp_port; /* HOST2:OUT_RANGE_PORT, from the pool */
	__u16 echo_id; /* HOST3's echo id 0x1234, from the pool */
};

/* A TCP connection, a UDP query and a ping, answered. */
static bool check_setup(struct fixture *fx, struct flows *fl)
{
	struct pkt_spec s;

	if (!fx_setup(fx, NULL))
		return false;
	s = tcp_spec(HOST1, IN_RANGE_PORT, REMOTE1, 80, PKT_TCP_SYN);
	if (!send_out(fx, &s, &fl->tcp_port))
		return false;
	s = tcp_spec(REMOTE1, 80, EXT_ADDR, fl->tcp_port,
		     PKT_TCP_SYN | PKT_TCP_ACK);
	if (!send_in(fx, &s, HOST1, IN_RANGE_PORT))
		return false;
	s = udp_spec(HOST2, OUT_RANGE_PORT, REMOTE1, 53, query);
	if (!send_out(fx, &s, &fl->udp_port))
		return false;
	s = udp_spec(REMOTE1, 53, EXT_ADDR, fl->udp_port, answer);
	if (!send_in(fx, &s, HOST2, OUT_RANGE_PORT))
		return false;
	s = echo_spec(HOST3, REMOTE1, ICMP_ECHO, 0x1234);
	if (!send_out(fx, &s, &fl->echo_id))
		return false;
	s = echo_spec(REMOTE1, EXT_ADDR, ICMP_ECHOREPLY, fl->echo_id);
	return send_in(fx, &s, HOST3, 0x1234);
}

static struct bpfmasq_endpoint ep(__be32 addr, __u16 port, __u8 proto)
{
	struct bpfmasq_endpoint e = { .addr = addr,
				      .port = htons(port),
				      .proto = proto };

	return e;
}

/* The port_owners value that says @in owns a port. */
static struct bpfmasq_owner owned_by(const struct bpfmasq_endpoint *in)
{
	struct bpfmasq_owner o = { .addr = in->addr,
				   .port = in->port,
				   .proto = in->proto,
				   .state = BPFMASQ_PORT_OWNED };

	return o;
}

/* The queue of pool (EXT_ADDR, @proto), as a new fd. */
static int pool_fd(struct fixture *fx, __u8 proto)
{
	struct bpfmasq_pool_key pk = { .addr = EXT_ADDR, .proto = proto };
	__u32 id;

	if (bpf_map_lookup_elem(fx->maps.port_pools, &pk, &id))
		return -1;
	return bpf_map_get_fd_by_id(id);
}

static int pool_push_port(struct fixture *fx, __u8 proto, __u16 port)
{
	__be16 p = htons(port);
	int fd = pool_fd(fx, proto), err;

	if (fd < 0)
		return -errno;
	err = bpf_map_update_elem(fd, NULL, &p, BPF_ANY) ? -errno : 0;
	close(fd);
	return err;
}

/* Pop one port from a pool, in *@port (host order). */
static int pool_pop_port(struct fixture *fx, __u8 proto, __u16 *port)
{
	int fd = pool_fd(fx, proto), err;
	__be16 p;

	if (fd < 0)
		return -errno;
	err = bpf_map_lookup_and_delete_elem(fd, NULL, &p) ? -errno : 0;
	close(fd);
	*port = ntohs(p);
	return err;
}

/* A mapping of HOST5:7000/udp with its owner, consistent between them. */
static int add_flow(struct fixture *fx, __be32 ext_addr, __u16 ext_port)
{
	struct bpfmasq_endpoint in = ep(HOST5, 7000, IPPROTO_UDP),
				ext = ep(ext_addr, ext_port, IPPROTO_UDP);
	struct bpfmasq_mapping m = { .ext_addr = ext_addr,
				     .ext_port = htons(ext_port) };
	struct bpfmasq_owner o = owned_by(&in);

	if (bpf_map_update_elem(fx->maps.mappings, &in, &m, BPF_NOEXIST) ||
	    bpf_map_update_elem(fx->maps.port_owners, &ext, &o, BPF_NOEXIST))
		return -errno;
	/* Counted for its host, as the data path would. */
	return fx_host_ports(fx, HOST5, 1);
}

/* A session of HOST5:7000/udp with REMOTE1:53, on @ext_addr:40888. */
static int add_session(struct fixture *fx, __be32 ext_addr)
{
	struct bpfmasq_session_key k = { .inside_addr = HOST5,
					 .remote_addr = REMOTE1,
					 .inside_port = htons(7000),
					 .remote_port = htons(53),
					 .proto = IPPROTO_UDP };
	struct bpfmasq_session s = { .ext_addr = ext_addr,
				     .ext_port = htons(40888) };

	if (bpf_map_update_elem(fx->maps.sessions, &k, &s, BPF_NOEXIST))
		return -errno;
	/* Counted for its host, as the data path would. */
	return fx_host_sessions(fx, HOST5, 1);
}

static int run_check(struct fixture *fx, struct check_result *res)
{
	const struct check_opts o = { .pools = true };

	return check_run(&fx->maps, &o, res);
}

PROG_TEST(check_healthy, 0)
{
	struct check_result res = {};
	struct fixture fx;
	struct flows fl;
	long i;

	if (check_setup(&fx, &fl) &&
	    ASSERT_OK(run_check(&fx, &res), "check_run")) {
		for (i = 0; i < res.n_violations; i++)
			assert_fail(__FILE__, __LINE__, "violation: %s: %s",
				    check_kind_names[res.violations[i].kind],
				    res.violations[i].msg);
		ASSERT_EQ(res.n_violations, 0, "violations");
		ASSERT_EQ(res.n_stale, 0, "stale sessions");
		ASSERT_EQ(res.mappings, 3, "mappings checked");
		ASSERT_EQ(res.owners, 3, "owners checked");
		ASSERT_EQ(res.sessions, 3, "sessions checked");
		/* One port out of each pool. */
		ASSERT_EQ(res.ports_queued, 3 * (PORT_MAX - PORT_MIN + 1) - 3,
			  "ports queued");
	}
	check_result_free(&res);
	fx_teardown(&fx);
}

enum corruption {
	DELETE_OWNER,
	OWNER_OTHER_HOST,
	OWNER_WITHOUT_MAPPING,
	SESSION_PORT,
	SESSION_WITHOUT_MAPPING,
	MAPPING_OTHER_ADDRESS,
	MAPPING_OUT_OF_RANGE,
	OWNER_BAD_STATE,
	PUSH_OWNED_PORT,
	QUEUE_TWICE,
	QUEUE_OUT_OF_RANGE,
	LOSE_PORT,
	DELETE_POOL,
	STALE_SESSION,
};

/* Do @c; the endpoint the finding must name in @want (inside or ext). */
static int corrupt(struct fixture *fx, const struct flows *fl,
		   enum corruption c, struct bpfmasq_endpoint *want)
{
	struct bpfmasq_endpoint ext, in = ep(HOST4, 1234, IPPROTO_TCP);
	struct bpfmasq_owner o = owned_by(&in);
	struct bpfmasq_pool_key pk = { .addr = EXT_ADDR,
				       .proto = IPPROTO_ICMP };
	struct bpfmasq_session_key sk;
	struct bpfmasq_session s;
	__u16 port;
	int err;

	switch (c) {
	case DELETE_OWNER:
		*want = ep(HOST1, IN_RANGE_PORT, IPPROTO_TCP);
		ext = ep(EXT_ADDR, fl->tcp_port, IPPROTO_TCP);
		return bpf_map_delete_elem(fx->maps.port_owners, &ext) ? -errno
								       : 0;
	case OWNER_OTHER_HOST:
		*want = ep(HOST1, IN_RANGE_PORT, IPPROTO_TCP);
		ext = ep(EXT_ADDR, fl->tcp_port, IPPROTO_TCP);
		return bpf_map_update_elem(fx->maps.port_owners, &ext, &o,
					   BPF_EXIST)
			       ? -errno
			       : 0;
	case OWNER_WITHOUT_MAPPING:
		*want = ep(EXT_ADDR, 40500, IPPROTO_TCP);
		return bpf_map_update_elem(fx->maps.port_owners, want, &o,
					   BPF_NOEXIST)
			       ? -errno
			       : 0;
	case SESSION_PORT:
		*want = ep(HOST1, IN_RANGE_PORT, IPPROTO_TCP);
		sk = (struct bpfmasq_session_key){
			.inside_addr = HOST1,
			.remote_addr = REMOTE1,
			.inside_port = htons(IN_RANGE_PORT),
			.remote_port = htons(80),
			.proto = IPPROTO_TCP,
		};
		if (bpf_map_lookup_elem(fx->maps.sessions, &sk, &s))
			return -errno;
		s.ext_port = htons(40777);
		return bpf_map_update_elem(fx->maps.sessions, &sk, &s,
					   BPF_EXIST)
			       ? -errno
			       : 0;
	case SESSION_WITHOUT_MAPPING:
		*want = ep(HOST5, 7000, IPPROTO_UDP);
		return add_session(fx, EXT_ADDR);
	case MAPPING_OTHER_ADDRESS:
		*want = ep(HOST5, 7000, IPPROTO_UDP);
		return add_flow(fx, OTHER_ADDR, 40100);
	case MAPPING_OUT_OF_RANGE:
		*want = ep(HOST5, 7000, IPPROTO_UDP);
		return add_flow(fx, EXT_ADDR, PORT_MAX + 1);
	case OWNER_BAD_STATE:
		*want = ep(EXT_ADDR, 40600, IPPROTO_TCP);
		o.state = 7;
		return bpf_map_update_elem(fx->maps.port_owners, want, &o,
					   BPF_NOEXIST)
			       ? -errno
			       : 0;
	case PUSH_OWNED_PORT:
		*want = ep(EXT_ADDR, fl->udp_port, IPPROTO_UDP);
		return pool_push_port(fx, IPPROTO_UDP, fl->udp_port);
	case QUEUE_TWICE:
		err = pool_pop_port(fx, IPPROTO_UDP, &port);
		if (!err)
			err = pool_push_port(fx, IPPROTO_UDP, port);
		if (!err)
			err = pool_push_port(fx, IPPROTO_UDP, port);
		*want = ep(EXT_ADDR, port, IPPROTO_UDP);
		return err;
	case QUEUE_OUT_OF_RANGE:
		*want = ep(EXT_ADDR, 5, IPPROTO_UDP);
		return pool_push_port(fx, IPPROTO_UDP, 5);
	case LOSE_PORT:
		err = pool_pop_port(fx, IPPROTO_TCP, &port);
		*want = ep(EXT_ADDR, port, IPPROTO_TCP);
		return err;
	case DELETE_POOL:
		*want = ep(0, 0, 0);
		return bpf_map_delete_elem(fx->maps.port_pools, &pk) ? -errno
								     : 0;
	case STALE_SESSION:
		*want = ep(HOST5, 7000, IPPROTO_UDP);
		return add_session(fx, OTHER_ADDR);
	}
	return -EINVAL;
}

PROG_TEST(check_finds, TEST_SUBTESTS)
{
	static const struct {
		const char *name;
		enum corruption c;
		enum check_kind kind;
		bool ext; /* the finding names the external endpoint */
		/* What the pool check finds besides, or 0 for nothing. */
		enum check_kind also;
	} rows[] = {
		{ "delete an owner", DELETE_OWNER, CHECK_OWNER_MISSING, false,
		  CHECK_PORT_LOST },
		{ "owner at another host", OWNER_OTHER_HOST,
		  CHECK_OWNER_MISMATCH, false, 0 },
		{ "owner without mapping", OWNER_WITHOUT_MAPPING,
		  CHECK_OWNER_ORPHAN, true, CHECK_PORT_QUEUED_OWNED },
		{ "session ext port", SESSION_PORT, CHECK_SESSION_MISMATCH,
		  false, 0 },
		{ "session without mapping", SESSION_WITHOUT_MAPPING,
		  CHECK_SESSION_UNMAPPED, false, 0 },
		{ "mapping other address", MAPPING_OTHER_ADDRESS,
		  CHECK_MAPPING_ADDRESS, false, 0 },
		{ "mapping out of range", MAPPING_OUT_OF_RANGE,
		  CHECK_PORT_RANGE, false, 0 },
		{ "owner in no state", OWNER_BAD_STATE, CHECK_OWNER_STATE, true,
		  CHECK_PORT_QUEUED_OWNED },
		{ "push an owned port", PUSH_OWNED_PORT,
		  CHECK_PORT_QUEUED_OWNED, true, 0 },
		{ "queue a port twice", QUEUE_TWICE, CHECK_PORT_QUEUED_TWICE,
		  true, 0 },
		{ "queue a port out of range", QUEUE_OUT_OF_RANGE,
		  CHECK_PORT_QUEUED_OUT_OF_RANGE, true, 0 },
		{ "lose a port", LOSE_PORT, CHECK_PORT_LOST, true, 0 },
		{ "delete a pool", DELETE_POOL, CHECK_POOL_MISSING, true, 0 },
		{ "stale session", STALE_SESSION, CHECK_STALE_SESSION, false,
		  0 },
	};
	struct bpfmasq_endpoint want, got;
	struct check_finding *f;
	struct check_result res;
	struct fixture fx;
	struct flows fl;
	size_t i;
	long j;

	for (i = 0; i < ARRAY_SIZE(rows); i++) {
		bool stale = rows[i].kind == CHECK_STALE_SESSION;

		if (!test_subtest("%s", rows[i].name))
			continue;
		memset(&res, 0, sizeof(res));
		if (!check_setup(&fx, &fl) ||
		    !ASSERT_OK(corrupt(&fx, &fl, rows[i].c, &want),
			       "corrupt") ||
		    !ASSERT_OK(run_check(&fx, &res), "check_run"))
			goto next;
		for (j = 0; j < res.n_violations; j++)
			printf("  found %s: %s\n",
			       check_kind_names[res.violations[j].kind],
			       res.violations[j].msg);
		/* A stale session is reported, but not as a violation. */
		if (!ASSERT_EQ(res.n_violations, !stale + !!rows[i].also,
			       "violations") ||
		    !ASSERT_EQ(res.n_stale, stale, "stale sessions"))
			goto next;
		f = stale ? res.stale : res.violations;
		ASSERT_EQ(f->kind, rows[i].kind, "kind");
		if (rows[i].also)
			ASSERT_EQ(f[1].kind, rows[i].also, "second kind");
		got = rows[i].ext ? f->ext : f->inside;
		ASSERT_EQ(got.addr, want.addr, "address");
		ASSERT_EQ(ntohs(got.port), ntohs(want.port), "port");
		ASSERT_EQ(got.proto, want.proto, "protocol");
	next:
		check_result_free(&res);
		fx_teardown(&fx);
	}
}

struct repair {
	struct fixture *fx;
	struct bpfmasq_endpoint ext, in;
	struct bpfmasq_owner o;
};

/* Put the owner back 5 ms from now: while the checker's passes run. */
static void *repair_owner(void *arg)
{
	const struct timespec delay = { 0, 5 * 1000000L };
	struct repair *r = arg;

	nanosleep(&delay, NULL);
	bpf_map_update_elem(r->fx->maps.port_owners, &r->ext, &r->o,
			    BPF_NOEXIST);
	return NULL;
}

/*
 * A state seen between two steps of the data path or the collector is no
 * violation: an owner missing for a moment, put back before the checker's
 * next pass, is not reported.
 */
PROG_TEST(check_transient, 0)
{
	struct check_result res = {};
	struct fixture fx;
	struct flows fl;
	struct repair r;
	pthread_t t;

	if (!check_setup(&fx, &fl))
		goto out;
	r.fx = &fx;
	r.ext = ep(EXT_ADDR, fl.tcp_port, IPPROTO_TCP);
	r.in = ep(HOST1, IN_RANGE_PORT, IPPROTO_TCP);
	r.o = owned_by(&r.in);
	if (!ASSERT_OK(bpf_map_delete_elem(fx.maps.port_owners, &r.ext),
		       "delete the owner") ||
	    !ASSERT_OK(pthread_create(&t, NULL, repair_owner, &r),
		       "pthread_create"))
		goto out;
	ASSERT_OK(run_check(&fx, &res), "check_run");
	pthread_join(t, NULL);
	ASSERT_EQ(res.n_violations, 0, "violations");
	ASSERT_OK(fx_owner(&fx, EXT_ADDR, fl.tcp_port, IPPROTO_TCP, &r.in),
		  "the owner is back");
out:
	check_result_free(&res);
	fx_teardown(&fx);
}
