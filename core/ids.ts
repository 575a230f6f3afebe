/**
 * Branded ids: strings that the type checker keeps apart, so a DiskId is never passed
 * where a SnapshotId is expected. Brand at the edge (catalog, CLI), pass around freely.
 */

declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type VmId = Brand<string, 'VmId'>;
export type HostId = Brand<string, 'HostId'>;
export type DiskId = Brand<string, 'DiskId'>;
export type SnapshotId = Brand<string, 'SnapshotId'>;
/** A changed-block-tracking change id: `<epoch>/<sequence>`, as vSphere prints them. */
export type ChangeId = Brand<string, 'ChangeId'>;
export type FileId = Brand<number, 'FileId'>;

export const VmId = (s: string): VmId => s as VmId;
export const HostId = (s: string): HostId => s as HostId;
export const DiskId = (s: string): DiskId => s as DiskId;
export const SnapshotId = (s: string): SnapshotId => s as SnapshotId;
export const ChangeId = (s: string): ChangeId => s as ChangeId;
