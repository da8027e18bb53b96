import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { AnthropicMessageBody } from '../../src/cache/cache-types.ts';
import {
  type AnthropicStreamEvent,
  replayAnthropicMessage,
  replayChatCompletion,
} from '../../src/cache/stream-replay.ts';
import type { ChatCompletion, ChatCompletionChunk } from '../../src/core/openai-types.ts';

const textCompletion: ChatCompletion = {
  id: 'chatcmpl-cached-1',
  object: 'chat.completion',
  created: 1_750_000_000,
  model: 'gpt-4o-mini-2024-07-18',
  system_fingerprint: 'fp_1',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Boil water, steep the tea 3 min 🍵. Thé prêt.' },
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 15, total_tokens: 27 },
};

const toolCompletion: ChatCompletion = {
  id: 'chatcmpl-cached-2',
  object: 'chat.completion',
  created: 1_750_000_001,
  model: 'gpt-4o',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_a',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          {
            id: 'call_b',
            type: 'function',
            function: { name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
          },
        ],
      },
      finish_reason: 'tool_calls',
    },
  ],
  usage: { prompt_tokens: 40, completion_tokens: 22, total_tokens: 62 },
};

const anthropicMessage: AnthropicMessageBody = {
  id: 'msg_cached_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5',
  content: [
    { type: 'thinking', thinking: 'The user wants weather; call the tool.', signature: 'sig-abc' },
    { type: 'text', text: 'Let me check the weather in Paris ☀️.' },
    { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', units: ['c'] } },
  ],
  stop_reason: 'tool_use',
  stop_sequence: null,
  usage: {
    input_tokens: 30,
    output_tokens: 45,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 10,
  },
};

/** What the fake upstream serves next: SSE text, written in 7-byte slices (mid-line, mid-UTF-8). */
let nextBody = '';
let server: Server;
let baseUrl: string;

before(async () => {
  server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const bytes = Buffer.from(nextBody);
      for (let start = 0; start < bytes.length; start += 7) response.write(bytes.subarray(start, start + 7));
      response.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
});

function openAiSse(chunks: readonly ChatCompletionChunk[]): string {
  return `${chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`).join('')}data: [DONE]\n\n`;
}

function anthropicSse(events: readonly AnthropicStreamEvent[]): string {
  return events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');
}

const openai = () => new OpenAI({ apiKey: 'test', baseURL: `${baseUrl}/v1`, maxRetries: 0 });

async function throughOpenAiSdk(chunks: readonly ChatCompletionChunk[]) {
  nextBody = openAiSse(chunks);
  const stream = openai().chat.completions.stream({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'tea?' }],
    stream_options: { include_usage: true },
  });
  return await stream.finalChatCompletion();
}

describe('OpenAI chat stream replay', () => {
  it('role, content, finish; a usage chunk only when asked', () => {
    const plain = replayChatCompletion(textCompletion);
    assert.deepEqual(
      plain.map((chunk) => chunk.choices[0]?.delta),
      [{ role: 'assistant', content: '' }, { content: textCompletion.choices[0]!.message.content }, {}],
    );
    assert.deepEqual(
      plain.map((chunk) => chunk.choices[0]?.finish_reason),
      [null, null, 'stop'],
    );
    assert.ok(plain.every((chunk) => chunk.usage === undefined && chunk.object === 'chat.completion.chunk'));
    assert.ok(
      plain.every((chunk) => chunk.id === 'chatcmpl-cached-1' && chunk.system_fingerprint === 'fp_1'),
    );

    const withUsage = replayChatCompletion(textCompletion, { includeUsage: true });
    assert.equal(withUsage.length, 4);
    assert.deepEqual(withUsage.at(-1)?.choices, []);
    assert.deepEqual(withUsage.at(-1)?.usage, textCompletion.usage);
    assert.ok(withUsage.slice(0, -1).every((chunk) => chunk.usage === null));
  });

  it('the official SDK accumulates the replay into the cached completion', async () => {
    const final = await throughOpenAiSdk(replayChatCompletion(textCompletion, { includeUsage: true }));
    assert.equal(final.id, textCompletion.id);
    assert.equal(final.model, textCompletion.model);
    assert.equal(final.created, textCompletion.created);
    assert.equal(final.choices.length, 1);
    assert.equal(final.choices[0]?.message.content, textCompletion.choices[0]!.message.content);
    assert.equal(final.choices[0]?.message.role, 'assistant');
    assert.equal(final.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(final.usage, textCompletion.usage);
  });

  it('text split into many chunks never splits a character', async () => {
    const chunks = replayChatCompletion(textCompletion, { includeUsage: true, maxChunkChars: 3 });
    assert.ok(chunks.length > 10);
    for (const chunk of chunks) {
      const content = chunk.choices[0]?.delta.content;
      if (typeof content === 'string') assert.ok(Array.from(content).length <= 3);
    }
    const final = await throughOpenAiSdk(chunks);
    assert.equal(final.choices[0]?.message.content, textCompletion.choices[0]!.message.content);
  });

  it('tool calls replay as start + arguments deltas the SDK puts back together', async () => {
    const chunks = replayChatCompletion(toolCompletion, { includeUsage: true });
    const toolDeltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    assert.deepEqual(
      toolDeltas.map((delta) => [delta.index, delta.id, delta.function?.name]),
      [
        [0, 'call_a', 'get_weather'],
        [0, undefined, undefined],
        [1, 'call_b', 'get_time'],
        [1, undefined, undefined],
      ],
    );
    const final = await throughOpenAiSdk(chunks);
    assert.equal(final.choices[0]?.finish_reason, 'tool_calls');
    assert.deepEqual(
      final.choices[0]?.message.tool_calls?.map((call) => ({
        id: call.id,
        type: call.type,
        function: call.type === 'function' ? call.function : undefined,
      })),
      toolCompletion.choices[0]!.message.tool_calls,
    );
    assert.deepEqual(final.usage, toolCompletion.usage);
  });

  it('several choices each get their role, content and finish', async () => {
    const two: ChatCompletion = {
      ...textCompletion,
      choices: [
        { index: 0, message: { role: 'assistant', content: 'first' }, finish_reason: 'stop' },
        { index: 1, message: { role: 'assistant', content: 'second' }, finish_reason: 'length' },
      ],
    };
    const final = await throughOpenAiSdk(replayChatCompletion(two, { includeUsage: true }));
    assert.deepEqual(
      final.choices.map((choice) => [choice.index, choice.message.content, choice.finish_reason]),
      [
        [0, 'first', 'stop'],
        [1, 'second', 'length'],
      ],
    );
  });
});

describe('Anthropic Messages stream replay', () => {
  it('is message_start, one start/deltas/stop per block, message_delta, message_stop', () => {
    const events = replayAnthropicMessage(anthropicMessage);
    assert.deepEqual(
      events.map((event) => {
        const delta = event.delta as { type?: string } | undefined;
        return event.type === 'content_block_delta' ? `${event.index}:${delta?.type}` : event.type;
      }),
      [
        'message_start',
        'content_block_start',
        '0:thinking_delta',
        '0:signature_delta',
        'content_block_stop',
        'content_block_start',
        '1:text_delta',
        'content_block_stop',
        'content_block_start',
        '2:input_json_delta',
        'content_block_stop',
        'message_delta',
        'message_stop',
      ],
    );
    const start = events[0]?.message as AnthropicMessageBody;
    assert.deepEqual(start.content, []);
    assert.equal(start.stop_reason, null);
    assert.equal(start.usage.input_tokens, 30);
    assert.equal(start.usage.output_tokens, 0);
  });

  it('the official SDK accumulates the replay into the cached message', async () => {
    nextBody = anthropicSse(replayAnthropicMessage(anthropicMessage));
    const client = new Anthropic({ apiKey: 'test', baseURL: baseUrl, maxRetries: 0 });
    const stream = client.messages.stream({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'weather?' }],
    });
    const final = await stream.finalMessage();
    assert.equal(final.id, anthropicMessage.id);
    assert.equal(final.model, anthropicMessage.model);
    assert.equal(final.stop_reason, 'tool_use');
    assert.equal(final.stop_sequence, null);
    assert.deepEqual(final.content, anthropicMessage.content);
    assert.equal(final.usage.input_tokens, 30);
    assert.equal(final.usage.output_tokens, 45);
    assert.equal(final.usage.cache_read_input_tokens, 10);
  });

  it('a text-only message with an empty block and an unknown block type replays whole', async () => {
    const message: AnthropicMessageBody = {
      ...anthropicMessage,
      id: 'msg_cached_2',
      content: [
        { type: 'redacted_thinking', data: 'opaque' },
        { type: 'text', text: 'Plain answer.' },
      ],
      stop_reason: 'end_turn',
      usage: { input_tokens: 5, output_tokens: 3 },
    };
    nextBody = anthropicSse(replayAnthropicMessage(message));
    const client = new Anthropic({ apiKey: 'test', baseURL: baseUrl, maxRetries: 0 });
    const final = await client.messages
      .stream({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] })
      .finalMessage();
    assert.deepEqual(final.content, message.content);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.output_tokens, 3);
  });
});
