# cparsl — the one build. `make`, `make test`, `make install PREFIX=… DESTDIR=…`,
# `make SAN=address,undefined test` (a sanitizer copy in its own folder).

PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc
SAN        ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

# msgpack-c 6 renamed its .pc; Debian 12 ships msgpack.pc (4.0.0).
MSGPACK := $(shell $(PKG_CONFIG) --exists msgpack-c 2>/dev/null && echo msgpack-c || echo msgpack)
DEPS    := libuv $(MSGPACK) libsodium yaml-0.1 sqlite3 libssh

ifeq ($(SAN),)
BUILD   ?= build
OPT     ?= -O2
else
BUILD   ?= build/san-$(subst $(comma),-,$(SAN))
OPT     ?= -O1
SANFLAGS := -fsanitize=$(SAN) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
comma := ,

# jansson: JSON (qstat -F json of the pbspro provider; Kubernetes later).
DEPS    += jansson

DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DEPS) 2>/dev/null)
DEP_LIBS   := $(shell $(PKG_CONFIG) --libs $(DEPS) 2>/dev/null)

CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
           -fPIC -pthread -fvisibility=hidden $(SANFLAGS)
CPPFLAGS += -Iinclude -I. -D_GNU_SOURCE $(DEP_CFLAGS)
LDFLAGS += -pthread $(SANFLAGS)
LDLIBS  += $(DEP_LIBS) -ldl -lm

LIB_SRC := $(sort $(wildcard common/*.c engine/*.c executors/*.c providers/*.c monitoring/*.c \
                             workflows/*.c))
CLI_SRC := $(sort $(wildcard workflows/cli/*.c))
WORKER_SRC := executors/cli/parsl_worker.c monitoring/none/db_none.c monitoring/none/ckpt_none.c \
              providers/none/channel_ssh_none.c providers/none/pbs_json_none.c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# Config templates are compiled in (tools/embed-templates.sh), so `config: local`
# needs no installed files. templates.list changes only when the set of templates
# does, so adding or removing one regenerates the C file too.
TEMPLATES := $(sort $(wildcard templates/*.yaml))
LIB_OBJ  += $(BUILD)/obj/gen/templates.o
TEST_SRC := $(sort $(wildcard tests/unit/*.c))
TESTS    := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%.t)
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

BINS := $(BUILD)/parsl-run $(BUILD)/parsl-worker

.PHONY: all deps lib bin tests examples bench test example install uninstall clean check-symbols fuzz FORCE

all: deps lib bin examples

deps:
	@$(PKG_CONFIG) --exists --print-errors $(DEPS) || \
	  { echo "missing libraries: run ./dev deps (installs: libuv1-dev libmsgpack-dev libsodium-dev libyaml-dev libsqlite3-dev libssh-dev libjansson-dev)" >&2; exit 1; }

lib: $(BUILD)/libcparsl.a $(BUILD)/libcparsl.so $(BUILD)/cparsl.pc

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/gen/templates.list: FORCE
	@mkdir -p $(dir $@)
	@echo '$(TEMPLATES)' | cmp -s - $@ || echo '$(TEMPLATES)' > $@

$(BUILD)/gen/templates.c: tools/embed-templates.sh $(TEMPLATES) $(BUILD)/gen/templates.list
	sh tools/embed-templates.sh $@ $(TEMPLATES)

$(BUILD)/obj/gen/templates.o: $(BUILD)/gen/templates.c engine/config_file.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

FORCE:

$(BUILD)/libcparsl.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# parsl-run takes the whole library and exports its public symbols, so the shared
# libraries a workflow names (native apps) bind to this copy of the app registry.
$(BUILD)/parsl-run: $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libcparsl.a
	$(CC) $(LDFLAGS) -rdynamic -o $@ $(filter %.o,$^) \
	  -Wl,--whole-archive $(BUILD)/libcparsl.a -Wl,--no-whole-archive $(LDLIBS)

# parsl-worker (the pool) likewise: --app-library libraries bind to its registry.
# A pool never writes the monitoring database or checkpoints nor runs a
# provider's commands, so it takes the library without them (monitoring/none/
# and providers/none/ stand in) and loads neither SQLite, libssh nor jansson.
ENGINE_ONLY_OBJ := $(BUILD)/obj/providers/channel_ssh.o $(BUILD)/obj/providers/ssh_conn.o \
                   $(BUILD)/obj/providers/ssh_files.o $(BUILD)/obj/providers/pbs_json.o
POOL_LIB_OBJ := $(filter-out $(BUILD)/obj/monitoring/% $(ENGINE_ONLY_OBJ),$(LIB_OBJ))
POOL_LDLIBS  := $(shell $(PKG_CONFIG) --libs $(filter-out sqlite3 libssh jansson,$(DEPS)) 2>/dev/null) -ldl -lm
$(BUILD)/libcparsl-pool.a: $(POOL_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/parsl-worker: $(WORKER_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libcparsl-pool.a
	$(CC) $(LDFLAGS) -rdynamic -o $@ $(filter %.o,$^) \
	  -Wl,--whole-archive $(BUILD)/libcparsl-pool.a -Wl,--no-whole-archive $(POOL_LDLIBS)

bin: $(BINS)

$(BUILD)/libcparsl.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libcparsl.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS)

VERSION := $(shell sed -n 's/^\#define CPARSL_VERSION "\(.*\)"/\1/p' include/cparsl.h)
render_pc = sed -e 's|@PREFIX@|$(1)|g' -e 's|@DEPS@|$(DEPS)|g' -e 's|@VERSION@|$(VERSION)|g' cparsl.pc.in

# The in-tree .pc points at PREFIX as given now; install renders its own copy, so
# a later `make install PREFIX=…` never ships a stale prefix.
$(BUILD)/cparsl.pc: cparsl.pc.in Makefile
	@mkdir -p $(dir $@)
	$(call render_pc,$(PREFIX)) > $@

# Tests and examples link the static library, so tests may reach internal symbols.
# Tests may ignore results in their set-up code: -Wno-unused-result there only.
$(BUILD)/tests/%.t: tests/unit/%.c $(BUILD)/libcparsl.a tests/tap.h tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -Wno-unused-result -fvisibility=default -MMD -MP $< -o $@ \
	  $(LDFLAGS) $(BUILD)/libcparsl.a $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libcparsl.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fvisibility=default -MMD -MP $< -o $@ \
	  $(LDFLAGS) $(BUILD)/libcparsl.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libcparsl.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fvisibility=default -MMD -MP $< -o $@ \
	  $(LDFLAGS) $(BUILD)/libcparsl.a $(LDLIBS)

tests: $(TESTS)
examples: $(EXAMPLES)
bench: $(BENCHES)

# The test suite: every unit test binary and every TAP script, through prove.
# Under TSan, libuv (not instrumented) is kept out of fd tracking: tests/tsan.supp.
ifeq ($(SAN),thread)
TEST_ENV := TSAN_OPTIONS="suppressions=$(abspath tests/tsan.supp) $$TSAN_OPTIONS"
endif
test: deps lib bin tests examples
	$(TEST_ENV) CP_BUILD=$(BUILD) CP_SAN="$(SAN)" CC="$(CC)" prove --exec '' -j$(JOBS) --timer $(TESTS) $(sort $(wildcard tests/scripts/*.t))

# The main job of the README, on the embedded default (local thread pool).
# The main job of the README: example workflows through parsl-run on the embedded
# default (local thread pool, no server), each in a fresh copy under
# $(BUILD)/examples/workflows so the source tree stays clean; then the C examples.
RUN := $(abspath $(BUILD))/parsl-run
WFX := $(BUILD)/examples/workflows
example: deps lib bin examples
	rm -rf $(WFX) && mkdir -p $(dir $(WFX)) && cp -r examples/workflows $(WFX)
	$(CC) -std=gnu11 -O2 -shared -fPIC -Iinclude -o $(WFX)/pi/libpi.so $(WFX)/pi/libpi.c
	cd $(WFX)/pi && $(RUN) pi.yaml && cat pi.txt
	cd $(WFX)/wordcount && $(RUN) wordcount.yaml && cat top-words.txt
	cd $(BUILD)/examples && ./pi && ./wordfreq

# libFuzzer targets (clang): each runs FUZZ_SECONDS on its seed corpus, copied so the
# tree stays clean. A crash leaves its input in build/fuzz/ and fails the target.
FUZZ_SECONDS ?= 20
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
              -Iinclude -I. -D_GNU_SOURCE
build/fuzz/value_decode: tests/fuzz/value_decode.c common/value.c common/err.c common/value.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/fuzz/value_decode.c common/value.c common/err.c \
	  $(shell $(PKG_CONFIG) --cflags --libs $(MSGPACK)) -o $@

build/fuzz/yaml_load: tests/fuzz/yaml_load.c common/yaml.c common/arena.c common/err.c common/yaml.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/fuzz/yaml_load.c common/yaml.c common/arena.c common/err.c \
	  $(shell $(PKG_CONFIG) --cflags --libs yaml-0.1) -o $@

WIRE_FUZZ_SRC := executors/wire_frame.c executors/wire_msg.c executors/wire_auth.c common/value.c common/err.c
build/fuzz/wire_decode: tests/fuzz/wire_decode.c $(WIRE_FUZZ_SRC) executors/wire.h common/value.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/fuzz/wire_decode.c $(WIRE_FUZZ_SRC) \
	  $(shell $(PKG_CONFIG) --cflags --libs $(MSGPACK) libsodium) -pthread -o $@

# Each target runs FUZZ_SECONDS on a copy of its seeds (the tree stays clean).
fuzz_run = rm -rf build/fuzz/corpus-$(1) && cp -r tests/fuzz/corpus/$(1) build/fuzz/corpus-$(1) && \
	cd build/fuzz && { ./$(2) -max_total_time=$(FUZZ_SECONDS) -max_len=$(3) \
	  -print_final_stats=1 corpus-$(1) > $(2).log 2>&1; rc=$$?; \
	  tail -n 12 $(2).log; exit $$rc; }

fuzz: build/fuzz/value_decode build/fuzz/yaml_load build/fuzz/wire_decode
	$(call fuzz_run,value,value_decode,4096)
	$(call fuzz_run,yaml,yaml_load,8192)
	$(call fuzz_run,wire,wire_decode,65536)

check-symbols: lib
	@bad=$$(nm -g --defined-only $(BUILD)/libcparsl.a | awk 'NF==3 {print $$3}' | grep -v '^cp_' || true); \
	 if [ -n "$$bad" ]; then echo "exported symbols without the cp_ prefix:"; echo "$$bad"; exit 1; fi

install: lib bin
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/parsl-run $(BUILD)/parsl-worker $(DESTDIR)$(PREFIX)/bin/
	install -m 644 docs/parsl-run.1 docs/parsl-worker.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 include/cparsl.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libcparsl.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libcparsl.so $(DESTDIR)$(PREFIX)/lib/libcparsl.so.0
	ln -sf libcparsl.so.0 $(DESTDIR)$(PREFIX)/lib/libcparsl.so
	$(call render_pc,$(PREFIX)) > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cparsl.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/parsl-run $(DESTDIR)$(PREFIX)/bin/parsl-worker \
	      $(DESTDIR)$(PREFIX)/share/man/man1/parsl-run.1 $(DESTDIR)$(PREFIX)/share/man/man1/parsl-worker.1
	rm -f $(DESTDIR)$(PREFIX)/include/cparsl.h $(DESTDIR)$(PREFIX)/lib/libcparsl.* \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/cparsl.pc

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
