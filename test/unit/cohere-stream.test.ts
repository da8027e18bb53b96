import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NexusError } from '../../src/core/errors.ts';
import type { ChatCompletionChunk } from '../../src/core/openai-types.ts';
import { readCohereStream } from '../../src/providers/cohere/stream.ts';
import type { StreamEvent } from '../../src/providers/types.ts';

// Event sequences recorded from Cohere v2 in vercel/ai:packages/cohere/src/__fixtures__ (cohere-text.chunks.txt,
// cohere-tool-call.chunks.txt with its tool plan shortened, cohere-empty-tool-call.chunks.txt, and
// cohere-reasoning.chunks.txt shortened). On the wire each is `event: <type>` + `data: <json>`, then
// `data: [DONE]` (docs.cohere.com/docs/streaming; cohere-ai/cohere-python#730).
const textEvents = [
  '{"id":"321d178c-2c12-44d3-ae42-2f5510f6b1cc","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}',
  '{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}',
  '{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"The"}}}}',
  '{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":" capital"}}}}',
  '{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":" of"}}}}',
  '{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":" France"}}}}',
  '{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":" is"}}}}',
  '{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":" Paris"}}}}',
  '{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"."}}}}',
  '{"type":"content-end","index":0}',
  '{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":12,"output_tokens":7},"tokens":{"input_tokens":507,"output_tokens":10},"cached_tokens":448}}}',
];

const toolCallEvents = [
  '{"id":"2941521a-b87a-45f6-9b0d-235fd66c3025","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}',
  '{"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I"}}}',
  '{"type":"tool-plan-delta","delta":{"message":{"tool_plan":" will"}}}',
  '{"type":"tool-plan-delta","delta":{"message":{"tool_plan":" use"}}}',
  '{"type":"tool-plan-delta","delta":{"message":{"tool_plan":" the"}}}',
  '{"type":"tool-plan-delta","delta":{"message":{"tool_plan":" weather"}}}',
  '{"type":"tool-plan-delta","delta":{"message":{"tool_plan":" tool"}}}',
  '{"type":"tool-plan-delta","delta":{"message":{"tool_plan":"."}}}',
  '{"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"weather_e8p4pn45zt0t","type":"function","function":{"name":"weather","arguments":""}}}}}',
  '{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\\""}}}}}',
  '{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"location"}}}}}',
  '{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"\\":"}}}}}',
  '{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":" \\""}}}}}',
  '{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"San"}}}}}',
  '{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":" Francisco"}}}}}',
  '{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"\\"}"}}}}}',
  '{"type":"tool-call-end","index":0}',
  '{"type":"tool-call-start","index":1,"delta":{"message":{"tool_calls":{"id":"cityAttractions_pyxssbwnq9fq","type":"function","function":{"name":"cityAttractions","arguments":""}}}}}',
  '{"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\\""}}}}}',
  '{"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":"city"}}}}}',
  '{"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":"\\":"}}}}}',
  '{"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":" \\""}}}}}',
  '{"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":"San"}}}}}',
  '{"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":" Francisco"}}}}}',
  '{"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":"\\"}"}}}}}',
  '{"type":"tool-call-end","index":1}',
  '{"type":"message-end","delta":{"finish_reason":"TOOL_CALL","usage":{"billed_units":{"input_tokens":119,"output_tokens":44},"tokens":{"input_tokens":1549,"output_tokens":95},"cached_tokens":1504}}}',
];

const emptyToolCallEvents = [
  '{"id":"66dec7d7-45e6-427c-8fd9-7d6375d12046","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}',
  '{"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"currentTime_y46ar19t5gvw","type":"function","function":{"name":"currentTime","arguments":""}}}}}',
  '{"type":"tool-call-end","index":0}',
  '{"type":"message-end","delta":{"finish_reason":"TOOL_CALL","usage":{"billed_units":{"input_tokens":46,"output_tokens":14},"tokens":{"input_tokens":1445,"output_tokens":43},"cached_tokens":704}}}',
];

const reasoningEvents = [
  '{"id":"c9117d7f-a7e4-499f-b643-a2a1e139687b","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}',
  '{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"thinking","thinking":""}}}}',
  '{"type":"content-delta","index":0,"delta":{"message":{"content":{"thinking":"The user is asking for the sum of 2 and 2."}}}}',
  '{"type":"content-end","index":0}',
  '{"type":"content-start","index":1,"delta":{"message":{"content":{"type":"text","text":""}}}}',
  '{"type":"content-delta","index":1,"delta":{"message":{"content":{"text":"The answer to 2 + 2 is 4."}}}}',
  '{"type":"content-end","index":1}',
  '{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":8,"output_tokens":50},"tokens":{"input_tokens":1394,"output_tokens":54},"cached_tokens":1360}}}',
];

function wire(events: readonly string[], done = true): string {
  const text = events.map(
    (data) => `event: ${(JSON.parse(data) as { type: string }).type}\ndata: ${data}\n\n`,
  );
  return text.join('') + (done ? 'data: [DONE]\n\n' : '');
}

async function* pieces(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield Buffer.from(part, 'utf8');
}

const options = {
  providerName: 'Cohere (Key #1)',
  model: 'command-a-03-2025',
  clientWantsUsage: true,
  signal: new AbortController().signal,
};

async function collect(body: AsyncIterable<Uint8Array>, clientWantsUsage = true) {
  const batches: StreamEvent[][] = [];
  let error: NexusError | undefined;
  try {
    for await (const batch of readCohereStream(body, { ...options, clientWantsUsage })) batches.push(batch);
  } catch (caught) {
    error = caught as NexusError;
  }
  const events = batches.flat();
  return { batches, events, chunks: events.map((event) => event.chunk), error };
}

function textOf(chunks: ChatCompletionChunk[]): string {
  return chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
}

describe('Cohere stream → OpenAI chunks', () => {
  it('translates a recorded text stream: role, pieces, finish, then the usage chunk', async () => {
    const { chunks, events, error } = await collect(pieces(wire(textEvents)));

    assert.equal(error, undefined);
    assert.deepEqual(chunks[0]?.choices[0]?.delta, { role: 'assistant', content: '' });
    assert.equal(textOf(chunks), 'The capital of France is Paris.');
    assert.equal(chunks.length, 1 + 7 + 1 + 1);
    assert.deepEqual(chunks.at(-2)?.choices, [
      { index: 0, delta: {}, finish_reason: 'stop', logprobs: null },
    ]);
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.deepEqual(chunks.at(-1)?.usage, {
      prompt_tokens: 507,
      completion_tokens: 10,
      total_tokens: 517,
      prompt_tokens_details: { cached_tokens: 448 },
    });
    for (const chunk of chunks) {
      assert.equal(chunk.id, '321d178c-2c12-44d3-ae42-2f5510f6b1cc');
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.model, 'command-a-03-2025');
    }
    assert.ok(events.every((event) => event.raw === undefined && event.hidden === undefined));
  });

  it('translates a recorded two-tool-call stream with OpenAI indexes and intact arguments', async () => {
    const { chunks, error } = await collect(pieces(wire(toolCallEvents)));

    assert.equal(error, undefined);
    assert.equal(textOf(chunks), 'I will use the weather tool.', 'the tool plan streams as content');
    const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    assert.deepEqual(deltas[0], {
      index: 0,
      id: 'weather_e8p4pn45zt0t',
      type: 'function',
      function: { name: 'weather', arguments: '' },
    });
    assert.deepEqual(deltas[8], {
      index: 1,
      id: 'cityAttractions_pyxssbwnq9fq',
      type: 'function',
      function: { name: 'cityAttractions', arguments: '' },
    });
    const argumentsOf = (index: number) =>
      deltas
        .filter((delta) => delta.index === index)
        .map((delta) => delta.function?.arguments ?? '')
        .join('');
    assert.equal(argumentsOf(0), '{"location": "San Francisco"}');
    assert.equal(argumentsOf(1), '{"city": "San Francisco"}');
    assert.ok(
      deltas
        .filter((delta) => delta.id === undefined)
        .every((delta) => Object.keys(delta).join() === 'index,function'),
    );
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(chunks.at(-1)?.usage?.prompt_tokens_details?.cached_tokens, 1504);
  });

  it('gives a recorded call without arguments "{}" at tool-call-end', async () => {
    const { chunks, error } = await collect(pieces(wire(emptyToolCallEvents)));

    assert.equal(error, undefined);
    const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    assert.deepEqual(deltas, [
      {
        index: 0,
        id: 'currentTime_y46ar19t5gvw',
        type: 'function',
        function: { name: 'currentTime', arguments: '' },
      },
      { index: 0, function: { arguments: '{}' } },
    ]);
  });

  it('leaves a reasoning model’s thinking out of the content', async () => {
    const { chunks, error } = await collect(pieces(wire(reasoningEvents)));

    assert.equal(error, undefined);
    assert.equal(textOf(chunks), 'The answer to 2 + 2 is 4.');
  });

  it('marks the usage chunk hidden when the client did not ask for it', async () => {
    const { events } = await collect(pieces(wire(textEvents)), false);

    assert.deepEqual(events.at(-1)?.chunk.choices, []);
    assert.equal(events.at(-1)?.hidden, true);
    assert.ok(events.slice(0, -1).every((event) => event.hidden === undefined));
  });

  it('yields the same chunks however the bytes are split, and one batch per upstream read', async () => {
    const bytes = Buffer.from(wire(toolCallEvents), 'utf8');
    const whole = await collect(pieces(bytes.toString('utf8')));
    assert.equal(whole.batches.length, 1);
    const strip = (chunks: ChatCompletionChunk[]) => chunks.map((chunk) => ({ ...chunk, created: 0 }));

    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
        async (cuts) => {
          const points = [...new Set(cuts)].sort((a, b) => a - b);
          const parts = [0, ...points].map((start, index) =>
            bytes.subarray(start, points[index] ?? bytes.length),
          );
          async function* body() {
            for (const part of parts) yield part;
          }
          const split = await collect(body());
          assert.equal(split.error, undefined);
          assert.deepEqual(strip(split.chunks), strip(whole.chunks));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('ignores citation, debug and unknown events', async () => {
    const extra = [
      textEvents[0] as string,
      '{"type":"citation-start","index":0,"delta":{"message":{"citations":{"start":0,"end":3,"text":"The"}}}}',
      '{"type":"citation-end","index":0}',
      '{"type":"debug","prompt":"..."}',
      '{"type":"something-new"}',
      ...textEvents.slice(1),
    ];
    const { chunks, error } = await collect(pieces(wire(extra)));

    assert.equal(error, undefined);
    assert.equal(textOf(chunks), 'The capital of France is Paris.');
  });

  it('completes at message-end even when [DONE] never comes', async () => {
    const { error, chunks } = await collect(pieces(wire(textEvents, false)));

    assert.equal(error, undefined);
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
  });
});

describe('Cohere stream failures', () => {
  const interrupted = (error: NexusError | undefined, pattern: RegExp) => {
    assert.equal(error?.code, 'stream_interrupted');
    assert.match(error?.message ?? '', pattern);
  };

  it('a body that ends before message-end, with or without [DONE], is interrupted', async () => {
    const cut = await collect(pieces(wire(textEvents.slice(0, 5), false)));
    const early = await collect(pieces(wire(textEvents.slice(0, 5), true)));

    interrupted(cut.error, /ended before the answer was complete/);
    assert.equal(textOf(cut.chunks), 'The capital of');
    interrupted(early.error, /ended before the answer was complete/);
  });

  it('a malformed event throws after the events before it in the same read are yielded', async () => {
    const text = `${wire(textEvents.slice(0, 4), false)}data: {not json\n\n${wire(textEvents.slice(4))}`;
    const { batches, error } = await collect(pieces(text));

    interrupted(error, /malformed stream event/);
    assert.equal(batches.length, 1);
    assert.equal(textOf(batches.flat().map((event) => event.chunk)), 'The capital');
  });

  it('an error event, an event without a type, or a delta before its start are interrupted', async () => {
    const errorEvent = await collect(
      pieces(`${wire(textEvents.slice(0, 2), false)}event: error\ndata: {"message":"internal error"}\n\n`),
    );
    const untyped = await collect(pieces(`${wire(textEvents.slice(0, 1), false)}data: {"text":"x"}\n\n`));
    const orphan = await collect(
      pieces(
        wire([
          textEvents[0] as string,
          '{"type":"tool-call-delta","delta":{"message":{"tool_calls":{"function":{"arguments":"{"}}}}}',
        ]),
      ),
    );

    interrupted(errorEvent.error, /reported an error mid-stream: internal error/);
    interrupted(untyped.error, /without a type/);
    interrupted(orphan.error, /before any tool-call-start/);
  });

  it('a generation Cohere ends with ERROR, TIMEOUT or an error text is interrupted, not finished', async () => {
    for (const end of [
      '{"type":"message-end","delta":{"finish_reason":"ERROR"}}',
      '{"type":"message-end","delta":{"finish_reason":"TIMEOUT"}}',
      '{"type":"message-end","delta":{"finish_reason":"COMPLETE","error":"model overloaded"}}',
    ]) {
      const { chunks, error } = await collect(pieces(wire([...textEvents.slice(0, 4), end])));
      interrupted(error, /ended the generation with/);
      assert.ok(chunks.every((chunk) => chunk.choices.every((choice) => choice.finish_reason === null)));
    }
  });

  it('a socket error mid-body is interrupted with its code', async () => {
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield Buffer.from(wire(textEvents.slice(0, 3), false));
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    }
    const { error, chunks } = await collect(broken());

    interrupted(error, /stream broke: ECONNRESET/);
    assert.equal(textOf(chunks), 'The');
  });
});
