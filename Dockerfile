# syntax=docker/dockerfile:1
# The orderflow image: one static binary on distroless, run as a non-root user.
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" \
#                --build-arg REVISION="$(git rev-parse HEAD)" -t orderflow .
#
# `make check-packaging` lints this file with hadolint and checks its properties
# (deploy/packaging_test.go); CI has no Docker engine to build it.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Reproducible: no cgo, no local paths (-trimpath), no VCS lookup (.git is not in the context);
# the version is the build arg, stamped into main.version.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/orderflow ./cmd/orderflow

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="orderflow" \
      org.opencontainers.image.description="Kafka order-request events to orders placed at checkout providers, never charging twice" \
      org.opencontainers.image.source="https://github.com/orderflow/orderflow" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/orderflow /orderflow
# distroless's nonroot user, by number so a runtime enforcing runAsNonRoot can verify it.
USER 65532:65532
# Metrics at /metrics, liveness at /healthz, readiness at /readyz.
ENV ORDERFLOW_METRICS_ADDR=0.0.0.0:9100
EXPOSE 9100
# Exec form: the image has no shell. `orderflow probe` GETs /readyz on ORDERFLOW_METRICS_ADDR.
HEALTHCHECK --interval=10s --timeout=5s --start-period=2m --retries=3 CMD ["/orderflow", "probe"]
ENTRYPOINT ["/orderflow"]
# With no brokers given, `run` is the self-contained demo (embedded Kafka, Redis, registry and
# sandbox); docker-compose.yml passes --roles and the real services' addresses.
CMD ["run"]
