/**
 * A strict scanner for the report's HTML, for tests: every `<` must open a well-formed tag
 * (lower-case name, double-quoted attribute values with no `<`, `>` or `"` inside), and no
 * raw `>` may stand in text. Escaped input cannot pass as markup under these rules, and
 * broken-out input (a quote closing an attribute, a live `<img>`) makes the scan fail.
 */

export interface Tag {
  readonly name: string;
  readonly closing: boolean;
  readonly attrs: ReadonlyMap<string, string>;
  /** Offset of the tag's `<` in the page. */
  readonly at: number;
  /** Offset just after the tag's `>`. */
  readonly end: number;
}

const TAG = /<(\/?)([a-z][a-z0-9]*)((?:\s+[a-z][a-z-]*(?:="[^"<>]*")?)*)\s*>/y;
const ATTR = /\s+([a-z][a-z-]*)(?:="([^"<>]*)")?/g;

/** The tags of `html` in order; throws at the first `<` or `>` that is not part of a well-formed tag. */
export function scanTags(html: string): Tag[] {
  const tags: Tag[] = [];
  let pos = 0;
  for (;;) {
    const lt = html.indexOf('<', pos);
    const text = html.slice(pos, lt === -1 ? html.length : lt);
    if (text.includes('>')) throw new Error(`raw '>' in text at ${pos + text.indexOf('>')}: ${JSON.stringify(html.slice(pos, pos + 80))}`);
    if (lt === -1) return tags;
    if (html.startsWith('<!doctype html>', lt)) {
      pos = lt + '<!doctype html>'.length;
      continue;
    }
    TAG.lastIndex = lt;
    const m = TAG.exec(html);
    if (m === null) throw new Error(`not a well-formed tag at ${lt}: ${JSON.stringify(html.slice(lt, lt + 80))}`);
    const attrs = new Map<string, string>();
    for (const a of (m[3] ?? '').matchAll(ATTR)) attrs.set(a[1] ?? '', a[2] ?? '');
    tags.push({ name: m[2] ?? '', closing: m[1] === '/', attrs, at: lt, end: TAG.lastIndex });
    pos = TAG.lastIndex;
  }
}

/** Decodes the character references the report writes (`&#60;` and the named basics). */
export function decodeHtml(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)))
    .replace(/&(lt|gt|quot|amp);/g, (_, n: string) => ({ lt: '<', gt: '>', quot: '"', amp: '&' })[n] ?? '');
}

/** The text between the opening tag at `tags[i]` and its matching close (same name, nesting counted), tags stripped and decoded. */
export function innerText(html: string, tags: readonly Tag[], i: number): string {
  return decodeHtml(innerHtml(html, tags, i).replace(/<[^>]*>/g, ''));
}

export function innerHtml(html: string, tags: readonly Tag[], i: number): string {
  const open = tags[i];
  if (open === undefined) throw new Error(`no tag ${i}`);
  let depth = 0;
  for (let j = i + 1; j < tags.length; j++) {
    const t = tags[j];
    if (t?.name !== open.name) continue;
    if (!t.closing) depth++;
    else if (depth === 0) return html.slice(open.end, t.at);
    else depth--;
  }
  throw new Error(`<${open.name}> at ${open.at} is never closed`);
}
