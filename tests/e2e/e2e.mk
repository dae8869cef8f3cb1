# e2e.mk — `make e2e`: the end-to-end tests (tests/e2e/run.sh) against build/imagine serving the tiny
# golden models of $(SHARED), with the official OpenAI and Gradient clients from npm.
# Included by the Makefile after BUILD and SHARED are set:   include tests/e2e/e2e.mk
# Needs curl, node >= 18 and npm. node_modules is (re)installed with `npm ci` from the committed
# package-lock.json when it is missing or older than package.json / package-lock.json.

BUILD  ?= build
SHARED ?= $(abspath ../shared)
E2E_DIR := tests/e2e
E2E_STAMP := $(E2E_DIR)/node_modules/.package-lock.json

.PHONY: e2e e2e-deps
e2e: $(BUILD)/imagine $(E2E_STAMP)
	IMAGINE_BIN=$(BUILD)/imagine IMAGINE_SHARED=$(SHARED) $(E2E_DIR)/run.sh

e2e-deps: $(E2E_STAMP)

# npm ci writes node_modules/.package-lock.json itself; the touch makes it newer than its inputs even
# when npm keeps the old file's time.
$(E2E_STAMP): $(E2E_DIR)/package.json $(E2E_DIR)/package-lock.json
	cd $(E2E_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@
