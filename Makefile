# headshot — build, test, bench.  `make demo` and `make test` are the two commands a newcomer needs.
#
# Layout: src/*.c is the program (src/headshot.c holds main, everything else is also linked
# into the tests), src/*_avx2.c and src/*_avx512.c are compiled with AVX2+FMA / AVX-512 enabled
# and only called after a run-time CPU check, weights/*.hsw are embedded into the binary by
# build/embed.S.

CC      ?= cc
VERSION := 0.1.0
BIN     ?= headshot
CFLAGS  ?= -O2 -g
override CFLAGS += -std=c11 -Wall -Wextra -D_GNU_SOURCE -Isrc -Ithird_party/stb $(VECTORIZE)
# The one place the version is written; -MMD: each object depends on the headers it includes.
override CPPFLAGS += -DHS_VERSION='"$(VERSION)"' -MMD -MP
LDLIBS  += -lm -lpthread
PREFIX  ?= /usr/local
ARCH    := $(shell $(CC) -dumpmachine | cut -d- -f1)
BUILD   ?= build

LIB_SRC := $(filter-out src/headshot.c,$(wildcard src/*.c))
LIB_OBJ := $(patsubst src/%.c,$(BUILD)/%.o,$(LIB_SRC)) $(BUILD)/embed.o $(BUILD)/page.o
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
WEIGHTS := $(sort $(wildcard weights/*.hsw))

ifeq ($(ARCH),x86_64)
SIMD_FLAGS_avx2 := -mavx2 -mfma
SIMD_FLAGS_avx512 := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma
# GCC's -O2 vectorises a loop only when it knows the trip count fits the vectors (its "very
# cheap" cost model); the channel loops of nn.c and the pixel loops of the image stages have
# run-time counts, which the dynamic model handles with a check: networks 5-15% faster (selfie
# 5.2 -> 4.4 ms). Clang vectorises those loops at -O2 already and has no such option; Debian's
# aarch64 GCC 12 crashes with it (internal compiler error in tests/test_nn.c), so x86-64 only.
VECTORIZE := $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null)),,-fvect-cost-model=dynamic)
endif

.PHONY: all test check bench asan fuzz fuzz-build demo install clean static static-arm64 arm64-tests
all: $(BIN)

$(BIN): $(BUILD)/headshot.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%_avx2.o: src/%_avx2.c | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SIMD_FLAGS_avx2) -c -o $@ $<

$(BUILD)/%_avx512.o: src/%_avx512.c | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SIMD_FLAGS_avx512) -c -o $@ $<

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Every weights/NAME.hsw becomes the embedded blob NAME (see nn_embedded() in nn_weights.c).
$(BUILD)/embed.S: $(WEIGHTS) tools/embed.sh Makefile | $(BUILD)
	sh tools/embed.sh $@ $(WEIGHTS)

$(BUILD)/embed.o: $(BUILD)/embed.S
	$(CC) -c -o $@ $<

# The page of `headshot serve`, embedded as serve_page (src/serve.c).
$(BUILD)/page.o: src/page.S web/index.html | $(BUILD)
	$(CC) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(LIB_OBJ) | $(BUILD)
	@mkdir -p $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(BUILD):
	@mkdir -p $(BUILD)

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d)

# The test command of the README and of .ci/run: the native suite, the same suite on the
# AVX2 and portable (non-AVX2) kernels, and on the static arm64 build under qemu when its tools
# exist. The last line is "N passed, N failed, K skipped".
test: $(BIN) $(TESTS)
	@sh tests/all.sh $(BUILD) ./$(BIN)

# The inner loop: the native pass only, without the kernel-set matrix (tests/isa_test.sh).
check: $(BIN) $(TESTS)
	@HEADSHOT_TEST_PASSES=native SKIP_SCRIPTS=isa_test sh tests/all.sh $(BUILD) ./$(BIN)

# Tests again under AddressSanitizer + UndefinedBehaviorSanitizer, in a separate build dir.
# The sanitizer flags ride on CC (compile and link): a CFLAGS given on the command line would
# replace the project flags above (-std=c11 -Isrc -Ithird_party/stb ...) instead of adding.
asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/headshot HEADSHOT_TEST_PASSES=native \
	  CC="clang -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# The saved fuzz inputs run through the fuzz targets in the normal build (tests/fuzz/fuzz.h).
$(BUILD)/tests/test_fuzz: $(wildcard tests/fuzz/*.c tests/fuzz/*.h) src/headshot.c

# Fuzzing with clang's libFuzzer under AddressSanitizer + UndefinedBehaviorSanitizer
# (docs/SECURITY.md): every tests/fuzz/fuzz_NAME.c is built as build-fuzz/fuzz_NAME and run
# for FUZZ_S seconds from its seeds in tests/fuzz/corpus/NAME; what it learns is kept in
# build-fuzz/corpus/NAME, a crash is saved as build-fuzz/crash-*. NN_FUZZ_NO_CHECKSUM lets
# random input past the weight file's checksum, in this build only.
FUZZ_S  ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CC := clang -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
           -fno-omit-frame-pointer -DNN_FUZZ_NO_CHECKSUM
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do mkdir -p build-fuzz/corpus/$$t; echo "# fuzz_$$t for $(FUZZ_S) s"; \
	  build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_S) -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 \
	    -print_final_stats=1 -artifact_prefix=build-fuzz/ build-fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; done

fuzz-build:
	$(MAKE) BUILD=build-fuzz CC="$(FUZZ_CC)" $(patsubst %,build-fuzz/fuzz_%,$(FUZZ_TARGETS))

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h src/headshot.c $(LIB_OBJ)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(LIB_OBJ) $(LDLIBS)

bench: $(BIN)
	./$(BIN) bench

demo: $(BIN)
	./$(BIN) samples/hopper.jpg -o demo-headshot.jpg

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/headshot
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	sed 's/@VERSION@/$(VERSION)/' docs/headshot.1 > $(DESTDIR)$(PREFIX)/share/man/man1/headshot.1

# One binary for any machine: fully static, every network embedded.
# Release builds are stripped (-s): debug info would be most of the size after the weights.
# Static glibc on both: musl's allocator returns every large block to the kernel, so each
# stage faulted its buffers in again (12 MP headshot 0.65 s against 0.45 s, docs/PERFORMANCE.md).
# tests/isa_test.sh builds them under build-static/ and build-arm64/ instead (STATIC_BIN=...).
STATIC_BIN ?= headshot-$(VERSION)-linux
static:
	$(MAKE) BUILD=build-static CC=gcc LDFLAGS="-static -s" BIN=$(STATIC_BIN)-x86_64
static-arm64:
	$(MAKE) BUILD=build-arm64 CC=aarch64-linux-gnu-gcc LDFLAGS="-static -s" BIN=$(STATIC_BIN)-arm64

# The arm64 build of the binary and of every test program (run by tests/all.sh under qemu).
arm64-tests:
	$(MAKE) BUILD=build-arm64 CC=aarch64-linux-gnu-gcc LDFLAGS=-static BIN=build-arm64/headshot \
	  build-arm64/headshot $(patsubst $(BUILD)/%,build-arm64/%,$(TESTS))

clean:
	rm -rf build build-asan build-fuzz build-static build-arm64 headshot headshot-*-linux-* demo-headshot.jpg
