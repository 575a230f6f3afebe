/**
 * Active Directory (NTDS) on a domain controller, its VSS writer, and the AdDomain: the
 * world-level replication partner and RID master that outlives any one DC VM. A scenario
 * builds one AdDomain and hands `ntdsAppFactory(domain)` to the hypervisor.
 */

import type { AppFactory } from '../types.js';
import type { AdDomain } from './ad-domain.js';
import { NtdsApp, type NtdsOptions } from './ntds-app.js';

export {
  AdDomain, supersedes, type AdDomainOptions, type DivergentChange, type DuplicateRid, type PartnerObject, type ReplicatedObject,
  type ReplicationPeer, type ReplicationReport, type RidRange, type RollbackDetection, type Stamp,
} from './ad-domain.js';
export {
  NtdsApp, NTDS_DIR, NTDS_EVENTS, NTDS_LAYOUT, NTDS_MARKER_NAME, NTDS_MARKER_PATH, parseDsa, parseObject,
  type DsaRecord, type NtdsError, type NtdsOptions, type StoredObject,
} from './ntds-app.js';
export { NtdsWriter, NTDS_WRITER_NAME } from './ntds-writer.js';

/** A factory for domain controllers of `domain`. */
export function ntdsAppFactory(domain: AdDomain, options: NtdsOptions = {}): AppFactory {
  return (host) => new NtdsApp(host, domain, options);
}
