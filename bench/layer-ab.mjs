// In-process A/B of the stream path: this build and an older commit loaded in one process, measured in
// alternating rounds (A B, then B A) of CPU time per stream, so that the machine's load lands on both alike.
// The stream and its consumer are bench/stream-layer.mjs's (role, 20 content chunks, finish, usage, [DONE] in
// one read), read (a) straight from the OpenAI-compatible chunk reader and (b) through openChatStream.
//
// Usage: npm run build && node bench/layer-ab.mjs [--ref 3299ec1] [--rounds 20]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const { values: args } = parseArgs({
  options: { ref: { type: 'string', default: '3299ec1' }, rounds: { type: 'string', default: '20' } },
});
const rounds = Number(args.rounds);

const worktree = mkdtempSync(join(tmpdir(), 'nexus-layer-ab-'));
rmSync(worktree, { recursive: true });
const cleanup = () => spawnSync('git', ['-C', root, 'worktree', 'remove', '--force', worktree]);
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
for (const [command, argv, cwd] of [
  ['git', ['-C', root, 'worktree', 'add', '--detach', worktree, args.ref], root],
  ['npx', ['tsc', '-p', 'tsconfig.build.json'], worktree],
]) {
  if (command === 'npx') symlinkSync(join(root, 'node_modules'), join(worktree, 'node_modules'));
  const result = spawnSync(command, argv, { cwd, stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${command} ${argv.join(' ')} failed`);
}

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

/** The two paths of one build, consumed the way the SSE edge does (usage, then each event's raw text). */
async function load(directory) {
  const { createApp } = await import(join(directory, 'dist/src/app.js'));
  const openStream = await streamOpener(directory);
  const { readChunkStream } = await import(
    join(directory, 'dist/src/providers/shared/openai-chunk-stream.js')
  );
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
    let text = '';
    let usage;
    for await (const batch of stream) {
      // A build from before StreamBatch.usage finds usage on the events.
      if (batch.usage !== undefined) usage = batch.usage;
      else for (const event of batch) if (event.chunk.usage != null) usage = event.chunk.usage;
      for (const event of batch) if (event.hidden !== true) text += `data: ${event.raw}\n\n`;
    }
    if (usage === undefined || text.length < 1000) throw new Error('the stream lost its usage or its text');
  }
  return {
    direct: async () => consume(await adapter.chatStream(target, request, context())),
    pipeline: async () => consume(await openStream(pipeline, request, context)),
  };
}

/**
 * How a build opens a stream through its pipeline: `dispatchChatStream` on a GatewayRequest since the one
 * request pipeline, `openChatStream` before it (builds up to 7129ce3's parent).
 */
async function streamOpener(directory) {
  const dispatch = join(directory, 'dist/src/pipeline/dispatch-chat.js');
  if (!existsSync(dispatch)) {
    const { openChatStream } = await import(join(directory, 'dist/src/core/pipeline.js'));
    return async (pipeline, request, context) =>
      (await openChatStream(pipeline, request, context(), { attempts: [] })).result;
  }
  const { dispatchChatStream } = await import(dispatch);
  const { GatewayRequest } = await import(join(directory, 'dist/src/pipeline/request.js'));
  return async (pipeline, request) => {
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
    return gatewayRequest.reply.stream;
  };
}

const builds = [await load(root), await load(worktree)];
const streams = 12_800;
const concurrency = 64;
async function cpuPerStream(run) {
  const before = process.cpuUsage();
  for (let done = 0; done < streams; done += concurrency) {
    await Promise.all(Array.from({ length: concurrency }, run));
  }
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / streams;
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
for (const path of ['direct', 'pipeline']) {
  for (const build of builds) for (let warm = 0; warm < 2; warm++) await cpuPerStream(build[path]);
  const measured = [[], []];
  const ratios = [];
  for (let round = 0; round < rounds; round++) {
    const cells = [];
    for (const index of round % 2 === 0 ? [0, 1] : [1, 0])
      cells[index] = await cpuPerStream(builds[index][path]);
    measured[0].push(cells[0]);
    measured[1].push(cells[1]);
    ratios.push(cells[0] / cells[1]);
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  console.log(
    `${path}: this build ${median(measured[0]).toFixed(1)} µs CPU/stream, ${args.ref} ${median(measured[1]).toFixed(1)}; ` +
      `median ratio ${median(ratios).toFixed(3)} (middle half ${sorted[Math.floor(rounds / 4)].toFixed(3)}-` +
      `${sorted[Math.floor((3 * rounds) / 4)].toFixed(3)})`,
  );
}
process.exit(0);
