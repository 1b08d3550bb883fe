# Two commands do all the set-up on a fresh machine: `make up` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

# The core cases that also run against RabbitMQ when ORCH_TEST_AMQP_URL is set.
AMQP_TESTS := tests/integration/test_execution.py tests/integration/test_delivery.py \
	tests/integration/test_priority.py tests/integration/test_streams.py \
	tests/reliability/test_worker_loss.py tests/reliability/test_worker_guards.py

.PHONY: install up test test-fast lint browser kodi netns-tools clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the whole stack (API :8000, worker, beat, Flower :5555) on embedded defaults.
up: install
	$(BIN)/orchestrator up $(ARGS)

## Lint, type-check and run the whole test suite: three pytest processes, each module whole
## in one of them with its own embedded Redis and databases.
test: install lint browser kodi netns-tools
	$(BIN)/pytest -n 3 --dist loadfile --durations=25 $(ARGS)
	@if [ -n "$$ORCH_TEST_AMQP_URL" ]; then \
		echo "--- the core cases again, on RabbitMQ"; \
		ORCH_TEST_BROKER=amqp $(BIN)/pytest $(AMQP_TESTS); \
	fi

## The unit tier alone (seconds), for the edit loop.
test-fast: install
	$(BIN)/pytest -q tests/unit $(ARGS)

## Debian's Chromium for the web page test (skipped where it cannot be installed).
browser:
	@command -v chromium >/dev/null 2>&1 || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is not installed: the web page test will be skipped"

## Debian's Kodi 20 and Xvfb for the real-Kodi tests, and ffmpeg for their tagged music files
## (skipped where they cannot be installed).
KODI_PACKAGES := kodi xvfb xauth libgl1-mesa-dri libegl-mesa0 ffmpeg
kodi:
	@{ ls /usr/lib/*/kodi/kodi.bin && command -v Xvfb && command -v ffmpeg; } >/dev/null 2>&1 || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		  $(KODI_PACKAGES) >/dev/null; } || \
		echo "kodi is not installed: the real-Kodi tests will be skipped"

## iptables for the multi-host tests' network cuts (skipped where it cannot be installed).
netns-tools:
	@command -v iptables >/dev/null 2>&1 || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		  iptables >/dev/null; } || \
		echo "iptables is not installed: the multi-host tests will be skipped"

## Run the benchmarks and rewrite docs/benchmarks.md (takes a few minutes).
bench: install
	$(BIN)/python -m bench.run $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
