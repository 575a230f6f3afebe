/**
 * A progress line for long runs on a terminal (stderr, redrawn in place); silent when
 * stderr is not a TTY (CI logs stay clean). Reads the real clock: cli/ only.
 */

export interface Progress {
  readonly update: (done: number, total: number, label: string) => void;
  readonly done: () => void;
}

export function progressReporter(title: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update: () => undefined, done: () => undefined };
  const started = Date.now();
  let drawn = false;
  return {
    update(done, total, label) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      const elapsedS = (Date.now() - started) / 1000;
      const etaS = done === 0 ? 0 : (elapsedS / done) * (total - done);
      stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${title}, ${elapsedS.toFixed(0)} s, ~${etaS.toFixed(0)} s left  ${label.slice(0, 40).padEnd(40)}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}
