# Minerva in a container: built on a full Rust image, run on a small Debian one as a
# non-root user. The build is the default one, for baseline x86-64 (.cargo/config.toml
# sets no CPU features), so the image runs on any x86-64 host; for a known box, pass
# --build-arg CARGO_FLAGS="--config .cargo/x86-64-v3.toml" (docs/building.md).
#
#   docker build -t minerva .
#   docker run --rm minerva backtest sample/hftbacktest/spot/btcusdt_20240808.gz \
#       sample/hftbacktest/spot/btcusdt_20240809.gz --strategy strategy_0.toml \
#       --exchange-info sample/exchange_info_spot_btcusdt.json
#
# Keys come from the environment (docker run -e MINERVA_API_KEY …, or an env file kept
# out of the image): nothing secret is copied in. docs/operations.md §9.

FROM rust:1.95-bookworm AS build
ARG CARGO_FLAGS=""
WORKDIR /src
COPY . .
RUN cargo build --release --locked ${CARGO_FLAGS} --bin minerva \
    && strip target/release/minerva

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/minerva minerva
COPY --from=build /src/target/release/minerva /usr/local/bin/minerva
# The shipped sample and strategy, so the quick start runs in the container.
COPY --from=build --chown=minerva:minerva /src/sample /var/lib/minerva/sample
COPY --from=build --chown=minerva:minerva /src/strategy_0.toml /var/lib/minerva/strategy_0.toml
USER minerva
WORKDIR /var/lib/minerva
ENTRYPOINT ["minerva"]
CMD ["--help"]
