import type { GeoPoint } from '@sensor-streaming/protocol';
import type { Prng } from './prng.js';

export interface Site {
  name: string;
  lat: number;
  lon: number;
  altM: number;
}

/** Sites sensors are spread over (a port, a plant, a mine...). */
export const SITES: readonly Site[] = [
  { name: 'north', lat: 51.9496, lon: 4.1453, altM: 2 }, // port terminal
  { name: 'south', lat: 43.2965, lon: 5.3698, altM: 12 }, // plant
  { name: 'east', lat: 52.2297, lon: 21.0122, altM: 100 }, // factory
  { name: 'west', lat: 40.4168, lon: -3.7038, altM: 650 }, // warehouse
];

const M_PER_DEG_LAT = 111_320;

function offset(site: Site, northM: number, eastM: number): GeoPoint {
  const mPerDegLon = M_PER_DEG_LAT * Math.cos((site.lat * Math.PI) / 180);
  return { lat: site.lat + northM / M_PER_DEG_LAT, lon: site.lon + eastM / mPerDegLon, altM: site.altM };
}

/** Where a sensor is: fixed, or moving along a closed route at constant speed. */
export interface Placement {
  readonly mobile: boolean;
  at(timeUs: number): GeoPoint;
}

/** A fixed position within ~300 m of the site centre. */
export function fixedPlacement(site: Site, prng: Prng): Placement {
  const p = offset(site, prng.range(-300, 300), prng.range(-300, 300));
  return { mobile: false, at: () => p };
}

/**
 * A closed route of 4–6 waypoints around the site (a crane moving along a quay),
 * travelled at `speedMps`; the position is a pure function of time.
 */
export function routePlacement(site: Site, prng: Prng, speedMps = 0.5): Placement {
  const n = 4 + prng.int(3);
  const pts: Array<[number, number]> = [];
  const cx = prng.range(-200, 200);
  const cy = prng.range(-200, 200);
  for (let i = 0; i < n; i++) {
    const a = (2 * Math.PI * i) / n;
    const r = prng.range(40, 120);
    pts.push([cx + r * Math.cos(a), cy + r * Math.sin(a)]);
  }
  const legs: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const [x0, y0] = pts[i]!;
    const [x1, y1] = pts[(i + 1) % n]!;
    const d = Math.hypot(x1 - x0, y1 - y0);
    legs.push(d);
    total += d;
  }
  const startM = prng.range(0, total);
  return {
    mobile: true,
    at(timeUs) {
      let s = (startM + (speedMps * timeUs) / 1e6) % total;
      for (let i = 0; i < n; i++) {
        const leg = legs[i]!;
        if (s <= leg || i === n - 1) {
          const f = leg === 0 ? 0 : Math.min(1, s / leg);
          const [x0, y0] = pts[i]!;
          const [x1, y1] = pts[(i + 1) % n]!;
          return offset(site, x0 + f * (x1 - x0), y0 + f * (y1 - y0));
        }
        s -= leg;
      }
      return offset(site, pts[0]![0], pts[0]![1]);
    },
  };
}
