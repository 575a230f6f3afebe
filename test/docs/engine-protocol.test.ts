/**
 * docs/engine-protocol.md is the specification an engine vendor implements against; this
 * keeps it complete against the code. Every request the harness sends (ENGINE_METHODS,
 * LOG_METHODS, initialize, shutdown) and every callback the harness answers (the ones the
 * engine side's proxies send, cli/engine-rpc/proxies.ts: `hypervisor/<m>` for every
 * HYPERVISOR_METHODS entry, store/*, logstore/*, files/*, filesink/*, timer/waitUntil) has a
 * heading of its own whose section holds an example frame of it; the capabilities table
 * lists exactly CAPABILITIES; the property → capabilities table says what the suites'
 * `needs` declarations say; the error table has every ErrorCode.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MessageConnection } from 'vscode-jsonrpc/node.js';
import { describe, expect, it } from 'vitest';
import { ENGINE_METHODS, ErrorCode, HYPERVISOR_METHODS, INITIALIZE, LOG_METHODS, SHUTDOWN } from '../../cli/engine-rpc/protocol.js';
import { EngineSide } from '../../cli/engine-rpc/proxies.js';
import { selectCells } from '../../scenarios/cells.js';
import { CAPABILITIES } from '../../scenarios/engine-api.js';
import { SUITES } from '../../scenarios/runner.js';
import { ROOT } from '../support/cli.js';

const DOC = readFileSync(join(ROOT, 'docs', 'engine-protocol.md'), 'utf8');
const LINES = DOC.split('\n');

interface Section {
  readonly heading: string;
  readonly level: number;
  readonly body: string;
}

/** Every heading with the text up to the next heading (outside code blocks). */
function sections(): Section[] {
  const out: { heading: string; level: number; body: string[] }[] = [];
  let fenced = false;
  for (const line of LINES) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^(#{1,6}) (.*)$/.exec(line);
    if (m !== null) out.push({ heading: m[2] ?? '', level: (m[1] ?? '').length, body: [] });
    else out.at(-1)?.body.push(line);
  }
  return out.map((s) => ({ heading: s.heading, level: s.level, body: s.body.join('\n') }));
}

/** The text of the `## ` section whose heading starts with `prefix`, sub-sections included. */
function chapter(prefix: string): string {
  const start = LINES.findIndex((l) => l.startsWith(`## ${prefix}`));
  expect(start, `a '## ${prefix}' section`).toBeGreaterThanOrEqual(0);
  const end = LINES.findIndex((l, i) => i > start && l.startsWith('## '));
  return LINES.slice(start, end < 0 ? undefined : end).join('\n');
}

/** Table rows (`| a | b |`) of a text, as their cells. */
function rows(text: string): string[][] {
  return text.split('\n').filter((l) => l.startsWith('|') && !/^\|[-| ]+\|$/.test(l)).map((l) => l.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
}

/** What the engine side's proxies send: every callback the protocol has. */
async function callbackNames(): Promise<string[]> {
  const sent: string[] = [];
  const connection = {
    sendRequest: (method: string) => {
      sent.push(method);
      return Promise.resolve({ value: null, $clocks: {} });
    },
  } as unknown as MessageConnection;
  const side = new EngineSide(connection);
  const refs = [{ $ref: 'port-1' }, { $ref: 'store-2' }, { $ref: 'logstore-3' }, { $ref: 'files-4' }, { $ref: 'filesink-5' }, { $ref: 'timer-6', clock: { $ref: 'clock-7' } }];
  for (const ref of refs) {
    const proxy = side.resolve(ref) as Record<string, unknown>;
    for (const key of Object.keys(proxy)) {
      const fn = proxy[key];
      if (typeof fn === 'function') await (fn as () => Promise<unknown>).call(proxy);
    }
  }
  return sent;
}

const REQUESTS = [INITIALIZE, ...Object.values(ENGINE_METHODS).map((m) => m.rpc), ...Object.values(LOG_METHODS).map((m) => m.rpc), SHUTDOWN];

function escaped(name: string): string {
  return name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The sections headed by exactly `name` in backticks that hold a fenced example frame of it. */
function exampleSections(name: string): Section[] {
  const frame = new RegExp(`"method":\\s*"${escaped(name)}"`);
  return sections().filter((s) => s.heading === `\`${name}\`` && /```json/.test(s.body) && frame.test(s.body));
}

describe('docs/engine-protocol.md', () => {
  it('has a heading with an example frame for every request the harness sends', () => {
    expect(REQUESTS.length).toBe(2 + Object.keys(ENGINE_METHODS).length + Object.keys(LOG_METHODS).length);
    const missing = REQUESTS.filter((name) => exampleSections(name).length === 0);
    expect(missing).toEqual([]);
  });

  it('has a heading with an example frame for every callback the harness answers', async () => {
    const callbacks = await callbackNames();
    for (const m of HYPERVISOR_METHODS) expect(callbacks).toContain(`hypervisor/${m}`);
    for (const family of ['store/', 'logstore/', 'files/', 'filesink/', 'timer/']) expect(callbacks.some((c) => c.startsWith(family))).toBe(true);
    const missing = callbacks.filter((name) => exampleSections(name).length === 0);
    expect(missing).toEqual([]);
  });

  it('lists exactly CAPABILITIES in the capabilities table', () => {
    const listed = rows(chapter('8. Capabilities')).map((r) => /^`([^`]+)`$/.exec(r[0] ?? '')?.[1]).filter((c): c is string => c !== undefined);
    expect([...listed].sort()).toEqual([...CAPABILITIES].sort());
  });

  it('says for every property what the suites need, as their `needs` declarations do', () => {
    const table = new Map<string, Set<string>>();
    for (const r of rows(chapter('8. Capabilities'))) {
      if (!/^P\d+$/.test(r[0] ?? '')) continue;
      table.set(r[0] as string, new Set([...(r[3] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] as string)));
    }
    const cells = selectCells();
    const expected = new Map<string, Set<string>>();
    for (const suite of SUITES) {
      for (const p of suite.properties) {
        const needs = new Set<string>();
        for (const cell of cells) {
          if (!suite.appliesTo(cell) || !(p.appliesToCell?.(cell) ?? true)) continue;
          for (const c of [...(suite.needs?.(cell) ?? []), ...(p.needs ?? [])]) needs.add(c);
        }
        expected.set(p.id, needs);
      }
    }
    expect([...table.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [id, needs] of expected) expect([...(table.get(id) ?? [])].sort(), id).toEqual([...needs].sort());
  });

  it('has every ErrorCode in the error table, with its name', () => {
    const table = rows(chapter('9. Errors'));
    for (const [name, code] of Object.entries(ErrorCode)) {
      expect(table.some((r) => r[0] === String(code) && r[1] === `\`${name}\``), `${code} ${name}`).toBe(true);
    }
  });
});
