# orderflow image for docker-compose.yml (not exercised in CI: the CI machines have no Docker engine).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /orderflow ./cmd/orderflow

FROM gcr.io/distroless/static-debian12
COPY --from=build /orderflow /orderflow
ENTRYPOINT ["/orderflow"]
