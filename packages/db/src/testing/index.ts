// Test helpers for packages that need a real database: ./testing subpath.
export * from './test-database.js';
export * from './timescale-test-db.js';
