# ferroftpd in a container (docs/packaging.md#docker).
#
#   docker build -t ferroftpd .
#   docker run -d -p 2121:2121 -p 60000-60019:60000-60019 \
#       -e FERROFTPD_NAT_ADDRESS=203.0.113.7 -v /srv/ftp:/srv/ftp:ro ferroftpd
#
# Arguments after the image name are ferroftpd's flags (`... ferroftpd
# --write`); every flag is also a FERROFTPD_* variable (docs/cli.md).

# ---- build: the release binary, and what it generates --------------------
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ferroftpd-cli \
    && mkdir -p /out \
    && cp target/release/ferroftpd /out/ \
    && /out/ferroftpd generate man > /out/ferroftpd.1 \
    && /out/ferroftpd generate man hash-password > /out/ferroftpd-hash-password.1

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: the roots an https S3 endpoint's certificate is checked
# against. No libpam: --system-users needs root, and the container runs as
# a user of its own.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /srv/ftp --shell /usr/sbin/nologin ferroftpd \
    && mkdir -p /srv/ftp \
    && chown ferroftpd:ferroftpd /srv/ftp
COPY --from=build /out/ferroftpd /usr/bin/ferroftpd
COPY --from=build /out/ferroftpd.1 /out/ferroftpd-hash-password.1 /usr/share/man/man1/
COPY packaging/ferroftpd.toml /usr/share/doc/ferroftpd/examples/ferroftpd.toml
COPY packaging/docker/healthcheck /usr/lib/ferroftpd/healthcheck

# The served files. Anonymous users read them; --write (FERROFTPD_WRITE=true)
# lets them write, if the volume is writable by uid 10001.
VOLUME /srv/ftp
WORKDIR /srv/ftp
USER ferroftpd

# A fixed passive range, so that it can be published; behind Docker's NAT
# the clients also need the host's public address: FERROFTPD_NAT_ADDRESS.
ENV FERROFTPD_DIRECTORY=/srv/ftp \
    FERROFTPD_PORT=2121 \
    FERROFTPD_RANGE=60000-60019
EXPOSE 2121 60000-60019

# The FTP greeting and a NOOP (no client program in the image: bash's
# /dev/tcp); FERROFTPD_PORT says where.
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 \
    CMD ["/usr/lib/ferroftpd/healthcheck"]

ENTRYPOINT ["/usr/bin/ferroftpd"]
