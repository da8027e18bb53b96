import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NexusError } from '../../src/core/errors.ts';
import { anthropicToCanonical } from '../../src/protocols/anthropic/request-to-canonical.ts';
import {
  type MessagesRequest,
  validateCountTokensRequest,
  validateMessagesRequest,
} from '../../src/protocols/anthropic/validate.ts';

const base = { model: 'gpt-4o-mini', max_tokens: 256 };

function convert(body: Record<string, unknown>, options = {}) {
  return anthropicToCanonical(validateMessagesRequest({ ...base, ...body }), options);
}

function rejects(body: unknown, param: string | undefined, message?: RegExp) {
  assert.throws(
    () => validateMessagesRequest(body),
    (error: unknown) => {
      assert.ok(error instanceof NexusError);
      assert.equal(error.code, 'invalid_request');
      assert.equal(error.param, param);
      if (message !== undefined) assert.match(error.message, message);
      return true;
    },
  );
}

describe('validateMessagesRequest', () => {
  const ok = { ...base, messages: [{ role: 'user', content: 'hi' }] };

  test('accepts a minimal request and keeps unknown fields', () => {
    const request = validateMessagesRequest({ ...ok, service_tier: 'auto', future_field: { a: 1 } });
    assert.equal(request.service_tier, 'auto');
    assert.deepEqual(request.future_field, { a: 1 });
  });

  test('max_tokens is required, as in Anthropic', () => {
    rejects({ model: 'm', messages: ok.messages }, 'max_tokens', /^max_tokens: Field required\.$/);
    rejects({ ...ok, max_tokens: 1.5 }, 'max_tokens');
    rejects({ ...ok, max_tokens: -1 }, 'max_tokens');
  });

  test('names the exact path of a bad nested field, Anthropic-style', () => {
    rejects({ ...ok, messages: [{ role: 'robot', content: 'x' }] }, 'messages.0.role');
    rejects({ ...ok, messages: [] }, 'messages', /at least one message/);
    const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: '' } };
    rejects(
      { ...ok, messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, image] }] },
      'messages.0.content.1.source.data',
    );
    const badMedia = { type: 'image', source: { type: 'base64', media_type: 'text/plain', data: 'AA' } };
    rejects(
      { ...ok, messages: [{ role: 'user', content: [badMedia] }] },
      'messages.0.content.0.source.media_type',
    );
    const toolUse = { type: 'tool_use', id: 'toolu_1', name: 'f', input: 'not an object' };
    rejects({ ...ok, messages: [{ role: 'assistant', content: [toolUse] }] }, 'messages.0.content.0.input');
    const result = { type: 'tool_result', tool_use_id: 't', content: [{ type: 'text' }] };
    rejects(
      { ...ok, messages: [{ role: 'user', content: [result] }] },
      'messages.0.content.0.content.0.text',
    );
  });

  test('checks sampling ranges, tools and tool_choice', () => {
    rejects({ ...ok, temperature: 1.5 }, 'temperature');
    rejects({ ...ok, top_p: -0.1 }, 'top_p');
    rejects({ ...ok, stop_sequences: 'END' }, 'stop_sequences');
    rejects({ ...ok, tools: [{ name: 'f' }] }, 'tools.0.input_schema');
    rejects({ ...ok, tool_choice: { type: 'tool' } }, 'tool_choice.name');
    rejects({ ...ok, metadata: { user_id: 5 } }, 'metadata.user_id');
  });

  test('server tools, unknown block types and unknown sources pass to the upstream unchecked', () => {
    const request = validateMessagesRequest({
      ...ok,
      tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }],
      messages: [
        { role: 'user', content: [{ type: 'search_result', source: 'x', title: 't', content: [] }] },
      ],
    });
    assert.equal(request.tools?.[0]?.type, 'web_search_20250305');
  });

  test('a body that is not an object is refused', () => {
    rejects([], undefined, /JSON object/);
    rejects('text', undefined, /JSON object/);
  });

  test('count_tokens needs no max_tokens', () => {
    const request = validateCountTokensRequest({ model: 'm', messages: ok.messages });
    assert.equal(request.model, 'm');
    assert.throws(() => validateCountTokensRequest({ model: 'm' }), /messages: Field required/);
  });
});

describe('anthropicToCanonical', () => {
  test('system string, user string, sampling, stop sequences, user id', () => {
    const { value, warnings } = convert({
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hello' }],
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ['END', 'STOP'],
      metadata: { user_id: 'user-42' },
    });
    assert.deepEqual(value, {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello' },
      ],
      max_tokens: 256,
      temperature: 0.2,
      top_p: 0.9,
      stop: ['END', 'STOP'],
      user: 'user-42',
    });
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['stop_sequences'],
      'the stop_reason caveat is reported',
    );
  });

  test('the output limit uses the field the target expects', () => {
    const { value } = convert(
      { messages: [{ role: 'user', content: 'x' }] },
      { maxTokensField: 'max_completion_tokens' },
    );
    assert.equal(value.max_completion_tokens, 256);
    assert.equal(value.max_tokens, undefined);
  });

  test('stream asks the upstream for usage', () => {
    const { value } = convert({ stream: true, messages: [{ role: 'user', content: 'x' }] });
    assert.equal(value.stream, true);
    assert.deepEqual(value.stream_options, { include_usage: true });
  });

  test('system blocks are joined; cache_control is reported once with a count', () => {
    const cache = { type: 'ephemeral' };
    const { value, warnings } = convert({
      system: [
        { type: 'text', text: 'Rule one.', cache_control: cache },
        { type: 'text', text: 'Rule two.', cache_control: cache },
      ],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Q', cache_control: cache }] }],
    });
    assert.deepEqual(value.messages[0], { role: 'system', content: 'Rule one.\nRule two.' });
    assert.deepEqual(value.messages[1], { role: 'user', content: 'Q' });
    const cacheWarning = warnings.find((warning) => warning.param === 'cache_control');
    assert.match(cacheWarning?.message ?? '', /Anthropic-only.*\(3 times\)/);
  });

  test('images: base64 becomes a data URL, url stays a URL, text parts keep their order', () => {
    const { value } = convert({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
    });
    assert.deepEqual(value.messages[0]?.content, [
      { type: 'text', text: 'What is this?' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
    ]);
  });

  test('an image by file id cannot be sent to a non-Anthropic model: 400 naming the source', () => {
    assert.throws(
      () =>
        convert({
          messages: [
            { role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'file_1' } }] },
          ],
        }),
      (error: unknown) =>
        error instanceof NexusError && error.status === 400 && error.param === 'messages.0.content.0.source',
    );
  });

  test('a tool-use turn and its results become tool_calls and tool messages, in OpenAI order', () => {
    const { value } = convert({
      messages: [
        { role: 'user', content: 'Weather in Paris and the time?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_A', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_B', name: 'get_time', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Here you go.' },
            { type: 'tool_result', tool_use_id: 'toolu_A', content: '18°C' },
            {
              type: 'tool_result',
              tool_use_id: 'toolu_B',
              is_error: true,
              content: [
                { type: 'text', text: 'clock' },
                { type: 'text', text: 'unavailable' },
              ],
            },
          ],
        },
      ],
    });
    assert.deepEqual(value.messages.slice(1), [
      {
        role: 'assistant',
        content: 'Checking.',
        tool_calls: [
          {
            id: 'toolu_A',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          { id: 'toolu_B', type: 'function', function: { name: 'get_time', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_A', content: '18°C' },
      { role: 'tool', tool_call_id: 'toolu_B', content: 'Error: clock\nunavailable' },
      { role: 'user', content: 'Here you go.' },
    ]);
  });

  test('an assistant turn with only tool_use has null content', () => {
    const { value } = convert({
      messages: [
        { role: 'user', content: 'x' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'f', input: { a: [1] } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1' }] },
      ],
    });
    assert.equal(value.messages[1]?.content, null);
    assert.deepEqual(value.messages[2], { role: 'tool', tool_call_id: 't1', content: '' });
    assert.equal(value.messages.length, 3);
  });

  test('an image inside a tool result follows in a user message, with a warning', () => {
    const image = { type: 'image', source: { type: 'url', url: 'https://example.com/chart.png' } };
    const { value, warnings } = convert({
      messages: [
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'chart', input: {} }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'ok' }, image] },
          ],
        },
      ],
    });
    assert.deepEqual(value.messages.slice(1), [
      { role: 'tool', tool_call_id: 't1', content: 'ok' },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/chart.png' } }] },
    ]);
    assert.ok(warnings.some((warning) => warning.param === 'tool_result'));
  });

  test('thinking blocks of earlier turns and unknown blocks are reported, not sent', () => {
    const { value, warnings } = convert({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'search_result', source: 's', title: 't', content: [] },
            { type: 'text', text: 'q' },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hmm', signature: 'sig' },
            { type: 'text', text: 'A' },
          ],
        },
        { role: 'user', content: 'more' },
      ],
    });
    assert.deepEqual(value.messages, [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'A' },
      { role: 'user', content: 'more' },
    ]);
    assert.deepEqual(warnings.map((warning) => warning.param).sort(), ['search_result', 'thinking']);
  });

  test('documents: plain text becomes text, a base64 PDF an OpenAI file part, a PDF URL is refused', () => {
    const { value } = convert({
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'document',
              source: { type: 'text', media_type: 'text/plain', data: 'The grass is green.' },
            },
            {
              type: 'document',
              title: 'report.pdf',
              source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' },
            },
          ],
        },
      ],
    });
    assert.deepEqual(value.messages[0]?.content, [
      { type: 'text', text: 'The grass is green.' },
      { type: 'file', file: { filename: 'report.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } },
    ]);
    assert.throws(
      () =>
        convert({
          messages: [
            {
              role: 'user',
              content: [{ type: 'document', source: { type: 'url', url: 'https://x/a.pdf' } }],
            },
          ],
        }),
      /messages\.0\.content\.0\.source: document source 'url'/,
    );
  });

  test('tools become functions; server tools are reported; tool_choice and parallel calls map', () => {
    const { value, warnings } = convert({
      messages: [{ role: 'user', content: 'x' }],
      tools: [
        {
          name: 'get_weather',
          description: 'Weather for a city',
          input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          cache_control: { type: 'ephemeral' },
        },
        { type: 'custom', name: 'lookup', input_schema: { type: 'object' }, strict: true },
        { type: 'web_search_20250305', name: 'web_search' },
      ],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
    assert.deepEqual(value.tools, [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
      { type: 'function', function: { name: 'lookup', parameters: { type: 'object' }, strict: true } },
    ]);
    assert.equal(value.tool_choice, 'required');
    assert.equal(value.parallel_tool_calls, false);
    assert.deepEqual(warnings.map((warning) => warning.param).sort(), ['cache_control', 'tools.2']);
  });

  test('each tool_choice type', () => {
    const tools = [{ name: 'f', input_schema: { type: 'object' } }];
    const choice = (tool_choice: unknown) =>
      convert({ messages: [{ role: 'user', content: 'x' }], tools, tool_choice }).value;
    assert.equal(choice({ type: 'auto' }).tool_choice, 'auto');
    assert.equal(choice({ type: 'none' }).tool_choice, 'none');
    assert.deepEqual(choice({ type: 'tool', name: 'f' }).tool_choice, {
      type: 'function',
      function: { name: 'f' },
    });
    assert.equal(choice({ type: 'auto' }).parallel_tool_calls, undefined);
  });

  test('fields with no canonical form are reported one by one, never dropped in silence', () => {
    const { value, warnings } = convert({
      messages: [{ role: 'user', content: 'x' }],
      top_k: 40,
      thinking: { type: 'enabled', budget_tokens: 2048 },
      service_tier: 'auto',
      some_future_field: true,
      metadata: { user_id: 'u', trace: 'abc' },
    });
    assert.equal(value.top_k, undefined);
    assert.equal(value.thinking, undefined);
    const params = warnings.map((warning) => warning.param).sort();
    assert.deepEqual(params, ['metadata.trace', 'service_tier', 'some_future_field', 'thinking', 'top_k']);
    assert.match(warnings.find((warning) => warning.param === 'thinking')?.message ?? '', /thinking/);
  });

  test('output_config.format becomes a JSON-schema response_format; effort is reported', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } } };
    const { value, warnings } = convert({
      messages: [{ role: 'user', content: 'x' }],
      output_config: { format: { type: 'json_schema', schema }, effort: 'high' },
    });
    assert.deepEqual(value.response_format, {
      type: 'json_schema',
      json_schema: { name: 'output', schema, strict: true },
    });
    assert.deepEqual(
      warnings.map((warning) => warning.param),
      ['output_config.effort'],
    );
  });

  test('a final assistant turn (prefill) is sent, with a warning', () => {
    const { value, warnings } = convert({
      messages: [
        { role: 'user', content: 'Pick A or B' },
        { role: 'assistant', content: 'The answer is (' },
      ],
    });
    assert.deepEqual(value.messages.at(-1), { role: 'assistant', content: 'The answer is (' });
    assert.ok(warnings.some((warning) => warning.param === 'messages' && /prefill/.test(warning.message)));
  });

  test('max_tokens 0 (cache pre-warming) is refused for a translated target', () => {
    const request: MessagesRequest = validateMessagesRequest({
      ...base,
      max_tokens: 0,
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.throws(
      () => anthropicToCanonical(request),
      (error: unknown) => error instanceof NexusError && error.param === 'max_tokens',
    );
  });

  test('system-role messages in the list become system messages', () => {
    const { value } = convert({
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Mid-conversation rule.' }] },
        { role: 'user', content: 'x' },
      ],
    });
    assert.deepEqual(value.messages[0], { role: 'system', content: 'Mid-conversation rule.' });
  });
});
