/**
 * The layer rules of DESIGN.md as data, and a checker that reads import lines. Kept apart
 * from the test so the test can also prove the checker catches a violation.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export const LAYERS = ['core', 'sim', 'engine', 'scenarios', 'reports', 'cli'] as const;
export type Layer = (typeof LAYERS)[number];

/** Which top folders each layer may import from (itself included). */
export const ALLOWED: Record<Layer, readonly Layer[]> = {
  core: ['core'],
  sim: ['core', 'sim'],
  engine: ['core', 'engine'],
  scenarios: ['core', 'sim', 'engine', 'scenarios'],
  reports: ['core', 'reports'],
  cli: ['core', 'sim', 'engine', 'scenarios', 'reports', 'cli'],
};

export const DETERMINISTIC: readonly Layer[] = ['core', 'sim', 'engine', 'scenarios'];

/** Node built-ins that do real I/O or read real time; banned in deterministic layers. */
const IO_MODULES = /^(node:)?(fs|fs\/promises|net|http|https|http2|child_process|worker_threads|dgram|dns|tls|os|readline|timers|timers\/promises|perf_hooks|cluster|process)$/;

/** Files allowed to do real I/O: the named adapters of DESIGN.md (each has an in-memory twin). */
export const IO_ADAPTERS: readonly string[] = [
  // Reads the SQLite wasm binary from node_modules once per process (nothing is fetched).
  'sim/apps/sqlite/wasm-loader.ts',
  // The repository's local-directory store (atomic publish with fsync); twin: engine/store/memory-store.ts.
  'engine/store/local-dir-store.ts',
  // File-level restore into a real directory; twin: MemoryFileWriter in engine/restore/file-writer.ts.
  'engine/restore/file-writer-local.ts',
  // zstd's wasm, read from node_modules by its package once per process when the module loads (nothing is fetched).
  'engine/repository/zstd-wasm.ts',
  // SHA-256, CRC32 and zstd on worker threads (each loads the same wasm); twins: sha256Hex, crc32 and zstdCompress in the calling thread, the same bytes.
  'engine/repository/chunk-workers.ts',
];

const BANNED_CALLS: readonly [RegExp, string][] = [
  [/\bMath\.random\s*\(/, 'Math.random'],
  [/\bDate\.now\s*\(/, 'Date.now'],
  [/\bnew Date\s*\(\s*\)/, 'new Date()'],
  [/\bsetTimeout\s*\(/, 'setTimeout'],
  [/\bsetInterval\s*\(/, 'setInterval'],
  [/\bsetImmediate\s*\(/, 'setImmediate'],
  [/\bperformance\.now\s*\(/, 'performance.now'],
  [/\bprocess\.hrtime\b/, 'process.hrtime'],
];

export interface SourceFile {
  /** Path relative to the repository root, with '/' separators. */
  readonly path: string;
  readonly text: string;
}

export interface Violation {
  readonly path: string;
  readonly line: number;
  readonly message: string;
}

const IMPORT_RE = /(?:^|\s|;)(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\s|;)import\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;

export function layerOf(path: string): Layer | undefined {
  const top = path.split('/')[0];
  return (LAYERS as readonly string[]).includes(top ?? '') ? (top as Layer) : undefined;
}

/** Strips comments so an import named in a comment does not count. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

export function checkFiles(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    const layer = layerOf(file.path);
    if (layer === undefined) continue;
    const lines = stripComments(file.text).split('\n');
    lines.forEach((lineText, index) => {
      const line = index + 1;
      for (const match of lineText.matchAll(IMPORT_RE)) {
        const spec = match[1] ?? match[2] ?? match[3];
        if (spec === undefined) continue;
        if (spec.startsWith('.')) {
          const target = relative('.', join(dirname(file.path), spec)).split(sep).join('/');
          const targetLayer = layerOf(target);
          if (target.startsWith('..') || targetLayer === undefined) {
            violations.push({ path: file.path, line, message: `imports '${spec}' outside the layers` });
          } else if (targetLayer === 'cli' && layer !== 'cli') {
            violations.push({ path: file.path, line, message: `imports cli/ ('${spec}'): nothing imports cli` });
          } else if (!ALLOWED[layer].includes(targetLayer)) {
            violations.push({ path: file.path, line, message: `${layer}/ may not import ${targetLayer}/ ('${spec}')` });
          }
        } else if (DETERMINISTIC.includes(layer) && IO_MODULES.test(spec) && !IO_ADAPTERS.includes(file.path)) {
          violations.push({ path: file.path, line, message: `deterministic layer imports '${spec}' (real I/O or time)` });
        }
      }
      if (DETERMINISTIC.includes(layer)) {
        for (const [re, name] of BANNED_CALLS) {
          if (re.test(lineText)) violations.push({ path: file.path, line, message: `deterministic layer uses ${name}` });
        }
      }
    });
  }
  return violations;
}

/** Every .ts file below the layer folders of `root`. */
export function readSourceTree(root: string): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 20) throw new Error(`folder nesting too deep at ${dir}`);
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full, depth + 1);
      else if (name.endsWith('.ts')) out.push({ path: relative(root, full).split(sep).join('/'), text: readFileSync(full, 'utf8') });
    }
  };
  for (const layer of LAYERS) {
    const dir = resolve(root, layer);
    try {
      if (statSync(dir).isDirectory()) walk(dir, 0);
    } catch {
      // a layer folder that does not exist yet has nothing to check
    }
  }
  return out;
}
