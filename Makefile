# SPDX-License-Identifier: GPL-2.0
# bpfmasq: BPF objects -> libbpf skeleton -> bpfmasq, plus tests and demo.
# Everything built goes to $(OUTPUT), outside the source directories.

OUTPUT ?= build
PREFIX ?= /usr/local

CLANG ?= clang
CC ?= gcc
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed -e 's/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -Wall -Werror -D__TARGET_ARCH_$(ARCH) \
	-Iinclude -Ibpf $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))
CFLAGS ?= -O2 -g
CFLAGS += -Wall -Wextra -Werror -std=gnu11 -Iinclude -Iuser -I$(OUTPUT)
LDLIBS := -lbpf -lelf -lz

# The command line (its table, parsing, dispatch, output) is the CLI's own;
# everything else in user/ is libbpfmasq.a, which the CLI, the program tests
# and prog_bench link.
CLI_SRCS := user/main.c user/opts.c user/cli.c user/show.c user/json.c \
	    user/forward_cmd.c user/static_cmd.c
CLI_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(CLI_SRCS))
LIB_SRCS := $(filter-out $(CLI_SRCS),$(wildcard user/*.c))
LIB_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(LIB_SRCS))
LIB := $(OUTPUT)/libbpfmasq.a
TEST_SRCS := $(wildcard tests/prog/*.c)
TEST_OBJS := $(patsubst tests/prog/%.c,$(OUTPUT)/tests/%.o,$(TEST_SRCS))
# The fixture and the frames, which prog_bench uses too.
TEST_LIB_OBJS := $(OUTPUT)/tests/harness.o $(OUTPUT)/tests/pkt.o
# The tests themselves: every PROG_TEST(name, flags) line in these files.
PROG_TEST_SRCS := $(sort $(wildcard tests/prog/t_*.c))
PROG_TESTS_H := $(OUTPUT)/tests/prog_tests.h

# The data path, and the control program the collector runs (ctl.bpf.c).
BPF_OBJ := $(OUTPUT)/bpfmasq.bpf.o
CTL_OBJ := $(OUTPUT)/ctl.bpf.o
SKEL := $(OUTPUT)/bpfmasq.skel.h $(OUTPUT)/ctl.skel.h
BIN := $(OUTPUT)/bpfmasq
PROG_TEST := $(OUTPUT)/prog_test
PROG_BENCH := $(OUTPUT)/prog_bench
# bpfmasq(8), written from the CLI tables by a program built for this host.
HOSTCC ?= $(CC)
GEN_MAN := $(OUTPUT)/tools/gen_man
MAN := $(OUTPUT)/bpfmasq.8

# Debian packages: one list, tools/packages.txt, in groups (build, test,
# lint). Each stamp runs tools/deps.sh for its group once per build
# directory, and again when the list changes: it installs what is missing
# (as root) and is a no-op when everything is installed. `make` needs only
# the build group; test, demo and lint add theirs.
DEPS_STAMP := $(OUTPUT)/.deps-build
DEPS_STAMPS := $(DEPS_STAMP) $(OUTPUT)/.deps-test $(OUTPUT)/.deps-lint

# What make lint checks and make format rewrites.
C_SRCS = $(wildcard bpf/*.c bpf/*.h include/*.h user/*.c user/*.h \
	tests/prog/*.c tests/prog/*.h tools/*.c tools/bench/*.c tools/bench/*.h)
SH_SRCS = tests/run.sh $(wildcard tests/net/*.sh tools/*.sh tools/bench/*.sh) .ci/run

.PHONY: all deps test fuzz demo bench install clean format lint readme FORCE
all: $(BIN) $(PROG_TEST) $(PROG_BENCH) $(MAN)

deps: $(DEPS_STAMP)
$(DEPS_STAMPS): $(OUTPUT)/.deps-%: tools/packages.txt tools/deps.sh | $(OUTPUT)
	@tools/deps.sh $*
	@touch $@

$(OUTPUT) $(OUTPUT)/user $(OUTPUT)/tests $(OUTPUT)/tools $(OUTPUT)/tools/bench:
	@mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c | $(DEPS_STAMP) $(OUTPUT)
	$(CLANG) $(BPF_CFLAGS) -MD -MF $@.d -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $* > $@.tmp && mv $@.tmp $@

$(OUTPUT)/user/%.o: user/%.c $(SKEL) | $(OUTPUT)/user
	$(CC) $(CFLAGS) -MD -c $< -o $@

$(OUTPUT)/tests/%.o: tests/prog/%.c $(SKEL) | $(OUTPUT)/tests
	$(CC) $(CFLAGS) -I$(OUTPUT)/tests -Wmissing-prototypes -MD -c $< -o $@

# The runner's table of tests, found in their sources (see prog_test.h):
# written on every run and replaced only when it changed, so that a new or
# removed test or file, or changed flags, rebuild what includes it.
$(PROG_TESTS_H): $(PROG_TEST_SRCS) FORCE | $(OUTPUT)/tests
	@{ echo '/* Generated from tests/prog/t_*.c by the Makefile. */'; \
	   sed -n -E 's/^PROG_TEST\(([a-z0-9_]+), *([^)]*)\).*/PROG_TEST_ENTRY(\1, \2)/p' \
		$(PROG_TEST_SRCS); } > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; \
		echo "generated $@"; fi

$(filter-out $(TEST_LIB_OBJS),$(TEST_OBJS)): $(PROG_TESTS_H)

$(LIB): $(LIB_OBJS)
	$(AR) rcs $@.tmp $^ && mv $@.tmp $@

$(BIN): $(CLI_OBJS) $(LIB)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(PROG_TEST): $(TEST_OBJS) $(LIB)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Per-packet cost of each program path (figures, not a test), beside the
# yardsticks of prog_bench.bpf.c.
$(OUTPUT)/tools/prog_bench.bpf.o: tools/prog_bench.bpf.c | $(DEPS_STAMP) $(OUTPUT)/tools
	$(CLANG) $(BPF_CFLAGS) -MD -MF $@.d -c $< -o $@

$(OUTPUT)/tools/prog_bench.skel.h: $(OUTPUT)/tools/prog_bench.bpf.o
	$(BPFTOOL) gen skeleton $< name prog_bench > $@.tmp && mv $@.tmp $@

$(OUTPUT)/tools/prog_bench.o: tools/prog_bench.c $(SKEL) $(OUTPUT)/tools/prog_bench.skel.h | $(OUTPUT)/tools
	$(CC) $(CFLAGS) -Itests/prog -I$(OUTPUT)/tools -MD -c $< -o $@

$(PROG_BENCH): $(OUTPUT)/tools/prog_bench.o $(TEST_LIB_OBJS) $(LIB)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# The benchmark's XDP programs (generator, sink, forwarder) and bmqgen,
# which loads and runs them; make bench runs tools/bench/bench.sh with them.
# QUICK=1: the short profile.
BENCH_OBJ := $(OUTPUT)/tools/bench/bench.bpf.o
BENCH_SKEL := $(OUTPUT)/tools/bench/bench.skel.h
BENCH_GEN := $(OUTPUT)/tools/bench/bmqgen

$(BENCH_OBJ): tools/bench/bench.bpf.c tools/bench/bench.h | $(DEPS_STAMP) $(OUTPUT)/tools/bench
	$(CLANG) $(BPF_CFLAGS) -Itools/bench -MD -MF $@.d -c $< -o $@

$(BENCH_SKEL): $(BENCH_OBJ)
	$(BPFTOOL) gen skeleton $< name bench > $@.tmp && mv $@.tmp $@

$(BENCH_GEN): tools/bench/bmqgen.c tools/bench/bench.h $(BENCH_SKEL)
	$(CC) $(CFLAGS) -Itools/bench -I$(OUTPUT)/tools/bench -MD $< $(LDLIBS) -o $@

bench: all $(BENCH_GEN) $(OUTPUT)/.deps-test
	tools/bench/bench.sh $(OUTPUT) $(if $(filter-out 0,$(QUICK)),--quick)

$(GEN_MAN): tools/gen_man.c user/cli.c user/cli.h include/bpfmasq.h | $(OUTPUT)/tools
	$(HOSTCC) -O2 -Wall -Wextra -Werror -std=gnu11 -Iinclude -Iuser \
		tools/gen_man.c user/cli.c -o $@

$(MAN): $(GEN_MAN)
	$(GEN_MAN) >$@.tmp && mv $@.tmp $@

# README.md's usage block is `bpfmasq --help`; the CLI tests check it.
readme: $(BIN)
	tools/readme_usage.sh $(BIN) --update

test: all $(OUTPUT)/.deps-test
	tests/run.sh $(OUTPUT)

# The fuzz tests of the program tests, long: FUZZ_ITERS packets each
# (make test runs them bounded); FUZZ_SEED=N replays the seed printed.
FUZZ_ITERS ?= 500000
fuzz: $(PROG_TEST)
	FUZZ_ITERS=$(FUZZ_ITERS) $(PROG_TEST) 'fuzz*'

demo: $(BIN) $(OUTPUT)/.deps-test
	tools/demo.sh $(OUTPUT)

install: $(BIN) $(MAN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/bpfmasq
	install -D -m 0644 $(MAN) $(DESTDIR)$(PREFIX)/share/man/man8/bpfmasq.8

format: $(OUTPUT)/.deps-lint
	clang-format -i $(C_SRCS)

# C style (.clang-format) and shellcheck; both halves run, either fails it.
# -x: shellcheck follows what the scripts source.
lint: $(OUTPUT)/.deps-lint
	@rc=0; \
	echo "clang-format --dry-run -Werror (C sources)"; \
	clang-format --dry-run -Werror $(C_SRCS) || rc=1; \
	echo "shellcheck -x (shell scripts)"; \
	shellcheck -x $(SH_SRCS) || rc=1; \
	exit $$rc

clean:
	rm -rf $(OUTPUT)

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/user/*.d $(OUTPUT)/tests/*.d \
	$(OUTPUT)/tools/*.d $(OUTPUT)/tools/bench/*.d)
