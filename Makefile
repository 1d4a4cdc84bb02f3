# anonremap: top-level build.  `make help` lists the targets.

VERSION := 0.1.0
ARCH ?= $(shell uname -m)

CC ?= gcc
CFLAGS ?= -O2 -g
WARNFLAGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	     -Wmissing-prototypes -Wformat=2
BASEFLAGS := -std=gnu11 -D_GNU_SOURCE -MMD -MP $(WARNFLAGS) -Ilib
SMARTCOLS_CFLAGS := $(shell pkg-config --cflags smartcols 2>/dev/null)
SMARTCOLS_LIBS := $(shell pkg-config --libs smartcols 2>/dev/null || echo -lsmartcols)
# libproc2 is loaded by `top` when it runs (see cli/top.c): only its header
# is needed to build.
CLI_LIBS := $(SMARTCOLS_LIBS) -ldl
# What the library itself needs (capabilities, for permission messages).
LIB_LIBS := $(shell pkg-config --libs libcap 2>/dev/null || echo -lcap)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
UNITDIR ?= $(PREFIX)/lib/systemd/system
LIBEXECDIR ?= $(PREFIX)/libexec/anonremap
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR ?=

LIB_SRCS := $(filter-out $(LIB_SKIP),$(wildcard lib/*.c) $(wildcard lib/arch/$(ARCH).c))
LIB_PIC_OBJS := $(patsubst %.c,build/pic/%.o,$(LIB_SRCS))
LIB_OBJS := $(patsubst %.c,build/obj/%.o,$(LIB_SRCS))
CLI_SRCS := $(wildcard cli/*.c)
CLI_OBJS := $(patsubst %.c,build/obj/%.o,$(CLI_SRCS))
UNIT_SRCS := $(wildcard tests/unit/*-test.c)
UNIT_BINS := $(UNIT_SRCS:.c=)
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:.c=)

SONAME := libanonremap.so.0
LIBSO := lib/libanonremap.so
LIBA := lib/libanonremap.a
CLI := cli/anonremap

.PHONY: all install uninstall clean demo check check-asan stress \
	bench deps deps-check kernel check-kernel help lint-man

all: $(CLI) $(LIBSO) $(LIBA) $(HELPER_BINS)

build/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(SMARTCOLS_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBSO): $(LIB_PIC_OBJS)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LIB_LIBS) $(LDFLAGS)
	ln -sf libanonremap.so $(LIBSO).0

$(LIBA): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(CLI): $(CLI_OBJS) $(LIBA)
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJS) $(LIBA) $(CLI_LIBS) $(LIB_LIBS) $(LDFLAGS)

tests/unit/%-test: tests/unit/%-test.c tests/unit/tap.h $(LIBA)
	$(CC) $(BASEFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(LIBA) $(LIB_LIBS) $(LDFLAGS)

tests/helpers/%: tests/helpers/%.c
	$(CC) $(BASEFLAGS) $(CFLAGS) -pthread -o $@ $< $(LDFLAGS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(LIBEXECDIR)
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/anonremap
	install -m 755 $(LIBSO) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libanonremap.so
	install -m 644 $(LIBA) $(DESTDIR)$(LIBDIR)/libanonremap.a
	install -m 644 lib/anonremap.h $(DESTDIR)$(INCLUDEDIR)/anonremap.h
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
		lib/anonremap.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/anonremap.pc
	install -m 644 man/anonremap.8 $(DESTDIR)$(MANDIR)/man8/anonremap.8
	install -m 644 man/libanonremap.3 $(DESTDIR)$(MANDIR)/man3/libanonremap.3
	for u in anonremap-textfile.service anonremap-defrag@.service; do \
		sed -e 's|@BINDIR@|$(BINDIR)|g; s|@LIBEXECDIR@|$(LIBEXECDIR)|g' \
			contrib/systemd/$$u.in > $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 644 contrib/systemd/anonremap-textfile.timer \
		contrib/systemd/anonremap-defrag@.timer $(DESTDIR)$(UNITDIR)/
	install -m 755 contrib/systemd/anonremap-defrag-if $(DESTDIR)$(LIBEXECDIR)/
	install -m 644 contrib/bash-completion/anonremap $(DESTDIR)$(COMPLETIONDIR)/anonremap

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/anonremap $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libanonremap.so $(DESTDIR)$(LIBDIR)/libanonremap.a \
	      $(DESTDIR)$(INCLUDEDIR)/anonremap.h \
	      $(DESTDIR)$(PKGCONFIGDIR)/anonremap.pc \
	      $(DESTDIR)$(MANDIR)/man8/anonremap.8 \
	      $(DESTDIR)$(MANDIR)/man3/libanonremap.3 \
	      $(DESTDIR)$(UNITDIR)/anonremap-textfile.service \
	      $(DESTDIR)$(UNITDIR)/anonremap-textfile.timer \
	      $(DESTDIR)$(UNITDIR)/anonremap-defrag@.service \
	      $(DESTDIR)$(UNITDIR)/anonremap-defrag@.timer \
	      $(DESTDIR)$(LIBEXECDIR)/anonremap-defrag-if \
	      $(DESTDIR)$(COMPLETIONDIR)/anonremap

clean:
	rm -rf build $(CLI) $(LIBSO) $(LIBSO).0 $(LIBA) \
	       $(UNIT_BINS) $(HELPER_BINS)

deps:
	@scripts/install-deps.sh build

deps-check:
	@scripts/install-deps.sh check

# The README's first command: build, fragment a demo process, report on it.
demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

# The README's second command: every test that runs on this machine.
check: deps-check
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@tests/run.sh

# Unit tests and CLI tests again, built with AddressSanitizer and UBSan.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	      -fno-sanitize-recover=all
ASAN_DIR := build/asan
check-asan: deps-check
	@mkdir -p $(ASAN_DIR)/tests/unit
	$(CC) $(BASEFLAGS) $(SMARTCOLS_CFLAGS) $(ASAN_FLAGS) -o $(ASAN_DIR)/anonremap \
		$(CLI_SRCS) $(LIB_SRCS) $(CLI_LIBS) $(LIB_LIBS)
	@for t in $(UNIT_SRCS); do \
		echo "$(CC) ... -o $(ASAN_DIR)/$${t%.c}"; \
		$(CC) $(BASEFLAGS) $(ASAN_FLAGS) -Itests/unit \
			-o $(ASAN_DIR)/$${t%.c} $$t $(LIB_SRCS) $(LIB_LIBS) || exit 1; \
	done
	@$(MAKE) --no-print-directory $(HELPER_BINS)
	@# the unit tests find their helper processes beside them, not sanitized
	@ln -sfn ../../../tests/helpers $(ASAN_DIR)/tests/helpers
	@ANONREMAP=$(ASAN_DIR)/anonremap UNIT_DIR=$(ASAN_DIR)/tests/unit tests/run.sh

lint-man:
	mandoc -Tlint -W warning man/anonremap.8

# kill -9 of the tool at 300 random instants of heals, each followed by
# recover and a check of every page (make check runs a short sample).
stress: all $(UNIT_BINS)
	AR_KILL9_ITERATIONS=200 tests/unit/inject-test

bench: all $(UNIT_BINS)
	bench/stat.sh
	bench/top.sh
	bench/defrag.sh

kernel:
	$(MAKE) -C kernel

# The guest image carries cli/anonremap and the test helpers
# (kernel/scripts/initramfs.d/anonremap): built first.
check-kernel: all
	@scripts/install-deps.sh kernel
	$(MAKE) -C kernel check

help:
	@echo "targets:"
	@echo "  all          build cli/anonremap, lib/libanonremap.{so,a}, test helpers"
	@echo "  demo         install build deps, fragment a demo process, run anonremap on it"
	@echo "  check        install test deps, run unit, CLI (bats) and live tests"
	@echo "  check-asan   the same suites built with -fsanitize=address,undefined"
	@echo "  bench        benchmarks (bench/*.sh), printed as ratios"
	@echo "  stress       kill -9 the tool at 300 random instants, recover, check"
	@echo "  install      install to DESTDIR/PREFIX (default /usr/local)"
	@echo "  kernel       build the patched 6.12 kernel (kernel/)"
	@echo "  check-kernel run the kernel tests in QEMU"

-include $(shell find build tests -name '*.d' 2>/dev/null)
