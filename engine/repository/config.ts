/**
 * The repository's config object (`config`): what every writer must agree on to produce
 * chunks that deduplicate (chunker parameters and gear seed, zero-run rule), the pack
 * size and the compression. Written once by `Repository.init`.
 *
 * Bytes: the config as one line of JSON, a newline, the SHA-256 of that line's bytes in
 * hex, a newline. Any changed byte breaks the hash or the layout.
 *
 * Versions: 1 is a brotli repository (`"compression":"brotli","brotliQuality":q`); 2 a
 * zstd one (`"compression":"zstd","zstdLevel":l`; its packs and index files also name the
 * zstd code). A reader that knows only version 1 refuses a version 2 repository by its
 * version instead of failing on its first blob. Both are read and written.
 */

import { assert } from '../../core/assert.js';
import type { TimeUs } from '../../core/clock.js';
import { err, ok, type Result } from '../../core/result.js';
import { checkChunkerParams, type ChunkerParams } from './chunker.js';
import { LEVEL_RANGE, type CodecSettings } from './compression.js';
import { isHashHex, sha256Hex } from './hash.js';
import type { ZeroParams } from './stream-chunker.js';

export const CONFIG_NAME = 'config';

interface ConfigCommon {
  readonly format: 'quiescelab-repository';
  readonly chunker: ChunkerParams;
  readonly zero: ZeroParams;
  /** A pack is written once its blobs reach this size (the last one of a commit is smaller). */
  readonly packTargetBytes: number;
  readonly createdAtUs: TimeUs;
}

export type RepositoryConfig = ConfigCommon & (
  /** Brotli quality 0..11 (1: fast; 4: ~13% smaller text at a third of the speed). */
  | { readonly version: 1; readonly compression: 'brotli'; readonly brotliQuality: number }
  /** zstd level 1..19 (4: the default). */
  | { readonly version: 2; readonly compression: 'zstd'; readonly zstdLevel: number }
);

/** A new config; its JSON keys keep the order of version 1 (a brotli config's bytes are those of before zstd). */
export function makeConfig(settings: CodecSettings, common: Omit<ConfigCommon, 'format'>): RepositoryConfig {
  const { chunker, zero, packTargetBytes, createdAtUs } = common;
  const format = 'quiescelab-repository';
  return settings.codec === 'brotli'
    ? { format, version: 1, chunker, zero, compression: 'brotli', brotliQuality: settings.level, packTargetBytes, createdAtUs }
    : { format, version: 2, chunker, zero, compression: 'zstd', zstdLevel: settings.level, packTargetBytes, createdAtUs };
}

export function codecOf(config: RepositoryConfig): CodecSettings {
  return config.compression === 'brotli' ? { codec: 'brotli', level: config.brotliQuality } : { codec: 'zstd', level: config.zstdLevel };
}

/**
 * Defaults for disk images (engine/README.md has the measurements): chunks of 256 KiB to
 * 4 MiB around a 1 MiB normalised average, zero runs of 64 KiB or more left out, 16 MiB packs.
 */
export const DEFAULT_CHUNKER: ChunkerParams = { minBytes: 256 * 1024, avgBytes: 1024 * 1024, maxBytes: 4 * 1024 * 1024, gearSeed: 0x51_4c_43_44 };
export const DEFAULT_ZERO: ZeroParams = { zeroBlockBytes: 4096, zeroRunMinBytes: 64 * 1024 };
export const DEFAULT_PACK_TARGET_BYTES = 16 * 1024 * 1024;
export const PACK_TARGET_MAX_BYTES = 1024 * 1024 * 1024;

export function checkConfig(config: RepositoryConfig): void {
  checkChunkerParams(config.chunker);
  assert(config.zero.zeroBlockBytes >= 512 && config.zero.zeroBlockBytes <= 65536
    && config.zero.zeroRunMinBytes >= config.zero.zeroBlockBytes && config.zero.zeroRunMinBytes % config.zero.zeroBlockBytes === 0, 'bad zero-run parameters');
  assert(Number.isSafeInteger(config.packTargetBytes) && config.packTargetBytes >= 1024 && config.packTargetBytes <= PACK_TARGET_MAX_BYTES, 'bad packTargetBytes');
  assert(config.chunker.maxBytes <= config.packTargetBytes * 4, 'a chunk must fit a pack comfortably');
  const { codec, level } = codecOf(config);
  const [min, max] = LEVEL_RANGE[codec];
  assert(Number.isSafeInteger(level) && level >= min && level <= max, `${codec === 'brotli' ? 'brotliQuality' : 'zstdLevel'} must be ${min}..${max}`);
}

export function encodeConfig(config: RepositoryConfig): Uint8Array {
  checkConfig(config);
  const line = JSON.stringify(config);
  return new TextEncoder().encode(`${line}\n${sha256Hex(new TextEncoder().encode(line))}\n`);
}

export function decodeConfig(bytes: Uint8Array): Result<RepositoryConfig, string> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return err('not UTF-8');
  }
  const parts = text.split('\n');
  if (parts.length !== 3 || parts[2] !== '' || parts[0] === undefined || parts[1] === undefined) return err('not two lines');
  if (!isHashHex(parts[1])) return err('no checksum line');
  if (sha256Hex(new TextEncoder().encode(parts[0])) !== parts[1]) return err('checksum mismatch');
  let value: unknown;
  try {
    value = JSON.parse(parts[0]);
  } catch {
    return err('not JSON');
  }
  const c = value as Partial<RepositoryConfig> | null;
  if (c === null || typeof c !== 'object' || c.format !== 'quiescelab-repository') return err('not a quiescelab repository config');
  if (c.version !== 1 && c.version !== 2) return err(`unsupported version ${String(c.version)}`);
  const expected = c.version === 1 ? 'brotli' : 'zstd';
  if (c.compression !== expected) return err(`unsupported compression ${String(c.compression)} in a version ${c.version} config`);
  try {
    checkConfig(c as RepositoryConfig);
  } catch (error) {
    return err(error instanceof Error ? error.message : String(error));
  }
  return ok(c as RepositoryConfig);
}
