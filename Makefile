# `make run` installs, initialises the embedded SQLite default and serves on 127.0.0.1:5000.
# `make test` installs what the tests need (PyPI packages into .venv, PostgreSQL from Debian) and
# runs the linters and the whole suite.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test install system-deps lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install
	$(BIN)/authserver init --demo
	$(BIN)/authserver serve

# PostgreSQL binaries for the tests that run against a real server (the tests start and stop it).
system-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing postgresql (Debian)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install system-deps lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
