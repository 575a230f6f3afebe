/**
 * File names of the report's pages, made from ids. Ids contain '/' (cells) and may contain
 * anything (the results are input): a name keeps [A-Za-z0-9-], turns '/' into '.', and
 * writes every other UTF-16 unit as `_hh` or `_uhhhh`, so two different ids never give the
 * same name. A registry then keeps names unique on case-insensitive file systems too, and
 * long ids are cut with a hash of the whole id.
 */

const MAX_NAME = 100;

/** The injective part: `win2019/esx41/sqlserver/default` → `win2019.esx41.sqlserver.default`. */
export function encodeId(id: string): string {
  let out = '';
  for (let i = 0; i < id.length; i++) {
    const c = id[i] ?? '';
    const code = id.charCodeAt(i);
    if (/[A-Za-z0-9-]/.test(c)) out += c;
    else if (c === '/') out += '.';
    else if (code <= 0xff) out += `_${code.toString(16).padStart(2, '0')}`;
    else out += `_u${code.toString(16).padStart(4, '0')}`;
  }
  return out === '' ? '_' : out;
}

/** FNV-1a over UTF-16 units: the tail of a cut name. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** Hands out unique names (compared without case) in the order asked: deterministic for one input. */
export class NameRegistry {
  private readonly taken = new Set<string>();

  unique(base: string, key: string): string {
    const stem = base.length <= MAX_NAME ? base : `${base.slice(0, MAX_NAME - 9)}-${fnv1a(key)}`;
    let name = stem;
    for (let n = 2; this.taken.has(name.toLowerCase()); n++) name = `${stem}-${n}`;
    this.taken.add(name.toLowerCase());
    return name;
  }
}
