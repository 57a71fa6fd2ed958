# syntax=docker/dockerfile:1
#
# scim-server and the scim CLI in a small Debian image, running as an unprivileged user.
#
#   docker build -t scim-server .
#   docker run --rm -p 8080:8080 -v scim-data:/var/lib/scim \
#     -e SCIM_BOOTSTRAP_TOKEN=change-me-to-a-long-random-secret scim-server
#
# Configuration is by SCIM_* variables (docs/configuration.md); the defaults below listen on
# every interface of the container and keep an SQLite database in the volume. compose.yaml
# runs it on PostgreSQL instead.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep the crate downloads and the target directory between builds; the
# binaries are copied out of the cache mount in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p scim-server --bin scim-server -p scim-client --bin scim \
    && install -D -m 0755 target/release/scim-server /out/scim-server \
    && install -D -m 0755 target/release/scim /out/scim

FROM debian:bookworm-slim
# ca-certificates: TLS to a database or an OAuth2 token endpoint outside the container.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/scim --create-home \
       --shell /usr/sbin/nologin scim
COPY --from=build /out/ /usr/local/bin/
USER scim:scim
WORKDIR /var/lib/scim
ENV SCIM_LISTEN=0.0.0.0:8080 \
    SCIM_DATABASE_URL=sqlite:///var/lib/scim/scim.db \
    SCIM_LOG_FORMAT=json
VOLUME ["/var/lib/scim"]
EXPOSE 8080
# GET /healthz answers 200 while the process runs. The slim image has no curl: bash's
# /dev/tcp sends the request, on the port of SCIM_LISTEN. With built-in TLS
# (SCIM_TLS_CERT) bash cannot speak HTTPS: the check is then that the port accepts.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${SCIM_LISTEN##*:} && { [ -n \"${SCIM_TLS_CERT:-}\" ] || { printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '; }; }"]
# SIGTERM drains in-flight requests, then exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["scim-server"]
CMD ["serve"]
