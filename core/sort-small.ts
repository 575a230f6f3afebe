/**
 * Sorts a short array of numbers or strings ascending, in place, and returns it. Numbers
 * by value; strings by UTF-16 code units (what Array.prototype.sort does without a
 * comparator). Hot paths call this for arrays of a few items — a transaction's blocks, an
 * event's keys — where an insertion sort beats Array.prototype.sort, which allocates work
 * space; past 16 items it hands over to that.
 */
export function sortSmall<T extends number | string>(values: T[]): T[] {
  if (values.length > 16) {
    return typeof values[0] === 'number' ? values.sort((a, b) => (a as number) - (b as number)) : values.sort();
  }
  for (let i = 1; i < values.length; i++) {
    const v = values[i] as T;
    let j = i - 1;
    while (j >= 0 && (values[j] as T) > v) {
      values[j + 1] = values[j] as T;
      j--;
    }
    values[j + 1] = v;
  }
  return values;
}
