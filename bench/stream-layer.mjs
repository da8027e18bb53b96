// In-process price of the resilience layer per stream, free of sockets and of this machine's run-to-run noise
// on network benchmarks: the same in-memory upstream stream (20 content chunks, finish, usage, [DONE]) read
// (a) straight from the OpenAI-compatible chunk reader, and (b) through the pipeline's plan and dispatch stages
// (route plan, attempt loop, attempt signal, first-token wait, committed stream with stall guard, verdicts). 64 streams at a time,
// best of 6 rounds. Usage: npm run build && node bench/stream-layer.mjs
import { createApp } from '../dist/src/app.js';
import { dispatchChatStream } from '../dist/src/pipeline/dispatch-chat.js';
import { GatewayRequest } from '../dist/src/pipeline/request.js';
import { readChunkStream } from '../dist/src/providers/shared/openai-chunk-stream.js';

const prefix =
  'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1795633874,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[';
const frames = [
  `${prefix}{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`,
];
for (let i = 0; i < 20; i++) {
  frames.push(`${prefix}{"index":0,"delta":{"content":" w${i}"},"logprobs":null,"finish_reason":null}]}\n\n`);
}
frames.push(`${prefix}{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n`);
frames.push(
  `${prefix}],"usage":{"prompt_tokens":9,"completion_tokens":20,"total_tokens":29}}\n\n`,
  'data: [DONE]\n\n',
);
const payload = Buffer.from(frames.join(''));
async function* body() {
  await null;
  yield payload;
}

const app = createApp({
  env: { OPENAI_API_KEY: 'bench', LOG_LEVEL: 'warn' },
  logDestination: { write: () => true },
});
const { pipeline, registry } = app.gateway;
const adapter = {
  chatStream: async (_target, _request, context) =>
    readChunkStream(body(), { providerName: 'bench', clientWantsUsage: false, signal: context.signal }),
};
registry.adapterFor = () => adapter;
const request = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true };
const target = pipeline.resolver.plan('gpt-4o-mini', 'chat', { fallbacks: [] }).steps[0].targets[0].target;
const context = () => ({ requestId: 'bench', signal: new AbortController().signal, warnings: [] });
async function consume(stream) {
  let events = 0;
  for await (const batch of stream) events += batch.length;
  if (events !== 23) throw new Error(`read ${events} events, expected 23`);
}
const paths = {
  direct: async () => consume(await adapter.chatStream(target, request, context())),
  pipeline: async () => {
    const gatewayRequest = new GatewayRequest({
      id: 'bench',
      receivedAt: performance.now(),
      method: 'POST',
      path: '/v1/chat/completions',
      headers: {},
      signal: new AbortController().signal,
    });
    gatewayRequest.operation = { kind: 'chat', body: request };
    gatewayRequest.plan = pipeline.resolver.plan('gpt-4o-mini', 'chat');
    await dispatchChatStream(pipeline, gatewayRequest, request);
    await consume(gatewayRequest.reply.stream);
  },
};
const concurrency = 64;
const streams = 60_000;
// Wall time and the process's CPU time (all threads, GC included), each the best round: on a shared machine,
// time stolen by neighbours inflates the first but is not charged to the second.
const best = {};
const bestCpu = {};
for (let round = 0; round < 6; round++) {
  for (const [name, run] of Object.entries(paths)) {
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    for (let done = 0; done < streams; done += concurrency) {
      await Promise.all(Array.from({ length: concurrency }, run));
    }
    const micros = ((performance.now() - started) * 1000) / streams;
    const cpu = process.cpuUsage(cpuBefore);
    best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, micros);
    bestCpu[name] = Math.min(bestCpu[name] ?? Number.POSITIVE_INFINITY, (cpu.user + cpu.system) / streams);
  }
}
console.log(
  `direct ${best.direct.toFixed(2)} µs/stream, through the pipeline ${best.pipeline.toFixed(2)} µs/stream: ` +
    `the resilience layer costs ${(best.pipeline - best.direct).toFixed(2)} µs per stream ` +
    `(CPU time: direct ${bestCpu.direct.toFixed(2)}, pipeline ${bestCpu.pipeline.toFixed(2)} µs/stream)`,
);
process.exit(0);
