# Herald: each target is a plain script under scripts/, for those without make.
.PHONY: run test e2e fuzz test-nats-latest chaos coverage observability-check bench hooks fmt lint

run: ## Run ingest, dispatcher and DLQ in the foreground (installs/starts PostgreSQL and NATS if missing)
	scripts/run.sh

test: ## The whole test suite against real PostgreSQL and nats-server
	scripts/test.sh

e2e: ## The tenant portal in headless Chromium against a fresh stack and a real receiver; screenshots in docs/portal/
	scripts/e2e.sh

fuzz: ## schemathesis against a running stack's /openapi.json: no 5xx, every response as declared
	scripts/fuzz-api.sh

test-nats-latest: ## The JetStream-facing tests against the current nats-server release
	scripts/test-nats-latest.sh

chaos: ## Chaos drills: SIGKILL, NATS and PostgreSQL outages, partitions, 10k deliveries
	scripts/chaos.sh

coverage: ## Line coverage of domain, dispatcher and DLQ; fails under 75%
	scripts/coverage.sh

observability-check: ## A real Prometheus scrapes a running Herald; every dashboard series must exist
	scripts/observability-check.sh

bench: ## Load benchmark (release build): standard scenarios, then scale-out; results in docs/perf/results/
	scripts/bench.sh
	BENCH_DISPATCHER_CONCURRENCY=10 scripts/bench.sh scale-out

hooks: ## Install the git pre-commit hook (fmt + clippy)
	scripts/install-hooks.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
