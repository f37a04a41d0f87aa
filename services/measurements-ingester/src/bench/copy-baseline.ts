import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';

/**
 * Writes `rows` measurement rows (same shape as the load: `sensors` sensors,
 * one channel, 1 ms samples, in time order) as a COPY text file. Returns its path.
 */
export async function writeCopyFile(dir: string, rows: number, sensors: number): Promise<string> {
  const path = join(dir, `bench-copy-${process.pid}.tsv`);
  const out = createWriteStream(path);
  const perSensor = Math.ceil(rows / sensors);
  const baseMs = Date.now() - perSensor; // 1 sample per ms per sensor, ending now
  const secondText = new Map<number, string>();
  const secondOf = (s: number): string => {
    let t = secondText.get(s);
    if (t === undefined) {
      t = new Date(s * 1000).toISOString().slice(0, 19).replace('T', ' ');
      secondText.set(s, t);
    }
    return t;
  };
  let written = 0;
  let chunk: string[] = [];
  // time-ordered, sensors interleaved, as the load arrives (a per-sensor order would scatter the
  // inserts over the whole time-first primary key and make the baseline unfairly slow)
  for (let i = 0; i < perSensor && written < rows; i++) {
    const ms = baseMs + i;
    for (let k = 0; k < sensors && written < rows; k++, written++) {
      const us = ms * 1000 + k; // microsecond precision like the load
      const s = Math.floor(us / 1e6);
      const frac = String(us - s * 1e6).padStart(6, '0');
      chunk.push(`${1_000_000 + k}\tvibration\t${secondOf(s)}.${frac}+00\t${Math.sin(i / 10) * 3}\n`);
      if (chunk.length === 10_000) {
        if (!out.write(chunk.join(''))) await once(out, 'drain');
        chunk = [];
      }
    }
  }
  out.end(chunk.join(''));
  await once(out, 'finish');
  return path;
}

/** `psql \copy` of the file into measurements; resolves with the wall time in seconds. */
export async function psqlCopy(databaseUrl: string, file: string): Promise<number> {
  const start = performance.now();
  const child = spawn(
    'psql',
    [
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-d',
      databaseUrl,
      '-c',
      `\\copy measurements (sensor_id, channel, time, value) FROM '${file.replace(/'/g, "''")}'`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`psql COPY failed (exit ${code}): ${stderr.trim()}`);
  return (performance.now() - start) / 1000;
}

export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
