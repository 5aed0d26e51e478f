// Package deploy holds the deployment files beside the repository's Dockerfile and
// docker-compose.yml: the Prometheus configuration and alert rules (prometheus/), the Grafana
// dashboard and its provisioning (grafana/). It has no code; its tests check those files, the
// Dockerfile, .dockerignore and docker-compose.yml with the parsers Docker itself uses
// (BuildKit's Dockerfile parser, the compose-spec loader and schema), as no Docker engine runs
// in CI. `make check-packaging` runs them with hadolint.
package deploy
