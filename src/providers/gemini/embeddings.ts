import { NexusError } from '../../core/errors.ts';
import type { EmbeddingsRequest, EmbeddingsResponse } from '../../core/openai-types.ts';
import type { Warning } from '../types.ts';
import type { GeminiEmbedRequest, GeminiEmbedResponse } from './wire.ts';

/**
 * OpenAI embeddings ↔ Gemini `batchEmbedContents`. Gemini embeds text only (no token arrays) and reports no
 * token count, so usage is 0 and a warning says so rather than passing off an estimate as a measurement.
 */
export function buildEmbedRequest(
  model: string,
  request: EmbeddingsRequest,
  warnings: Warning[],
): GeminiEmbedRequest {
  const inputs = typeof request.input === 'string' ? [request.input] : request.input;
  if (!inputs.every((input): input is string => typeof input === 'string')) {
    throw new NexusError(
      'invalid_request',
      "Invalid 'input': Gemini embeds text only; token arrays are not supported. Send the text instead.",
      { param: 'input' },
    );
  }
  for (const [field, value] of Object.entries(request)) {
    if (value == null || ['model', 'input', 'dimensions', 'encoding_format'].includes(field)) continue;
    warnings.push({ param: field, message: `Gemini does not support '${field}'; it was not sent.` });
  }
  const name = model.startsWith('models/') ? model : `models/${model}`;
  return {
    requests: inputs.map((text) => ({
      model: name,
      content: { parts: [{ text }] },
      ...(request.dimensions === undefined ? {} : { outputDimensionality: request.dimensions }),
    })),
  };
}

export function toEmbeddingsResponse(
  response: GeminiEmbedResponse,
  request: EmbeddingsRequest,
  model: string,
  warnings: Warning[],
): EmbeddingsResponse | undefined {
  if (!Array.isArray(response.embeddings)) return undefined;
  const base64 = request.encoding_format === 'base64';
  const data: EmbeddingsResponse['data'] = [];
  for (const [index, embedding] of response.embeddings.entries()) {
    const values = embedding.values;
    if (!Array.isArray(values)) return undefined;
    data.push({ object: 'embedding', index, embedding: base64 ? encodeFloat32Base64(values) : values });
  }
  warnings.push({
    param: 'usage',
    message: 'Gemini reports no token counts for embeddings; usage is 0, not a measurement.',
  });
  return { object: 'list', data, model, usage: { prompt_tokens: 0, total_tokens: 0 } };
}

/** Little-endian float32 bytes in base64: what OpenAI sends for `encoding_format: 'base64'`. */
export function encodeFloat32Base64(values: readonly number[]): string {
  const buffer = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => {
    buffer.writeFloatLE(value, index * 4);
  });
  return buffer.toString('base64');
}
