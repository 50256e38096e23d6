# syntax=docker/dockerfile:1
# Violet as a small non-root image. The entrypoint is the violet binary;
# `serve` applies pending migrations (MIGRATE_ON_START, on by default, under
# an advisory lock) and then serves. Run `violet migrate apply` as a separate
# step instead by setting MIGRATE_ON_START=false.
#
#   docker build -t violet .
#   docker run --stop-timeout 40 -e DATABASE_URL=… -e SESSION_KEY=… -p 8080:8080 -v violet-data:/data violet
#
# After SIGTERM the server answers /readyz with 503 for DRAIN_DELAY (5s),
# then lets requests finish for up to SHUTDOWN_TIMEOUT (30s): give docker
# stop more than their sum (--stop-timeout), or it kills the process first.
#   docker build --target test .      # the whole test suite, in a container

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/violet ./cmd/violet \
 && mkdir -p /out/data/evidence

# The test stage runs the Go tests as `make test` does: PostgreSQL's server programs,
# Chromium and poppler-utils (the report test reads the printed PDF) come from
# Debian, the tests start their own clusters.
FROM build AS test
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql chromium poppler-utils \
 && rm -rf /var/lib/apt/lists/*
ENV VIOLET_BROWSER_REQUIRED=1
RUN go vet ./... && go test -race -count=1 ./...
# (check-generated needs the git history, which .dockerignore leaves out;
# CI runs it through make test.)

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
