# The two commands of the README. Both create .venv on first use (Python 3.11), install the
# CPU build of torch first (so no multi-GB CUDA build is pulled), then pretune with its extras.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LINT_PATHS := src tests benchmarks

.PHONY: quickstart test install lint clean browser

quickstart: $(STAMP)
	$(BIN)/pretune quickstart

test: $(STAMP) lint browser
	@# pytest exit 5 means "no tests collected": a broken suite, never a pass.
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

# Headless Chromium for the report rendering test; never fatal (the test skips without it).
browser:
	@command -v chromium >/dev/null 2>&1 || ({ apt-get install -y chromium || { apt-get update \
	&& apt-get install -y chromium; }; } >/dev/null 2>&1 \
	|| echo "chromium not installed: the report rendering test will be skipped")

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[defaults,dev,deploy,trackers]"
	@touch $(STAMP)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
