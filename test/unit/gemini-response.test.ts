import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NexusError } from '../../src/core/errors.ts';
import { buildEmbedRequest, toEmbeddingsResponse } from '../../src/providers/gemini/embeddings.ts';
import { geminiErrors } from '../../src/providers/gemini/errors.ts';
import { mapFinishReason, toChatCompletion } from '../../src/providers/gemini/response.ts';
import type { GeminiResponse } from '../../src/providers/gemini/wire.ts';
import { failedReplyError } from '../../src/providers/shared/upstream-exchange.ts';
import type { Warning } from '../../src/providers/types.ts';

const providerName = 'Google Gemini (Key #1)';

// Recorded Gemini replies, from vercel/ai:packages/google/src/__fixtures__ (signatures shortened).
/** google-text.json */
const textReply: GeminiResponse = {
  candidates: [
    {
      content: {
        parts: [
          {
            text: "There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.",
            thoughtSignature: 'EtoFCtcFAb4+9vtfe4MXRxQjw48U1WKrR',
          },
        ],
        role: 'model',
      },
      finishReason: 'STOP',
      index: 0,
    },
  ],
  usageMetadata: {
    promptTokenCount: 9,
    candidatesTokenCount: 28,
    totalTokenCount: 281,
    thoughtsTokenCount: 244,
  },
  modelVersion: 'gemini-3-pro-preview',
  responseId: 'Un6LacrVMcjUxs0PmJfWoQc',
};

/** google-tool-call.json */
const toolCallReply: GeminiResponse = {
  candidates: [
    {
      content: {
        parts: [
          {
            functionCall: { name: 'weather', args: { location: 'San Francisco' } },
            thoughtSignature: 'EskgCsYgAb4+9vtF7/499YQS2bjZs3xcQ',
          },
        ],
        role: 'model',
      },
      finishReason: 'STOP',
      index: 0,
    },
  ],
  usageMetadata: {
    promptTokenCount: 29,
    candidatesTokenCount: 15,
    totalTokenCount: 937,
    thoughtsTokenCount: 893,
  },
  modelVersion: 'gemini-3-pro-preview',
  responseId: 'm36LaZGyCLz1xs0PtNSB-QU',
};

/** issue-19822-complete-usage.json: cached, tool-use prompt and thinking tokens together. */
const completeUsageReply: GeminiResponse = {
  candidates: [{ content: { parts: [{ text: '42' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
  usageMetadata: {
    promptTokenCount: 19,
    cachedContentTokenCount: 3,
    candidatesTokenCount: 4,
    toolUsePromptTokenCount: 63,
    thoughtsTokenCount: 56,
    totalTokenCount: 142,
  },
  modelVersion: 'gemini-2.5-flash',
};

/** issue-19758-prompt-block.json */
const promptBlockReply: GeminiResponse = {
  promptFeedback: { blockReason: 'PROHIBITED_CONTENT' },
  usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 },
  modelVersion: 'gemini-3.7-flash',
  responseId: 'EXCPaojyHaDUjMcP656rqAk',
};

describe('generateContent reply → chat.completion', () => {
  test('text, model version, id and usage with thinking tokens as reasoning', () => {
    const completion = toChatCompletion(textReply, 'gemini-3-pro-preview', providerName);

    assert.equal(completion.id, 'chatcmpl-Un6LacrVMcjUxs0PmJfWoQc');
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'gemini-3-pro-preview');
    assert.deepEqual(completion.choices, [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: "There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y.",
        },
        finish_reason: 'stop',
        logprobs: null,
      },
    ]);
    assert.deepEqual(completion.usage, {
      prompt_tokens: 9,
      completion_tokens: 272,
      total_tokens: 281,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 244 },
    });
  });

  test('a function call becomes a tool call with a stable id, JSON arguments and its signature', () => {
    const completion = toChatCompletion(toolCallReply, 'gemini-3-pro-preview', providerName);

    assert.equal(completion.choices[0]?.finish_reason, 'tool_calls', 'STOP with calls is tool_calls');
    assert.equal(completion.choices[0]?.message.content, null);
    assert.deepEqual(completion.choices[0]?.message.tool_calls, [
      {
        id: 'call_0',
        type: 'function',
        function: { name: 'weather', arguments: '{"location":"San Francisco"}' },
        extra_content: { google: { thought_signature: 'EskgCsYgAb4+9vtF7/499YQS2bjZs3xcQ' } },
      },
    ]);
  });

  test('prompt tokens include cached and tool-use prompt tokens; the total matches Gemini', () => {
    const { usage } = toChatCompletion(completeUsageReply, 'gemini-2.5-flash', providerName);

    assert.deepEqual(usage, {
      prompt_tokens: 82,
      completion_tokens: 60,
      total_tokens: 142,
      prompt_tokens_details: { cached_tokens: 3 },
      completion_tokens_details: { reasoning_tokens: 56 },
    });
  });

  test('two function calls and text, thought parts left out, several candidates', () => {
    const completion = toChatCompletion(
      {
        candidates: [
          {
            content: {
              parts: [
                { text: 'thinking about it', thought: true },
                { text: 'Checking both.' },
                { functionCall: { name: 'get_weather', args: { city: 'Paris' } } },
                { functionCall: { name: 'get_weather', args: { city: 'Tokyo' }, id: 'gemini-id-2' } },
              ],
            },
            finishReason: 'STOP',
          },
          { content: { parts: [{ text: 'Second.' }] }, finishReason: 'MAX_TOKENS', index: 1 },
        ],
      },
      'gemini-2.5-flash',
      providerName,
    );

    const [first, second] = completion.choices;
    assert.equal(completion.model, 'gemini-2.5-flash', 'the asked model when modelVersion is absent');
    assert.equal(first?.message.content, 'Checking both.');
    assert.deepEqual(
      first?.message.tool_calls?.map((call) => [call.id, call.function.arguments]),
      [
        ['call_0', '{"city":"Paris"}'],
        ['gemini-id-2', '{"city":"Tokyo"}'],
      ],
    );
    assert.deepEqual([second?.index, second?.finish_reason], [1, 'length']);
    assert.equal(completion.usage, undefined);
  });

  test('a blocked prompt is a 400 upstream_bad_request naming the reason, not a retryable failure', () => {
    assert.throws(
      () => toChatCompletion(promptBlockReply, 'gemini-3.7-flash', providerName),
      (error: unknown) => {
        assert.ok(error instanceof NexusError);
        assert.equal(error.code, 'upstream_bad_request');
        assert.equal(error.status, 400);
        assert.match(error.message, /blocked the prompt \(PROHIBITED_CONTENT\)/);
        assert.match(error.message, /content policy/);
        return true;
      },
    );
  });

  test('a reply without candidates or block reason is an upstream_error', () => {
    assert.throws(() => toChatCompletion({ candidates: [] }, 'm', providerName), { code: 'upstream_error' });
  });

  test('finish reasons map to OpenAI', () => {
    const table: Array<[string | undefined, boolean, string | undefined]> = [
      ['STOP', false, 'stop'],
      ['STOP', true, 'tool_calls'],
      ['MAX_TOKENS', true, 'length'],
      ['SAFETY', false, 'content_filter'],
      ['RECITATION', false, 'content_filter'],
      ['BLOCKLIST', false, 'content_filter'],
      ['PROHIBITED_CONTENT', false, 'content_filter'],
      ['SPII', false, 'content_filter'],
      ['MALFORMED_FUNCTION_CALL', false, 'stop'],
      ['OTHER', false, 'stop'],
      [undefined, false, undefined],
    ];
    for (const [reason, hasCalls, expected] of table) {
      assert.equal(mapFinishReason(reason, hasCalls), expected, String(reason));
    }
  });
});

describe('Google errors → catalogue errors', () => {
  const failure = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    failedReplyError(
      geminiErrors,
      { status, headers, text: typeof body === 'string' ? body : JSON.stringify(body) },
      providerName,
    );

  test('429 RESOURCE_EXHAUSTED is rate limited and takes its wait from RetryInfo (recorded body)', () => {
    // vercel/ai:packages/google/src/__fixtures__/google-429-retry-info.json
    const body = {
      error: {
        code: 429,
        message: 'You exceeded your current quota, please check your plan.',
        status: 'RESOURCE_EXHAUSTED',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
            violations: [{ quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }],
          },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '34.4s' },
        ],
      },
    };
    const error = failure(429, body);
    const withHeader = failure(429, body, { 'retry-after': '3' });

    assert.equal(error.code, 'upstream_rate_limited');
    assert.equal(error.retryAfterSeconds, 35);
    assert.match(error.message, /RESOURCE_EXHAUSTED: You exceeded your current quota/);
    assert.equal(withHeader.retryAfterSeconds, 3, 'a Retry-After header wins');
  });

  test('400 INVALID_ARGUMENT passes Google message on; a bad key (API_KEY_INVALID) is upstream_auth_failed', () => {
    const invalid = failure(400, {
      error: {
        code: 400,
        message: '* GenerateContentRequest.contents: contents is not specified\n',
        status: 'INVALID_ARGUMENT',
      },
    });
    const badKey = failure(400, {
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' }],
      },
    });

    assert.equal(invalid.code, 'upstream_bad_request');
    assert.equal(invalid.status, 400);
    assert.match(
      invalid.message,
      /INVALID_ARGUMENT: \* GenerateContentRequest\.contents: contents is not specified$/,
    );
    assert.equal(badKey.code, 'upstream_auth_failed');
    assert.equal(badKey.status, 502);
  });

  test('403 PERMISSION_DENIED is upstream_auth_failed; 500 and 503 are upstream_error; keys are redacted', () => {
    const denied = failure(403, { error: { code: 403, message: 'denied', status: 'PERMISSION_DENIED' } });
    const internal = failure(500, { error: { code: 500, message: 'internal', status: 'INTERNAL' } });
    const overloaded = failure(503, {
      error: {
        code: 503,
        message: 'The model is overloaded. Key AIzaSyA1234567890abcdef',
        status: 'UNAVAILABLE',
      },
    });
    const notJson = failure(502, '<html>Bad Gateway</html>');

    assert.equal(denied.code, 'upstream_auth_failed');
    assert.equal(internal.code, 'upstream_error');
    assert.equal(overloaded.code, 'upstream_error');
    assert.ok(!overloaded.message.includes('AIzaSyA1234567890abcdef'));
    assert.match(notJson.message, /Bad Gateway/);
  });
});

describe('embeddings', () => {
  test('inputs become one batch request each, with the model name and dimensions', () => {
    const warnings: Warning[] = [];
    const body = buildEmbedRequest(
      'text-embedding-004',
      { model: 'gemini/text-embedding-004', input: ['a', 'b'], dimensions: 8, user: 'u-1' },
      warnings,
    );

    assert.deepEqual(body, {
      requests: [
        { model: 'models/text-embedding-004', content: { parts: [{ text: 'a' }] }, outputDimensionality: 8 },
        { model: 'models/text-embedding-004', content: { parts: [{ text: 'b' }] }, outputDimensionality: 8 },
      ],
    });
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['user'],
    );
  });

  test('token arrays are a clear 400 invalid_request on input', () => {
    for (const input of [
      [1, 2, 3],
      [[1, 2], [3]],
    ]) {
      assert.throws(
        () => buildEmbedRequest('m', { model: 'm', input }, []),
        (error: unknown) => {
          assert.ok(error instanceof NexusError);
          assert.equal(error.code, 'invalid_request');
          assert.equal(error.param, 'input');
          assert.match(error.message, /token arrays are not supported/);
          return true;
        },
      );
    }
  });

  test('float and base64 (little-endian float32) replies; usage 0 with a warning, never an estimate', () => {
    const values = [0.25, -1.5, 3.0000001];
    const warnings: Warning[] = [];
    const floats = toEmbeddingsResponse(
      { embeddings: [{ values }] },
      { model: 'm', input: 'x' },
      'm',
      warnings,
    );
    const base64 = toEmbeddingsResponse(
      { embeddings: [{ values }] },
      { model: 'm', input: 'x', encoding_format: 'base64' },
      'm',
      [],
    );

    assert.deepEqual(floats?.data, [{ object: 'embedding', index: 0, embedding: values }]);
    assert.deepEqual(floats?.usage, { prompt_tokens: 0, total_tokens: 0 });
    assert.match(warnings[0]?.message ?? '', /no token counts/);
    const bytes = Buffer.from(String(base64?.data[0]?.embedding), 'base64');
    const decoded = Array.from({ length: bytes.length / 4 }, (_, index) => bytes.readFloatLE(index * 4));
    assert.deepEqual(decoded, values.map(Math.fround));
    assert.equal(toEmbeddingsResponse({}, { model: 'm', input: 'x' }, 'm', []), undefined);
  });
});
