# tests/hostile/hostile.mk — hostile clients and faults against `imagine serve` (issue 5 items 2, 4, 5).
#
# Included from the top-level Makefile (at its end): -include tests/hostile/hostile.mk
#
#   make hostile         build build/imagine and build/hostile, then run, one after another:
#                        tests/hostile/run.sh     >= 10 000 hostile requests, RSS, SIGTERM exit 0
#                        tests/hostile/limits.sh  body size, prompt length, n x pixels, connections, rate
#                        tests/hostile/faults.sh  model changed or truncated, full disk, out of memory
#   make hostile-asan    the same run.sh against build-debug/imagine (ASan + UBSan + LeakSanitizer)
#
# Each script starts one server at a time on 127.0.0.1 with --port 0 and the tiny golden model from
# $(SHARED) (../shared), and stops it again. The scripts' exit status is the target's.

HOSTILE_SAVED_GOAL := $(.DEFAULT_GOAL)
HOSTILE_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: hostile hostile-asan

# The client: the Makefile's compiler and flags (SAN included, so BUILD=build-debug gets an ASan client).
$(BUILD)/hostile: tests/hostile/hostile.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -o $@ $< $(LDFLAGS_ALL) -ljansson -lpthread

hostile: $(BUILD)/imagine $(BUILD)/hostile
	@fail=0; \
	IMAGINE_SHARED=$(SHARED) IMAGINE_BIN=$(BUILD)/imagine HOSTILE_BIN=$(BUILD)/hostile tests/hostile/run.sh || fail=1; \
	IMAGINE_SHARED=$(SHARED) IMAGINE_BIN=$(BUILD)/imagine HOSTILE_BIN=$(BUILD)/hostile tests/hostile/limits.sh || fail=1; \
	IMAGINE_SHARED=$(SHARED) IMAGINE_BIN=$(BUILD)/imagine HOSTILE_BIN=$(BUILD)/hostile tests/hostile/faults.sh || fail=1; \
	if [ $$fail = 0 ]; then echo "hostile: all passed"; else echo "hostile: FAILED"; exit 1; fi

# The server from build-debug/ (the objects `make debug` builds), the client from build/.
hostile-asan: $(BUILD)/hostile
	$(MAKE) BUILD=build-debug OPT=-O1 SAN="$(HOSTILE_SAN)" build-debug/imagine
	IMAGINE_SHARED=$(SHARED) IMAGINE_BIN=build-debug/imagine HOSTILE_BIN=$(BUILD)/hostile tests/hostile/run.sh --asan

ifneq ($(HOSTILE_SAVED_GOAL),)
.DEFAULT_GOAL := $(HOSTILE_SAVED_GOAL)
endif
