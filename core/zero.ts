/**
 * Whether bytes are all zero, compared natively (memcmp against a zero page) 64 KiB at a
 * time: ~0.25 µs for a 4 KiB grain where a byte loop in JS takes ~4.7 µs (measured in
 * session 6). The sparse images, the backup's zero-run skipping and the stream chunker
 * all ask it of every block they handle.
 */

const ZERO_PAGE = Buffer.alloc(64 * 1024);

export function isAllZero(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return true;
  if (bytes[0] !== 0 || bytes[bytes.length - 1] !== 0) return false;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = 0; at < bytes.length; at += ZERO_PAGE.length) {
    const end = Math.min(bytes.length, at + ZERO_PAGE.length);
    if (view.compare(ZERO_PAGE, 0, end - at, at, end) !== 0) return false;
  }
  return true;
}
