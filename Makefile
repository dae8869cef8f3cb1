# imagine — GNU Make build. `make help` lists the targets.
#
# One static library (build/libimagine.a) from src/ minus src/main.c, one binary (build/imagine),
# one test binary per tests/unit/test_*.c. No -march=native: oneDNN picks its ISA at run time, and
# our own vector code uses per-function target attributes chosen with __builtin_cpu_supports.

CC       ?= gcc
BUILD    ?= build
OPT      ?= -O2
CFLAGS   ?=
SAN      ?=
CFLAGS_ALL = -std=c11 $(OPT) -g -Wall -Wextra -Wno-unused-parameter -fopenmp -D_GNU_SOURCE \
             -Iinclude -Isrc $(SAN) $(CFLAGS)
LDLIBS   = -lmicrohttpd -lhiredis -ldnnl -ljansson -lpng -ljpeg -lwebp -lm
LDFLAGS_ALL = -fopenmp $(SAN) $(LDFLAGS)
SHARED  ?= $(abspath ../shared)
DEBUG_SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  = $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
PIC_OBJ  = $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
PREFIX  ?= /usr/local
DESTDIR ?=
SO_NAME  = libimagine.so.0
SO_FILE  = libimagine.so.0.3.0
# Where an installed library finds the built-in model and the CLIP vocabulary (ig__asset_path).
DATADIR_FLAG = -DIG_DATADIR='"$(PREFIX)/share/imagine"'
TEST_SRC = $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN = $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all help run check test debug bench bench-model clean deps examples shared install lib-check
all: $(BUILD)/imagine

help:
	@echo "make            build build/libimagine.a and build/imagine (oneDNN 2.x, OpenMP)"
	@echo "make test       build and run every unit test (reads ../shared, override with SHARED=)"
	@echo "make e2e        end-to-end: imagine serve on the tiny models, curl + the openai/gradient npm clients"
	@echo "make browser    the playground page in headless Chromium (playwright-core), screenshot in build/"
	@echo "make redis      several processes on one Redis queue: 2 fronts, 2 workers, nginx; a worker killed, Redis restarted"
	@echo "make hostile    10 000+ hostile requests, limits and faults (truncated models, full disk, OOM) against imagine serve"
	@echo "make fuzz       build the libFuzzer harnesses (clang, ASan+UBSan) into build-fuzz/"
	@echo "make fuzz-run   run each harness FUZZ_SECONDS (60) on tests/fuzz/corpus, then tests/fuzz/regressions"
	@echo "make debug      unit and end-to-end tests under ASan + UBSan + LeakSanitizer, in build-debug/"
	@echo "make run        install missing Debian packages, build, imagine serve on 127.0.0.1:8080 (SERVE_ARGS=...)"
	@echo "make check      install missing Debian packages, then make test, lib-check, e2e, browser, redis, hostile, debug and fuzz-run (what CI runs)"
	@echo "make examples   build/examples/txt2img, the library's example program (examples/txt2img.c)"
	@echo "make shared     build/libimagine.so (only the public ig_ functions of include/imagine.h exported)"
	@echo "make install    imagine, imagine.h, libimagine.a/.so, imagine.pc and the assets under PREFIX (/usr/local)"
	@echo "make lib-check  install into build/stage, build the example with pkg-config (static and shared), run it"
	@echo "make bench      imagine bench ops: per-op ms, GFLOP/s, % of the measured peak"
	@echo "make bench-model  a full-size SD-Turbo-shaped random model (cached in ~/.cache/imagine), 512x512 1 step"
	@echo "make deps       apt-get the Debian packages the build needs (run as root)"
	@echo "make CUDA=1     (not yet: the CUDA backend is a later issue)"

deps:
	./.ci/deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/obj/src/common.o: CFLAGS_ALL += $(DATADIR_FLAG)
$(BUILD)/pic/src/common.o: CFLAGS_ALL += $(DATADIR_FLAG)

$(BUILD)/libimagine.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The shared library: position-independent objects, and a version script that exports the public
# API (include/imagine.h) and nothing else.
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -MMD -MP -c $< -o $@

$(BUILD)/$(SO_FILE): $(PIC_OBJ) src/lib/imagine.map
	$(CC) -shared -Wl,-soname,$(SO_NAME) -Wl,--version-script=src/lib/imagine.map -Wl,--no-undefined \
	    $(LDFLAGS_ALL) -o $@ $(PIC_OBJ) $(LDLIBS)

$(BUILD)/libimagine.so: $(BUILD)/$(SO_FILE)
	ln -sf $(SO_FILE) $(BUILD)/$(SO_NAME)
	ln -sf $(SO_FILE) $@

shared: $(BUILD)/libimagine.so

$(BUILD)/imagine.pc: Makefile
	@mkdir -p $(dir $@)
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' 'libdir=$${prefix}/lib' '' \
	    'Name: imagine' 'Description: Stable Diffusion text-to-image in C on oneDNN (libimagine)' \
	    'Version: 0.3.0' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -limagine' \
	    'Libs.private: -ldnnl -lmicrohttpd -lhiredis -ljansson -lpng -ljpeg -lwebp -lm -lgomp -lpthread' > $@

$(BUILD)/examples/txt2img: examples/txt2img.c include/imagine.h $(BUILD)/libimagine.a
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Iinclude $(SAN) -o $@ $< $(BUILD)/libimagine.a $(LDFLAGS_ALL) $(LDLIBS)

examples: $(BUILD)/examples/txt2img

install: $(BUILD)/imagine $(BUILD)/libimagine.a $(BUILD)/libimagine.so $(BUILD)/imagine.pc
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/share/imagine
	install -m 755 $(BUILD)/imagine $(DESTDIR)$(PREFIX)/bin/imagine
	install -m 644 include/imagine.h $(DESTDIR)$(PREFIX)/include/imagine.h
	install -m 644 $(BUILD)/libimagine.a $(DESTDIR)$(PREFIX)/lib/libimagine.a
	install -m 755 $(BUILD)/$(SO_FILE) $(DESTDIR)$(PREFIX)/lib/$(SO_FILE)
	ln -sf $(SO_FILE) $(DESTDIR)$(PREFIX)/lib/$(SO_NAME)
	ln -sf $(SO_FILE) $(DESTDIR)$(PREFIX)/lib/libimagine.so
	install -m 644 $(BUILD)/imagine.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/imagine.pc
	cp -R assets/imagine-emoji assets/clip $(DESTDIR)$(PREFIX)/share/imagine/

# The library as a user gets it: installed into a staging prefix, the example built against it with
# pkg-config (static and shared), run on the tiny golden model, the exports checked; and the
# includes of src/ only going down the layers (tests/lib/layers.sh).
lib-check:
	tests/lib/check.sh $(BUILD) $(SHARED)
	tests/lib/layers.sh

$(BUILD)/imagine: $(BUILD)/obj/src/main.o $(BUILD)/libimagine.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libimagine.a tests/unit/test.h tests/unit/golden.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -MMD -MP -o $@ $< $(BUILD)/libimagine.a $(LDFLAGS_ALL) $(LDLIBS)

test: $(TEST_BIN) $(BUILD)/imagine
	@fail=0; for t in $(TEST_BIN); do \
	  echo "== $$t"; IMAGINE_SHARED=$(SHARED) IMAGINE_BIN=$(BUILD)/imagine $$t || { echo "FAIL $$t"; fail=1; }; \
	done; \
	if [ $$fail = 0 ]; then echo "all tests passed"; else echo "some tests FAILED"; exit 1; fi

run: deps
	$(MAKE) $(BUILD)/imagine
	$(BUILD)/imagine serve $(SERVE_ARGS)

check: deps
	$(MAKE) test
	$(MAKE) lib-check
	$(MAKE) e2e
	$(MAKE) browser
	$(MAKE) redis
	$(MAKE) hostile
	$(MAKE) debug
	$(MAKE) fuzz-run

# The sanitizer build runs the unit tests and the end-to-end tests (LeakSanitizer checks the server at
# exit). The server runs f32 there: oneDNN 2.6's bf16 AMX brgemm conv reads past a buffer during
# primitive creation under ASan's allocator (a SEGV inside libdnnl only, issue 4 note).
debug:
	$(MAKE) BUILD=build-debug OPT=-O1 SAN="$(DEBUG_SAN)" test
	IMAGINE_PRECISION=f32 $(MAKE) BUILD=build-debug OPT=-O1 SAN="$(DEBUG_SAN)" e2e

bench: $(BUILD)/imagine
	$(BUILD)/imagine bench ops

$(BUILD)/make_random_model: tools/make_random_model.c $(BUILD)/libimagine.a
	$(CC) $(CFLAGS_ALL) -MMD -MP -o $@ $< $(BUILD)/libimagine.a $(LDFLAGS_ALL) $(LDLIBS)

bench-model: $(BUILD)/imagine $(BUILD)/make_random_model
	$(BUILD)/imagine bench --model "$$($(BUILD)/make_random_model $(SHARED)/assets/clip | tail -1)" --width 512 --height 512 --steps 1

clean:
	rm -rf build build-debug build-fuzz

include tests/e2e/e2e.mk
include tests/browser/browser.mk
include tests/fuzz/fuzz.mk
include tests/hostile/hostile.mk
include tests/redis/redis.mk

-include $(shell find $(BUILD) build-debug -name '*.d' 2>/dev/null)
