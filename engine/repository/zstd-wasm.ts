/**
 * Zstandard through @foxglove/wasm-zstd 1.0.1: the reference C library compiled to
 * WebAssembly (emcc -O3), its `.wasm` shipped inside the npm package and read by the
 * package from node_modules when this module loads (nothing is fetched and nothing is
 * built at install, so it runs alike on Node 20-24 and on every platform). After that,
 * pure computation: one-shot `ZSTD_compress` at a level, `ZSTD_decompress` into a buffer
 * of the known raw length (a frame that decodes to more fails; to less, the caller sees
 * the short length).
 *
 * The version is pinned exactly in package.json: the compressed bytes of a level belong
 * to the library build, and the simulator's repositories must stay byte for byte
 * reproducible. Any zstd decodes any other's frames. zstd-pool.ts runs the same
 * package's `compress` on worker threads.
 */

import zstdWasm from '@foxglove/wasm-zstd';

export const ZSTD_PACKAGE = '@foxglove/wasm-zstd';

// The module is usable once its wasm is instantiated; every importer waits for that once.
await zstdWasm.isLoaded;

export function zstdCompress(raw: Uint8Array, level: number): Uint8Array {
  return zstdWasm.compress(raw, level);
}

/** Throws when the frame is damaged or decodes to more than `rawLengthBytes`. */
export function zstdDecompress(stored: Uint8Array, rawLengthBytes: number): Uint8Array {
  return zstdWasm.decompress(stored, Math.max(1, rawLengthBytes));
}
