# The two commands of the README: `make demo` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# llama.cpp built for the generic CPU: the native build crashes on some CPUs at the first token.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: install browser demo serve test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local,dev,postgres]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/horizonscan analyze examples/ --origin "Example watch=https://example.org/watch/1"
	@echo "Pages: ./pages/index.md"

# The web app on the example corpus: analyzed first (`make demo`) when ./horizonscan.db is missing.
serve: install
	@test -f horizonscan.db || $(MAKE) demo
	$(BIN)/horizonscan trends > /dev/null
	$(BIN)/horizonscan serve

# The browser tests drive Debian's Chromium (Playwright's own browser download needs the network);
# without root or apt they are skipped outside CI.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "warning: could not install chromium; the browser tests will be skipped"

test: install browser
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/bench_throughput.py
	$(BIN)/python bench/bench_tail.py
	$(BIN)/python bench/bench_request_size.py
	$(BIN)/python bench/bench_rerun.py
	$(BIN)/python bench/bench_similarity_scale.py
	$(BIN)/python bench/calibrate_compare.py --no-write
	$(BIN)/python bench/bench_trends.py
	$(BIN)/python bench/bench_web.py
	$(BIN)/python bench/bench_workers.py
	$(BIN)/python bench/bench_workers.py --latency 1.0 --embedded-pg
	$(BIN)/python bench/bench_local_quality.py

clean:
	rm -rf $(VENV) pages horizonscan.db horizonscan.db-wal horizonscan.db-shm
