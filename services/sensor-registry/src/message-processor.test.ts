import type { Command } from '@sensor-streaming/protocol';
import { describe, expect, it } from 'vitest';
import { desiredFromCommands } from './message-processor.js';

const cmd = (serial: string, type: Command['type'], issuedAtUs: number, hz?: number): Command => ({
  commandId: `${serial}-${issuedAtUs}`,
  serial,
  type,
  issuedAtUs,
  issuedBy: 't',
  ...(hz === undefined ? {} : { sampleFrequencyHz: hz }),
});

describe('desiredFromCommands', () => {
  it('takes the latest issued state and frequency per serial, whatever the arrival order', () => {
    expect(
      desiredFromCommands([
        cmd('a', 'awake', 3),
        cmd('a', 'sleep', 2),
        cmd('a', 'changesamplefrequency', 1, 50),
        cmd('b', 'changesamplefrequency', 5, 20),
        cmd('b', 'changesamplefrequency', 4, 10),
      ]),
    ).toEqual([
      { serial: 'a', frequencyHz: 50, state: 'AWAKE' },
      { serial: 'b', frequencyHz: 20 },
    ]);
  });
});
