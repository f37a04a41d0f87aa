export * from './registry-rpc.js';
export * from './commands.js';
