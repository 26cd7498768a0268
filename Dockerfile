# Confab: a multi-stage build into a small, non-root runtime image.
#
#   docker build -t confab .
#   docker run -p 8080:8080 -p 7882:7882/udp -e CONFAB_PUBLIC_IP=<host address> -v confab:/data confab

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src src
# The workspace's other members (test kit, bench) must be present for Cargo to read the
# workspace, though only the server is built.
COPY crates crates
COPY migrations migrations
COPY web web
# The registry and target caches survive between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin confab \
    && cp target/release/confab /confab \
    && mkdir /data

# Distroless: glibc and libgcc, no shell, no package manager; runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /confab /usr/local/bin/confab
COPY --from=build --chown=65532:65532 /data /data
ENV CONFAB_LISTEN=0.0.0.0:8080 \
    CONFAB_DATA_DIR=/data \
    CONFAB_RTC_UDP_PORT=7882
VOLUME ["/data"]
EXPOSE 8080/tcp 7882/udp
USER 65532:65532
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/confab", "health"]
ENTRYPOINT ["/usr/local/bin/confab"]
CMD ["serve"]
