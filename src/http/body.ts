import type { IncomingMessage } from 'node:http';
import { NexusError } from '../core/errors.ts';

/** Content types accepted as a JSON body. curl's default form type is tolerated because `curl -d` sends it. */
const acceptedTypes = /^(application\/(json|[\w.+-]+\+json|x-www-form-urlencoded)|text\/plain)\s*(;|$)/i;

/**
 * The body stage: reads the whole request body up to `limitBytes` and parses it as JSON. Oversize bodies are
 * refused from `content-length` before reading when possible; malformed JSON names the position.
 */
export async function readJsonBody(request: IncomingMessage, limitBytes: number): Promise<unknown> {
  const type = request.headers['content-type'];
  if (type !== undefined && !acceptedTypes.test(type)) {
    throw new NexusError(
      'unsupported_media_type',
      `Content-Type '${type.slice(0, 100)}' is not supported; send application/json.`,
    );
  }
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > limitBytes) throw tooLarge(limitBytes);
  const pieces: Buffer[] = [];
  let size = 0;
  for await (const piece of request as AsyncIterable<Buffer>) {
    size += piece.length;
    if (size > limitBytes) throw tooLarge(limitBytes);
    pieces.push(piece);
  }
  if (size === 0) throw new NexusError('invalid_json', 'The request body is empty; send a JSON object.');
  const text =
    pieces.length === 1 ? pieces[0]!.toString('utf8') : Buffer.concat(pieces, size).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new NexusError('invalid_json', `The request body is not valid JSON: ${(error as Error).message}`);
  }
}

function tooLarge(limitBytes: number): NexusError {
  return new NexusError('body_too_large', `The request body exceeds the limit of ${limitBytes} bytes.`);
}
