# syntax=docker/dockerfile:1
# Violet as a small non-root image. The entrypoint is the violet binary;
# `serve` applies pending migrations (MIGRATE_ON_START, on by default, under
# an advisory lock) and then serves. Run `violet migrate apply` as a separate
# step instead by setting MIGRATE_ON_START=false.
#
#   docker build -t violet .
#   docker run --stop-timeout 40 --read-only --tmpfs /tmp \
#     -e DATABASE_URL=… -e SESSION_KEY=… -p 8080:8080 -v violet-data:/data violet
#
# The root filesystem can be read-only: evidence goes to the /data volume
# (a named volume inherits the image's /data, owned by nonroot, 65532; a
# host folder must be writable by 65532), library imports use /tmp.
# After SIGTERM the server answers /readyz with 503 for DRAIN_DELAY (5s),
# then lets requests finish for up to SHUTDOWN_TIMEOUT (30s): give docker
# stop more than their sum (--stop-timeout), or it kills the process first.
#
# There is no test stage: without BuildKit the legacy builder builds every
# stage before the target, so a test stage would run the whole suite (with
# PostgreSQL and Chromium) inside every image build. CI runs it outside, with
# `make test`, and then builds and checks this image with `make image-test`.

FROM golang:1.26-bookworm AS build
# Marks the build stage's images (not the final one), so that
# scripts/image-test can remove the superseded ones it leaves behind.
LABEL violet.stage=build
WORKDIR /src
# Modules first: this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" -o /out/violet ./cmd/violet \
 && mkdir -p /out/data/evidence

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/violet /violet
COPY --from=build --chown=65532:65532 /out/data /data
ENV LISTEN_ADDR=:8080 \
    DRAIN_DELAY=5s \
    EVIDENCE_DIR=/data/evidence
EXPOSE 8080
VOLUME /data
USER nonroot:nonroot
ENTRYPOINT ["/violet"]
CMD ["serve"]
