// Public API of @sensor-streaming/ops-checks: checks of the deployment artefacts
// (Grafana dashboards, compose.yaml, Dockerfile, kustomize overlays), used by
// this package's tests and usable from scripts.
export * from './compose/compose-file.js';
export * from './docker/dockerfile.js';
export * from './grafana/dashboard-queries.js';
export * from './grafana/dashboard-schema.js';
export * from './grafana/dashboard-validator.js';
export * from './grafana/grafana-files.js';
export * from './grafana/grafana-macros.js';
export * from './grafana/promql.js';
export * from './grafana/run-dashboard-queries.js';
export * from './grafana/seed-data.js';
export * from './kubernetes/crd-schemas.js';
export * from './kubernetes/cross-references.js';
export * from './kubernetes/deploy-checks.js';
export * from './kubernetes/network-policy.js';
export * from './kubernetes/render.js';
export * from './kubernetes/schema-validate.js';
export * from './rabbitmq-definitions.js';
export * from './repo-root.js';
