# `make run` installs, initialises the embedded SQLite default and serves on 127.0.0.1:5000.
# `make test` installs what the tests need (PyPI packages into .venv, PostgreSQL, Redis, nginx,
# Chromium and promtool from Debian) and runs the linters and the whole suite.
VENV   := .venv
BIN    := $(VENV)/bin
SUM    := $(shell cat pyproject.toml packages/authserver-verify/pyproject.toml | cksum | cut -d' ' -f1)
# The verifier is its own distribution in this repository; the server depends on it.
VERIFY := ./packages/authserver-verify
# What serving needs (make run), and that plus the test and dev extras (make test).
SERVE_STAMP := $(VENV)/.serve-installed-$(SUM)
STAMP       := $(VENV)/.installed-$(SUM)

.PHONY: run test install serve-install system-deps lint security bench bench-smoke soak clean

$(SERVE_STAMP): pyproject.toml packages/authserver-verify/pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e $(VERIFY) -e .
	rm -f $(VENV)/.serve-installed-* && touch $@

$(STAMP): $(SERVE_STAMP)
	$(BIN)/python -m pip install --quiet -e $(VERIFY) -e '.[test,dev]'
	rm -f $(VENV)/.installed-* && touch $@

serve-install: $(SERVE_STAMP)

install: $(STAMP)

run: serve-install
	$(BIN)/authserver init --demo
	$(BIN)/authserver serve

# Debian packages the tests use: PostgreSQL and Redis (the tests start and stop their own
# servers), nginx-light (tests/e2e/test_deploy_nginx.py serves deploy/nginx/authserver.conf
# with an nginx of its own, and tests/e2e/test_gateway_served.py deploy/gateway/nginx.conf),
# Caddy (the same test serves deploy/gateway/Caddyfile), Chromium (driven by Playwright through
# executable_path; it never downloads one) and Prometheus for its promtool (it checks
# deploy/prometheus/alerts.yml and the Grafana queries; no Prometheus server is started, and its
# recommended exporters are not installed).
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -x /usr/bin/redis-server || missing="$$missing redis-server"; \
	test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	test -x /usr/bin/caddy || missing="$$missing caddy"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing (Debian)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if ! test -x /usr/bin/promtool; then \
		echo "installing prometheus (Debian, for promtool)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	fi

# lint-imports: the floors (docs/architecture.md), the standalone verifier, no import cycles.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The suite twice, both passes at once (tests/both_passes.sh): on SQLite, and on PostgreSQL and
# Redis (servers the tests start); tests marked postgres already ran on PostgreSQL in the first.
test: install system-deps lint security
	tests/both_passes.sh $(BIN)/python

# bandit: no high-severity finding in the package. pip-audit: the installed dependencies against
# PyPI's advisory data, reported; a known-vulnerable version fails the run.
security: install
	$(BIN)/bandit -q -r authserver -lll
	@$(BIN)/pip-audit --skip-editable --progress-spinner off > $(VENV)/pip-audit.txt 2>&1; \
	head -n 1 $(VENV)/pip-audit.txt; \
	echo "pip-audit: $$(grep -c 'could not be audited' $(VENV)/pip-audit.txt) package(s) not auditable from here (full report: $(VENV)/pip-audit.txt)"; \
	if grep -q '^Found [0-9]* known vulnerabilit' $(VENV)/pip-audit.txt; then cat $(VENV)/pip-audit.txt; exit 1; fi

# Performance is measured here, never asserted in the suite (bench/README.md).
bench: install
	$(BIN)/python bench/run.py --peers --memory-minutes 5

bench-smoke: install
	$(BIN)/python bench/run.py --smoke

# The rotation soak test for ten minutes instead of the suite's bounded run.
soak: install
	AUTHSERVER_SOAK_SECONDS=600 $(BIN)/python -m pytest tests/soak -q -s

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
