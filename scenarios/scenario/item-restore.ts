/**
 * File-level and application-item restores of the backup scenario (property 16), through
 * the engine under test (EngineUnderTest.restoreFiles, .items): from the first good point
 * and, when it differs, the last good one, whose VmSnapshot the lab could read (its
 * volumes at crash level at least):
 *
 * - File-level restore of the `files` app's directory (/files, on the last disk) into a
 *   MemoryFileWriter. The truth is the lab's: the same directory read by the simulator's
 *   own file system from the VmSnapshot's image of that disk (the tap's, journal replayed
 *   in an overlay as the lab does), and the record ids the lab's `files` app finds in the
 *   whole image (sim/hypervisor/inspect.ts). Recorded: files missing, extra or differing
 *   (first differing byte), and the record ids of the restored files against the lab's.
 * - On SQL Server cells, an item restore of one row: the row whose last acknowledged
 *   writer is the latest transaction acknowledged before the point's cut and present in
 *   the lab's committed set, no later acknowledged transaction having written it. The
 *   expected value is that transaction's write of the row, as the app acknowledged it.
 *
 * - On Exchange cells, an item restore of one mail item (EngineUnderTest.items.findMailItem):
 *   the latest item acknowledged before the point's cut that the lab found in the image. On
 *   NTDS cells, of one AD user (.findAdUser): the object written by the latest change the DC
 *   acknowledged before the cut (acknowledgement id `<invocationId>:<usn>`, the change
 *   record `chg:<id>` naming the object) that the lab found. The truth is the simulator's
 *   own reading of that item in the same image (sim/hypervisor/image-items.ts: the lab's
 *   app opened on the image): every field, nested ones by dotted path, must be restored equal.
 * - A disk restore (EngineUnderTest.restoreDisk) of the first such point's last disk over
 *   the disk of a new, powered-off scratch VM filled with 0xa5 first (what the point does
 *   not hold must come back as zeros): the scratch disk must equal the VmSnapshot's image.
 *
 * A point where a cell's app has no item to ask for (none acknowledged before the cut that the
 * lab found, or the image's app does not open) is recorded in itemsSkipped.
 *
 * Leaves out: items other than the latest one per point and kind, a restore from a point the
 * lab found inconsistent, restores to a local folder (file-writer-local.ts), a disk
 * restore over the original VM's disk.
 */

import { MemoryFileWriter } from '../../engine/restore/file-writer.js';
import { FILES_DIR, parseRecords } from '../../sim/apps/files/files-app.js';
import type { SqlServerApp } from '../../sim/apps/sqlserver/index.js';
import { GUEST_OS } from '../../sim/guest/catalog.js';
import { FileSystem } from '../../sim/guest/file-system.js';
import { inspectImage, type ImageInspection } from '../../sim/hypervisor/inspect.js';
import { Simulation } from '../../sim/kernel/simulation.js';
import { OverlayDevice } from '../../sim/storage/overlay-device.js';
import { compareLevels } from '../../core/levels.js';
import type { AppId } from '../../core/hypervisor-port.js';
import { ok, type Result } from '../../core/result.js';
import type { ItemError } from '../../engine/restore/app-items.js';
import type { PointDisk } from '../../engine/restore/source.js';
import type { AckRecord } from '../../sim/apps/types.js';
import { readImageAdUsers, readImageMailItems } from '../../sim/hypervisor/image-items.js';
import type { PointRun, Scenario } from './run.js';
import type { Capability } from '../engine-api.js';
import type { SparseImage } from './sparse-image.js';

export interface FileRestoreCheck {
  readonly pointIndex: number;
  /** The restore (or opening the point) failed, or null. */
  readonly error: string | null;
  /** Files the lab found under /files, and of those the ones restored equal. */
  readonly labFiles: number;
  readonly equalFiles: number;
  /** What differs (missing, extra, differing bytes, entries the restore reported failed). */
  readonly differences: readonly string[];
  /** Record ids of the restored files missing from the lab's committed set for `files`, and the reverse. */
  readonly idsNotInLab: readonly string[];
  readonly idsNotRestored: readonly string[];
  readonly idsRestored: number;
}

export type ItemKind = 'sql-row' | 'mail-item' | 'ad-user';

/** The item kinds each app's cells restore. */
export const ITEM_KIND_OF_APP: Readonly<Partial<Record<AppId, ItemKind>>> = { sqlserver: 'sql-row', exchange: 'mail-item', ntds: 'ad-user' };

/** An item's fields: dotted path -> JSON of the value (an empty object is `{}` under its path). */
export type ItemFields = Readonly<Record<string, string>>;

export interface ItemRestoreCheck {
  readonly pointIndex: number;
  readonly kind: ItemKind;
  readonly what: string;
  /** The truth: the row's value and writer as acknowledged (SQL), the simulator's reading of the image (mail item, AD user). */
  readonly expected: ItemFields;
  /** The fields the engine restored, or null when it failed (error). */
  readonly got: ItemFields | null;
  readonly error: string | null;
}

export interface DiskRestoreCheck {
  readonly pointIndex: number;
  /** The restore failed, or the scratch disk differs from the VmSnapshot's image (where), or null. */
  readonly problem: string | null;
  readonly bytesWritten: number;
}

export interface FileItemRestoreRun {
  readonly files: readonly FileRestoreCheck[];
  readonly items: readonly ItemRestoreCheck[];
  /** The item kinds the cell's apps call for (ITEM_KIND_OF_APP). */
  readonly itemKinds: readonly ItemKind[];
  /** Per point and kind with no item restored, why. */
  readonly itemsSkipped: readonly string[];
  /** The first good point's last disk restored over a scratch VM's disk (filled with garbage first). */
  readonly disks: readonly DiskRestoreCheck[];
  /** Points skipped (lab found them inconsistent, or no image), with why. */
  readonly skipped: readonly string[];
}

const MAX_DIFFERENCES = 20;

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/**
 * The files under /files of the image's last disk, as the simulator's own file system reads
 * them; null when the image has no /files (the app had not created it at the capture).
 */
function labFilesOf(s: Scenario, images: readonly SparseImage[]): Map<string, Uint8Array> | null | string {
  const sim = new Simulation({ seed: 0 });
  const image = images[images.length - 1];
  if (image === undefined) return 'no disk image';
  const fs = FileSystem.mount(new OverlayDevice(image), { clock: sim.clock, queue: sim.queue, history: sim.history, writeback: GUEST_OS[s.cell.os].writeback, label: 'lab:files' });
  if (!fs.ok) return `the lab cannot mount the last disk: ${fs.error.kind}`;
  const names = fs.value.readdir(FILES_DIR);
  const out = new Map<string, Uint8Array>();
  if (!names.ok) return names.error.kind === 'not-found' ? null : `the lab cannot list ${FILES_DIR}: ${names.error.kind}`;
  for (const name of names.value) {
    const h = fs.value.open(`${FILES_DIR}/${name}`);
    if (!h.ok) continue;
    const size = fs.value.size(h.value);
    const bytes = size.ok ? fs.value.read(h.value, 0, size.value) : size;
    fs.value.close(h.value);
    if (bytes.ok) out.set(name, bytes.value);
  }
  return out;
}

function describeError(e: unknown): string {
  return typeof e === 'string' ? e : JSON.stringify(e);
}

async function checkFiles(s: Scenario, repo: string, run: PointRun, images: readonly SparseImage[], lab: ImageInspection): Promise<FileRestoreCheck> {
  const base = { pointIndex: run.index, labFiles: 0, equalFiles: 0, differences: [], idsNotInLab: [], idsNotRestored: [], idsRestored: 0 };
  const truth = labFilesOf(s, images);
  if (typeof truth === 'string') return { ...base, error: truth };
  const disk = await lastDisk(s, repo, run);
  if (typeof disk === 'string') return { ...base, labFiles: truth?.size ?? 0, error: disk };
  const writer = new MemoryFileWriter();
  const r = await s.engine.restoreFiles(writer, { repo, pointId: run.pointId ?? '', diskId: disk.diskId, selection: { paths: [FILES_DIR] } });
  if (!r.ok) return { ...base, labFiles: truth?.size ?? 0, error: `file-level restore of ${FILES_DIR}: ${describeError(r.error)}` };
  const restored = new Map<string, Uint8Array>();
  for (const [path, bytes] of writer.files()) if (path.startsWith('files/')) restored.set(path.slice('files/'.length), bytes);
  if (truth === null) {
    // No /files in the image: the restore must say so (not-found) and restore nothing.
    const said = r.value.failed.length === 1 && r.value.failed[0]?.error.kind === 'not-found';
    return { ...base, error: said && writer.files().size === 0 ? null : `the image has no ${FILES_DIR}; the restore reported ${r.value.failed.map((f) => f.error.kind).join(', ') || 'no failure'} and wrote ${writer.files().size} file(s)` };
  }
  const differences: string[] = r.value.failed.map((f) => `${f.guestNames.join('/')}: ${f.error.kind}`);
  let equalFiles = 0;
  for (const [name, want] of truth) {
    const got = restored.get(name);
    const at = got === undefined ? -2 : firstDifference(got, want);
    if (at === -1) equalFiles++;
    else differences.push(got === undefined ? `${name} not restored` : `${name}: ${got.length} bytes restored, ${want.length} in the image, first difference at byte ${at}`);
  }
  for (const name of restored.keys()) if (!truth.has(name)) differences.push(`${name} restored, not in the image`);
  const ids = new Set<string>();
  for (const bytes of restored.values()) for (const rec of parseRecords(bytes)) ids.add(`w${rec.id}`);
  const labIds = lab.apps.files?.committed ?? new Set<string>();
  return {
    pointIndex: run.index, error: null, labFiles: truth.size, equalFiles, differences: differences.slice(0, MAX_DIFFERENCES),
    idsNotInLab: [...ids].filter((id) => !labIds.has(id)).slice(0, MAX_DIFFERENCES), idsNotRestored: [...labIds].filter((id) => !ids.has(id)).slice(0, MAX_DIFFERENCES), idsRestored: ids.size,
  };
}

/** An item's fields by dotted path (see ItemFields); a value that is not an object is the field ''. */
export function itemFields(v: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const entries = Object.entries(v);
    if (entries.length === 0) out[prefix] = '{}';
    for (const [k, x] of entries) itemFields(x, prefix === '' ? k : `${prefix}.${k}`, out);
  } else {
    out[prefix] = v === undefined ? 'undefined' : JSON.stringify(v);
  }
  return out;
}

/** The latest acknowledgement of `app` before `cutUs` whose id the lab found (ties: the later acknowledged). */
function latestFoundAck(s: Scenario, app: AppId, cutUs: number, found: ReadonlySet<string>): AckRecord | undefined {
  let best: AckRecord | undefined;
  for (const a of s.ledger.acks()[app] ?? []) if (a.timeUs < cutUs && found.has(a.id) && (best === undefined || a.timeUs >= best.timeUs)) best = a;
  return best;
}

/** The row to ask for at `run`'s point and the value the app acknowledged for it (see the header), or null. */
function sqlRowToAsk(s: Scenario, run: PointRun, lab: ImageInspection): { table: string; key: string; value: string; txn: string } | null {
  const cutUs = run.truth?.cutUs;
  const committed = lab.apps.sqlserver?.committed;
  if (cutUs === undefined || committed === undefined || s.vm.guest === null || !s.vm.apps.includes('sqlserver')) return null;
  const app = s.vm.app('sqlserver') as unknown as SqlServerApp;
  const last = new Map<string, { table: string; key: string; value: string; txn: string; timeUs: number }>();
  for (const t of app.ackedTransactions()) for (const [table, key, value] of t.writes) last.set(`${table}\u0000${key}`, { table, key, value, txn: t.id, timeUs: t.timeUs });
  let best: { table: string; key: string; value: string; txn: string; timeUs: number } | null = null;
  for (const w of last.values()) if (w.timeUs < cutUs && committed.has(w.txn) && (best === null || w.timeUs > best.timeUs)) best = w;
  return best === null ? null : { table: best.table, key: best.key, value: best.value, txn: best.txn };
}

type Asked<T> = Result<T, ItemError | string>;

function itemCheck(run: PointRun, kind: ItemKind, what: string, expected: unknown, r: Asked<unknown>): ItemRestoreCheck {
  const base = { pointIndex: run.index, kind, what, expected: itemFields(expected) };
  return r.ok ? { ...base, got: itemFields(r.value), error: null } : { ...base, got: null, error: describeError(r.error) };
}

async function checkSqlRow(s: Scenario, repo: string, run: PointRun, lab: ImageInspection): Promise<ItemRestoreCheck | string> {
  const ask = sqlRowToAsk(s, run, lab);
  if (ask === null) return 'no row acknowledged before the cut that the lab found';
  const r = await s.engine.findSqlRow(repo, run.pointId ?? '', { table: ask.table, key: ask.key });
  const got: Asked<unknown> = r.ok ? ok({ value: r.value.value, txn: `t${r.value.txn}` }) : r;
  return itemCheck(run, 'sql-row', `SQL Server row ${ask.table}/${ask.key}`, { value: ask.value, txn: ask.txn }, got);
}

async function checkMailItem(s: Scenario, repo: string, run: PointRun, images: readonly SparseImage[], lab: ImageInspection): Promise<ItemRestoreCheck | string> {
  const cutUs = run.truth?.cutUs;
  const found = lab.apps.exchange?.committed;
  if (cutUs === undefined || found === undefined) return 'no cut or the lab did not open Exchange';
  const ack = latestFoundAck(s, 'exchange', cutUs, found);
  if (ack === undefined) return 'no mail item acknowledged before the cut that the lab found';
  const image = readImageMailItems(images, { os: GUEST_OS[s.cell.os], apps: s.vm.apps, factories: s.factories });
  if (!image.ok) return `the simulator cannot read the image's mail items: ${image.error}`;
  const truth = image.value.items.get(ack.id);
  if (truth === undefined) return `the simulator's reading of the image has no item ${ack.id}, which the lab found`;
  const r = await s.engine.findMailItem(repo, run.pointId ?? '', { mailbox: truth.mailbox, itemId: truth.itemId, database: image.value.databaseName });
  return itemCheck(run, 'mail-item', `Exchange item ${truth.mailbox}/${truth.itemId}`, truth, r.ok ? ok(r.value.value) : r);
}

async function checkAdUser(s: Scenario, repo: string, run: PointRun, images: readonly SparseImage[], lab: ImageInspection): Promise<ItemRestoreCheck | string> {
  const cutUs = run.truth?.cutUs;
  const found = lab.apps.ntds?.committed;
  if (cutUs === undefined || found === undefined) return 'no cut or the lab did not open NTDS';
  const ack = latestFoundAck(s, 'ntds', cutUs, found);
  if (ack === undefined) return 'no directory change acknowledged before the cut that the lab found';
  const image = readImageAdUsers(images, { os: GUEST_OS[s.cell.os], apps: s.vm.apps, factories: s.factories });
  if (!image.ok) return `the simulator cannot read the image's users: ${image.error}`;
  const name = image.value.changes.get(ack.id);
  const truth = name === undefined ? undefined : image.value.users.get(name);
  if (name === undefined || truth === undefined) return `the simulator's reading of the image has no user written by change ${ack.id}, which the lab found`;
  const r = await s.engine.findAdUser(repo, run.pointId ?? '', name);
  return itemCheck(run, 'ad-user', `AD user ${name} (change ${ack.id})`, truth, r.ok ? ok(r.value.value) : r);
}

const ITEM_CHECKS: Readonly<Record<ItemKind, (s: Scenario, repo: string, run: PointRun, images: readonly SparseImage[], lab: ImageInspection) => Promise<ItemRestoreCheck | string>>> = {
  'sql-row': (s, repo, run, _images, lab) => checkSqlRow(s, repo, run, lab),
  'mail-item': checkMailItem,
  'ad-user': checkAdUser,
};

const STEP_BYTES = 1024 * 1024;

/** The last disk of a point, as the engine lists it (a one-line problem when it cannot). */
async function lastDisk(s: Scenario, repo: string, run: PointRun): Promise<PointDisk | string> {
  const opened = await s.engine.openPoint(repo, run.pointId ?? '');
  if (!opened.ok) return `opening the point: ${opened.error}`;
  await s.engine.closePoint(opened.value.point);
  return opened.value.disks.at(-1) ?? 'the point has no disk';
}

/** The point's last disk written by the engine's disk restore over a scratch VM's disk full of 0xa5, read back against the image. */
async function checkDisk(s: Scenario, repo: string, run: PointRun, images: readonly SparseImage[]): Promise<DiskRestoreCheck> {
  const at = (problem: string, bytesWritten = 0): DiskRestoreCheck => ({ pointIndex: run.index, problem, bytesWritten });
  const ref = images.at(-1);
  const disk = await lastDisk(s, repo, run);
  if (typeof disk === 'string') return at(disk);
  if (ref === undefined) return at('no disk to restore');
  // The harness's own scratch VM: made through the world's port, not the engine's.
  const port = s.tap.port;
  const vm = await port.createVm({ name: `disk-restore-${run.index}`, guestOs: s.cell.os, tools: s.cell.tools, apps: [], disks: [{ capacityBytes: disk.capacityBytes, sectorSizeBytes: ref.sectorSizeBytes }] });
  if (!vm.ok) return at(`scratch VM: ${vm.error.kind}`);
  const target = vm.value.disks[0];
  if (target === undefined) return at('the scratch VM has no disk');
  const garbage = new Uint8Array(STEP_BYTES).fill(0xa5);
  for (let pos = 0; pos < disk.capacityBytes; pos += STEP_BYTES) {
    const w = await port.writeDisk(vm.value.vmId, target.diskId, pos, garbage.subarray(0, Math.min(STEP_BYTES, disk.capacityBytes - pos)));
    if (!w.ok) return at(`filling the scratch disk: ${w.error.kind}`);
  }
  const r = await s.engine.restoreDisk({ port, clock: s.hv.sim.clock }, { repo, pointId: run.pointId ?? '', diskId: disk.diskId, target: { vmId: vm.value.vmId, diskId: target.diskId } });
  if (!r.ok) return at(`disk restore: ${typeof r.error === 'string' ? r.error : r.error.kind === 'port' ? `${r.error.during}: ${r.error.error.kind}` : r.error.reason}`);
  const restored = s.hv.vm(vm.value.vmId).disks[0]?.disk;
  if (restored === undefined) return at('the scratch disk is gone', r.value.bytesWritten);
  for (let pos = 0; pos < disk.capacityBytes; pos += STEP_BYTES) {
    const n = Math.min(STEP_BYTES, disk.capacityBytes - pos);
    const diff = firstDifference(restored.read(pos, n), ref.read(pos, n));
    if (diff >= 0) return at(`the restored disk differs from the VmSnapshot's image first at byte ${pos + diff}`, r.value.bytesWritten);
  }
  return { pointIndex: run.index, problem: null, bytesWritten: r.value.bytesWritten };
}

/** What property 16's restores need the engine to declare. */
export const FILE_ITEM_RESTORES: readonly Capability[] = ['restore-files', 'restore-disk', 'items.sql', 'items.mail', 'items.ad'];

/** Property 16's restores from the first and the last good point (see the header); null when no point was stored. */
export async function judgeFileItemRestores(s: Scenario, repo: string, points: readonly PointRun[]): Promise<FileItemRestoreRun | null> {
  const good = points.filter((p) => p.ok && p.pointId !== null);
  if (good.length === 0) return null;
  const chosen = [...new Set([good[0], good[good.length - 1]])] as PointRun[];
  const files: FileRestoreCheck[] = [];
  const items: ItemRestoreCheck[] = [];
  const disks: DiskRestoreCheck[] = [];
  const skipped: string[] = [];
  const itemsSkipped: string[] = [];
  const itemKinds = s.vm.apps.flatMap((a) => ITEM_KIND_OF_APP[a] ?? []);
  for (const run of chosen) {
    const images = s.tap.snapshotOf(run.index)?.images ?? null;
    const labVm = run.restored?.verdict.vm;
    if (images === null || labVm === undefined || compareLevels(labVm, 'crash') < 0) {
      skipped.push(`point ${run.index}: ${images === null ? 'no VmSnapshot image' : `the lab found it ${labVm ?? 'unread'}`}`);
      continue;
    }
    const lab = inspectImage(images, { os: GUEST_OS[s.cell.os], apps: s.vm.apps, factories: s.factories });
    files.push(await checkFiles(s, repo, run, images, lab));
    for (const kind of itemKinds) {
      const item = await ITEM_CHECKS[kind](s, repo, run, images, lab);
      if (typeof item === 'string') itemsSkipped.push(`point ${run.index}, ${kind}: ${item}`);
      else items.push(item);
    }
    if (disks.length === 0) disks.push(await checkDisk(s, repo, run, images));
  }
  s.note('restore', `file-level restore of ${FILES_DIR} from ${files.length} point(s): ${files.map((f) => `${f.equalFiles}/${f.labFiles} files equal`).join(', ')}${items.length === 0 ? '' : `; ${items.length} item restore(s): ${items.map((i) => `${i.what} ${i.error === null ? 'restored' : `failed: ${i.error}`}`).join(', ')}`}`);
  return { files, items, itemKinds, itemsSkipped, disks, skipped };
}
