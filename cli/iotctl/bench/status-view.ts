/**
 * Benchmark (not a test): is the live view smooth at 10,000 sensors? The view (StatusView, as `iotctl
 * status` renders it) is mounted with ink-testing-library and fed a fleet snapshot; we measure
 *   - a key: from writing `j` to the frame showing the next row selected (p50 / p99 over BENCH_KEYS keys),
 *   - a refresh: a new snapshot of the whole fleet (rows, sort, filter, render) until it is on screen,
 *   - a re-sort (`o`) and a search (`/` + text) over the whole fleet,
 * at BENCH_SENSORS (default 10,000) and, as the baseline in the same run, at 100 sensors. ink draws at most
 * 30 frames a second, so a key costs about one frame; smooth means the fleet's size adds nothing perceptible
 * to that (key p50 and p99 within 1.5x + 10 ms of the 100-sensor ones, measured in the same run, so the
 * machine's load cancels out) and a full refresh of 10,000 sensors stays under a second.
 *
 *   pnpm --filter @sensor-streaming/iotctl bench:view
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { SensorSummary } from '@sensor-streaming/control';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { sensor } from '../src/testing/fixtures.js';
import { StatusView } from '../src/ui/status-view.js';

const SENSORS = Number(process.env.BENCH_SENSORS ?? 10_000);
const KEYS = Number(process.env.BENCH_KEYS ?? 100);
const ROWS = 40;

function fleet(n: number, generation: number): SensorSummary[] {
  const kinds = ['vibration', 'environment', 'process'];
  return Array.from({ length: n }, (_, i) =>
    sensor({
      serial: `sim-${Math.floor(i / 1000)}-${i % 1000}`,
      kind: kinds[i % 3]!,
      labels: { site: i % 2 === 0 ? 'north' : 'south', machine: `m-${i % 37}` },
      reportedState: i % 10 === 0 ? 'ASLEEP' : 'AWAKE',
      lastDataAt: new Date(Date.now() - ((i * 7 + generation) % 5000)).toISOString(),
      measuredSamplesPerSecond: 100,
    }),
  );
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

async function until(ok: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

const selected = (frame: string | undefined) => /^> (\S+)/m.exec(frame ?? '')?.[1];

interface Result {
  sensors: number;
  firstFrameMs: number;
  keyP50: number;
  keyP99: number;
  refreshMs: number;
  sortMs: number;
  searchMs: number;
}

async function measure(n: number): Promise<Result> {
  let generation = 0;
  let current = fleet(n, generation);
  let resolveRefresh: (() => void) | undefined;
  const t0 = performance.now();
  const view = render(
    createElement(StatusView, {
      fetchSensors: () => {
        resolveRefresh?.();
        return Promise.resolve(current);
      },
      sendCommand: () => Promise.reject(new Error('not in the benchmark')),
      refreshMs: 3_600_000,
      color: false,
      maxRows: ROWS,
      width: 160,
    }),
  );
  try {
    await until(() => selected(view.lastFrame()) === 'sim-0-0', 'the first frame');
    const firstFrameMs = performance.now() - t0;
    const keys: number[] = [];
    let expected = 0;
    const order = current.map((s) => s.serial).sort(new Intl.Collator('en', { numeric: true }).compare);
    for (let i = 0; i < Math.min(KEYS, n - 1); i++) {
      expected++;
      const want = order[expected];
      const k0 = performance.now();
      view.stdin.write('j');
      await until(() => selected(view.lastFrame()) === want, `row ${expected}`);
      keys.push(performance.now() - k0);
    }
    // a re-sort of the whole fleet (by kind), then back
    const s0 = performance.now();
    view.stdin.write('o');
    await until(() => (view.lastFrame() ?? '').includes('sort: kind'), 'the re-sort');
    const sortMs = performance.now() - s0;
    view.stdin.write('oooo');
    await until(() => (view.lastFrame() ?? '').includes('sort: serial'), 'back to serial');
    // a search over the whole fleet
    const q0 = performance.now();
    view.stdin.write('/m-36\r');
    await until(() => (view.lastFrame() ?? '').includes('filter: /m-36'), 'the search');
    const searchMs = performance.now() - q0;
    view.stdin.write('c');
    // a refresh: a new snapshot of every sensor; rerendering by remounting would measure ink, not the view, so
    // the view's own timer is not used: a new props object forces the fetch effect to run again
    generation++;
    current = fleet(n, generation);
    const refreshed = new Promise<void>((r) => {
      resolveRefresh = r;
    });
    const r0 = performance.now();
    view.rerender(
      createElement(StatusView, {
        fetchSensors: () => {
          resolveRefresh?.();
          return Promise.resolve(current);
        },
        sendCommand: () => Promise.reject(new Error('not in the benchmark')),
        refreshMs: 3_600_000,
        color: false,
        maxRows: ROWS,
        width: 160,
      }),
    );
    await refreshed;
    const before = view.lastFrame();
    await until(() => view.lastFrame() !== before, 'the refreshed frame');
    const refreshMs = performance.now() - r0;
    return {
      sensors: n,
      firstFrameMs,
      keyP50: pct(keys, 50),
      keyP99: pct(keys, 99),
      refreshMs,
      sortMs,
      searchMs,
    };
  } finally {
    view.unmount();
  }
}

const f1 = (v: number) => v.toFixed(1);
const line = (r: Result) =>
  `${String(r.sensors).padStart(6)} sensors: first frame ${f1(r.firstFrameMs)} ms, key p50 ${f1(r.keyP50)} ms p99 ${f1(r.keyP99)} ms, refresh ${f1(r.refreshMs)} ms, re-sort ${f1(r.sortMs)} ms, search ${f1(r.searchMs)} ms`;

async function main(): Promise<void> {
  await measure(100); // warm-up (JIT)
  const base = await measure(100);
  const big = await measure(SENSORS);
  process.stdout.write(`${line(base)}\n${line(big)}\n`);
  // a key costs one frame (ink renders at most 30 frames/s): the fleet's size must not add to it
  const smooth =
    big.keyP50 <= 1.5 * base.keyP50 + 10 && big.keyP99 <= 1.5 * base.keyP99 + 10 && big.refreshMs < 1000;
  process.stdout.write(
    `view: key p50 ${f1(big.keyP50)} ms, p99 ${f1(big.keyP99)} ms at ${SENSORS} sensors vs p50 ${f1(base.keyP50)} ms, p99 ${f1(base.keyP99)} ms at 100 ` +
      `(p99 ratio ${(big.keyP99 / base.keyP99).toFixed(2)}); load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}; smooth: ${smooth ? 'yes' : 'NO'}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench:view failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
