/**
 * The Anthropic adapter's pure converters, both directions: OpenAI request → Anthropic Messages request, and
 * Anthropic Message → OpenAI completion. Response fixtures are real Anthropic replies recorded by vercel/ai
 * (packages/anthropic/src/__fixtures__/, file named on each).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ModelSpec, ProviderSpec } from '../../src/catalog/types.ts';
import { NexusError } from '../../src/core/errors.ts';
import type { ChatRequest } from '../../src/core/openai-types.ts';
import { anthropicHeaders } from '../../src/providers/anthropic/anthropic-headers.ts';
import { toAnthropicRequest } from '../../src/providers/anthropic/convert-request.ts';
import { toChatCompletion, toUsage } from '../../src/providers/anthropic/convert-response.ts';
import { mapStopReason } from '../../src/providers/anthropic/map-stop-reason.ts';
import type { AnthropicResponse } from '../../src/providers/anthropic/wire-types.ts';
import { upstreamHeaders } from '../../src/providers/shared/upstream-exchange.ts';
import type { UpstreamTarget, Warning } from '../../src/providers/types.ts';

const provider: ProviderSpec = {
  id: 'anthropic',
  name: 'Anthropic',
  wire: 'anthropic',
  baseUrl: 'https://api.anthropic.com/v1',
  requiresApiKey: true,
  defaultModel: 'claude-sonnet-4-20250514',
  quirks: {
    extraHeaders: {},
    unsupportedParams: [],
    supportsStreamUsage: true,
    supportsEmbeddings: false,
    maxTokensField: 'max_tokens',
  },
};

function targetFor(maxOutputTokens: number | null | undefined, apiVersion?: string): UpstreamTarget {
  const modelSpec: ModelSpec | undefined =
    maxOutputTokens === undefined
      ? undefined
      : {
          id: 'claude-test',
          provider: 'anthropic',
          mode: 'chat',
          aliases: [],
          contextWindow: 200_000,
          maxOutputTokens,
          pricing: {
            inputPerMillion: 3,
            outputPerMillion: 15,
            cachedInputPerMillion: 0.3,
            cacheWriteInputPerMillion: null,
          },
          capabilities: { vision: true, tools: true, streaming: true, jsonMode: false },
        };
  return {
    instance: {
      id: 'anthropic#1',
      name: 'Anthropic (Key #1)',
      provider,
      baseUrl: provider.baseUrl,
      apiKey: 'sk-ant-secret',
      apiVersion,
      headers: { 'anthropic-beta': 'test-beta' },
    },
    model: 'claude-test',
    deployment: 'anthropic#1/claude-test',
    modelSpec,
  };
}

const target = targetFor(8192);

function convert(request: Partial<ChatRequest>, on: UpstreamTarget = target) {
  const warnings: Warning[] = [];
  const body = toAnthropicRequest(on, { model: 'x', messages: [], max_tokens: 100, ...request }, warnings);
  return { body, warnings, params: warnings.map((warning) => warning.param) };
}

function rejection(request: Partial<ChatRequest>): NexusError {
  try {
    convert(request);
  } catch (error) {
    assert.ok(error instanceof NexusError);
    return error;
  }
  assert.fail('the request should have been rejected');
}

describe('request: messages', () => {
  test('one system message becomes a string; system and developer messages become blocks', () => {
    const one = convert({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
      ],
    });
    const two = convert({
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Rule one.' }] },
        { role: 'developer', content: 'Rule two.' },
        { role: 'user', content: 'hi' },
      ],
    });

    assert.equal(one.body.system, 'Be brief.');
    assert.deepEqual(one.body.messages, [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]);
    assert.deepEqual(two.body.system, [
      { type: 'text', text: 'Rule one.' },
      { type: 'text', text: 'Rule two.' },
    ]);
    assert.deepEqual(two.warnings, []);
  });

  test('a system message after the conversation started is moved into the system prompt, with a warning', () => {
    const { body, params } = convert({
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'system', content: 'Now be formal.' },
        { role: 'user', content: 'again' },
      ],
    });

    assert.equal(body.system, 'Now be formal.');
    assert.deepEqual(body.messages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'hi' },
          { type: 'text', text: 'again' },
        ],
      },
    ]);
    assert.deepEqual(params, ['messages[1].role']);
  });

  test('consecutive same-role messages merge so turns alternate; empty text is left out', () => {
    const { body } = convert({
      messages: [
        { role: 'user', content: 'one' },
        { role: 'user', content: '' },
        { role: 'user', content: [{ type: 'text', text: 'two' }] },
        { role: 'assistant', content: 'three' },
        { role: 'assistant', content: [{ type: 'text', text: 'four' }] },
        { role: 'user', content: 'five' },
      ],
    });

    assert.deepEqual(
      body.messages.map((turn) => [turn.role, turn.content.map((block) => (block as { text: string }).text)]),
      [
        ['user', ['one', 'two']],
        ['assistant', ['three', 'four']],
        ['user', ['five']],
      ],
    );
  });

  test('tool calls become tool_use blocks; tool results merge into one user turn ahead of text', () => {
    const { body } = convert({
      messages: [
        { role: 'user', content: 'go' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'a', arguments: '{"x":[1,2],"y":{"z":null}}' },
            },
            { id: 'call_b', type: 'function', function: { name: 'b', arguments: '  ' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_a', content: 'result a' },
        { role: 'user', content: 'and then' },
        { role: 'tool', tool_call_id: 'call_b', content: [{ type: 'text', text: 'result b' }] },
      ],
    });

    assert.deepEqual(body.messages.slice(1), [
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_a', name: 'a', input: { x: [1, 2], y: { z: null } } },
          { type: 'tool_use', id: 'call_b', name: 'b', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_a', content: 'result a' },
          { type: 'tool_result', tool_use_id: 'call_b', content: [{ type: 'text', text: 'result b' }] },
          { type: 'text', text: 'and then' },
        ],
      },
    ]);
  });

  test('tool arguments that are not a JSON object, or a tool message without its id, are a 400', () => {
    const call = (args: string) => ({
      messages: [
        { role: 'user' as const, content: 'go' },
        {
          role: 'assistant' as const,
          tool_calls: [{ id: 'c', type: 'function' as const, function: { name: 'f', arguments: args } }],
        },
      ],
    });

    const broken = rejection(call('{"x":'));
    const list = rejection(call('[1,2]'));
    const orphan = rejection({ messages: [{ role: 'tool', content: 'r' }] });

    assert.equal(broken.code, 'invalid_request');
    assert.equal(broken.param, 'messages[1].tool_calls[0].function.arguments');
    assert.match(list.message, /JSON object/);
    assert.equal(orphan.param, 'messages[0].tool_call_id');
  });

  test('images: data URLs become base64 sources, http(s) URLs url sources; others are a 400', () => {
    const { body, params } = convert({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ', detail: 'high' } },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png?x=1' } },
            { type: 'image_url', image_url: { url: 'http://example.com/b.gif', detail: 'low' } },
          ],
        },
      ],
    });
    const ftp = rejection({
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }],
    });
    const notBase64 = rejection({
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png,rawbytes' } }] },
      ],
    });

    assert.deepEqual(body.messages[0]?.content, [
      { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/a.png?x=1' } },
      { type: 'image', source: { type: 'url', url: 'http://example.com/b.gif' } },
    ]);
    assert.deepEqual(params, ['image_url.detail'], 'one warning for any number of detail settings');
    assert.equal(ftp.param, 'messages[0].content[0].image_url.url');
    assert.equal(notBase64.code, 'invalid_request');
  });

  test('parts, roles and names Anthropic cannot take are dropped with a warning each', () => {
    const { body, params } = convert({
      messages: [
        {
          role: 'user',
          name: 'alice',
          content: [
            { type: 'input_audio', input_audio: { data: 'x' } },
            { type: 'text', text: 'hi' },
          ],
        },
        { role: 'function', name: 'legacy', content: 'old result' },
      ],
    });

    assert.deepEqual(body.messages, [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]);
    assert.deepEqual(params, ['messages[].name', 'messages[0].content[0]', 'messages[1].role']);
  });
});

describe('request: parameters', () => {
  test('tools become name/description/input_schema; non-function tools and strict are reported', () => {
    const { body, params } = convert({
      tools: [
        {
          type: 'function',
          function: {
            name: 'f',
            description: 'does f',
            parameters: { type: 'object', properties: { a: { type: 'string' } } },
            strict: true,
          },
        },
        { type: 'function', function: { name: 'g' } },
        { type: 'custom', custom: { name: 'h' } },
      ],
    });

    assert.deepEqual(body.tools, [
      {
        name: 'f',
        description: 'does f',
        input_schema: { type: 'object', properties: { a: { type: 'string' } } },
      },
      { name: 'g', input_schema: { type: 'object', properties: {} } },
    ]);
    assert.deepEqual(params, ['tools[].function.strict', 'tools[2]']);
  });

  test('tool_choice and parallel_tool_calls map to Anthropic tool_choice', () => {
    const tools = [{ type: 'function', function: { name: 'f' } }];
    const choice = (tool_choice: unknown, parallel_tool_calls?: boolean) =>
      convert({ tools, tool_choice, ...(parallel_tool_calls === undefined ? {} : { parallel_tool_calls }) });

    assert.deepEqual(choice('none').body.tool_choice, { type: 'none' });
    assert.deepEqual(choice('auto').body.tool_choice, { type: 'auto' });
    assert.deepEqual(choice('required').body.tool_choice, { type: 'any' });
    assert.deepEqual(choice({ type: 'function', function: { name: 'f' } }).body.tool_choice, {
      type: 'tool',
      name: 'f',
    });
    assert.deepEqual(choice(undefined, false).body.tool_choice, {
      type: 'auto',
      disable_parallel_tool_use: true,
    });
    assert.deepEqual(choice('required', false).body.tool_choice, {
      type: 'any',
      disable_parallel_tool_use: true,
    });
    assert.deepEqual(choice('none', false).body.tool_choice, { type: 'none' });
    assert.equal(choice(undefined, true).body.tool_choice, undefined);
    const allowed = choice({ type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } });
    assert.equal(allowed.body.tool_choice, undefined);
    assert.deepEqual(allowed.params, ['tool_choice']);
    const toolless = convert({ tool_choice: 'none' });
    const forcedWithoutTools = convert({ tool_choice: 'required' });
    assert.deepEqual([toolless.body.tool_choice, toolless.warnings], [undefined, []]);
    assert.deepEqual(
      [forcedWithoutTools.body.tool_choice, forcedWithoutTools.params],
      [undefined, ['tool_choice']],
    );
  });

  test('max_tokens: given, renamed from max_completion_tokens, or defaulted with a warning', () => {
    const given = convert({ max_tokens: 50 });
    const renamed = convert({ max_tokens: undefined, max_completion_tokens: 70 });
    const both = convert({ max_tokens: 50, max_completion_tokens: 70 });
    const catalogued = convert({ max_tokens: undefined });
    const unknownModel = convert({ max_tokens: undefined }, targetFor(undefined));
    const unpublished = convert({ max_tokens: null }, targetFor(null));

    assert.deepEqual([given.body.max_tokens, given.warnings], [50, []]);
    assert.deepEqual([renamed.body.max_tokens, renamed.warnings], [70, []]);
    assert.deepEqual([both.body.max_tokens, both.params], [70, ['max_tokens']]);
    assert.equal(catalogued.body.max_tokens, 8192);
    assert.match(catalogued.warnings[0]?.message ?? '', /8192 \(the model's maximum\)/);
    assert.equal(unknownModel.body.max_tokens, 4096);
    assert.match(unknownModel.warnings[0]?.message ?? '', /4096 \(its default\)/);
    assert.equal(unpublished.body.max_tokens, 4096);
  });

  test('sampling, stop and user map over; temperature above 1 is clamped with a warning', () => {
    const { body, warnings } = convert({ temperature: 1.7, top_p: 0.9, top_k: 40, stop: 'END', user: 'u-1' });
    const list = convert({ temperature: 0.3, stop: ['a', 'b'] });

    assert.deepEqual(
      { ...body, messages: undefined },
      {
        model: 'claude-test',
        messages: undefined,
        max_tokens: 100,
        temperature: 1,
        top_p: 0.9,
        top_k: 40,
        stop_sequences: ['END'],
        metadata: { user_id: 'u-1' },
      },
    );
    assert.deepEqual(warnings, [
      { param: 'temperature', message: 'Anthropic accepts temperature 0..1; 1.7 was sent as 1.' },
    ]);
    assert.equal(list.body.temperature, 0.3);
    assert.deepEqual(list.body.stop_sequences, ['a', 'b']);
    assert.deepEqual(list.warnings, []);
  });

  test('API version 2026-10-21 and later: temperature, top_p and top_k are not sent, with warnings', () => {
    const sampling = { temperature: 0.5, top_p: 0.9, top_k: 10 };
    const current = convert(sampling, targetFor(8192, '2026-10-21'));
    const pinnedOld = convert(sampling, targetFor(8192, '2023-06-01'));

    assert.equal(current.body.temperature, undefined);
    assert.equal(current.body.top_p, undefined);
    assert.equal(current.body.top_k, undefined);
    assert.deepEqual(current.params, ['temperature', 'top_p', 'top_k']);
    assert.match(current.warnings[0]?.message ?? '', /API version 2026-10-21 rejects 'temperature'/);
    assert.deepEqual(
      [pinnedOld.body.temperature, pinnedOld.body.top_p, pinnedOld.body.top_k],
      [0.5, 0.9, 10],
    );
    assert.deepEqual(pinnedOld.warnings, []);
  });

  test('every unsupported parameter is reported once; defaults and nulls are not', () => {
    const dropped = convert({
      n: 3,
      logprobs: true,
      top_logprobs: 2,
      presence_penalty: 0.4,
      frequency_penalty: -1,
      seed: 42,
      logit_bias: { '1': 2 },
      response_format: { type: 'json_schema', json_schema: { name: 's', schema: {} } },
      service_tier: 'flex',
      metadata: { team: 'x' },
      some_future_field: true,
    });
    const harmless = convert({
      n: 1,
      logprobs: false,
      presence_penalty: 0,
      frequency_penalty: 0,
      response_format: { type: 'text' },
      seed: null,
      store: false,
      stream_options: { include_usage: true },
      parallel_tool_calls: true,
    });

    assert.deepEqual(dropped.params, [
      'n',
      'logprobs',
      'top_logprobs',
      'presence_penalty',
      'frequency_penalty',
      'seed',
      'logit_bias',
      'response_format',
      'service_tier',
      'metadata',
      'some_future_field',
    ]);
    assert.equal(dropped.warnings[0]?.message, "Anthropic returns one choice; 'n' (3) was not sent.");
    assert.deepEqual(Object.keys(dropped.body).sort(), ['max_tokens', 'messages', 'model']);
    assert.deepEqual(harmless.warnings, []);
  });

  test('headers carry the key as x-api-key, the API version (configurable) and config extras', () => {
    const headers = upstreamHeaders(target, 'text/event-stream', anthropicHeaders(target));
    const pinned = anthropicHeaders(targetFor(8192, '2025-01-01'));

    assert.deepEqual(headers, {
      'anthropic-beta': 'test-beta',
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'anthropic-version': '2023-06-01',
      'x-api-key': 'sk-ant-secret',
    });
    assert.equal(pinned['anthropic-version'], '2025-01-01');
  });
});

/** vercel/ai anthropic-text.json: a plain text reply. */
const textReply: AnthropicResponse = {
  model: 'claude-opus-4-7',
  id: 'msg_01TestTextResponse',
  type: 'message',
  content: [{ type: 'text', text: 'Hello!' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 },
};

/** vercel/ai anthropic-tool-no-args.json: text, then a tool use without arguments. */
const toolNoArgsReply: AnthropicResponse = {
  model: 'claude-3-opus-20240229',
  id: 'msg_01GCBaV8gyWAYgMVggRqZbuQ',
  type: 'message',
  content: [
    { type: 'text', text: 'Okay, I will update the current issue list:' },
    { type: 'tool_use', id: 'toolu_01LRmxn9vGM1d2DZSDBowdZ1', name: 'updateIssueList', input: {} },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: { input_tokens: 602, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 93 },
};

/** vercel/ai anthropic-json-tool.1.json: only a tool use, with a nested input (abridged to two elements). */
const toolOnlyReply: AnthropicResponse = {
  model: 'claude-haiku-4-5-20251001',
  id: 'msg_0191iYfpERYfS27xLsdW2nbb',
  type: 'message',
  content: [
    {
      type: 'tool_use',
      id: 'toolu_01Q9ExVZnzZj7E2QQYHYtNUa',
      name: 'json',
      input: {
        elements: [
          { location: 'San Francisco', temperature: -5, condition: 'snowy' },
          { location: 'London', temperature: 0, condition: 'snowy' },
        ],
      },
    },
  ],
  stop_reason: 'tool_use',
  usage: {
    input_tokens: 1151,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    output_tokens: 87,
  },
};

/** vercel/ai anthropic-refusal.json: no content, stop_reason refusal. */
const refusalReply: AnthropicResponse = {
  model: 'claude-fable-5',
  id: 'msg_01RefusalExampleAbcdefghijk',
  type: 'message',
  content: [],
  stop_reason: 'refusal',
  stop_sequence: null,
  usage: { input_tokens: 18, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 5 },
};

describe('response', () => {
  test('a text reply becomes a chat.completion with the id, model and usage of the reply', () => {
    const warnings: Warning[] = [];
    const completion = toChatCompletion(textReply, warnings);

    assert.equal(completion.id, 'msg_01TestTextResponse');
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'claude-opus-4-7');
    assert.equal(typeof completion.created, 'number');
    assert.deepEqual(completion.choices, [
      {
        index: 0,
        message: { role: 'assistant', content: 'Hello!', refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ]);
    assert.deepEqual(completion.usage, {
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
    });
    assert.deepEqual(warnings, []);
  });

  test('tool uses become tool_calls with the input as JSON text; content is null without text', () => {
    const mixed = toChatCompletion(toolNoArgsReply, []).choices[0];
    const only = toChatCompletion(toolOnlyReply, []).choices[0];

    assert.equal(mixed?.finish_reason, 'tool_calls');
    assert.equal(mixed?.message.content, 'Okay, I will update the current issue list:');
    assert.deepEqual(mixed?.message.tool_calls, [
      {
        id: 'toolu_01LRmxn9vGM1d2DZSDBowdZ1',
        type: 'function',
        function: { name: 'updateIssueList', arguments: '{}' },
      },
    ]);
    assert.equal(only?.message.content, null);
    assert.deepEqual(
      JSON.parse(only?.message.tool_calls?.[0]?.function.arguments ?? ''),
      toolOnlyReply.content[0]?.input,
    );
  });

  test('a refusal is content_filter with empty content; unknown blocks are reported and left out', () => {
    const refused = toChatCompletion(refusalReply, []).choices[0];
    const warnings: Warning[] = [];
    const thinking = toChatCompletion(
      {
        ...textReply,
        content: [
          { type: 'thinking' },
          { type: 'text', text: 'A' },
          { type: 'thinking' },
          { type: 'text', text: 'B' },
        ],
      },
      warnings,
    );

    assert.equal(refused?.finish_reason, 'content_filter');
    assert.equal(refused?.message.content, '');
    assert.equal(thinking.choices[0]?.message.content, 'AB');
    assert.equal(warnings.length, 1, 'one warning per kind of block');
    assert.match(warnings[0]?.message ?? '', /'thinking'/);
  });

  test('usage: prompt_tokens adds cache reads and writes; cached_tokens are the reads', () => {
    assert.deepEqual(
      toUsage({
        input_tokens: 10,
        cache_read_input_tokens: 200,
        cache_creation_input_tokens: 30,
        output_tokens: 7,
      }),
      {
        prompt_tokens: 240,
        completion_tokens: 7,
        total_tokens: 247,
        prompt_tokens_details: { cached_tokens: 200, cache_creation_tokens: 30 },
      },
    );
    // Older replies and message_delta events may omit the cache fields.
    assert.deepEqual(toUsage({ input_tokens: 3, output_tokens: 1 }), {
      prompt_tokens: 3,
      completion_tokens: 1,
      total_tokens: 4,
      prompt_tokens_details: { cached_tokens: 0 },
    });
  });

  test('stop reasons map to finish reasons; pause_turn and unknown reasons are reported', () => {
    const warnings: Warning[] = [];
    const mapped = [
      'end_turn',
      'stop_sequence',
      'max_tokens',
      'model_context_window_exceeded',
      'tool_use',
      'refusal',
      'pause_turn',
      'something_new',
    ].map((reason) => mapStopReason(reason, warnings));

    assert.deepEqual(mapped, [
      'stop',
      'stop',
      'length',
      'length',
      'tool_calls',
      'content_filter',
      'stop',
      'stop',
    ]);
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['finish_reason', 'finish_reason'],
    );
    assert.match(warnings[1]?.message ?? '', /something_new/);
  });
});
