/**
 * Progress of long runs, on stderr (stdout keeps only the results). On a terminal, one
 * line redrawn in place. Elsewhere (CI logs, a pipe), a plain line when the run has
 * advanced another tenth, at most one each PLAIN_EVERY_MS: a run of a minute prints one
 * or two, `npm start` (~14 min) about ten, so a CI job that kills silent steps does not
 * kill it. Reads the real clock: cli/ only.
 */

export interface Progress {
  readonly update: (done: number, total: number, label: string) => void;
  readonly done: () => void;
}

export const PLAIN_EVERY_MS = 30_000;

type Stream = Pick<NodeJS.WriteStream, 'write'> & { readonly isTTY?: boolean };

export function progressReporter(title: string, stream: Stream = process.stderr, now: () => number = Date.now): Progress {
  const started = now();
  const timing = (done: number, total: number): string => {
    const elapsedS = (now() - started) / 1000;
    const etaS = done === 0 ? 0 : (elapsedS / done) * (total - done);
    return `${elapsedS.toFixed(0)} s, ~${etaS.toFixed(0)} s left`;
  };
  if (stream.isTTY !== true) {
    let tenths = 0;
    let lastAt = started;
    return {
      update(done, total) {
        const reached = Math.floor((done * 10) / total);
        if (reached <= tenths || now() - lastAt < PLAIN_EVERY_MS) return;
        tenths = reached;
        lastAt = now();
        stream.write(`quiescelab: ${done}/${total} ${title} (${Math.floor((done * 100) / total)}%), ${timing(done, total)}\n`);
      },
      done: () => undefined,
    };
  }
  let drawn = false;
  return {
    update(done, total, label) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${title}, ${timing(done, total)}  ${label.slice(0, 40).padEnd(40)}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}
