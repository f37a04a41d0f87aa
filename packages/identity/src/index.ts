export * from './broker-admin.js';
export * from './device-permissions.js';
export * from './identity-error.js';
export * from './password-hash.js';
export * from './platform-definitions.js';
export * from './broker-definitions.js';
