# casefs build.  `make run` and `make check` work alone on a fresh Debian
# machine: the `deps` target installs what is missing through apt.

CC      ?= gcc
PKGS     = fuse3 lmdb libsodium
CFLAGS  ?= -O2 -g
# Flags the code needs whatever CFLAGS says (make asan overrides CFLAGS).
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Wall -Wextra -Werror \
              -Wshadow -Wno-unused-parameter -pthread -I.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# LMDB is linked statically, its writes of data.mdb wrapped: store/written.h
# says why.
LMDB_LIBS  = -Wl,--wrap=pwrite,--wrap=writev,--wrap=write -Wl,-Bstatic -llmdb -Wl,-Bdynamic
PKG_LIBS   = $(LMDB_LIBS) $(filter-out -llmdb,$(shell pkg-config --libs $(PKGS) 2>/dev/null))
# store/ knows nothing of FUSE: its tests link without libfuse.
STORE_LIBS = $(LMDB_LIBS) $(filter-out -llmdb,$(shell pkg-config --libs libsodium 2>/dev/null))
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)
BUILD   ?= build

STORE_SRC = $(wildcard store/*.c)
FS_SRC    = $(wildcard fs/*.c)
TOOLS_SRC = $(wildcard tools/*.c)
UNIT_SRC  = $(wildcard tests/unit/*.c)

STORE_OBJ = $(STORE_SRC:%.c=$(BUILD)/%.o)
FS_OBJ    = $(FS_SRC:%.c=$(BUILD)/%.o)
TOOLS_OBJ = $(TOOLS_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ  = $(UNIT_SRC:%.c=$(BUILD)/%.o)

DEB_PACKAGES = libfuse3-dev fuse3 liblmdb-dev libsodium-dev check pkg-config \
               attr rsync tar vim python3 util-linux psmisc procps \
               libglib2.0-bin restic lmdb-utils

.PHONY: all deps check unit mount-tests run stop asan format clean soak bench fuzz \
        fuzz-regress

all: $(BUILD)/casefs $(BUILD)/unit-tests $(BUILD)/cfs-tamper

# Install build and test dependencies when any is missing (root, Debian).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILD)/%.o: %.c $(wildcard store/*.h fs/*.h tools/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/casefs: $(STORE_OBJ) $(FS_OBJ) $(TOOLS_OBJ)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/unit-tests: $(STORE_OBJ) $(UNIT_OBJ)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $^ $(STORE_LIBS) $(CHECK_LIBS) $(LDFLAGS)

# A test tool that damages stores on purpose (tests/tools/tamper.c).
$(BUILD)/cfs-tamper: $(BUILD)/tests/tools/tamper.o
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $^ $(shell pkg-config --libs lmdb 2>/dev/null) $(LDFLAGS)

check: deps
	$(MAKE) all
	@CC=$(CC) bash tests/fuzz/regress.sh
	@BUILD=$(BUILD) bash tests/run-all.sh

# Every fuzz target (tests/fuzz/) for FUZZ_SECONDS each; needs clang.
FUZZ_SECONDS ?= 60
fuzz:
	@dpkg-query -W -f='$${Status}' clang 2>/dev/null | grep -q 'install ok installed' || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev >/dev/null)
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

# Replays the inputs that once crashed a fuzz target (also part of check).
fuzz-regress: deps
	CC=$(CC) bash tests/fuzz/regress.sh

# The benchmark against the native folder, a FUSE pass-through and
# gocryptfs (bench/README.md); not part of check.
bench: deps
	$(MAKE) all $(BUILD)/bench-passthrough
	@for p in gocryptfs bc; do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	  grep -q 'install ok installed' || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$p >/dev/null; }; done
	BUILD=$(CURDIR)/$(BUILD) bash bench/run.sh $(BENCH)

$(BUILD)/bench-passthrough: bench/passthrough.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(shell pkg-config --libs fuse3 2>/dev/null) $(LDFLAGS)

# The long run of the random-operation exerciser.
soak: deps
	$(MAKE) all
	@BUILD=$(BUILD) bash tests/soak.sh


run: deps
	$(MAKE) all
	@bash tools/demo.sh start

stop:
	@bash tools/demo.sh stop

# The whole suite under AddressSanitizer and UndefinedBehaviorSanitizer.
# The sanitizer run takes other exerciser seeds than make check's, fewer of
# them, and a shorter 8-process run (everything runs about twice as slowly).
ASAN_EXERCISER_SEEDS ?= 7 8 9
ASAN_CRASH_SEEDS ?= 17 18 19
ASAN_CONCURRENCY_SECONDS ?= 20
asan: deps
	$(MAKE) BUILD=build/asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all
	@rm -f build/asan/sanitizer.*
	@BUILD=build/asan \
	  EXERCISER_SEEDS="$(ASAN_EXERCISER_SEEDS)" EXERCISER_CRASH_SEEDS="$(ASAN_CRASH_SEEDS)" \
	  CASEFS_CONCURRENCY_SECONDS=$(ASAN_CONCURRENCY_SECONDS) \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(CURDIR)/build/asan/sanitizer \
	  UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/build/asan/sanitizer \
	  bash tests/run-all.sh; rc=$$?; \
	  if ls build/asan/sanitizer.* >/dev/null 2>&1; then \
	    cat build/asan/sanitizer.*; echo "0 passed, 1 failed (sanitizer reports above)"; exit 1; fi; \
	  exit $$rc

format:
	clang-format -i store/*.[ch] fs/*.[ch] tools/*.[ch] tests/unit/*.[ch] tests/tools/*.c

clean:
	rm -rf build
