# redis.mk — `make redis`: the shared Redis queue (tests/redis/run.sh): its own redis-server on a free
# loopback port, two fronts and two workers on the tiny golden model of $(SHARED), nginx with
# docs/nginx.conf in front. Included by the Makefile after BUILD and SHARED are set.
# Needs redis-server, nginx (the nginx cases are skipped without it), curl and python3 (make deps).

BUILD  ?= build
SHARED ?= $(abspath ../shared)

.PHONY: redis
redis: $(BUILD)/imagine
	IMAGINE_BIN=$(BUILD)/imagine IMAGINE_SHARED=$(SHARED) tests/redis/run.sh
