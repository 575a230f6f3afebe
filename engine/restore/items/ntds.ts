/**
 * Active Directory users straight from a RecoveryPoint (no VM restore): `findAdUser` reads
 * `/Windows/NTDS/ntds.dit`, `edb.chk` and the log generations `edb00001.log`, ... on the
 * point's first (system) disk through the engine's guest file-system reader (items/ese.ts:
 * the ESE model's formats, replaying the generations after the checkpoint in memory as
 * soft recovery would).
 *
 * A user is the record `obj:<name>` whose value is { name, rid, attrs: { string: string },
 * version, orig: { invocationId, usn }, usnCreated, usnChanged } (sim/apps/ntds/ntds-app.ts
 * header). A record of another shape under the key is 'damaged'.
 */

import { err, ok, type Result } from '../../../core/result.js';
import type { PointSource } from '../source.js';
import { isNat, isObject, type ItemError, type Provenance } from './common.js';
import { findEseValue, type EseLayout } from './ese.js';

export interface AdUser {
  readonly name: string;
  readonly rid: number;
  readonly attrs: Readonly<Record<string, string>>;
  readonly version: number;
  readonly orig: { readonly invocationId: string; readonly usn: number };
  readonly usnCreated: number;
  readonly usnChanged: number;
}

export interface FoundAdUser {
  readonly value: AdUser;
  readonly provenance: Provenance;
}

export const NTDS_ITEM_LAYOUT: EseLayout = { volume: 'first', dir: '/Windows/NTDS', databaseName: 'ntds.dit', checkpointName: 'edb.chk', base: 'edb', genDigits: 5 };

const MAX_NAME_CHARS = 256;
const MAX_ATTRS = 1024;

function adUserOf(v: unknown): AdUser | undefined {
  if (!isObject(v)) return undefined;
  const { name, rid, attrs, version, orig, usnCreated, usnChanged } = v;
  if (typeof name !== 'string' || !isNat(rid) || !isObject(attrs) || !isNat(version) || !isNat(usnCreated) || !isNat(usnChanged)) return undefined;
  if (!isObject(orig) || typeof orig.invocationId !== 'string' || !isNat(orig.usn)) return undefined;
  const entries = Object.entries(attrs);
  if (entries.length > MAX_ATTRS) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of entries) {
    if (typeof x !== 'string') return undefined;
    out[k] = x;
  }
  return { name, rid, attrs: out, version, orig: { invocationId: orig.invocationId, usn: orig.usn }, usnCreated, usnChanged };
}

/** The user as the directory holds it at the point (after soft recovery). */
export async function findAdUser(source: PointSource, name: string): Promise<Result<FoundAdUser, ItemError>> {
  if (name.length === 0 || name.length > MAX_NAME_CHARS) return err({ kind: 'bad-request', reason: 'user name empty or too long' });
  const found = await findEseValue(source, NTDS_ITEM_LAYOUT, `obj:${name}`);
  if (!found.ok) return found;
  const user = adUserOf(found.value.value);
  if (user === undefined || user.name !== name) {
    return err({ kind: 'damaged', file: found.value.provenance.file, ...(found.value.provenance.record === undefined ? {} : { record: found.value.provenance.record }), reason: `obj:${name} is not a user object` });
  }
  return ok({ value: user, provenance: found.value.provenance });
}
