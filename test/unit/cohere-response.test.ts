import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NexusError } from '../../src/core/errors.ts';
import { encodeFloat32Base64, toEmbeddingsResponse } from '../../src/providers/cohere/embed.ts';
import { mapFinishReason, toChatCompletion, toUsage } from '../../src/providers/cohere/response.ts';
import type { CohereChatResponse } from '../../src/providers/cohere/wire.ts';

// Recorded Cohere v2 replies from vercel/ai:packages/cohere/src/__fixtures__/cohere-tool-call.json,
// issue-22070-cached-usage.json and cohere-embedding.json.
const toolCallReply: CohereChatResponse = {
  id: 'f201af17-e24a-4396-8f6a-98e8bf9c3432',
  message: {
    role: 'assistant',
    tool_plan:
      'I will use the weather tool to find out the weather in San Francisco. I will also use the cityAttractions tool to find out what attractions are in San Francisco.',
    tool_calls: [
      {
        id: 'weather_dqgshstja6p9',
        type: 'function',
        function: { name: 'weather', arguments: '{"location":"San Francisco"}' },
      },
      {
        id: 'cityAttractions_dcxfx4myvx68',
        type: 'function',
        function: { name: 'cityAttractions', arguments: '{"city":"San Francisco"}' },
      },
    ],
  },
  finish_reason: 'TOOL_CALL',
  usage: {
    billed_units: { input_tokens: 119, output_tokens: 52 },
    tokens: { input_tokens: 1549, output_tokens: 103 },
    cached_tokens: 992,
  },
};

const maxTokensReply: CohereChatResponse = {
  id: '1f476b96-75b3-4223-a19b-cccf591d161c',
  message: { role: 'assistant', content: [{ type: 'text', text: 'OK.' }] },
  finish_reason: 'MAX_TOKENS',
  usage: {
    billed_units: { input_tokens: 5, output_tokens: 2 },
    tokens: { input_tokens: 500, output_tokens: 5 },
    cached_tokens: 448,
  },
};

const embedReply = {
  id: 'f5aa3e7b-f011-4c5c-a825-f94669f760e5',
  texts: ['sunny day at the beach', 'rainy day in the city'],
  embeddings: {
    float: [
      [0.03302002, 0.020904541, -0.019744873, -0.0625, 0.04437256],
      [-0.04660034, 0.00037765503, -0.061157227, -0.08239746, -0.010360718],
    ],
  },
  meta: { api_version: { version: '2' }, billed_units: { input_tokens: 10 } },
  response_type: 'embeddings_by_type',
};

describe('Cohere chat reply → OpenAI chat.completion', () => {
  it('turns a recorded two-tool-call reply into tool_calls, the tool plan into content, and exact usage', () => {
    const completion = toChatCompletion(toolCallReply, 'command-r-plus-08-2024', 'Cohere');

    assert.equal(completion.id, 'f201af17-e24a-4396-8f6a-98e8bf9c3432');
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'command-r-plus-08-2024');
    const [choice] = completion.choices;
    assert.equal(choice?.finish_reason, 'tool_calls');
    assert.equal(choice?.message.content, toolCallReply.message?.tool_plan);
    assert.deepEqual(choice?.message.tool_calls, toolCallReply.message?.tool_calls);
    assert.deepEqual(completion.usage, {
      prompt_tokens: 1549,
      completion_tokens: 103,
      total_tokens: 1652,
      prompt_tokens_details: { cached_tokens: 992 },
    });
  });

  it('maps MAX_TOKENS to length and keeps the text', () => {
    const completion = toChatCompletion(maxTokensReply, 'command-a-03-2025', 'Cohere');

    assert.equal(completion.choices[0]?.finish_reason, 'length');
    assert.equal(completion.choices[0]?.message.content, 'OK.');
    assert.equal(completion.choices[0]?.message.tool_calls, undefined);
    assert.equal(completion.usage?.prompt_tokens_details?.cached_tokens, 448);
  });

  it('leaves out thinking parts and joins the text parts', () => {
    const completion = toChatCompletion(
      {
        id: 'r',
        finish_reason: 'COMPLETE',
        message: {
          content: [
            { type: 'thinking', thinking: 'The user asks for 2 + 2.' },
            { type: 'text', text: 'The answer ' },
            { type: 'text', text: 'is 4.' },
          ],
        },
      },
      'command-a-reasoning-08-2025',
      'Cohere',
    );

    assert.equal(completion.choices[0]?.message.content, 'The answer is 4.');
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
  });

  it('gives a call without arguments "{}" and a tool-call-only reply null content', () => {
    const completion = toChatCompletion(
      {
        id: 'r',
        finish_reason: 'TOOL_CALL',
        message: {
          tool_calls: [
            { id: 'currentTime_1', type: 'function', function: { name: 'currentTime', arguments: '' } },
          ],
        },
      },
      'm',
      'Cohere',
    );

    assert.equal(completion.choices[0]?.message.content, null);
    assert.equal(completion.choices[0]?.message.tool_calls?.[0]?.function.arguments, '{}');
  });

  it('turns ERROR and TIMEOUT into errors instead of a finished answer', () => {
    assert.throws(
      () => toChatCompletion({ ...maxTokensReply, finish_reason: 'ERROR' }, 'm', 'Cohere (Key #1)'),
      (error: NexusError) =>
        error.code === 'upstream_error' &&
        /Cohere \(Key #1\) ended the generation with ERROR/.test(error.message),
    );
    assert.throws(
      () => toChatCompletion({ ...maxTokensReply, finish_reason: 'TIMEOUT' }, 'm', 'Cohere'),
      (error: NexusError) => error.code === 'upstream_timeout',
    );
  });

  it('maps every finish reason', () => {
    assert.deepEqual(
      [
        'COMPLETE',
        'STOP_SEQUENCE',
        'MAX_TOKENS',
        'TOOL_CALL',
        'ERROR',
        'TIMEOUT',
        'SOMETHING_NEW',
        undefined,
      ].map(mapFinishReason),
      ['stop', 'stop', 'length', 'tool_calls', 'failed', 'failed', 'stop', 'stop'],
    );
  });
});

describe('Cohere usage → OpenAI usage', () => {
  it('prefers tokens, falls back to billed_units, and never reports more cached than prompt tokens', () => {
    assert.deepEqual(toUsage({ billed_units: { input_tokens: 12, output_tokens: 7 } }), {
      prompt_tokens: 12,
      completion_tokens: 7,
      total_tokens: 19,
    });
    assert.deepEqual(toUsage({ billed_units: { input_tokens: 5, output_tokens: 2 }, cached_tokens: 448 }), {
      prompt_tokens: 5,
      completion_tokens: 2,
      total_tokens: 7,
      prompt_tokens_details: { cached_tokens: 5 },
    });
    assert.deepEqual(toUsage(undefined), { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
  });
});

describe('Cohere embed reply → OpenAI embeddings', () => {
  it('returns float vectors with usage from billed_units', () => {
    const response = toEmbeddingsResponse(embedReply, 'embed-english-v3.0', 'float');

    assert.deepEqual(response, {
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: embedReply.embeddings.float[0] },
        { object: 'embedding', index: 1, embedding: embedReply.embeddings.float[1] },
      ],
      model: 'embed-english-v3.0',
      usage: { prompt_tokens: 10, total_tokens: 10 },
    });
  });

  it('encodes base64 as OpenAI does: little-endian float32', () => {
    const response = toEmbeddingsResponse(embedReply, 'embed-english-v3.0', 'base64');
    const encoded = response?.data[0]?.embedding;

    assert.equal(typeof encoded, 'string');
    const bytes = Buffer.from(String(encoded), 'base64');
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    assert.deepEqual(
      decoded,
      embedReply.embeddings.float[0]?.map((value) => Math.fround(value)),
    );
    assert.equal(encodeFloat32Base64([1]), Buffer.from([0, 0, 0x80, 0x3f]).toString('base64'));
  });

  it('returns undefined for a reply without float embeddings', () => {
    assert.equal(toEmbeddingsResponse({ id: 'x', embeddings: { float: null } }, 'm', 'float'), undefined);
  });
});
