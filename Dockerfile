# syntax=docker/dockerfile:1
# One image for every Herald service; the command picks the service:
#   docker run ghcr.io/herald-dev/herald:0.1.0 herald-dispatcher
# Migrations are compiled into the binaries (sqlx::migrate!) and applied at start-up, so
# the runtime image needs no migration files.

# Keep the toolchain at or above the workspace's rust-version.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
# cargo-chef turns the manifests into a recipe, so dependencies build in a layer that
# only a Cargo.toml or Cargo.lock change invalidates.
RUN cargo install --locked cargo-chef --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# The same binary list for cook and build, so features unify alike and nothing rebuilds.
ARG BINS="--bin herald-ingest --bin herald-dispatcher --bin herald-dlq --bin herald-operator"
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json ${BINS}
COPY . .
RUN cargo build --release --locked ${BINS} \
    && mkdir -p /out \
    && cp target/release/herald-ingest target/release/herald-dispatcher \
          target/release/herald-dlq target/release/herald-operator /out/

# distroless/cc: glibc, libgcc and CA certificates, no shell, no package manager. Same
# Debian release as the builder, so the glibc the binaries link against is there.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/ /usr/local/bin/
# Inside a container the services must listen beyond loopback (their defaults).
ENV HERALD_API_ADDR=0.0.0.0:8080 \
    HERALD_DISPATCHER_HEALTH_ADDR=0.0.0.0:8081 \
    HERALD_DLQ_HEALTH_ADDR=0.0.0.0:8082 \
    HERALD_OPERATOR_ADDR=0.0.0.0:8081 \
    HERALD_LOG_FORMAT=json
# API (ingest); health and metrics of the dispatcher or operator, and of the DLQ service.
EXPOSE 8080 8081 8082
USER 65532:65532
CMD ["herald-ingest"]
