# syntax=docker/dockerfile:1.7
# One Dockerfile for every Rust service of the workspace (orders, inventory, gateway, dev-idp):
# pass the package and binary as build arguments, e.g.
#   docker build -f deploy/docker/rust-service.Dockerfile \
#     --build-arg PACKAGE=orderflow-orders --build-arg BIN=orders --build-arg PORT=8081 -t orderflow/orders .
# Stage 1-3 follow cargo-chef: the dependency graph is "cooked" in its own layer, so a source
# change rebuilds only our crates, not the ~400 dependencies.

ARG RUST_VERSION=1.94

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.71
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG PACKAGE
ARG BIN
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --package "${PACKAGE}" --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --package "${PACKAGE}" --bin "${BIN}" \
 && install -D "target/release/${BIN}" /out/service

# A tiny static probe for HEALTHCHECK: the runtime image carries no curl or shell tools.
FROM busybox:1.37-musl AS probe

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG PORT
COPY --from=builder /out/service /usr/local/bin/service
COPY --from=probe /bin/busybox /usr/local/bin/busybox
ENV ORDERFLOW_LOG_FORMAT=json \
    HEALTH_PORT=${PORT}
EXPOSE ${PORT}
# distroless :nonroot runs as uid 65532; never as root.
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/busybox", "sh", "-c", "busybox wget -q -T 2 -O /dev/null http://127.0.0.1:${HEALTH_PORT}/healthz"]
ENTRYPOINT ["/usr/local/bin/service"]
