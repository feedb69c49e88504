# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# `make lint` checks pixelmill/ with ruff and `mypy --strict`; CI runs it before the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray,metrics,web]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pixelmill demo $(if $(OUT),--out $(OUT),)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/python -m ruff check pixelmill
	$(BIN)/python -m mypy --strict pixelmill

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info

# The HTML report in a real headless Chromium: installs Debian's chromium when missing.
.PHONY: report-check
report-check: $(STAMP)
	@if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y chromium; \
	fi
	PIXELMILL_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q tests/report/test_report_in_browser.py
