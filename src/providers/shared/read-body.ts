/** Reads at most `limit` bytes of an upstream body as UTF-8 and discards the rest (error bodies, probes). */
export async function readTextCapped(body: AsyncIterable<Uint8Array>, limit = 64 * 1024): Promise<string> {
  const pieces: Buffer[] = [];
  let size = 0;
  for await (const piece of body) {
    if (size < limit) pieces.push(Buffer.from(piece).subarray(0, limit - size));
    size += piece.byteLength;
  }
  return Buffer.concat(pieces).toString('utf8');
}
