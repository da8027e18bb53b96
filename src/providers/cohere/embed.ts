import { NexusError } from '../../core/errors.ts';
import type { EmbeddingsRequest, EmbeddingsResponse } from '../../core/openai-types.ts';
import type { UpstreamTarget, Warning } from '../types.ts';
import type { CohereEmbedBody, CohereEmbedResponse } from './wire.ts';

/** Cohere's input types for `/embed`; OpenAI has no such field, so Nexus defaults to documents. */
const cohereInputTypes = ['search_document', 'search_query', 'classification', 'clustering'];
const defaultInputType = 'search_document';

/**
 * OpenAI embeddings → Cohere v2 `/embed` (docs.cohere.com/reference/embed). Nexus always asks for float
 * vectors and encodes base64 itself when the client asks. `input_type` is Cohere's own field (a client may
 * send it as an extra field); without it Nexus sends `search_document` and says so.
 */
export function buildCohereEmbedBody(
  target: UpstreamTarget,
  request: EmbeddingsRequest,
  warnings: Warning[],
): CohereEmbedBody {
  const name = target.instance.provider.name;
  const input = request.input;
  const texts = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(texts) || !texts.every((text): text is string => typeof text === 'string')) {
    throw new NexusError('unsupported_capability', `${name} embeds text only, not token ids.`, {
      param: 'input',
    });
  }
  let inputType = request.input_type;
  if (typeof inputType !== 'string' || !cohereInputTypes.includes(inputType)) {
    warnings.push({
      param: 'input_type',
      message:
        inputType == null
          ? `${name} needs an input_type, which OpenAI's API lacks; '${defaultInputType}' was sent.`
          : `${name} does not know input_type '${String(inputType)}'; '${defaultInputType}' was sent.`,
    });
    inputType = defaultInputType;
  }
  for (const [param, value] of Object.entries(request)) {
    const known = ['model', 'input', 'input_type', 'encoding_format', 'dimensions'];
    if (value != null && !known.includes(param)) {
      warnings.push({ param, message: `${name} does not support '${param}'; it was not sent.` });
    }
  }
  return {
    model: target.model,
    texts,
    input_type: inputType as string,
    embedding_types: ['float'],
    ...(request.dimensions === undefined ? {} : { output_dimension: request.dimensions }),
  };
}

/** Little-endian float32 bytes in base64, as OpenAI sends with `encoding_format: 'base64'`. */
export function encodeFloat32Base64(vector: readonly number[]): string {
  const view = new DataView(new ArrayBuffer(vector.length * 4));
  for (const [index, value] of vector.entries()) view.setFloat32(index * 4, value, true);
  return Buffer.from(view.buffer).toString('base64');
}

export function toEmbeddingsResponse(
  reply: CohereEmbedResponse,
  model: string,
  encoding: 'float' | 'base64' | undefined,
): EmbeddingsResponse | undefined {
  const vectors = reply.embeddings?.float;
  if (!Array.isArray(vectors)) return undefined;
  const tokens = reply.meta?.billed_units?.input_tokens ?? reply.meta?.tokens?.input_tokens ?? 0;
  return {
    object: 'list',
    data: vectors.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding: encoding === 'base64' ? encodeFloat32Base64(vector) : vector,
    })),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}
