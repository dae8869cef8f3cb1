# tests/fuzz/fuzz.mk — libFuzzer harnesses for the parsers that read untrusted bytes (see README.md here).
#
# Included from the top-level Makefile (at its end), or on its own: make -f tests/fuzz/fuzz.mk fuzz
#
#   make fuzz                      build every harness into build-fuzz/ (clang, ASan + UBSan + libFuzzer)
#   make fuzz-run                  run each for FUZZ_SECONDS (default 60) on its seed corpus, then replay
#                                  tests/fuzz/regressions/<name>/; fails on any crash, leak, UB or timeout
#   make fuzz-run FUZZ_ONLY=bpe    only some harnesses (space-separated names)
#   make fuzz-clean                remove build-fuzz/
#
# The seed corpora (tests/fuzz/corpus/<name>/) are only read: new inputs go to a temporary directory
# that is deleted afterwards, crash/leak/timeout inputs to build-fuzz/artifacts/<name>/.
# Needs clang (libFuzzer is part of Debian's clang 14) and libomp-dev (clang's OpenMP runtime).

FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)

FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_NAMES   := request safetensors config bpe multipart
FUZZ_ONLY    ?= $(FUZZ_NAMES)
FUZZ_SAN     ?= -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# The Makefile's flags (-std=c11 -fopenmp -D_GNU_SOURCE -Iinclude -Isrc), at -O1 as `make debug` uses.
FUZZ_CFLAGS  = -std=c11 -O1 -g -Wall -Wextra -Wno-unused-parameter -fopenmp -D_GNU_SOURCE -Iinclude -Isrc $(FUZZ_SAN)
FUZZ_LDLIBS  = -ldnnl -ljansson -lpng -ljpeg -lwebp -lm

# The parts of the library the harnesses reach (sd.c pulls in models/, engine/ and pipeline/), all
# instrumented for coverage; a harness links only the objects it references. Not bench/ (AMX
# intrinsics clang 14 rejects), cli/, server/ or main.c.
FUZZ_LIB_SRC = src/common.c $(shell find src/api src/io src/models src/engine src/pipeline src/image -name '*.c' | sort)
FUZZ_LIB_OBJ = $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BIN     = $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)

# Per harness: the longest input libFuzzer makes (-max_len).
FUZZ_MAXLEN_request     = 8192
FUZZ_MAXLEN_safetensors = 4096
FUZZ_MAXLEN_config      = 4096
FUZZ_MAXLEN_bpe         = 2048
FUZZ_MAXLEN_multipart   = 16384

.PHONY: fuzz fuzz-run fuzz-clean

fuzz: $(FUZZ_BIN)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libimagine.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libimagine.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP -o $@ $< $(FUZZ_BUILD)/libimagine.a -fopenmp $(FUZZ_LDLIBS)

# One harness after another (the machine's cores are shared). Exit status: the first failure's.
fuzz-run: $(FUZZ_ONLY:%=$(FUZZ_BUILD)/fuzz_%)
	@fail=0; for h in $(FUZZ_ONLY); do \
	  bin=$(FUZZ_BUILD)/fuzz_$$h; art=$(FUZZ_BUILD)/artifacts/$$h; tmp=$$(mktemp -d); \
	  mkdir -p $$art; dict=tests/fuzz/dict/$$h.dict; \
	  maxlen=$$(case $$h in request) echo $(FUZZ_MAXLEN_request);; safetensors) echo $(FUZZ_MAXLEN_safetensors);; \
	    config) echo $(FUZZ_MAXLEN_config);; multipart) echo $(FUZZ_MAXLEN_multipart);; *) echo $(FUZZ_MAXLEN_bpe);; esac); \
	  echo "== fuzz $$h: $(FUZZ_SECONDS) s, -max_len=$$maxlen"; \
	  $$bin -max_total_time=$(FUZZ_SECONDS) -max_len=$$maxlen -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix=$$art/ $$( [ -f $$dict ] && echo -dict=$$dict ) \
	    $$tmp tests/fuzz/corpus/$$h > $(FUZZ_BUILD)/fuzz_$$h.log 2>&1; rc=$$?; \
	  rm -rf $$tmp; \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/fuzz_$$h.log); \
	  rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $(FUZZ_BUILD)/fuzz_$$h.log); \
	  cov=$$(grep -o 'cov: [0-9]*' $(FUZZ_BUILD)/fuzz_$$h.log | tail -1); \
	  if [ $$rc = 0 ]; then echo "   $$h: $${execs:-?} execs, $${rate:-?} exec/s, $$cov"; \
	  else echo "FAIL fuzz $$h (exit $$rc): see $(FUZZ_BUILD)/fuzz_$$h.log and $$art/"; \
	    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' $(FUZZ_BUILD)/fuzz_$$h.log | head -5; fail=1; fi; \
	  reg=tests/fuzz/regressions/$$h; \
	  if [ -d $$reg ] && [ -n "$$(ls -A $$reg 2>/dev/null)" ]; then \
	    if $$bin -runs=1 $$reg/* > $(FUZZ_BUILD)/fuzz_$$h.regressions.log 2>&1; then \
	      echo "   $$h: $$(ls -A $$reg | wc -l) regression inputs pass"; \
	    else echo "FAIL fuzz $$h regressions: see $(FUZZ_BUILD)/fuzz_$$h.regressions.log"; fail=1; fi; \
	  fi; \
	done; \
	if [ $$fail = 0 ]; then echo "fuzzing found nothing"; else echo "fuzzing FAILED"; exit 1; fi

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

ifneq ($(FUZZ_SAVED_GOAL),)
.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
endif
