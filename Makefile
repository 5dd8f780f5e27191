# edgecodec: `make demo` runs the main job on the embedded model, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch's CPU build is pinned here: an unpinned torch pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
# dev: everything (the daemon's [edge], the server's [server], [eval] and the test tools), which the tests need;
# EXTRAS=edge or EXTRAS=server installs what a camera or a server runs.
EXTRAS ?= dev

.PHONY: install system-deps demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py edgecodec/codec/entropy/_rans.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

# The demo codes ../shared's Kodak photos and streams its surveillance video when they exist (the package
# alone: its two sample photos and a generated clip).
SHARED_DATA ?= ../shared/data
DEMO_ARGS := $(if $(wildcard $(SHARED_DATA)/kodak),$(SHARED_DATA)/kodak) \
	$(if $(wildcard $(SHARED_DATA)/video/vtest.avi),--video $(SHARED_DATA)/video/vtest.avi)
demo: install
	$(VENV)/bin/edgecodec demo $(DEMO_ARGS)

# Debian packages the tests run for real (scaled mode, viewer page, shell scripts, x264 / x265 in
# eval-video and calibration, systemd units); installed only when missing.
SYSTEM_DEPS := nats-server:nats-server chromium:chromium shellcheck:shellcheck ffmpeg:ffmpeg systemd-analyze:systemd
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@missing=""; for pair in $(SYSTEM_DEPS); do command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; fi

test: install system-deps
	$(PY) -m pytest -q

bench: install
	$(VENV)/bin/edgecodec bench $(wildcard $(SHARED_DATA)/kodak)

clean:
	rm -rf $(VENV) build *.egg-info edgecodec/codec/entropy/*.so
