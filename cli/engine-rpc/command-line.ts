/**
 * `--engine-cmd "CMD ARGS"` split into a program and its arguments the way a POSIX shell
 * splits a simple command, without running a shell (so killing the engine kills the
 * engine, not a shell around it): words are separated by blanks; '...' keeps everything
 * literally; "..." keeps everything but \" \\ \$ \` (backslash escapes those); a
 * backslash outside quotes escapes the next character. No expansion happens: an unquoted
 * $ ` | & ; < > ( ) * ? or a leading ~ is refused (write a wrapper script for shell
 * features).
 */

export class CommandLineError extends Error {
  override readonly name = 'CommandLineError';
}

const REFUSED = new Set(['$', '`', '|', '&', ';', '<', '>', '(', ')', '*', '?']);
const BLANK = /[ \t]/;

interface Scan {
  words: string[];
  word: string;
  /** The current word exists (even if empty: `''`). */
  started: boolean;
}

function endWord(s: Scan): void {
  if (s.started) s.words.push(s.word);
  s.word = '';
  s.started = false;
}

/** Reads a quoted string starting after its opening quote; returns the index after its closing quote. */
function quoted(text: string, start: number, quote: '"' | "'", s: Scan): number {
  let i = start;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === quote) return i + 1;
    if (quote === '"' && c === '\\' && i + 1 < text.length && '"\\$`'.includes(text.charAt(i + 1))) {
      s.word += text.charAt(i + 1);
      i += 2;
      continue;
    }
    s.word += c;
    i++;
  }
  throw new CommandLineError(`unterminated ${quote === '"' ? 'double' : 'single'} quote`);
}

/** The program and its arguments; throws CommandLineError naming what it refuses. */
export function splitCommandLine(text: string): string[] {
  if (/[\n\r\0]/.test(text)) throw new CommandLineError('a command line holds no newline or NUL');
  const s: Scan = { words: [], word: '', started: false };
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (BLANK.test(c)) {
      endWord(s);
      i++;
    } else if (c === "'" || c === '"') {
      s.started = true;
      i = quoted(text, i + 1, c, s);
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new CommandLineError('a backslash at the end');
      s.started = true;
      s.word += text.charAt(i + 1);
      i += 2;
    } else if (REFUSED.has(c) || (c === '~' && !s.started)) {
      throw new CommandLineError(`'${c}' needs a shell (quote it, or run a wrapper script)`);
    } else {
      s.started = true;
      s.word += c;
      i++;
    }
  }
  endWord(s);
  if (s.words.length === 0 || s.words[0] === '') throw new CommandLineError('no program given');
  return s.words;
}
