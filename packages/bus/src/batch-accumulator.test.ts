import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchAccumulator } from './batch-accumulator.js';

describe('BatchAccumulator', () => {
  let batches: number[][];
  const make = (maxBatch: number, maxWaitMs: number) =>
    new BatchAccumulator<number>({ maxBatch, maxWaitMs, onBatch: (b) => batches.push(b) });

  beforeEach(() => {
    vi.useFakeTimers();
    batches = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('emits as soon as maxBatch items are collected, without waiting for the timer', () => {
    const acc = make(3, 1000);
    acc.add(1);
    acc.add(2);
    expect(batches).toEqual([]);
    acc.add(3);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(acc.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('emits a partial batch maxWaitMs after its first item', () => {
    const acc = make(10, 500);
    acc.add(1);
    vi.advanceTimersByTime(300);
    acc.add(2);
    vi.advanceTimersByTime(199);
    expect(batches).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(batches).toEqual([[1, 2]]);
  });

  it('starts a new timer for the next batch, counted from its own first item', () => {
    const acc = make(2, 100);
    acc.add(1);
    acc.add(2); // full
    acc.add(3);
    vi.advanceTimersByTime(99);
    expect(batches).toEqual([[1, 2]]);
    vi.advanceTimersByTime(1);
    expect(batches).toEqual([[1, 2], [3]]);
  });

  it('never emits an empty batch', () => {
    const acc = make(5, 100);
    acc.flush();
    vi.advanceTimersByTime(1000);
    expect(batches).toEqual([]);
  });

  it('flush() emits what is collected and cancels the timer', () => {
    const acc = make(5, 100);
    acc.add(1);
    acc.flush();
    expect(batches).toEqual([[1]]);
    vi.advanceTimersByTime(1000);
    expect(batches).toEqual([[1]]);
  });

  it('clear() drops the collected items without emitting them', () => {
    const acc = make(5, 100);
    acc.add(1);
    acc.add(2);
    expect(acc.clear()).toEqual([1, 2]);
    vi.advanceTimersByTime(1000);
    expect(batches).toEqual([]);
    expect(acc.size).toBe(0);
  });

  it('with maxBatch 1 every item is its own batch', () => {
    const acc = make(1, 100);
    acc.add(1);
    acc.add(2);
    expect(batches).toEqual([[1], [2]]);
  });

  it('rejects invalid options with the field name', () => {
    expect(() => make(0, 10)).toThrow(/maxBatch/);
    expect(() => make(1.5, 10)).toThrow(/maxBatch/);
    expect(() => make(1, -1)).toThrow(/maxWaitMs/);
  });
});
