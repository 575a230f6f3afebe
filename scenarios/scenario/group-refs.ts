/**
 * The cross-VM references of the orders application (sim/apps/group/orders.ts) in a set of
 * VM images or restored VMs: an order must find its document, a journal entry its order.
 * Pure: it compares the id lists read from each role's volume. A state that existed at one
 * instant while the application was paused has no broken reference and nothing
 * half-present; a set captured one VM at a time while it ran may have either.
 *
 * Leaves out: the documents' and orders' contents beyond their id and self-reference (a
 * malformed record is listed), references to a role outside the set (not judged).
 */

import { readOrdersData, docPath, type OrdersRole } from '../../sim/apps/group/orders.js';
import type { FileSystem } from '../../sim/guest/file-system.js';

export interface RoleData {
  readonly role: OrdersRole;
  readonly vmId: string;
  readonly ids: readonly number[];
  readonly malformed: readonly number[];
}

export interface ReferenceCheck {
  /** Records each role's volume holds (null: the role is not in the set). */
  readonly counts: { readonly orders: number | null; readonly docs: number | null; readonly journal: number | null };
  /** References whose target is absent: `order 17 -> /docs/doc-17`, `journal 12 -> order 12`. */
  readonly broken: readonly string[];
  /** How many references broke (the list keeps the first ones). */
  readonly brokenTotal: number;
  /** A transaction's earlier step without its later one: `doc 18 without order 18`, `order 19 without journal 19`. */
  readonly halfPresent: readonly string[];
  readonly halfPresentTotal: number;
  readonly malformed: readonly string[];
  /** Orders acknowledged before the set's first capture that the set does not hold. */
  readonly lostAcknowledged: readonly number[];
}

/** Most examples a list keeps (the counts stay exact through `total`). */
const MAX_LISTED = 50;

export function readRoleData(fs: FileSystem, role: OrdersRole, vmId: string): RoleData {
  const d = readOrdersData(fs, role);
  return { role, vmId, ids: d.ids, malformed: d.malformed };
}

/** What a role's data is, in one line (`orders 57 ids 1-57 #3f2a91c0`): two volumes holding the same ids give the same line. */
export function holdsLine(d: RoleData): string {
  let h = 0x811c9dc5;
  for (const id of d.ids) h = Math.imul(h ^ id, 0x01000193) >>> 0;
  const range = d.ids.length === 0 ? 'none' : `${d.ids[0] ?? 0}-${d.ids[d.ids.length - 1] ?? 0}`;
  return `${d.role} ${d.ids.length} ids ${range} #${h.toString(16).padStart(8, '0')}`;
}

function missingFrom(from: readonly number[], target: ReadonlySet<number>): number[] {
  return from.filter((id) => !target.has(id));
}

/**
 * The references among the roles present; `ackedBefore`: ids acknowledged before the first
 * capture (null: not judged). Lists keep the first MAX_LISTED examples; the totals are exact.
 */
export function checkReferences(data: Partial<Record<OrdersRole, RoleData>>, ackedBefore: readonly number[] | null): ReferenceCheck {
  const ids = (r: OrdersRole): Set<number> | null => (data[r] === undefined ? null : new Set(data[r].ids));
  const orders = ids('orders');
  const docs = ids('docs');
  const journal = ids('journal');
  const broken: string[] = [];
  const half: string[] = [];
  if (orders !== null && docs !== null) {
    for (const id of missingFrom([...orders], docs)) broken.push(`order ${id} -> ${docPath(id)}`);
    for (const id of missingFrom([...docs], orders)) half.push(`doc ${id} without order ${id}`);
  }
  if (journal !== null && orders !== null) {
    for (const id of missingFrom([...journal], orders)) broken.push(`journal ${id} -> order ${id}`);
    for (const id of missingFrom([...orders], journal)) half.push(`order ${id} without journal ${id}`);
  }
  const malformed = (['orders', 'docs', 'journal'] as const).flatMap((r) => (data[r]?.malformed ?? []).map((id) => `${r} ${id} malformed`));
  const lost = orders === null || ackedBefore === null ? [] : missingFrom(ackedBefore, orders);
  return {
    counts: { orders: orders?.size ?? null, docs: docs?.size ?? null, journal: journal?.size ?? null },
    broken: broken.slice(0, MAX_LISTED), brokenTotal: broken.length,
    halfPresent: half.slice(0, MAX_LISTED), halfPresentTotal: half.length,
    malformed: malformed.slice(0, MAX_LISTED), lostAcknowledged: lost.slice(0, MAX_LISTED),
  };
}
