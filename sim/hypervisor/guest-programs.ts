/**
 * Programs every simulated guest has, for guest operations: `cat VOLUME PATH` prints a
 * file, `ls VOLUME PATH` lists a directory, `sync` flushes every volume. VOLUME is the
 * volume's index (the disk's position, 0 = system disk). Applications add their own
 * (`sqlcmd`, `eseutil`, ...). A program's duration is its modelled I/O at 200 MB/s.
 */

import type { GuestProgramResult } from '../../core/hypervisor-port.js';
import type { GuestProgram } from '../apps/types.js';
import type { FileSystem } from '../guest/file-system.js';

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

function fail(stderr: string, exitCode = 1): GuestProgramResult {
  return { exitCode, stdout: EMPTY, stderr, durationUs: 0 };
}

function volumeOf(volumes: readonly FileSystem[], arg: string | undefined): FileSystem | string {
  const index = Number(arg);
  if (arg === undefined || !Number.isInteger(index) || index < 0) return `bad volume '${String(arg)}': give the disk index`;
  return volumes[index] ?? `no volume ${index}`;
}

export function builtinProgram(name: string, volumes: readonly FileSystem[]): GuestProgram | undefined {
  switch (name) {
    case 'cat':
      return (args) => {
        const fs = volumeOf(volumes, args[0]);
        if (typeof fs === 'string') return fail(`cat: ${fs}`, 2);
        const path = args[1] ?? '';
        const handle = fs.open(path);
        if (!handle.ok) return fail(`cat: ${path}: ${handle.error.kind}`);
        const size = fs.size(handle.value);
        const bytes = size.ok ? fs.read(handle.value, 0, size.value) : size;
        fs.close(handle.value);
        if (!bytes.ok) return fail(`cat: ${path}: ${bytes.error.kind}`);
        return { exitCode: 0, stdout: bytes.value, stderr: '', durationUs: 100 + Math.ceil(bytes.value.length / 200) };
      };
    case 'ls':
      return (args) => {
        const fs = volumeOf(volumes, args[0]);
        if (typeof fs === 'string') return fail(`ls: ${fs}`, 2);
        const listed = fs.readdir(args[1] ?? '/');
        if (!listed.ok) return fail(`ls: ${args[1] ?? '/'}: ${listed.error.kind}`);
        return { exitCode: 0, stdout: encoder.encode(listed.value.join('\n')), stderr: '', durationUs: 100 };
      };
    case 'sync':
      return () => {
        let dirty = 0;
        for (const fs of volumes) {
          dirty += fs.stats().dirtyBytes;
          const r = fs.sync();
          if (!r.ok) return fail(`sync: ${r.error.kind}`);
        }
        return { exitCode: 0, stdout: EMPTY, stderr: '', durationUs: 100 + Math.ceil(dirty / 200) };
      };
    default:
      return undefined;
  }
}
