#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# tools/bench/report.py RAW [PROG_BENCH [TCP [SCALE [CONNS]]]] - the tables and the
# `name value unit` lines of a bench.sh run, from its raw samples (one
# "workload config pps busy ns offered" line per window: busy is the
# gateway CPU's busy share meanwhile, ns its NAPI threads' CPU time per
# packet, offered what the generators sent),
# prog_bench's output and the bulk TCP runs.
import statistics
import sys

CONFIGS = ["plain", "nft", "bpfmasq_tc", "bpfmasq_xdp", "bpfmasq_fast",
           "xdp_fwd"]


def measured(rows, wl):
    """Each configuration's data for workload @wl, in table order; rows for
    what has none are printed here."""
    for cfg in CONFIGS:
        if (wl, cfg) not in rows:
            print("  %-12s not measured" % cfg)
        else:
            yield cfg, rows[(wl, cfg)]


def load(path):
    samples = {}
    order = []
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) != 6:
                continue
            if w[0] not in order:
                order.append(w[0])
            samples.setdefault((w[0], w[1]), []).append(
                tuple(float(x) for x in w[2:]))
    return order, samples


def tcp_table(path):
    """Bulk TCP: one "workload config gbps gw_s_per_gbit" line a run."""
    rows = {}
    order = []
    try:
        with open(path) as f:
            for line in f:
                w = line.split()
                if len(w) == 4:
                    if w[0] not in order:
                        order.append(w[0])
                    rows[(w[0], w[1])] = [float(x) for x in w[2:]]
    except OSError:
        return []
    if not order:
        return []
    lines = []
    print()
    print("Bulk TCP (iperf3, lan1 -> wan), one run each: throughput, and the softirq")
    print("time of the gateway's CPU per Gbit (ms; rough: it holds other work's")
    print("softirq too, and misses what polls in NAPI threads)")
    for wl in order:
        print()
        print(wl)
        print("  %-12s %8s %6s %9s" % ("config", "Gbit/s", "ratio", "ms/Gbit"))
        nft = rows.get((wl, "nft"))
        for cfg, r in measured(rows, wl):
            ratio = r[0] / nft[0] if nft and nft[0] else 0
            print("  %-12s %8.2f %6.2f %9.1f" % (cfg, r[0], ratio, r[1] * 1e3))
            name = "%s.%s" % (wl, cfg)
            lines += ["%s.throughput %.3f Gbit/s" % (name, r[0]),
                      "%s.ratio_nft %.3f ratio" % (name, ratio),
                      "%s.gw_cpu %.1f ms/Gbit" % (name, r[1] * 1e3)]
    return lines


def conns_table(path):
    """New TCP connections: "tcp_conns config rate lost ms_per_1000"."""
    try:
        with open(path) as f:
            rows = [l.split() for l in f if len(l.split()) == 5]
    except OSError:
        rows = []
    if not rows:
        return []
    print()
    print("New TCP connections from lan1 and lan2 at once, the end hosts on one")
    print("CPU (which they saturate): connections a second, lost ones (failed or")
    print("over 1 s), and the gateway CPU's softirq ms per thousand (rough)")
    print("  %-12s %8s %6s %6s %9s" % ("config", "conn/s", "ratio", "lost", "ms/1000"))
    nft = [float(r[2]) for r in rows if r[1] == "nft"]
    lines = []
    for r in rows:
        rate, lost, cpu = float(r[2]), int(r[3]), float(r[4])
        ratio = rate / nft[0] if nft and nft[0] else 0
        print("  %-12s %8.0f %6.2f %6d %9.1f" % (r[1], rate, ratio, lost, cpu))
        name = "tcp_conns.%s" % r[1]
        lines += ["%s.rate %.0f conn/s" % (name, rate),
                  "%s.ratio_nft %.3f ratio" % (name, ratio),
                  "%s.lost %d connections" % (name, lost),
                  "%s.gw_cpu %.1f ms/1000" % (name, cpu)]
    return lines


def scale_table(path):
    """Scale: its lines are already `name value unit`."""
    try:
        with open(path) as f:
            rows = [l.split() for l in f if len(l.split()) == 3]
    except OSError:
        rows = []
    print()
    print("Scale (bpfmasq, TC ingress): memory, 1,048,000 live sessions, the collector")
    if not rows:
        print("  not measured (make bench without QUICK=1)")
    for r in rows:
        print("  %-40s %12s %s" % tuple(r))
    return [" ".join(r) for r in rows]


def main():
    order, samples = load(sys.argv[1])
    lines = []
    print("64-byte UDP through the gateway: packets per second at the receiver")
    print("(median, min, max of the windows; ratio: median / nft's median;")
    print(" CPU: the gateway core's busy share, whoever kept it busy;")
    print(" ns/pkt: CPU time of the gateway's NAPI threads per packet received,")
    print(" median and range; ns/nft: that median over nft's; offered: what the")
    print(" generators sent, in Mpps)")
    for wl in order:
        print()
        print(wl)
        print("  %-12s %10s %10s %10s %6s %5s %7s %11s %6s %7s" %
              ("config", "median", "min", "max", "ratio", "CPU", "ns/pkt", "(min-max)",
               "ns/nft", "offered"))
        nft = samples.get((wl, "nft"))
        nft_med = statistics.median([s[0] for s in nft]) if nft else 0
        nft_ns = statistics.median([s[2] for s in nft]) if nft else 0
        for cfg, s in measured(samples, wl):
            pps = [x[0] for x in s]
            busy = statistics.median([x[1] for x in s])
            nss = [x[2] for x in s]
            ns = statistics.median(nss)
            med = statistics.median(pps)
            ratio = med / nft_med if nft_med else 0
            cost = ns / nft_ns if nft_ns else 0
            offered = s[0][3]
            print("  %-12s %10.0f %10.0f %10.0f %6.2f %5.2f %7.0f %11s %6.2f %7.2f" %
                  (cfg, med, min(pps), max(pps), ratio, busy, ns,
                   "%.0f-%.0f" % (min(nss), max(nss)), cost, offered / 1e6))
            name = "%s.%s" % (wl, cfg)
            lines += ["%s.median %.0f pps" % (name, med),
                      "%s.min %.0f pps" % (name, min(pps)),
                      "%s.max %.0f pps" % (name, max(pps)),
                      "%s.ratio_nft %.3f ratio" % (name, ratio),
                      "%s.gw_cpu_busy %.3f share" % (name, busy),
                      "%s.gw_ns_per_pkt %.0f ns" % (name, ns),
                      "%s.gw_ns_ratio_nft %.3f ratio" % (name, cost),
                      "%s.offered %.0f pps" % (name, offered)]
    if len(sys.argv) > 3:
        lines += tcp_table(sys.argv[3])
    if len(sys.argv) > 4:
        lines += scale_table(sys.argv[4])
    if len(sys.argv) > 5:
        lines += conns_table(sys.argv[5])
    if len(sys.argv) > 2:
        print()
        print("Per-packet cost of each program path (prog_bench, BPF_PROG_TEST_RUN)")
        try:
            with open(sys.argv[2]) as f:
                for line in f:
                    w = line.split()
                    if len(w) == 3:
                        print("  %-36s %8s %s" % tuple(w))
                        lines.append("prog.%s %s %s" % tuple(w))
        except OSError:
            print("  not measured")
    print()
    for l in lines:
        print(l)


main()
