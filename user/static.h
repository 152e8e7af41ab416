/* SPDX-License-Identifier: GPL-2.0 */
/*
 * static.h - static NAT (1:1): the statics map, two entries a static, the
 * CLI's alone (bpfmasq.h says what the data path makes of it), and the
 * config flag STATICS that tells the data path whether to look.
 */
#ifndef BPFMASQ_USER_STATIC_H
#define BPFMASQ_USER_STATIC_H

#include "maps.h"

/*
 * Make @inside static NAT to @outside: refused (one line, -errno) when
 * either address is another static's already, the two are one, @outside
 * is the masquerade's external address or @inside is not an inside
 * address. Both entries, or neither.
 */
int static_add(const struct masq_maps *m, __be32 inside, __be32 outside);
/* Delete the static of @inside; if @outside is not 0, it must be its. */
int static_del(const struct masq_maps *m, __be32 inside, __be32 outside);

/* The statics, as pairs sorted by inside address: how many, or -errno. */
long statics_list(const struct masq_maps *m, __be32 **inside, __be32 **outside);

#endif /* BPFMASQ_USER_STATIC_H */
