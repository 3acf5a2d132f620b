# Herald: each target is a plain script under scripts/, for those without make.
.PHONY: run test hooks fmt lint

run: ## Run ingest, dispatcher and DLQ in the foreground (installs/starts PostgreSQL and NATS if missing)
	scripts/run.sh

test: ## The whole test suite against real PostgreSQL and nats-server
	scripts/test.sh

hooks: ## Install the git pre-commit hook (fmt + clippy)
	scripts/install-hooks.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
