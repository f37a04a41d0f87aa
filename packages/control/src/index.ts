export * from './commands.js';
export * from './control-error.js';
export * from './registry-rpc.js';
export * from './alarm-rpc.js';
export * from './device-queues.js';
export * from './actor.js';
export * from './registrar-rpc.js';
