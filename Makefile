# Wharf — build, run, test. `make run` and `make test` install what is missing first.
CC      ?= cc
BUILD   ?= build
PKGS    := yaml-0.1 json-c libcurl openssl libpcre2-8 hiredis
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
           -Wshadow -Wstrict-prototypes -Wmissing-prototypes -fno-strict-aliasing \
           -Wformat=2 -fstack-protector-strong -fPIE \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# hardening: PIE and full RELRO (GOT read-only after start-up: -z now binds every symbol then)
LDFLAGS += -Wl,--as-needed -pie -Wl,-z,relro,-z,now
# libcurl is not linked: lib/curl_lazy.c loads it when the configuration needs it
LDLIBS  += -lfcgi $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null) -lcrypt -ldl

ifeq ($(SANITIZER),address)
BUILD   := build/asan
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
# glibc's checked string and stdio functions (needs -O1 or more); not under ASan,
# whose interceptors the __*_chk variants would bypass
CFLAGS  += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
endif
# the libFuzzer build (make fuzz): clang, coverage for libFuzzer, ASan+UBSan
FUZZ_CC ?= $(shell command -v clang-14 2>/dev/null || echo clang)
ifeq ($(SANITIZER),fuzzer)
BUILD   := build/fuzz
override CC := $(FUZZ_CC)
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIBSRC  := $(wildcard lib/*.c storage/*.c storage/drivers/*.c storage/middleware/*.c handlers/*.c fcgi/*.c) \
           $(filter-out admin/main.c,$(wildcard admin/*.c))
LIBOBJ  := $(LIBSRC:%.c=$(BUILD)/obj/%.o)
UNITSRC := $(wildcard tests/unit/test_*.c)
UNITBIN := $(UNITSRC:tests/unit/%.c=$(BUILD)/tests/%)
SUITEBIN := $(BUILD)/tests/driver_suite

.PHONY: all deps run test unit e2e bench clean format
all: $(BUILD)/wharf

deps:
	@admin/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libwharf.a: $(LIBOBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/wharf: $(BUILD)/obj/admin/main.o $(BUILD)/libwharf.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libwharf.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libwharf.a $(LDFLAGS) $(LDLIBS) -lcmocka

$(SUITEBIN): tests/storage/driver_suite.c $(BUILD)/libwharf.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libwharf.a $(LDFLAGS) $(LDLIBS) -lcmocka

.PHONY: tests-bin
tests-bin: $(UNITBIN) $(if $(wildcard tests/storage/driver_suite.c),$(SUITEBIN))

# make run [CONFIG=path/config.yml]: install what is missing, build, serve
# http://127.0.0.1:5000 (nginx + wharf, ./data), or the given config.yml
run: deps all
	@admin/run.sh

# make test: install what is missing, build, run unit, driver and end-to-end tests
test: deps-test all tests-bin
	@BUILD=$(BUILD) tests/run.sh

unit: all tests-bin
	@BUILD=$(BUILD) tests/run.sh unit

e2e: all
	@BUILD=$(BUILD) tests/run.sh e2e

bench: deps all
	@tests/bench/run.sh

# Issue 12's load benchmarks, side by side with the reference (each ~5 min;
# results in tests/bench/results/, summary in tests/bench/RESULTS-slow.md):
# slow uploaders vs manifest GETs, and 32 concurrent 64 MiB pushes + pulls.
# BENCH_ARGS: extra options for tests/bench/slow.py / pushes.py.
.PHONY: bench-slow bench-pushes
bench-slow: deps all
	@tests/bench/slow.sh $(BENCH_ARGS)

bench-pushes: deps all
	@tests/bench/pushes.sh $(BENCH_ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(LIBOBJ:.o=.d)

.PHONY: deps-test
deps-test:
	@admin/deps.sh test

# ---------------------------------------------------------------- fuzzing
# tests/fuzz/fuzz_*.c are libFuzzer targets. `make fuzz` builds them with
# clang (SANITIZER=fuzzer, into build/fuzz) and runs each for FUZZ_SECONDS
# (FUZZ_TARGETS: a subset). In every other build each target is linked with
# tests/fuzz/replay.c instead, which runs its seed corpus
# (tests/fuzz/corpus/<target>/) once: tests/run.sh's regression test.
FUZZ_SECONDS ?= 60
FUZZSRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZBIN    := $(FUZZSRC:tests/fuzz/%.c=$(BUILD)/%)
FUZZREPLAY := $(FUZZSRC:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%)

$(BUILD)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(BUILD)/libwharf.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< tests/fuzz/replay.c $(BUILD)/libwharf.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libwharf.a
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libwharf.a $(LDFLAGS) $(LDLIBS)

ifneq ($(SANITIZER),fuzzer)
tests-bin: $(FUZZREPLAY)
endif

.PHONY: fuzz fuzz-bin
fuzz-bin: $(FUZZBIN)

fuzz:
	@$(MAKE) --no-print-directory SANITIZER=fuzzer fuzz-bin
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh build/fuzz

# make image: the wharf container image (wharf:latest) in the Docker daemon at
# DOCKER_HOST, and build/wharf-image.oci.tar for podman/skopeo (admin/image.sh)
.PHONY: image
image: all
	@admin/deps.sh image
	@BUILD=$(BUILD) admin/image.sh
