/**
 * The nemesis of the backup scenarios: one entry per fault kind a spec can draw
 * (scenarios/scenario/spec.ts, FaultPlan), each a set of steps in Jepsen's manner —
 * what the world needs at boot, when in the warm-up it strikes, inject, heal, describe —
 * instead of an if/else chain per step in the scenario. The scenario (run.ts) calls the
 * entry of its spec's fault at each step; a new fault kind is one more entry here (and a
 * case of FaultPlan), nothing else.
 *
 * Kinds: none; a VSS writer failing a phase; the provider commit past the 10 s hold; a
 * freeze script that exits 1 or hangs; a host power loss with an honest or lying disk
 * cache. Where each fault lives in the world: sim/faults/README.md.
 *
 * Heal: a quiesce fault lasts through the scenario's backups and is healed after them (the
 * VM quiesces normally again for whatever follows, e.g. the repository suite's extra
 * backup); a power loss heals itself in the warm-up (the VM is powered on again, the apps
 * restart), and what it cost is judged from then on.
 *
 * Leaves out: faults of the logs suite (chain breaks and the slow log backup: their own
 * registry, logs.ts beside this one) and of the repository suite (a crash at a store call, a flipped byte: repository-suite.ts),
 * which act on the engine's log chain and storage rather than on the VM.
 */

import type { TimeUs } from '../../core/clock.js';
import type { AppId } from '../../core/hypervisor-port.js';
import type { VmId } from '../../core/ids.js';
import { SCRIPTS_DIR, type GuestScript } from '../../sim/guest/quiesce/scripts.js';
import type { SimHypervisor } from '../../sim/hypervisor/sim-hypervisor.js';
import type { Cell } from '../cells.js';
import type { FaultPlan } from '../scenario/spec.js';

/** What a fault acts on and reports to: the scenario's world (run.ts's Scenario). */
export interface NemesisTarget {
  readonly hv: SimHypervisor;
  readonly vmId: VmId;
  readonly cell: Cell;
  readonly scripts: readonly GuestScript[];
  note(kind: 'fault' | 'power-loss', detail: string): void;
  /** Records the writes acknowledged so far on the timeline. */
  noteWrites(): void;
  /** After a power loss: powers the VM on again, books what the crash lost, restarts the apps; false when the guest did not come back. */
  recoverFromPowerLoss(): Promise<boolean>;
}

type Of<K extends FaultPlan['kind']> = Extract<FaultPlan, { readonly kind: K }>;

export interface Nemesis<F extends FaultPlan> {
  /** What the world needs at boot for this fault: extra guest scripts, a disk cache that lies about flush. */
  boot(fault: F): { readonly scripts: readonly GuestScript[]; readonly lyingCache: boolean };
  /** When in the warm-up of `warmupUs` it strikes (the warm-up's end: before the first backup). */
  strikesAtUs(fault: F, warmupUs: TimeUs): TimeUs;
  /** Brings the fault on; `restUs` of warm-up remain, which a fault that disrupts the VM runs itself. */
  inject(target: NemesisTarget, fault: F, restUs: TimeUs): Promise<void>;
  /** Takes it away again, once the scenario's backups are done. */
  heal(target: NemesisTarget, fault: F): void;
  describe(fault: F): string;
}

/** The VSS writer of each app that has one: the writer a `writer` fault strikes. */
export const WRITER_OF: Partial<Record<AppId, string>> = { sqlserver: 'SqlServerWriter', exchange: 'Microsoft Exchange Writer', ntds: 'NTDS' };
export const FAULT_SCRIPT_PATH = `${SCRIPTS_DIR}/10-fault`;
/** Beyond the 10 s VSS commit hold. */
const COMMIT_TIMEOUT_US = 11_000_000;

const QUIET_BOOT = { scripts: [], lyingCache: false } as const;
const atWarmupEnd = (_fault: FaultPlan, warmupUs: TimeUs): TimeUs => warmupUs;
const clearQuiesceFaults = (target: NemesisTarget): void => { target.hv.setQuiesceFaults(target.vmId, {}); };

const NONE: Nemesis<Of<'none'>> = {
  boot: () => QUIET_BOOT, strikesAtUs: atWarmupEnd, inject: () => Promise.resolve(), heal: () => undefined, describe: () => 'none',
};

const WRITER: Nemesis<Of<'writer'>> = {
  boot: () => QUIET_BOOT,
  strikesAtUs: atWarmupEnd,
  inject(target, fault) {
    const writer = WRITER_OF[target.cell.app];
    if (writer !== undefined) target.hv.setQuiesceFaults(target.vmId, { writers: { [writer]: { phase: fault.phase, error: fault.error } } });
    target.note('fault', `writer ${writer ?? '(none in this cell)'} fails ${fault.phase} with ${fault.error}`);
    return Promise.resolve();
  },
  heal: clearQuiesceFaults,
  describe: (fault) => `writer:${fault.phase}:${fault.error}`,
};

const COMMIT_TIMEOUT: Nemesis<Of<'commit-timeout'>> = {
  boot: () => QUIET_BOOT,
  strikesAtUs: atWarmupEnd,
  inject(target) {
    target.hv.setQuiesceFaults(target.vmId, { snapshotCommitUs: COMMIT_TIMEOUT_US });
    target.note('fault', 'the snapshot commit takes 11 s, past the 10 s VSS hold');
    return Promise.resolve();
  },
  heal: clearQuiesceFaults,
  describe: () => 'commit-timeout',
};

const SCRIPT: Nemesis<Of<'script'>> = {
  boot: (fault) => ({
    scripts: [{ path: FAULT_SCRIPT_PATH, on: { freeze: fault.failure === 'exit' ? { exitCode: 1, durationUs: 50_000 } : { hang: true } } }],
    lyingCache: false,
  }),
  strikesAtUs: atWarmupEnd,
  inject(target, fault) {
    target.note('fault', `guest script ${FAULT_SCRIPT_PATH} ${fault.failure === 'exit' ? 'exits 1 on freeze' : 'hangs on freeze'}`);
    return Promise.resolve();
  },
  heal(target) { target.hv.installScripts(target.vmId, target.scripts.filter((s) => s.path !== FAULT_SCRIPT_PATH)); },
  describe: (fault) => `script-${fault.failure}`,
};

const POWER_LOSS: Nemesis<Of<'power-loss'>> = {
  boot: (fault) => ({ scripts: [], lyingCache: fault.lyingCache }),
  strikesAtUs: (fault, warmupUs) => Math.min(fault.atMs * 1000, warmupUs),
  async inject(target, fault, restUs) {
    target.noteWrites();
    target.hv.powerLossHost();
    target.note('power-loss', `the host loses power; the disk cache ${fault.lyingCache ? 'had lied about flush' : 'was honest'}`);
    await target.recoverFromPowerLoss();
    target.hv.runFor(restUs);
  },
  // Healed in the warm-up: the VM was powered on again (recoverFromPowerLoss).
  heal: () => undefined,
  describe: (fault) => `power-loss@${fault.atMs}${fault.lyingCache ? ':lying' : ''}`,
};

const NEMESES: { readonly [K in FaultPlan['kind']]: Nemesis<Of<K>> } = {
  'none': NONE, 'writer': WRITER, 'commit-timeout': COMMIT_TIMEOUT, 'script': SCRIPT, 'power-loss': POWER_LOSS,
};

/** The nemesis entry of a fault. */
export function nemesisOf<F extends FaultPlan>(fault: F): Nemesis<F> {
  return NEMESES[fault.kind] as unknown as Nemesis<F>;
}
