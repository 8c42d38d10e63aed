# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run from a slim Debian with only CA certificates.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so that editing the source does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin livepage \
    && rm -rf src
COPY src src
COPY migrations migrations
COPY web web
COPY assets assets
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin livepage

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --create-home livepage \
    && mkdir /app/data && chown livepage:livepage /app/data
COPY --from=build /src/target/release/livepage /usr/local/bin/livepage
USER livepage
WORKDIR /app
ENV LIVEPAGE_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///app/data/livepage.db
VOLUME ["/app/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["livepage"]
