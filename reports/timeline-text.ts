/** A scenario's timeline as plain text lines (virtual seconds, kind, detail): replay prints it, JUnit failures carry it. */

import type { TimelineEntry } from '../core/results.js';

export function timelineText(timeline: readonly TimelineEntry[]): string {
  return timeline.map((e) => `  ${(e.atUs / 1e6).toFixed(6).padStart(12)} s  ${e.kind.padEnd(16)} ${e.detail}`).join('\n');
}
