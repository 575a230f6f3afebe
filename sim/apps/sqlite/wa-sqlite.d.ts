/**
 * Types for the two untyped JavaScript modules of @journeyapps/wa-sqlite this folder uses:
 * the non-Asyncify Emscripten build (dist/wa-sqlite.mjs) and the FacadeVFS base class
 * (src/FacadeVFS.js). Only what the guest VFS and the loader touch is declared; the
 * Emscripten module object is typed in wasm-loader.ts (SqliteModule).
 */

declare module '@journeyapps/wa-sqlite/dist/wa-sqlite.mjs' {
  /** Instantiates the module; `wasmBinary` avoids a fetch (which fails for file: URLs in Node). */
  export default function ModuleFactory(config: { readonly wasmBinary: Uint8Array }): Promise<object>;
}

declare module '@journeyapps/wa-sqlite/src/FacadeVFS.js' {
  /** The buffer argument of jRead/jWrite: a Uint8Array-like view of wasm memory (not a real one). */
  export interface WasmBytes {
    readonly byteLength: number;
    readonly length: number;
    /** A real Uint8Array view of wasm memory (valid until the memory grows). */
    subarray(begin?: number, end?: number): Uint8Array;
    /** A copy. */
    slice(start?: number, end?: number): Uint8Array;
    set(array: ArrayLike<number>, offset?: number): void;
    fill(value: number, start?: number, end?: number): void;
  }

  /** The pointer arguments (pOutFlags, pResOut, pSize): little-endian only. */
  export interface WasmValue {
    setInt32(byteOffset: number, value: number, littleEndian: true): void;
    getInt32(byteOffset: number, littleEndian: true): number;
    setBigInt64(byteOffset: number, value: bigint, littleEndian: true): void;
  }

  export class FacadeVFS {
    name: string;
    mxPathname: number;
    _module: object;
    constructor(name: string, module: object);
    hasAsyncMethod(methodName: string): boolean;
    jOpen(filename: string | null, pFile: number, flags: number, pOutFlags: WasmValue): number;
    jDelete(filename: string, syncDir: number): number;
    jAccess(filename: string, flags: number, pResOut: WasmValue): number;
    jClose(pFile: number): number;
    jRead(pFile: number, pData: WasmBytes, iOffset: number): number;
    jWrite(pFile: number, pData: WasmBytes, iOffset: number): number;
    jTruncate(pFile: number, size: number): number;
    jSync(pFile: number, flags: number): number;
    jFileSize(pFile: number, pSize: WasmValue): number;
    jLock(pFile: number, lockType: number): number;
    jUnlock(pFile: number, lockType: number): number;
    jSectorSize(pFile: number): number;
    jDeviceCharacteristics(pFile: number): number;
    xRead(pFile: number, pData: number, iAmt: number, iOffsetLo: number, iOffsetHi: number): number;
    xWrite(pFile: number, pData: number, iAmt: number, iOffsetLo: number, iOffsetHi: number): number;
    xRandomness(pVfs: number, nByte: number, pCharOut: number): number;
    xCurrentTimeInt64(pVfs: number, pTime: number): number;
  }
}
