import { type Instance, render } from 'ink';
import { StatusView, type StatusViewProps } from './status-view.js';

export interface RenderTarget {
  stdout: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WriteStream;
}

/** Mounts the live status view; `waitUntilExit()` resolves when the operator presses q (or Ctrl-C). */
export function renderStatus(props: StatusViewProps, target: RenderTarget): Instance {
  return render(<StatusView {...props} />, {
    stdout: target.stdout,
    stdin: target.stdin,
    stderr: target.stderr,
    exitOnCtrlC: true,
    patchConsole: false,
  });
}
