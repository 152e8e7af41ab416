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

BPF_CFLAGS := -g -O2 -target bpf -Wall -Werror -D__TARGET_ARCH_$(ARCH) \
	-Iinclude -Ibpf $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))
CFLAGS ?= -O2 -g
CFLAGS += -Wall -Wextra -Werror -std=gnu11 -Iinclude -Iuser -I$(OUTPUT)
LDLIBS := -lbpf -lelf -lz

USER_SRCS := $(filter-out user/main.c,$(wildcard user/*.c))
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
TEST_SRCS := $(wildcard tests/prog/*.c)
TEST_OBJS := $(patsubst tests/prog/%.c,$(OUTPUT)/tests/%.o,$(TEST_SRCS))

BPF_OBJ := $(OUTPUT)/bpfmasq.bpf.o
SKEL := $(OUTPUT)/bpfmasq.skel.h
BIN := $(OUTPUT)/bpfmasq
PROG_TEST := $(OUTPUT)/prog_test
PROG_BENCH := $(OUTPUT)/prog_bench
# bpfmasq(8), written from the CLI tables by a program built for this host.
HOSTCC ?= $(CC)
GEN_MAN := $(OUTPUT)/tools/gen_man
MAN := $(OUTPUT)/bpfmasq.8

# Debian packages the build, the tests and the demo need.
DEB_PKGS := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev gcc make \
	pkg-config iproute2 iputils-ping ethtool socat iperf3 nftables \
	netcat-openbsd iputils-tracepath traceroute python3 \
	man-db groff-base \
	$(if $(filter x86_64,$(ARCH)),gcc-multilib)
DEPS_STAMP := $(OUTPUT)/.deps-ok

.PHONY: all deps test demo install clean format readme
all: $(BIN) $(PROG_TEST) $(PROG_BENCH) $(MAN)

# Installs what is missing, once per build directory; a no-op when all is here.
deps: $(DEPS_STAMP)
$(DEPS_STAMP):
	@mkdir -p $(OUTPUT)
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
			grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing build dependencies: $$missing"; \
		if [ "$$(id -u)" != 0 ]; then \
			echo "error: missing packages ($$missing); run as root or install them" >&2; \
			exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

$(OUTPUT) $(OUTPUT)/user $(OUTPUT)/tests $(OUTPUT)/tools:
	@mkdir -p $@

$(BPF_OBJ): bpf/bpfmasq.bpf.c | $(DEPS_STAMP) $(OUTPUT)
	$(CLANG) $(BPF_CFLAGS) -MD -MF $@.d -c $< -o $@

$(SKEL): $(BPF_OBJ)
	$(BPFTOOL) gen skeleton $< name bpfmasq > $@.tmp && mv $@.tmp $@

$(OUTPUT)/user/%.o: user/%.c $(SKEL) | $(OUTPUT)/user
	$(CC) $(CFLAGS) -MD -c $< -o $@

$(OUTPUT)/tests/%.o: tests/prog/%.c $(SKEL) | $(OUTPUT)/tests
	$(CC) $(CFLAGS) -MD -c $< -o $@

$(BIN): $(OUTPUT)/user/main.o $(USER_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(PROG_TEST): $(TEST_OBJS) $(USER_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Per-packet cost of each program path (figures, not a test).
$(OUTPUT)/tools/prog_bench.o: tools/prog_bench.c $(SKEL) | $(OUTPUT)/tools
	$(CC) $(CFLAGS) -Itests/prog -MD -c $< -o $@

$(PROG_BENCH): $(OUTPUT)/tools/prog_bench.o $(filter-out %/prog_test.o,$(TEST_OBJS)) $(USER_OBJS)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(GEN_MAN): tools/gen_man.c user/cli.c user/cli.h include/bpfmasq.h | $(OUTPUT)/tools
	$(HOSTCC) -O2 -Wall -Wextra -Werror -std=gnu11 -Iinclude -Iuser \
		tools/gen_man.c user/cli.c -o $@

$(MAN): $(GEN_MAN)
	$(GEN_MAN) >$@.tmp && mv $@.tmp $@

# README.md's usage block is `bpfmasq --help`; the CLI tests check it.
readme: $(BIN)
	tools/readme_usage.sh $(BIN) --update

test: all
	tests/run.sh $(OUTPUT)

demo: $(BIN)
	tools/demo.sh $(OUTPUT)

install: $(BIN) $(MAN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/bpfmasq
	install -D -m 0644 $(MAN) $(DESTDIR)$(PREFIX)/share/man/man8/bpfmasq.8

format:
	clang-format -i bpf/*.h bpf/*.c include/*.h user/*.c user/*.h tests/prog/*.c \
		tools/gen_man.c

clean:
	rm -rf $(OUTPUT)

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/user/*.d $(OUTPUT)/tests/*.d \
	$(OUTPUT)/tools/*.d)
