/**
 * The guest catalogs: every guest OS and VMware Tools generation of the consistency matrix
 * with the facts the simulator acts on, and the applications a guest can run.
 *
 * `toolsQuiescer` is what the simulated Tools do for a VM (which in-guest quiescer runs
 * and how far it can go); it is the simulator's behaviour, written from seed 004 and the
 * notes. The harness's oracle (scenarios/) is a separate table with its own citations, so a
 * mistake here shows up as a mismatch rather than agreeing with itself.
 *
 * Linux guests differ by kernel (fact 5): open-vm-tools uses FIFREEZE where the kernel has
 * it, else the vmsync module, else the sync-only null driver; `LinuxFreezeSupport` is that
 * knob (FIFREEZE by default).
 *
 * Leaves out: Windows Storage Spaces (fact 2 lists it with dynamic disks: model it as a
 * dynamic disk), Tools versions between the three generations.
 */

import type { AppId, DiskController, GuestOsId, Quiescer, QuiesceMode, ToolsId, VmFlags } from '../../core/hypervisor-port.js';
import { LINUX_WRITEBACK, WINDOWS_WRITEBACK, type WritebackPolicy } from './writeback-policy.js';

export type OsFamily = 'windows' | 'linux' | 'other';

export interface GuestOsFacts {
  readonly id: GuestOsId;
  readonly name: string;
  readonly family: OsFamily;
  readonly bits: 32 | 64;
  /** A server edition (runs Exchange and Active Directory). */
  readonly server: boolean;
  /**
   * VSS that VMware's VSS component can drive. XP has a VSS service, but Tools quiesce XP
   * with the SYNC driver (seed 004's row for XP), so it counts as false here.
   */
  readonly vss: boolean;
  /** The LGTO SYNC driver can be installed (32-bit Windows up to 2003; seed 004). */
  readonly syncDriver: boolean;
  /** Application quiescing of 2008 and later needs the conditions of notes fact 2. */
  readonly appQuiesceNeedsConditions: boolean;
  /** The guest honours VM-GenerationID (Server 2012 and later; notes fact 16). */
  readonly vmGenerationId: boolean;
  readonly fileSystem: 'NTFS' | 'ext4' | 'unknown';
  readonly writeback: WritebackPolicy;
}

function windows(id: GuestOsId, name: string, o: { bits: 32 | 64; server: boolean; vss: boolean; syncDriver: boolean; modern: boolean; genId: boolean }): GuestOsFacts {
  return {
    id, name, family: 'windows', bits: o.bits, server: o.server, vss: o.vss, syncDriver: o.syncDriver,
    appQuiesceNeedsConditions: o.modern, vmGenerationId: o.genId, fileSystem: 'NTFS', writeback: WINDOWS_WRITEBACK,
  };
}

export const GUEST_OS: Readonly<Record<GuestOsId, GuestOsFacts>> = {
  'win2000': windows('win2000', 'Windows 2000 32-bit', { bits: 32, server: true, vss: false, syncDriver: true, modern: false, genId: false }),
  'winxp': windows('winxp', 'Windows XP 32-bit', { bits: 32, server: false, vss: false, syncDriver: true, modern: false, genId: false }),
  'win2003-x86': windows('win2003-x86', 'Windows Server 2003 32-bit', { bits: 32, server: true, vss: true, syncDriver: true, modern: false, genId: false }),
  'win2003-x64': windows('win2003-x64', 'Windows Server 2003 64-bit', { bits: 64, server: true, vss: true, syncDriver: false, modern: false, genId: false }),
  'vista-x86': windows('vista-x86', 'Windows Vista 32-bit', { bits: 32, server: false, vss: true, syncDriver: false, modern: false, genId: false }),
  'vista-x64': windows('vista-x64', 'Windows Vista 64-bit', { bits: 64, server: false, vss: true, syncDriver: false, modern: false, genId: false }),
  'win2008-x86': windows('win2008-x86', 'Windows Server 2008 32-bit', { bits: 32, server: true, vss: true, syncDriver: false, modern: true, genId: false }),
  'win2008-x64': windows('win2008-x64', 'Windows Server 2008 64-bit', { bits: 64, server: true, vss: true, syncDriver: false, modern: true, genId: false }),
  'win2008r2': windows('win2008r2', 'Windows Server 2008 R2', { bits: 64, server: true, vss: true, syncDriver: false, modern: true, genId: false }),
  'win2012': windows('win2012', 'Windows Server 2012', { bits: 64, server: true, vss: true, syncDriver: false, modern: true, genId: true }),
  'win2016': windows('win2016', 'Windows Server 2016', { bits: 64, server: true, vss: true, syncDriver: false, modern: true, genId: true }),
  'win2019': windows('win2019', 'Windows Server 2019', { bits: 64, server: true, vss: true, syncDriver: false, modern: true, genId: true }),
  'win2022': windows('win2022', 'Windows Server 2022', { bits: 64, server: true, vss: true, syncDriver: false, modern: true, genId: true }),
  'linux': {
    id: 'linux', name: 'Linux (ext4, open-vm-tools)', family: 'linux', bits: 64, server: true, vss: false, syncDriver: false,
    appQuiesceNeedsConditions: false, vmGenerationId: false, fileSystem: 'ext4', writeback: LINUX_WRITEBACK,
  },
  'other': {
    id: 'other', name: 'Other guest OS (no quiescing support)', family: 'other', bits: 64, server: false, vss: false, syncDriver: false,
    appQuiesceNeedsConditions: false, vmGenerationId: false, fileSystem: 'unknown', writeback: LINUX_WRITEBACK,
  },
};

export interface ToolsFacts {
  readonly id: ToolsId;
  readonly name: string;
  /** VMware's VSS component quiesces Windows guests that have VSS (from 3.5 U2; fact 1). */
  readonly vssComponent: boolean;
  /** Application quiescing of 2008 and later (4.1 and later, under fact 2's conditions). */
  readonly appQuiesce2008: boolean;
  /** The Linux quiescer these Tools use (fact 5). */
  readonly linuxQuiescer: Quiescer;
  /** backupScripts.d and the legacy pre-freeze / post-thaw scripts run (fact 6). */
  readonly linuxScripts: boolean;
  /** Guest OSes these Tools do not support at all (seed 004's "—" cells). */
  readonly unsupported: readonly GuestOsId[];
}

const MODERN_WINDOWS: readonly GuestOsId[] = ['win2008r2', 'win2012', 'win2016', 'win2019', 'win2022'];

export const TOOLS: Readonly<Record<ToolsId, ToolsFacts>> = {
  esx35u1: {
    id: 'esx35u1', name: 'VMware Tools of ESX 3.5 U1 or earlier', vssComponent: false, appQuiesce2008: false,
    linuxQuiescer: 'none', linuxScripts: false, unsupported: MODERN_WINDOWS,
  },
  esx35u2: {
    id: 'esx35u2', name: 'VMware Tools of ESX 3.5 U2 to 4.0', vssComponent: true, appQuiesce2008: false,
    linuxQuiescer: 'sync-only', linuxScripts: false, unsupported: MODERN_WINDOWS,
  },
  esx41: {
    id: 'esx41', name: 'VMware Tools of ESX 4.1 and later', vssComponent: true, appQuiesce2008: true,
    linuxQuiescer: 'fifreeze', linuxScripts: true, unsupported: [],
  },
};

export interface AppFacts {
  readonly id: AppId;
  readonly name: string;
  /** The VSS writer's name, when the app has one (it runs only on a VSS guest). */
  readonly writerName: string | null;
  readonly supports: (os: GuestOsFacts) => boolean;
  readonly note: string;
}

export const APPS: Readonly<Record<AppId, AppFacts>> = {
  sqlite: { id: 'sqlite', name: 'SQLite (real, wasm)', writerName: null, supports: () => true, note: 'no VSS writer; on Linux a freeze script can make it application-consistent' },
  sqlserver: { id: 'sqlserver', name: 'SQL Server (model)', writerName: 'SqlServerWriter', supports: (os) => os.family === 'windows' || os.family === 'linux', note: 'SQL writer on VSS guests; SQL Server on Linux has no VSS' },
  exchange: { id: 'exchange', name: 'Exchange (ESE model)', writerName: 'Microsoft Exchange Writer', supports: (os) => os.family === 'windows' && os.server, note: 'Windows Server only' },
  ntds: { id: 'ntds', name: 'Active Directory (NTDS model)', writerName: 'NTDS', supports: (os) => os.family === 'windows' && os.server, note: 'a domain controller: Windows Server only' },
  files: { id: 'files', name: 'Plain files', writerName: null, supports: () => true, note: 'buffered writes with occasional fsync; no writer' },
};

export interface DiskLayout {
  readonly controller: DiskController;
  readonly dynamic: boolean;
}

/** What the Linux guest's kernel offers a freeze driver (fact 5). */
export type LinuxFreezeSupport = 'fifreeze' | 'vmsync' | 'none';

export interface ToolsQuiescePlan {
  readonly quiescer: Quiescer;
  /** The best mode Tools will try for. */
  readonly maxMode: QuiesceMode;
  /** VSS with writers (application quiescing) rather than file-system-only VSS. */
  readonly vssWriters: boolean;
  /** Why the mode is not application (null when it is). */
  readonly limitedBy: string | null;
}

/** Whether these Tools support this guest at all; the reason when they do not. */
export function toolsSupport(os: GuestOsId, tools: ToolsId): string | null {
  return TOOLS[tools].unsupported.includes(os) ? `${TOOLS[tools].name} do not support ${GUEST_OS[os].name}` : null;
}

/** What the simulated Tools do when asked to quiesce this VM (see the header). */
export function toolsQuiescer(osId: GuestOsId, toolsId: ToolsId, flags: VmFlags, disks: readonly DiskLayout[], linuxFreeze: LinuxFreezeSupport = 'fifreeze'): ToolsQuiescePlan {
  const os = GUEST_OS[osId];
  const tools = TOOLS[toolsId];
  if (os.family === 'other') return { quiescer: 'none', maxMode: 'none', vssWriters: false, limitedBy: 'Tools cannot quiesce this guest OS' };
  if (os.family === 'linux') {
    let quiescer = tools.linuxQuiescer;
    if (quiescer === 'fifreeze' && linuxFreeze !== 'fifreeze') quiescer = linuxFreeze === 'vmsync' ? 'vmsync' : 'sync-only';
    if (quiescer === 'none') return { quiescer, maxMode: 'none', vssWriters: false, limitedBy: `${tools.name} have no Linux quiescer` };
    return { quiescer, maxMode: 'filesystem', vssWriters: false, limitedBy: 'Linux has no VSS: applications only through freeze scripts' };
  }
  if (!(tools.vssComponent && os.vss)) {
    if (os.syncDriver) return { quiescer: 'sync-driver', maxMode: 'filesystem', vssWriters: false, limitedBy: 'the SYNC driver quiesces the file system only' };
    return { quiescer: 'none', maxMode: 'none', vssWriters: false, limitedBy: `${tools.name} have no quiescer for ${os.name}` };
  }
  const fsOnly = (why: string): ToolsQuiescePlan => ({ quiescer: 'vss', maxMode: 'filesystem', vssWriters: false, limitedBy: why });
  if (flags.disableAppQuiescing) return fsOnly('vss.disableAppQuiescing is set');
  if (os.appQuiesceNeedsConditions) {
    if (!tools.appQuiesce2008) return fsOnly(`application quiescing of ${os.name} needs Tools of ESX 4.1 or later`);
    if (!flags.enableUuid) return fsOnly('disk.EnableUUID is not TRUE');
    if (flags.encrypted) return fsOnly('the VM is encrypted');
    if (disks.some((d) => d.controller === 'ide')) return fsOnly('an IDE disk disables application quiescing');
    if (disks.some((d) => d.dynamic)) return fsOnly('a dynamic disk disables application quiescing');
  } else if (os.id === 'vista-x86' || os.id === 'vista-x64') {
    return fsOnly('Tools quiesce Vista through VSS at file-system level only');
  }
  return { quiescer: 'vss', maxMode: 'application', vssWriters: true, limitedBy: null };
}
