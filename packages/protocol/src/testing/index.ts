// Test helpers of @sensor-streaming/protocol: the ./testing subpath (never imported by production code).
export { type FuzzOptions, type FuzzReport, type FuzzTargetResult, fuzzProtocol } from './fuzz.js';
