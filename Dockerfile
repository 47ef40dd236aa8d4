# syntax=docker/dockerfile:1
# Container image of stream-webhooks: built with the locked dependencies, run as a numeric
# non-root user from a distroless base (glibc, CA certificates, no shell, no package manager).
#
#   docker build -t stream-webhooks:0.1.0 .
#   docker run --rm -p 3000:3000 -p 3001:3001 -e WEBHOOK_SECRET=... stream-webhooks:0.1.0
#
# CI cannot build it (no container engine on its machines); keep it simple.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the crate registry and build artefacts between builds on one machine;
# the binary is copied out of the cached target directory before the mount goes away.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin stream-webhooks \
    && install -D -m 0755 target/release/stream-webhooks /out/stream-webhooks

# Same Debian release as the build stage, so the binary finds the glibc it was linked against.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/stream-webhooks /usr/local/bin/stream-webhooks
# 65532 is distroless' "nonroot"; numeric so Kubernetes can check runAsNonRoot.
USER 65532:65532
ENV STREAM_WEBHOOKS_ENV=production
# Public listener (POST /api/webhooks) and admin listener (/healthz, /readyz, /metrics).
EXPOSE 3000 3001
# The service writes nothing to disk: it runs with a read-only root filesystem. Probes belong
# to the orchestrator (GET /healthz and /readyz on 3001); the image has no shell for a
# HEALTHCHECK command.
ENTRYPOINT ["/usr/local/bin/stream-webhooks"]
CMD ["serve"]
