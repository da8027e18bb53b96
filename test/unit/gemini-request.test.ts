import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadCatalog } from '../../src/catalog/load.ts';
import { NexusError } from '../../src/core/errors.ts';
import type { ChatMessage, ChatRequest } from '../../src/core/openai-types.ts';
import { mimeTypeOf, placeholderThoughtSignature } from '../../src/providers/gemini/messages.ts';
import { buildGeminiRequest } from '../../src/providers/gemini/request.ts';
import type { UpstreamTarget, Warning } from '../../src/providers/types.ts';
import { validateGenerateContent } from '../support/fake-gemini.ts';

const provider = loadCatalog().providers.get('gemini')!;

function target(model = 'gemini-2.5-flash'): UpstreamTarget {
  return {
    instance: {
      id: 'gemini#1',
      name: 'Google Gemini (Key #1)',
      provider,
      baseUrl: provider.baseUrl,
      apiKey: 'AIza-test',
      apiVersion: undefined,
      headers: {},
    },
    model,
    deployment: 'gemini#1/gemini',
    modelSpec: undefined,
  };
}

/** Converts and checks that Gemini (as modelled by the fake) would accept the body. */
function convert(request: Partial<ChatRequest> & { messages: ChatMessage[] }, model?: string) {
  const warnings: Warning[] = [];
  const body = buildGeminiRequest(target(model), { model: 'gemini/x', ...request }, warnings);
  assert.equal(validateGenerateContent(JSON.parse(JSON.stringify(body))), null, 'Gemini accepts the body');
  return { body, warnings };
}

const weatherCall = {
  id: 'call_w',
  type: 'function' as const,
  function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
};
const timeCall = { id: 'call_t', type: 'function' as const, function: { name: 'get_time', arguments: '{}' } };

describe('messages', () => {
  test('system and developer messages become the system instruction; roles become user/model', () => {
    const { body, warnings } = convert({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Bonjour' },
        { role: 'user', content: 'How are you?' },
      ],
    });

    assert.deepEqual(body.systemInstruction, {
      parts: [{ text: 'Be brief.' }, { text: 'Answer in French.' }],
    });
    assert.deepEqual(body.contents, [
      { role: 'user', parts: [{ text: 'Hi' }] },
      { role: 'model', parts: [{ text: 'Bonjour' }] },
      { role: 'user', parts: [{ text: 'How are you?' }] },
    ]);
    assert.deepEqual(warnings, []);
  });

  test('consecutive messages of one role merge into one turn; empty text is left out', () => {
    const { body } = convert({
      messages: [
        { role: 'user', content: 'first' },
        { role: 'user', content: [{ type: 'text', text: 'second' }] },
        { role: 'assistant', content: '' },
        { role: 'assistant', content: 'answer' },
      ],
    });

    assert.deepEqual(body.contents, [
      { role: 'user', parts: [{ text: 'first' }, { text: 'second' }] },
      { role: 'model', parts: [{ text: 'answer' }] },
    ]);
  });

  test('data URLs become inlineData and http(s) URLs fileData with the type from the extension', () => {
    const pixel =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const { body, warnings } = convert({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${pixel}` } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.JPG?size=large&v=2' } },
            { type: 'image_url', image_url: { url: 'https://example.com/render?id=7' } },
          ],
        },
      ],
    });

    assert.deepEqual(body.contents[0]?.parts, [
      { text: 'What is in these?' },
      { inlineData: { mimeType: 'image/png', data: pixel } },
      { fileData: { fileUri: 'https://example.com/cat.JPG?size=large&v=2', mimeType: 'image/jpeg' } },
      { fileData: { fileUri: 'https://example.com/render?id=7' } },
    ]);
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['messages.0.content.3.image_url.url'],
    );
    assert.match(warnings[0]?.message ?? '', /media type/);
  });

  test('image detail and unsupported parts are reported; a non-http URL is a 400 naming the part', () => {
    const { warnings } = convert({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'x' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.webp', detail: 'low' } },
            { type: 'file', file: { file_id: 'file-123' } },
          ],
        },
      ],
    });
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['messages.0.content.1.image_url.detail', 'messages.0.content.2'],
    );

    assert.throws(
      () =>
        convert({
          messages: [
            { role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://host/a.png' } }] },
          ],
        }),
      (error: unknown) =>
        error instanceof NexusError &&
        error.code === 'invalid_request' &&
        error.param === 'messages.0.content.0.image_url.url',
    );
  });

  test('tool calls become functionCall parts and tool results functionResponse parts in one user turn', () => {
    const { body } = convert({
      messages: [
        { role: 'user', content: 'Weather and time in Paris?' },
        { role: 'assistant', content: null, tool_calls: [weatherCall, timeCall] },
        { role: 'tool', tool_call_id: 'call_w', content: '{"temperature":21}' },
        { role: 'tool', tool_call_id: 'call_t', content: [{ type: 'text', text: '14:05' }] },
        { role: 'user', content: 'Thanks' },
      ],
    });

    assert.deepEqual(body.contents, [
      { role: 'user', parts: [{ text: 'Weather and time in Paris?' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } } },
          { functionCall: { name: 'get_time', args: {} } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_weather', response: { temperature: 21 } } },
          { functionResponse: { name: 'get_time', response: { result: '14:05' } } },
          { text: 'Thanks' },
        ],
      },
    ]);
  });

  test('a non-object JSON result is wrapped as {result}', () => {
    const { body } = convert({
      messages: [
        { role: 'user', content: 'x' },
        { role: 'assistant', content: null, tool_calls: [weatherCall] },
        { role: 'tool', tool_call_id: 'call_w', content: '[1,2]' },
      ],
    });

    assert.deepEqual(body.contents[2]?.parts, [
      { functionResponse: { name: 'get_weather', response: { result: [1, 2] } } },
    ]);
  });

  test('a tool result for an unknown call id, or arguments that are not a JSON object, is a 400', () => {
    const unknownId = () =>
      convert({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'tool', tool_call_id: 'call_nope', content: 'r' },
        ],
      });
    const badArguments = () =>
      convert({
        messages: [
          { role: 'user', content: 'x' },
          {
            role: 'assistant',
            tool_calls: [{ ...weatherCall, function: { name: 'f', arguments: '{"a":' } }],
          },
        ],
      });

    assert.throws(unknownId, { code: 'invalid_request', param: 'messages.1.tool_call_id' });
    assert.throws(badArguments, {
      code: 'invalid_request',
      param: 'messages.1.tool_calls.0.function.arguments',
    });
  });

  test('message names are reported once, since Gemini has no per-message name', () => {
    const { warnings } = convert({
      messages: [
        { role: 'user', content: 'a', name: 'alice' },
        { role: 'user', content: 'b', name: 'bob' },
      ],
    });

    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['messages.name'],
    );
  });
});

describe('thought signatures', () => {
  const history = (calls: ChatMessage['tool_calls']): ChatMessage[] => [
    { role: 'user', content: 'x' },
    { role: 'assistant', content: null, tool_calls: calls },
    { role: 'tool', tool_call_id: 'call_w', content: 'sunny' },
    { role: 'tool', tool_call_id: 'call_t', content: 'noon' },
  ];

  test("a signature in Google's extra_content goes back on its functionCall part", () => {
    const signed = { ...weatherCall, extra_content: { google: { thought_signature: 'c2ln' } } };
    const { body } = convert({ messages: history([signed, timeCall]) }, 'gemini-3-pro-preview');

    assert.equal(body.contents[1]?.parts?.[0]?.thoughtSignature, 'c2ln');
    assert.equal(body.contents[1]?.parts?.[1]?.thoughtSignature, undefined);
  });

  test("Gemini 3 gets Google's placeholder on the first unsigned call of a step; Gemini 2.5 gets none", () => {
    const three = convert({ messages: history([weatherCall, timeCall]) }, 'gemini-3-flash-preview').body;
    const two = convert({ messages: history([weatherCall, timeCall]) }, 'gemini-2.5-flash').body;

    assert.equal(three.contents[1]?.parts?.[0]?.thoughtSignature, placeholderThoughtSignature);
    assert.equal(three.contents[1]?.parts?.[1]?.thoughtSignature, undefined);
    assert.ok(two.contents[1]?.parts?.every((part) => part.thoughtSignature === undefined));
  });
});

describe('tools', () => {
  test('function tools become functionDeclarations; dropped schema keywords are reported per tool', () => {
    const { body, warnings } = convert({
      messages: [{ role: 'user', content: 'x' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather',
            strict: true,
            parameters: {
              $schema: 'http://json-schema.org/draft-07/schema#',
              type: 'object',
              properties: { city: { type: 'string' }, unit: { type: ['string', 'null'], enum: ['c', 'f'] } },
              required: ['city', 'unit'],
              additionalProperties: false,
            },
          },
        },
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
        { type: 'web_search' },
      ],
    });

    assert.deepEqual(body.tools, [
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            description: 'Current weather',
            parameters: {
              type: 'object',
              properties: {
                city: { type: 'string' },
                unit: { type: 'string', nullable: true, enum: ['c', 'f'] },
              },
              required: ['city', 'unit'],
            },
          },
          { name: 'get_time' },
        ],
      },
    ]);
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['tools.0.function.parameters', 'tools.2'],
    );
    assert.match(
      warnings[0]?.message ?? '',
      /removed \$schema, removed additionalProperties, ignored strict/,
    );
    assert.match(warnings[0]?.message ?? '', /get_weather/);
  });

  test('tool_choice maps to functionCallingConfig', () => {
    const tools = [{ type: 'function', function: { name: 'lookup' } }];
    const mode = (toolChoice: unknown) =>
      convert({ messages: [{ role: 'user', content: 'x' }], tools, tool_choice: toolChoice }).body.toolConfig;

    assert.deepEqual(mode('auto'), { functionCallingConfig: { mode: 'AUTO' } });
    assert.deepEqual(mode('none'), { functionCallingConfig: { mode: 'NONE' } });
    assert.deepEqual(mode('required'), { functionCallingConfig: { mode: 'ANY' } });
    assert.deepEqual(mode({ type: 'function', function: { name: 'lookup' } }), {
      functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['lookup'] },
    });
    assert.equal(mode(undefined), undefined);
  });
});

describe('generation config and dropped parameters', () => {
  test('sampling parameters map to generationConfig; max_completion_tokens wins over max_tokens', () => {
    const { body, warnings } = convert({
      messages: [{ role: 'user', content: 'x' }],
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 100,
      max_completion_tokens: 200,
      stop: 'END',
      n: 2,
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: 0,
    });

    assert.deepEqual(body.generationConfig, {
      temperature: 0.3,
      topP: 0.9,
      maxOutputTokens: 200,
      stopSequences: ['END'],
      candidateCount: 2,
      seed: 7,
      presencePenalty: 0.5,
    });
    assert.deepEqual(warnings, []);
  });

  test('json_object asks for JSON; json_schema also sends the converted schema', () => {
    const jsonObject = convert({
      messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_object' },
    });
    const jsonSchema = convert({
      messages: [{ role: 'user', content: 'x' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'answer',
          strict: true,
          schema: { type: 'object', properties: { n: { type: 'integer' } }, additionalProperties: false },
        },
      },
    });

    assert.deepEqual(jsonObject.body.generationConfig, { responseMimeType: 'application/json' });
    assert.deepEqual(jsonSchema.body.generationConfig, {
      responseMimeType: 'application/json',
      responseSchema: { type: 'object', properties: { n: { type: 'integer' } } },
    });
    assert.deepEqual(
      jsonSchema.warnings.map((warning) => warning.param),
      ['response_format.json_schema.schema'],
    );
  });

  test('parameters Gemini lacks are not sent and each is reported by name', () => {
    const { body, warnings } = convert({
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
      stream_options: { include_usage: true },
      logprobs: true,
      top_logprobs: 2,
      logit_bias: { '50256': -100 },
      user: 'user-1',
      parallel_tool_calls: false,
      metadata: null,
    });

    assert.deepEqual(Object.keys(body), ['contents']);
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['logprobs', 'top_logprobs', 'logit_bias', 'user', 'parallel_tool_calls'],
    );
    assert.match(warnings[0]?.message ?? '', /Gemini does not support 'logprobs'; it was not sent/);
  });
});

test('mimeTypeOf reads the extension of the URL path only', () => {
  assert.equal(mimeTypeOf('https://example.com/a/b.png'), 'image/png');
  assert.equal(mimeTypeOf('https://example.com/a.pdf#page=2'), 'application/pdf');
  assert.equal(mimeTypeOf('https://example.com/a.v1/file'), undefined);
  assert.equal(mimeTypeOf('https://example.com/image.png.bin'), undefined);
});
