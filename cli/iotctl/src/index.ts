export { buildProgram, runCli } from './cli.js';
export { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, reportError, UsageError } from './cli-error.js';
export { type Io, processIo } from './io.js';
export { openSession, type Session, type SessionOptions } from './session.js';
export { renderStatus } from './ui/render-status.js';
export { StatusView, type StatusViewProps } from './ui/status-view.js';
