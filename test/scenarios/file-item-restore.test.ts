/**
 * Property 16 (backup suite): file-level restores, SQL Server row, Exchange mail item and AD
 * user restores from the first and last good points hold for quiescelab's engine, and fail
 * for the restore mutants at --runs 10: a file restore that drops each file's last partial
 * block, an item restore whose block cache is not keyed by point (a later point answered
 * from an earlier one's pages), an Exchange item restore that files the item under an
 * upper-cased mailbox; and for a test engine whose AD user restore loses an attribute. The
 * mutant hunt (runMutants) kills mail-item-wrong-mailbox with P16 at 10 runs.
 */

import { builtinEngine } from '../../scenarios/engine-builtin.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { findCell } from '../../scenarios/cells.js';
import { itemProblems } from '../../scenarios/checkers/file-item-restore.js';
import { findMutant } from '../../scenarios/mutants/index.js';
import { huntMutant } from '../../scenarios/mutants/hunt.js';
import { runCell } from '../../scenarios/runner.js';
import { QUIESCELAB_ENGINE, QUIESCELAB_ITEM_ENGINE, type EngineUnderTest } from '../../scenarios/scenario/engine.js';
import { itemFields } from '../../scenarios/scenario/item-restore.js';
import { BACKUP_SUITE } from '../../scenarios/suites/backup-suite.js';
import { prepareDefaultApps } from '../../sim/hypervisor/default-apps.js';
import { ok } from '../../core/result.js';

const FILES = 'linux/esx41/files/default';
const SQL = 'win2019/esx41/sqlserver/default';
const EXCHANGE = 'win2019/esx41/exchange/default';
const NTDS = 'win2016/esx41/ntds/default';

async function p16(id: string, engine?: EngineUnderTest) {
  const cell = findCell(id);
  if (cell === undefined) throw new Error(id);
  const r = await runCell(cell, { runs: 10, seed: 1, suites: [BACKUP_SUITE], shrinkBudget: 5, ...(engine === undefined ? {} : { engine: builtinEngine(engine) }) });
  const p = r.properties.find((x) => x.id === 'P16');
  if (p === undefined) throw new Error('no P16');
  return p;
}

function mutant(id: string): EngineUnderTest {
  const m = findMutant(id);
  if (m === undefined) throw new Error(id);
  return m.engine;
}

/** A test engine whose AD user restore loses the user's title attribute. */
const AD_USER_LOSES_TITLE: EngineUnderTest = {
  ...QUIESCELAB_ENGINE,
  name: 'ad-user-loses-title',
  items: {
    ...QUIESCELAB_ITEM_ENGINE,
    async findAdUser(repo, pointId, name) {
      const r = await QUIESCELAB_ITEM_ENGINE.findAdUser(repo, pointId, name);
      if (!r.ok) return r;
      const attrs = Object.fromEntries(Object.entries(r.value.value.attrs).filter(([k]) => k !== 'title'));
      return ok({ ...r.value, value: { ...r.value.value, attrs } });
    },
  },
};

describe('property 16: file and item restores', () => {
  beforeAll(async () => { await prepareDefaultApps(); });

  it.each([FILES, SQL])('holds for quiescelab on %s, judging every run', async (id) => {
    const p = await p16(id);
    expect(p.status, p.evidence ?? '').toBe('pass');
    expect(p.judged).toBe(10);
  });

  // At seed 1 a run or two of these cells stores no point (a drawn job fault): only those go unjudged.
  it.each([EXCHANGE, NTDS])('holds for quiescelab on %s, judging every run that stored a point', async (id) => {
    const p = await p16(id);
    expect(p.status, p.evidence ?? '').toBe('pass');
    expect(p.judged).toBeGreaterThanOrEqual(8);
    if (p.unknown > 0) expect(p.evidence).toMatch(/^no point was stored/);
  });

  it('compares items field by field: a wrong, missing or extra field, or an error, is a problem', () => {
    const expected = itemFields({ name: 'u', rid: 7, attrs: { title: 'staff' }, orig: { invocationId: 'i', usn: 3 } });
    expect(expected).toEqual({ name: '"u"', rid: '7', 'attrs.title': '"staff"', 'orig.invocationId': '"i"', 'orig.usn': '3' });
    const check = (got: unknown) => itemProblems({ pointIndex: 0, kind: 'ad-user', what: 'AD user u', expected, got: got === null ? null : itemFields(got), error: got === null ? 'not-found' : null });
    expect(check({ name: 'u', rid: 7, attrs: { title: 'staff' }, orig: { invocationId: 'i', usn: 3 } })).toEqual([]);
    expect(check({ name: 'u', rid: 7, attrs: {}, orig: { invocationId: 'i', usn: 3 } })).toEqual(['attrs.title missing, expected "staff"', 'attrs is {}, not a field of the item']);
    expect(check({ name: 'u', rid: 8, attrs: { title: 'staff' }, orig: { invocationId: 'i', usn: 3 }, extra: 1 })).toEqual(['rid is 8, expected 7', 'extra is 1, not a field of the item']);
    expect(check(null)).toHaveLength(1);
  });

  it('fails for file-restore-drops-last-block (the files\' tails read as zeros)', async () => {
    const p = await p16(FILES, mutant('file-restore-drops-last-block'));
    expect(p.status).toBe('fail');
    expect(p.evidence).toMatch(/file-level restore of \/files: \d+ of \d+ files equal/);
  });

  it('fails for item-restore-stale-page (a later point\'s row read from an earlier point\'s pages)', async () => {
    const p = await p16(SQL, mutant('item-restore-stale-page'));
    expect(p.status).toBe('fail');
    expect(p.evidence).toMatch(/item restore\(s\) wrong; point \d+: SQL Server row/);
  });

  it('fails for mail-item-wrong-mailbox (the item filed under an upper-cased mailbox)', async () => {
    const p = await p16(EXCHANGE, mutant('mail-item-wrong-mailbox'));
    expect(p.status).toBe('fail');
    expect(p.evidence).toMatch(/item restore\(s\) wrong; point \d+: Exchange item mbx\d+\/msg-\d+: mailbox is "MBX\d+", expected "mbx\d+"/);
  });

  it('fails for an AD user restore that loses an attribute', async () => {
    const p = await p16(NTDS, AD_USER_LOSES_TITLE);
    expect(p.status).toBe('fail');
    expect(p.evidence).toMatch(/AD user user-\S+ \(change [^)]+\): attrs\.title missing, expected "/);
  });

  it('the mutant hunt kills mail-item-wrong-mailbox with P16 at 10 runs', async () => {
    const m = findMutant('mail-item-wrong-mailbox');
    if (m === undefined) throw new Error('no mutant mail-item-wrong-mailbox');
    const r = await huntMutant(m, { runs: 10, seed: 1 });
    expect(r.killed, JSON.stringify(r.killer?.evidence ?? null)).toBe(true);
    expect(r.killer?.id).toBe('P16');
  }, 300_000);
});
