/**
 * Faults as the command line writes them (`quiescelab run --fault ...`), parsed into the
 * scenario's FaultPlan and written back (the same text):
 *   none | commit-timeout | script-exit | script-hang
 *   writer:PHASE:ERROR          e.g. writer:freeze:RETRYABLE
 *   power-loss[@MS][:lying]     the host loses power MS into the warm-up (default 300 ms),
 *                               the disk cache honest, or lying about flush
 */

import type { VssWriterError } from '../../core/hypervisor-port.js';
import { err, ok, type Result } from '../../core/result.js';
import type { WriterPhase } from '../../sim/vss/faulty-writer.js';
import { ERRORS, PHASES } from './arbitraries.js';
import type { FaultPlan } from './spec.js';
import { nemesisOf } from '../nemesis/index.js';

export const FAULT_SYNTAX = 'none | commit-timeout | script-exit | script-hang | writer:PHASE:ERROR | power-loss[@MS][:lying]';
const DEFAULT_POWER_LOSS_MS = 300;
const MAX_POWER_LOSS_MS = 1500;

export function parseFault(text: string): Result<FaultPlan, string> {
  const t = text.trim();
  if (t === 'none') return ok({ kind: 'none' });
  if (t === 'commit-timeout') return ok({ kind: 'commit-timeout' });
  if (t === 'script-exit' || t === 'script-hang') return ok({ kind: 'script', failure: t === 'script-exit' ? 'exit' : 'hang' });
  const writer = /^writer:([^:]*):([^:]*)$/.exec(t);
  if (writer !== null) {
    const [, phase, error] = writer as unknown as [string, string, string];
    if (!(PHASES as readonly string[]).includes(phase)) return err(`unknown writer phase '${phase}' (${PHASES.join(', ')})`);
    if (!(ERRORS as readonly string[]).includes(error)) return err(`unknown writer error '${error}' (${ERRORS.join(', ')})`);
    return ok({ kind: 'writer', phase: phase as WriterPhase, error: error as VssWriterError });
  }
  const power = /^power-loss(?:@(\d+))?(:lying)?$/.exec(t);
  if (power !== null) {
    const atMs = power[1] === undefined ? DEFAULT_POWER_LOSS_MS : Number(power[1]);
    if (atMs > MAX_POWER_LOSS_MS) return err(`power-loss@${atMs}: at most ${MAX_POWER_LOSS_MS} ms into the warm-up`);
    return ok({ kind: 'power-loss', atMs, lyingCache: power[2] !== undefined });
  }
  return err(`unknown fault '${text}' (${FAULT_SYNTAX})`);
}

/** The fault as `--fault` takes it (the nemesis entry's describe). */
export function formatFault(fault: FaultPlan): string {
  return nemesisOf(fault).describe(fault);
}
