import type { CallSignal } from '../../core/call-signal.ts';
import { transportError } from '../../transport/http-client.ts';
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

/**
 * Reads a whole 2xx reply body as text. A connection that breaks mid-body is a transport failure of the
 * provider (`upstream_unavailable`, retried like a reset), never an internal error; an abort keeps its reason.
 */
export async function readReplyText(
  body: { text(): Promise<string> },
  providerName: string,
  signal: CallSignal,
): Promise<string> {
  try {
    return await body.text();
  } catch (error) {
    throw transportError(error, providerName, signal);
  }
}
