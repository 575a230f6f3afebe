import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../sim/kernel/clock.js';
import { EventQueue } from '../../../sim/kernel/event-queue.js';
import { canonicalJson, HistoryRecorder } from '../../../sim/kernel/history-recorder.js';
import { Simulation } from '../../../sim/kernel/simulation.js';

describe('EventQueue', () => {
  it('runs events in (time, scheduling order) order, whatever order they were added in', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), (times) => {
      const clock = new VirtualClock();
      const queue = new EventQueue(clock);
      const ran: [number, number][] = [];
      times.forEach((t, i) => queue.at(t, `e${i}`, () => { ran.push([clock.nowUs(), i]); }));
      queue.runUntil(1000);
      const expected = times.map((t, i) => [t, i] as [number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      expect(ran).toEqual(expected);
      expect(clock.nowUs()).toBe(1000);
    }));
  });

  it('cancel removes an event; cancelling twice is harmless', () => {
    const clock = new VirtualClock();
    const queue = new EventQueue(clock);
    const ran: string[] = [];
    const h = queue.after(10, 'a', () => ran.push('a'));
    queue.after(5, 'b', () => ran.push('b'));
    queue.cancel(h);
    queue.cancel(h);
    expect(queue.pending).toBe(1);
    queue.runUntil(100);
    expect(ran).toEqual(['b']);
  });

  it('events scheduled while running run in order, and time never goes back', () => {
    const clock = new VirtualClock();
    const queue = new EventQueue(clock);
    const ran: number[] = [];
    queue.at(10, 'outer', () => {
      queue.after(0, 'same-instant', () => ran.push(clock.nowUs()));
      queue.after(5, 'later', () => ran.push(clock.nowUs()));
      ran.push(clock.nowUs());
    });
    queue.runUntil(20);
    expect(ran).toEqual([10, 10, 15]);
    expect(() => queue.at(5, 'past', () => undefined)).toThrow(/past/);
    expect(() => { clock.advanceTo(3); }).toThrow(/back/);
  });

  it('bounds pending events and runaway loops', () => {
    const clock = new VirtualClock();
    const queue = new EventQueue(clock, { maxPending: 2 });
    queue.at(1, 'a', () => undefined);
    queue.at(1, 'b', () => undefined);
    expect(() => queue.at(1, 'c', () => undefined)).toThrow(/full/);
    const q2 = new EventQueue(new VirtualClock());
    const loop = (): void => { q2.after(0, 'loop', loop); };
    loop();
    expect(() => q2.runUntil(0, 1000)).toThrow(/livelock/);
  });

  it('clear drops matching events (a host losing power loses its timers)', () => {
    const clock = new VirtualClock();
    const queue = new EventQueue(clock);
    const ran: string[] = [];
    queue.at(1, 'vm1:flusher', () => ran.push('vm1'));
    queue.at(1, 'vm2:flusher', () => ran.push('vm2'));
    queue.clear((label) => label.startsWith('vm1:'));
    queue.runUntil(5);
    expect(ran).toEqual(['vm2']);
  });
});

describe('HistoryRecorder', () => {
  it('stamps virtual time and a gapless sequence', () => {
    const clock = new VirtualClock();
    const h = new HistoryRecorder(clock);
    h.record({ kind: 'disk.flush', subject: 'd0', data: {} });
    clock.advanceTo(7);
    h.record({ kind: 'disk.flush', subject: 'd0', data: { n: 1 } });
    expect(h.events().map((e) => [e.seq, e.timeUs])).toEqual([[0, 0], [1, 7]]);
  });

  it('hash depends on content and order, not on object key order', () => {
    const mk = (events: { kind: string; data: Record<string, number> }[]): string => {
      const h = new HistoryRecorder(new VirtualClock());
      for (const e of events) h.record({ kind: e.kind, subject: 's', data: e.data });
      return h.digest();
    };
    expect(mk([{ kind: 'a', data: { x: 1, y: 2 } }])).toBe(mk([{ kind: 'a', data: { y: 2, x: 1 } }]));
    expect(mk([{ kind: 'a', data: {} }, { kind: 'b', data: {} }])).not.toBe(mk([{ kind: 'b', data: {} }, { kind: 'a', data: {} }]));
    expect(mk([{ kind: 'a', data: { x: 1 } }])).not.toBe(mk([{ kind: 'a', data: { x: 2 } }]));
    expect(canonicalJson({ b: [1, { d: 2, c: 3 }], a: null })).toBe('{"a":null,"b":[1,{"c":3,"d":2}]}');
  });

  it('canonicalJson is JSON.stringify with keys sorted as Array.prototype.sort sorts them', () => {
    // The plain definition the fast serialiser must equal (digests of old runs stay valid).
    const reference = (v: unknown): string => {
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
      const r = v as Record<string, unknown>;
      return `{${Object.keys(r).sort().map((k) => `${JSON.stringify(k)}:${reference(r[k])}`).join(',')}}`;
    };
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.string({ unit: 'binary' })),
      node: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('node'), { maxLength: 5 }), fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), tie('node'), { maxKeys: 8 })),
    })).node;
    fc.assert(fc.property(value, (v) => {
      expect(canonicalJson(v as never)).toBe(reference(v));
    }), { numRuns: 500 });
  });

  it('keeps at most maxEvents but hashes all of them', () => {
    const clock = new VirtualClock();
    const h1 = new HistoryRecorder(clock, 2);
    const h2 = new HistoryRecorder(clock, 2);
    for (let i = 0; i < 5; i++) h1.record({ kind: 'k', subject: 's', data: { i } });
    for (let i = 0; i < 5; i++) h2.record({ kind: 'k', subject: 's', data: { i: i === 4 ? 9 : i } });
    expect(h1.events()).toHaveLength(2);
    expect(h1.length).toBe(5);
    expect(h1.digest()).not.toBe(h2.digest());
  });

  it('hashes the same sequence with or without a bound, digests asked midway included', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 6 }), fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 4 }), fc.integer({ min: 0, max: 3000 }), (bound, asks, total) => {
      const clock = new VirtualClock();
      const bounded = new HistoryRecorder(clock, bound);
      const plain = new HistoryRecorder(clock);
      for (let i = 0; i < total; i++) {
        // Big enough that the overflow crosses its 64 KiB batch several times.
        const e = { kind: 'k', subject: 's', data: { i, pad: 'x'.repeat(i % 97) } };
        bounded.record(e);
        plain.record(e);
        if (asks.includes(i)) expect(bounded.digest()).toBe(plain.digest());
      }
      expect(bounded.digest()).toBe(plain.digest());
      expect(bounded.events()).toHaveLength(Math.min(bound, total));
    }), { numRuns: 40 });
  });
});

describe('Simulation', () => {
  it('hands out one stream per name, independent of creation order', () => {
    const a = new Simulation({ seed: 5 });
    const b = new Simulation({ seed: 5 });
    const xa = a.stream('x');
    a.stream('y').int(0, 9);
    b.stream('y');
    const xb = b.stream('x');
    expect(a.stream('x')).toBe(xa);
    expect([xa.int(0, 1e9), xa.int(0, 1e9)]).toEqual([xb.int(0, 1e9), xb.int(0, 1e9)]);
  });
});
