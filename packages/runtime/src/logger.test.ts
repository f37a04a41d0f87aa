import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { createPrettyStream, formatPrettyLine } from './pretty-stream.js';

function capture() {
  const chunks: string[] = [];
  return {
    destination: { write: (c: string) => chunks.push(c) },
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    raw: () => chunks.join(''),
  };
}

describe('createLogger', () => {
  it('writes one JSON line per event with the service and module fields', () => {
    const out = capture();
    const log = createLogger({ service: 'svc', pretty: false, destination: out.destination });
    log.info('one');
    log.child({ module: 'consumer' }).warn({ queue: 'q' }, 'two');
    const [a, b] = out.lines();
    expect(a).toMatchObject({ level: 30, service: 'svc', msg: 'one' });
    expect(b).toMatchObject({ level: 40, service: 'svc', module: 'consumer', queue: 'q', msg: 'two' });
    expect(out.raw().split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('puts errors under err with their stack', () => {
    const out = capture();
    const log = createLogger({ service: 'svc', pretty: false, destination: out.destination });
    log.error({ err: new TypeError('boom') }, 'failed');
    const [line] = out.lines();
    const err = line?.err as Record<string, string>;
    expect(err.type).toBe('TypeError');
    expect(err.message).toBe('boom');
    expect(err.stack).toContain('logger.test.ts');
  });

  it('honours the level', () => {
    const out = capture();
    const log = createLogger({ service: 'svc', level: 'warn', pretty: false, destination: out.destination });
    log.info('hidden');
    log.debug('hidden');
    log.warn('shown');
    expect(out.lines().map((l) => l.msg)).toEqual(['shown']);
  });

  it('redacts passwords, authorization headers and URL passwords', () => {
    const out = capture();
    const log = createLogger({ service: 'svc', pretty: false, destination: out.destination });
    log.info(
      {
        password: 'hunter2',
        user: { password: 'hunter3', name: 'ann' },
        headers: { authorization: 'Bearer abc' },
        req: { headers: { authorization: 'Basic xyz' } },
        url: 'amqp://guest:topsecret@h:5672',
        config: { databaseUrl: 'postgres://app:dbsecret@db/x', amqpUrl: 'amqp://nopass@h' },
      },
      'connecting to amqp://me:inmessage@broker',
    );
    const text = out.raw();
    for (const secret of [
      'hunter2',
      'hunter3',
      'Bearer abc',
      'Basic xyz',
      'topsecret',
      'dbsecret',
      'inmessage',
    ]) {
      expect(text).not.toContain(secret);
    }
    const [line] = out.lines();
    expect(line).toMatchObject({
      password: '[REDACTED]',
      user: { password: '[REDACTED]', name: 'ann' },
      url: 'amqp://guest:***@h:5672',
      config: { databaseUrl: 'postgres://app:***@db/x', amqpUrl: 'amqp://nopass@h' },
      msg: 'connecting to amqp://me:***@broker',
    });
  });

  it('pretty-prints when asked, one readable line per event', () => {
    const out = capture();
    const log = createLogger({ service: 'svc', pretty: true, destination: out.destination });
    log.child({ module: 'db' }).info({ rows: 3, url: 'postgres://a:b@c/d' }, 'inserted');
    const text = out.raw();
    expect(text).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[svc\/db\] inserted rows=3 url=postgres:\/\/a:\*\*\*@c\/d\n$/,
    );
  });
});

describe('formatPrettyLine', () => {
  it('prints the error stack indented under the line', () => {
    const line = JSON.stringify({
      level: 50,
      time: 0,
      service: 's',
      msg: 'x',
      err: { stack: 'Error: e\n  at f' },
    });
    expect(formatPrettyLine(line, false)).toBe('00:00:00.000 ERROR [s] x\n    Error: e\n      at f\n');
  });

  it('passes non-JSON through unchanged and colours levels on request', () => {
    expect(formatPrettyLine('plain', false)).toBe('plain');
    const chunks: string[] = [];
    createPrettyStream({ write: (c: string) => chunks.push(c) }, true).write(
      `${JSON.stringify({ level: 40, time: 0, msg: 'w' })}\n`,
    );
    expect(chunks.join('')).toContain('\x1b[33mWARN \x1b[0m');
  });
});
