/**
 * A HypervisorPort that passes every call through to another, except the calls given:
 * how the harness's taps sit below an engine, how mutants sit above it, and how an engine
 * hands one of its jobs a port with a call answered differently (engine/backup/group.ts).
 */

import type { HypervisorPort } from './hypervisor-port.js';

export function wrapPort(port: HypervisorPort, overrides: Partial<HypervisorPort>): HypervisorPort {
  return new Proxy(port, {
    get(target, prop, receiver) {
      const own = (overrides as Record<string | symbol, unknown>)[prop];
      if (own !== undefined) return own;
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
