/**
 * An engine served in this process over in-memory streams: the whole protocol (framing,
 * encoding, references, callbacks) without a child process. For tests and for measuring
 * the protocol's cost apart from a process's.
 */

import { PassThrough } from 'node:stream';
import type { Engine } from '../../scenarios/engine-api.js';
import type { EngineExit, EngineTransport } from './process.js';
import { serveEngine, type ServeOptions } from './server.js';

/** A transport factory: each call serves `engine` on a fresh pair of streams. */
export function memoryTransport(engine: Engine, options: ServeOptions = {}): () => EngineTransport {
  return () => {
    const toEngine = new PassThrough();
    const toHarness = new PassThrough();
    const served = serveEngine(engine, toEngine, toHarness, options);
    return {
      input: toHarness,
      output: toEngine,
      exited: new Promise<EngineExit>(() => undefined),
      kill: () => {
        toEngine.destroy();
        toHarness.destroy();
      },
      log: () => '',
      close: async () => {
        toEngine.end();
        await served.done;
      },
    };
  };
}
