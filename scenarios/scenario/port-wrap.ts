/**
 * A HypervisorPort that passes every call through to another, except the calls given:
 * how the harness's taps sit below an engine and how mutants sit above it (core/port-wrap.ts).
 */

export { wrapPort } from '../../core/port-wrap.js';
