/** Whether the programs an optional test needs are installed: why not, or null when they are. */

import { execaSync } from 'execa';

/** The first of `programs` ([name, a harmless argument]) that does not run, with the reason; null when all run. */
export function missingTool(programs: readonly (readonly [string, string])[]): string | null {
  for (const [program, arg] of programs) {
    try {
      execaSync(program, [arg], { timeout: 30_000 });
    } catch (e) {
      return `${program} is not available (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
    }
  }
  return null;
}

/** python3 and restic, which examples/engines/restic-py needs. */
export const RESTIC_PY_TOOLS = [['python3', '--version'], ['restic', 'version']] as const;
