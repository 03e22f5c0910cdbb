# syntax=docker/dockerfile:1
#
# upkeep in a container: a static musl binary built in Rust's Alpine image,
# run from a small Alpine image (a shell stays, so CI systems that run
# scripts inside the image, GitLab's `image:` for one, can use it).
#
#   docker build -t upkeep \
#     --build-arg UPKEEP_COMMIT="$(git rev-parse --short=12 HEAD)" \
#     --build-arg UPKEEP_COMMIT_DATE="$(git log -1 --format=%cs)" .
#   docker run --rm -v "$PWD:/src" -w /src upkeep --check
#
# .dockerignore keeps .git out of the build context, so the commit that
# `upkeep --version` prints comes from the two build arguments ("unknown"
# without them). Not built on the machine this was written on (no docker
# daemon, no registry): see README, "Docker".

ARG RUST_IMAGE=rust:1-alpine
ARG RUNTIME_IMAGE=alpine:3

FROM ${RUST_IMAGE} AS build
# musl-dev: the C runtime headers for the grammar's parser.c and mimalloc.
RUN apk add --no-cache musl-dev
WORKDIR /build
COPY . .
ARG UPKEEP_COMMIT=unknown
ARG UPKEEP_COMMIT_DATE=unknown
ENV UPKEEP_COMMIT=${UPKEEP_COMMIT} UPKEEP_COMMIT_DATE=${UPKEEP_COMMIT_DATE}
# Rust links musl targets statically (crt-static) by default: the binary
# needs nothing from the runtime image.
RUN cargo build --release --locked --bin upkeep \
    && install -m 0755 target/release/upkeep /usr/local/bin/upkeep \
    && upkeep --version

FROM ${RUNTIME_IMAGE}
COPY --from=build /usr/local/bin/upkeep /usr/local/bin/upkeep
LABEL org.opencontainers.image.title="upkeep" \
      org.opencontainers.image.description="Codemod that gives nginx reverse proxies pooled, keep-alive upstream connections" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
# The repository to check is mounted here (`-v "$PWD:/src"`). upkeep finds
# the repository root and upkeep.toml itself; it runs no git.
WORKDIR /src
ENTRYPOINT ["upkeep"]
