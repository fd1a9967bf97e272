# syntax=docker/dockerfile:1
#
# timon's container image: one static binary (CGO_ENABLED=0; SQLite is the
# pure-Go modernc driver) on distroless/static, running as a non-root user.
#
#   docker build -t timon:dev --build-arg VERSION="$(git describe --always --dirty)" .
#   docker run --rm -p 127.0.0.1:8080:8080 -v timon-data:/var/lib/timon \
#     --add-host host.docker.internal:host-gateway \
#     -e TIMON_PROVIDER_URL=http://host.docker.internal:11434/v1 timon:dev
#
# Without arguments the image runs `timon serve` on the embedded example
# configuration (SQLite in /var/lib/timon); mount your own file and run
# `serve --config /etc/timon/timon.yaml` for anything real. Health check:
# distroless has no shell, curl or wget, so the image carries a tiny static
# probe, timon-healthcheck (deploy/docker/healthcheck), that GETs /healthz.
# See docs/operations.md.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/usr/local/bin/timon ./cmd/timon && \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w" \
        -o /out/usr/local/bin/timon-healthcheck ./deploy/docker/healthcheck && \
    mkdir -p /out/var/lib/timon

# distroless/static: CA certificates, tzdata, /etc/passwd with nonroot
# (65532), no shell and no package manager. Pin it by digest in production.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usr/local/bin/ /usr/local/bin/
# The data directory (SQLite file, journal signing key) belongs to the
# non-root user; a named volume mounted there inherits that ownership.
COPY --from=build --chown=65532:65532 /out/var/lib/ /var/lib/
ENV TIMON_DATA_DIR=/var/lib/timon
USER 65532:65532
VOLUME ["/var/lib/timon"]
EXPOSE 8080
# timon serve drains on SIGTERM (server.drain_timeout, then the job queue
# gets as long again): give `docker stop -t` / stop_grace_period more than
# twice the drain timeout.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/timon-healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/timon"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
