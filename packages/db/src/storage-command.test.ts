import { ConfigError } from '@sensor-streaming/runtime';
import { describe, expect, it } from 'vitest';
import { loadStorageCommandConfig } from './storage-command.js';

describe('loadStorageCommandConfig', () => {
  it('takes one command and DATABASE_URL (default: the local sensor_streaming database)', () => {
    expect(loadStorageCommandConfig(['backend'], {})).toEqual({
      command: 'backend',
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/sensor_streaming',
    });
    expect(loadStorageCommandConfig(['maintain'], { DATABASE_URL: 'postgres://db:5432/x' })).toMatchObject({
      command: 'maintain',
      databaseUrl: 'postgres://db:5432/x',
    });
  });

  it('names what is wrong', () => {
    expect(() => loadStorageCommandConfig([], {})).toThrow(
      /usage: storage <backend\|maintain> \(got nothing\)/,
    );
    expect(() => loadStorageCommandConfig(['drop', 'all'], {})).toThrow(/got "drop all"/);
    expect(() => loadStorageCommandConfig(['backend'], { DATABASE_URL: 'mysql://x' })).toThrow(ConfigError);
  });
});
