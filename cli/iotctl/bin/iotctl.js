#!/usr/bin/env node
// The `iotctl` command: runs the bundle (dist/bundle/main.js, built by build/bundle.mjs with esbuild).
// In a checkout it first checks that the bundle is not older than any of its inputs and rebuilds it when it is
// (build/stale.mjs): an edited source never runs as old code. Where the sources are absent (an image that
// carries only the bundle) there is nothing to compare and the bundle runs as is.
import { staleReason } from '../build/stale.mjs';

if (process.env.IOTCTL_SKIP_STALE_CHECK !== '1' && staleReason() !== null) {
  const { buildBundle } = await import('../build/bundle.mjs');
  await buildBundle();
}
await import('../dist/bundle/main.js');
