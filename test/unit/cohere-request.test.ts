import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCatalog } from '../../src/catalog/load.ts';
import type { NexusError } from '../../src/core/errors.ts';
import type { ChatRequest } from '../../src/core/openai-types.ts';
import { buildCohereEmbedBody } from '../../src/providers/cohere/embed.ts';
import { buildCohereChatBody } from '../../src/providers/cohere/request.ts';
import type { UpstreamTarget, Warning } from '../../src/providers/types.ts';

const provider = loadCatalog().providers.get('cohere');
assert.ok(provider);

const target: UpstreamTarget = {
  instance: {
    id: 'cohere#1',
    name: 'Cohere (Key #1)',
    provider,
    baseUrl: provider.baseUrl,
    apiKey: 'co-key',
    apiVersion: undefined,
    headers: {},
  },
  model: 'command-a-03-2025',
  deployment: 'cohere#1/command',
  modelSpec: undefined,
};

function build(request: Partial<ChatRequest>) {
  const warnings: Warning[] = [];
  const body = buildCohereChatBody(
    target,
    { model: 'cohere/command-a-03-2025', messages: [{ role: 'user', content: 'hi' }], ...request },
    warnings,
  );
  return { body, warnings, params: warnings.map((warning) => warning.param) };
}

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather by city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const timeTool = { type: 'function', function: { name: 'get_time' } };

describe('Cohere chat request: messages', () => {
  it('maps system, developer, user, assistant (with and without tool calls) and tool messages', () => {
    const { body, warnings } = build({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Use metric.' }] },
        { role: 'user', content: 'Weather in Paris?' },
        {
          role: 'assistant',
          content: 'I will check.',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '18C' }] },
        { role: 'assistant', content: 'It is 18C.' },
      ],
    });

    assert.deepEqual(body.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'system', content: 'Use metric.' },
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
        ],
        tool_plan: 'I will check.',
      },
      { role: 'tool', tool_call_id: 'call_1', content: '18C' },
      { role: 'assistant', content: 'It is 18C.' },
    ]);
    assert.deepEqual(warnings, []);
    assert.equal(body.model, 'command-a-03-2025', 'the provider model id, not the routed name');
  });

  it('keeps text and image parts of user messages, in Cohere v2 shape', () => {
    const { body, warnings } = build({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'high' } },
          ],
        },
      ],
    });

    assert.deepEqual(body.messages[0], {
      role: 'user',
      content: [
        { type: 'text', text: 'What is this?' },
        { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'high' } },
      ],
    });
    assert.deepEqual(warnings, []);
  });

  it('reports what a message cannot carry: names, audio parts, images outside user turns, function roles', () => {
    const { body, params } = build({
      messages: [
        { role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] },
        {
          role: 'user',
          name: 'alice',
          content: [{ type: 'input_audio', input_audio: { data: 'AA', format: 'wav' } }],
        },
        { role: 'function', name: 'legacy', content: '42' },
      ],
    });

    assert.deepEqual(params, [
      'messages.0.content.0',
      'messages.1.name',
      'messages.1.content.0',
      'messages.2.name',
      'messages.2.role',
    ]);
    assert.deepEqual(body.messages, [
      { role: 'system', content: '' },
      { role: 'user', content: [] },
    ]);
  });
});

describe('Cohere chat request: tools and tool_choice', () => {
  it('sends function tools, giving a parameterless function an empty object schema', () => {
    const { body, warnings } = build({ tools: [weatherTool, timeTool] });

    assert.deepEqual(body.tools, [
      weatherTool,
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    ]);
    assert.equal(body.tool_choice, undefined);
    assert.deepEqual(warnings, []);
  });

  it('maps auto, none and required', () => {
    assert.equal(build({ tools: [weatherTool], tool_choice: 'auto' }).body.tool_choice, undefined);
    assert.equal(build({ tools: [weatherTool], tool_choice: 'none' }).body.tool_choice, 'NONE');
    assert.equal(build({ tools: [weatherTool], tool_choice: 'required' }).body.tool_choice, 'REQUIRED');
  });

  it('forces a named tool by offering only that tool with REQUIRED, and says so', () => {
    const { body, warnings } = build({
      tools: [weatherTool, timeTool],
      tool_choice: { type: 'function', function: { name: 'get_time' } },
    });

    assert.deepEqual(
      body.tools?.map((tool) => tool.function.name),
      ['get_time'],
    );
    assert.equal(body.tool_choice, 'REQUIRED');
    assert.equal(warnings[0]?.param, 'tool_choice');
    assert.match(warnings[0]?.message ?? '', /only 'get_time' was offered/);
  });

  it('drops a tool_choice naming an unknown tool or with no tools, and non-function tools', () => {
    const unknown = build({
      tools: [weatherTool],
      tool_choice: { type: 'function', function: { name: 'nope' } },
    });
    const none = build({ tool_choice: 'required' });
    const custom = build({ tools: [{ type: 'custom', custom: { name: 'x' } }, weatherTool] });

    assert.equal(unknown.body.tool_choice, undefined);
    assert.deepEqual(unknown.body.tools, [weatherTool]);
    assert.deepEqual(unknown.params, ['tool_choice']);
    assert.equal(none.body.tool_choice, undefined);
    assert.deepEqual(none.params, ['tool_choice']);
    assert.deepEqual(custom.body.tools, [weatherTool]);
    assert.deepEqual(custom.params, ['tools.0']);
  });

  it('turns strict tools into strict_tools, warning when only some were strict', () => {
    const strict = (tool: typeof weatherTool) => ({ ...tool, function: { ...tool.function, strict: true } });
    const all = build({ tools: [strict(weatherTool)] });
    const some = build({
      tools: [strict(weatherTool), { ...weatherTool, function: { ...weatherTool.function, name: 'b' } }],
    });

    assert.equal(all.body.strict_tools, true);
    assert.deepEqual(all.params, []);
    assert.equal(some.body.strict_tools, true);
    assert.deepEqual(some.params, ['tools']);
  });
});

describe('Cohere chat request: sampling and output parameters', () => {
  it('translates the parameters Cohere has, silently when the meaning is the same', () => {
    const { body, warnings } = build({
      temperature: 0.4,
      top_p: 0.9,
      max_completion_tokens: 300,
      max_tokens: 100,
      stop: ['END', 'STOP'],
      seed: 42,
      frequency_penalty: 0.5,
      presence_penalty: 0.25,
      n: 1,
      parallel_tool_calls: true,
      stream_options: { include_usage: true },
    });

    assert.deepEqual(
      [
        body.temperature,
        body.p,
        body.max_tokens,
        body.stop_sequences,
        body.seed,
        body.frequency_penalty,
        body.presence_penalty,
      ],
      [0.4, 0.9, 300, ['END', 'STOP'], 42, 0.5, 0.25],
    );
    assert.equal(body.stream, false);
    assert.deepEqual(warnings, []);
  });

  it('clamps top_p and the penalties into Cohere’s ranges, with the old and new value', () => {
    const { body, warnings } = build({ top_p: 1, frequency_penalty: -1, presence_penalty: 2, stop: 'END' });

    assert.deepEqual([body.p, body.frequency_penalty, body.presence_penalty], [0.99, 0, 1]);
    assert.deepEqual(body.stop_sequences, ['END']);
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['top_p', 'frequency_penalty', 'presence_penalty'],
    );
    assert.match(warnings[0]?.message ?? '', /1 was sent as 0.99/);
  });

  it('drops every field Cohere has no equivalent for, each with a warning; null fields are not warned', () => {
    const { body, params } = build({
      n: 3,
      logprobs: true,
      top_logprobs: 2,
      user: 'u-1',
      logit_bias: { '1': 2 },
      parallel_tool_calls: false,
      service_tier: 'auto',
      metadata: null,
    });

    assert.deepEqual(params.sort(), [
      'logit_bias',
      'logprobs',
      'n',
      'parallel_tool_calls',
      'service_tier',
      'top_logprobs',
      'user',
    ]);
    for (const field of ['n', 'logprobs', 'user', 'logit_bias', 'service_tier']) {
      assert.equal((body as unknown as Record<string, unknown>)[field], undefined);
    }
  });

  it('maps response_format json_object and json_schema; text is the default', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } } };

    assert.equal(build({ response_format: { type: 'text' } }).body.response_format, undefined);
    assert.deepEqual(build({ response_format: { type: 'json_object' } }).body.response_format, {
      type: 'json_object',
    });
    assert.deepEqual(
      build({
        response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
      }).body.response_format,
      { type: 'json_object', json_schema: schema },
    );
    const other = build({ response_format: { type: 'grammar' } });
    assert.equal(other.body.response_format, undefined);
    assert.deepEqual(other.params, ['response_format']);
  });

  it('asks for a stream when the request streams', () => {
    assert.equal(build({ stream: true }).body.stream, true);
  });
});

describe('Cohere embed request', () => {
  const embedTarget = { ...target, model: 'embed-english-v3.0' };

  it('sends texts, float embeddings and the search_document default, warning that OpenAI has no input_type', () => {
    const warnings: Warning[] = [];
    const body = buildCohereEmbedBody(
      embedTarget,
      { model: 'cohere/embed-english-v3.0', input: 'hello' },
      warnings,
    );

    assert.deepEqual(body, {
      model: 'embed-english-v3.0',
      texts: ['hello'],
      input_type: 'search_document',
      embedding_types: ['float'],
    });
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['input_type'],
    );
  });

  it('takes input_type as an extra field and dimensions as output_dimension', () => {
    const warnings: Warning[] = [];
    const body = buildCohereEmbedBody(
      embedTarget,
      {
        model: 'x',
        input: ['a', 'b'],
        input_type: 'search_query',
        dimensions: 512,
        encoding_format: 'base64',
      },
      warnings,
    );

    assert.deepEqual(body, {
      model: 'embed-english-v3.0',
      texts: ['a', 'b'],
      input_type: 'search_query',
      embedding_types: ['float'],
      output_dimension: 512,
    });
    assert.deepEqual(warnings, []);
  });

  it('replaces an unknown input_type, drops user, and refuses token-id input', () => {
    const warnings: Warning[] = [];
    const body = buildCohereEmbedBody(
      embedTarget,
      { model: 'x', input: 'a', input_type: 'poems', user: 'u' },
      warnings,
    );

    assert.equal(body.input_type, 'search_document');
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['input_type', 'user'],
    );
    assert.throws(
      () => buildCohereEmbedBody(embedTarget, { model: 'x', input: [1, 2, 3] }, []),
      (error: NexusError) => error.code === 'unsupported_capability' && error.param === 'input',
    );
  });
});
