# syntax=docker/dockerfile:1
#
# Cairn's container image: the server (cairn) and, when the tree has it, the
# CLI (cairnctl), static binaries on a distroless base, run as a non-root
# user, configured through CAIRN_* variables (see the README's
# "Configuration"; every flag has one).
#
#   docker build -t cairn:dev .
#   docker run --rm -p 2379:2379 -v cairn-data:/var/lib/cairn cairn:dev
#   docker compose -f deploy/compose.yaml up -d          # three members
#
# The defaults below run one member that listens on every interface of the
# container and tells clients and peers 127.0.0.1; a cluster sets its
# names and URLs (deploy/compose.yaml, deploy/kubernetes/).

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
# cairnctl is built when the tree has it; /out holds what is installed.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    set -eu; mkdir -p /out /data; \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags='-s -w' -o /out/cairn ./cmd/server; \
    if [ -d cmd/cairnctl ]; then GOOS=$TARGETOS GOARCH=$TARGETARCH go build -ldflags='-s -w' -o /out/cairnctl ./cmd/cairnctl; fi; \
    chown 65532:65532 /data && chmod 0700 /data

# distroless/static: CA certificates, /etc/passwd with the user nonroot
# (65532), tzdata; no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# A new named volume takes this directory's owner: the member can write it.
COPY --from=build --chown=65532:65532 /data /var/lib/cairn
ENV CAIRN_DATA_DIR=/var/lib/cairn \
    CAIRN_LISTEN_CLIENT_URLS=http://0.0.0.0:2379 \
    CAIRN_ADVERTISE_CLIENT_URLS=http://127.0.0.1:2379 \
    CAIRN_LISTEN_PEER_URLS=http://0.0.0.0:2380 \
    CAIRN_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:2380 \
    CAIRN_LOG_FORMAT=json
VOLUME ["/var/lib/cairn"]
EXPOSE 2379 2380
USER 65532:65532
# SIGTERM stops the member gracefully: requests in flight finish (at most
# --shutdown-timeout, 10 s), a leader hands leadership over, Raft and the
# store close. Well within Docker's and Kubernetes' grace periods once
# they are 30 s (compose: stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/cairn", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/cairn"]
