import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.js';
import { createPool } from '../pool.js';
import { createTestDatabase, type TestDatabase } from '../testing/index.js';
import { createSensorIdCache } from './sensor-id-cache.js';
import { getSensorIdsBySerial, upsertSensorsBySerial } from './sensors.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

describe('sensors repository', () => {
  it('upsertSensorsBySerial creates unknown serials once and returns every id (duplicates collapsed)', async () => {
    const first = await upsertSensorsBySerial(db.pool, ['repo-a', 'repo-b', 'repo-a']);
    expect([...first.keys()].sort()).toEqual(['repo-a', 'repo-b']);
    const second = await upsertSensorsBySerial(db.pool, ['repo-b', 'repo-c', 'repo-a']);
    expect(second.get('repo-a')).toBe(first.get('repo-a'));
    expect(second.get('repo-b')).toBe(first.get('repo-b'));
    expect(typeof second.get('repo-c')).toBe('number');
    const { rows } = await db.pool.query(
      "SELECT serial, kind, online, registered_at IS NOT NULL AS registered FROM sensors WHERE serial LIKE 'repo-%' ORDER BY serial",
    );
    expect(rows).toEqual([
      { serial: 'repo-a', kind: '', online: false, registered: true },
      { serial: 'repo-b', kind: '', online: false, registered: true },
      { serial: 'repo-c', kind: '', online: false, registered: true },
    ]);
    expect(await upsertSensorsBySerial(db.pool, [])).toEqual(new Map());
  });

  it('concurrent upserts of overlapping serials from several connections agree on every id', async () => {
    const pools = [0, 1, 2, 3].map(() => createPool({ url: db.url, logger: silentLogger, max: 2 }));
    try {
      const serials = Array.from({ length: 50 }, (_, i) => `race-${i}`);
      const results = await Promise.all(
        pools.flatMap((p, k) => [
          upsertSensorsBySerial(p, serials),
          upsertSensorsBySerial(p, [...serials].reverse().slice(k * 5)),
        ]),
      );
      const reference = results[0]!;
      expect(reference.size).toBe(50);
      for (const r of results) {
        for (const [serial, id] of r) expect(reference.get(serial)).toBe(id);
      }
      const { rows } = await db.pool.query(
        "SELECT count(*)::int AS n FROM sensors WHERE serial LIKE 'race-%'",
      );
      expect(rows[0]?.n).toBe(50);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('rejects invalid serials before touching the database, naming the field', async () => {
    await expect(upsertSensorsBySerial(db.pool, ['ok-1', 'bad.serial'])).rejects.toMatchObject({
      code: 'PROTOCOL_INVALID',
      field: 'serials[1]',
    });
    expect((await getSensorIdsBySerial(db.pool, ['ok-1'])).size).toBe(0);
  });

  it('getSensorIdsBySerial returns only existing serials', async () => {
    const created = await upsertSensorsBySerial(db.pool, ['get-1']);
    const found = await getSensorIdsBySerial(db.pool, ['get-1', 'get-unknown']);
    expect(found).toEqual(new Map([['get-1', created.get('get-1')]]));
  });

  it('the id cache answers repeated serials from memory and evicts the least recently used past maxEntries', async () => {
    const queries: string[] = [];
    const counting = {
      query: ((text: string, values?: unknown[]) => {
        queries.push(text);
        return db.pool.query(text, values);
      }) as typeof db.pool.query,
    };
    const cache = createSensorIdCache(counting, { maxEntries: 3 });
    const a = await cache.resolve(['cache-1', 'cache-2']);
    const b = await cache.resolve(['cache-2', 'cache-1']);
    expect(b).toEqual(a);
    expect(queries).toHaveLength(1);
    await cache.resolve(['cache-3', 'cache-4']);
    expect(cache.size).toBe(3);
    await cache.resolve(['cache-1']); // used last before cache-3 and cache-4 came: still cached
    expect(queries).toHaveLength(2);
    await cache.resolve(['cache-2']); // the least recently used: evicted, looked up again, same id
    expect(queries).toHaveLength(3);
    expect((await cache.resolve(['cache-2'])).get('cache-2')).toBe(a.get('cache-2'));
  });
});
