# syntax=docker/dockerfile:1
# One image for both services; ROLE picks which one a container runs:
#
#   docker build -t switchboard .
#   docker run -e ROLE=switchboard -e PORT=3000 … switchboard   # switchboard serve
#   docker run -e ROLE=agent-ui    -e PORT=8080 … switchboard   # agent-ui serve
#   docker run switchboard switchboard migrate                     # release phase
#
# The default command is the Procfile's `web` (deploy/entrypoint.sh, at the
# same relative path as in a checkout), so the image, the Procfile and the
# test that runs the Procfile agree.
#
# Configuration comes only from the environment (README, "Settings"); the
# container runs as an unprivileged user and keeps nothing it needs across
# restarts in its filesystem (DATA_DIR is scratch on a PaaS; see README,
# "Deploy"). The test command lints this file with hadolint, and
# tests/e2e/paas_boot.rs runs the Procfile's commands the way this image does
# (release, then web with PORT, an empty DATA_DIR, as a non-root user,
# SIGTERM).

# ---- build: both release binaries ------------------------------------------
FROM docker.io/library/rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependency caching: the cargo registry and the target directory are cache
# mounts, so a rebuild after a source change recompiles only this workspace's
# crates, not the few hundred dependencies (BuildKit or buildah).
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p switchboard -p agent-ui --bin switchboard --bin agent-ui \
    && cp target/release/switchboard target/release/agent-ui /usr/local/bin/

# ---- runtime: slim Debian, CA certificates, non-root -----------------------
FROM docker.io/library/debian:bookworm-slim AS runtime
# CA certificates: Twilio, AWS and SES are reached over TLS. Not pinned to a
# version: the image should get Debian's security updates when rebuilt.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin switchboard \
    && mkdir -p /app/data \
    && chown switchboard:switchboard /app/data
COPY --from=build /usr/local/bin/switchboard /usr/local/bin/agent-ui /usr/local/bin/
COPY static /app/static
COPY --chmod=0755 deploy/entrypoint.sh /app/deploy/entrypoint.sh
WORKDIR /app
ENV ROLE=switchboard \
    DATA_DIR=/app/data \
    STATIC_DIR=/app/static \
    BIND_ADDR=0.0.0.0 \
    LOG_FORMAT=json
USER switchboard:switchboard
EXPOSE 3000 8080
CMD ["/app/deploy/entrypoint.sh"]
