# browser.mk — `make browser`: the playground page (issue 18) in headless Chromium, driven by
# playwright-core, against build/imagine serving the tiny golden model of $(SHARED); writes
# $(BUILD)/playground.png. Included by the Makefile after BUILD and SHARED are set:
#   include tests/browser/browser.mk
# Needs Debian's chromium (/usr/bin/chromium; .ci/deps installs it), node >= 18 and npm. node_modules is
# (re)installed with `npm ci` from the committed package-lock.json when it is missing or older than
# package.json / package-lock.json. The run stops its own servers and is bounded (240 s in run.mjs,
# 300 s here).

BUILD  ?= build
SHARED ?= $(abspath ../shared)
BROWSER_DIR := tests/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.package-lock.json

.PHONY: browser browser-deps
browser: $(BUILD)/imagine $(BROWSER_STAMP)
	IMAGINE_BIN=$(BUILD)/imagine IMAGINE_SHARED=$(SHARED) IMAGINE_BROWSER_OUT=$(BUILD) \
	  timeout -k 10 300 node --test-reporter=spec $(BROWSER_DIR)/run.mjs

browser-deps: $(BROWSER_STAMP)

$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@
