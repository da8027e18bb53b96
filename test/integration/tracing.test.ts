/**
 * OpenTelemetry traces over OTLP/HTTP (issue 16): a real gateway exports to a real OTLP/HTTP receiver started
 * here, in front of fake providers on real sockets. Each test closes its gateway before reading the spans:
 * shutdown exports whatever is still buffered, so every span of every request is there, and no assertion
 * waits on a clock.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { writeConfigFile } from '../support/config-file.ts';
import { type FakeOpenAI, type RecordedCall, startFakeOpenAI } from '../support/fake-openai.ts';
import { postJson, startGateway, type TestGateway } from '../support/gateway.ts';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  spanKind,
  startOtlpReceiver,
  statusCode,
} from '../support/otlp-receiver.ts';
import { redisUrl, requireService } from '../support/services.ts';

const limits = { timeout: 20_000 };
const messages = [{ role: 'user' as const, content: 'tell me something' }];
/** The stages that do I/O on an embedded gateway (keys, limits and cache in memory): dispatch alone. */
const stageNames = ['dispatch'];

/** The spans of one request's trace, found by the request id on its server span. */
interface RequestTree {
  traceId: string;
  server: ReceivedSpan;
  stages: Map<string, ReceivedSpan>;
  /** In attempt order. */
  attempts: ReceivedSpan[];
  all: ReceivedSpan[];
}

function treeOf(receiver: OtlpReceiver, requestId: string): RequestTree {
  const servers = receiver.spans.filter(
    (span) => span.kind === spanKind.server && span.attributes['nexus.request_id'] === requestId,
  );
  assert.equal(servers.length, 1, `one server span for request ${requestId}`);
  const server = servers[0]!;
  const all = receiver.spans.filter((span) => span.traceId === server.traceId);
  const stages = new Map(
    all.filter((span) => span.kind === spanKind.internal).map((span) => [span.name, span] as const),
  );
  const attempts = all
    .filter((span) => span.kind === spanKind.client)
    .sort((one, two) => Number(one.attributes['nexus.attempt']) - Number(two.attributes['nexus.attempt']));
  return { traceId: server.traceId, server, stages, attempts, all };
}

/** The W3C `traceparent` an upstream call carried, split. */
function traceparentOf(call: RecordedCall | undefined): { traceId: string; parentId: string; flags: string } {
  assert.ok(call !== undefined, 'the upstream received the call');
  const header = call.headers.traceparent;
  assert.equal(typeof header, 'string', 'the upstream call carried a traceparent');
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(header));
  assert.ok(match !== null, `a well-formed traceparent: ${header}`);
  return { traceId: match[1]!, parentId: match[2]!, flags: match[3]! };
}

function accessLine(gateway: TestGateway, requestId: string): Record<string, unknown> {
  for (const raw of gateway.logs) {
    const line = JSON.parse(raw) as Record<string, unknown>;
    if (line.msg === 'request' && line.requestId === requestId) return line;
  }
  assert.fail(`no access-log line for ${requestId}`);
}

function portOf(fake: FakeOpenAI): number {
  return Number(new URL(fake.url).port);
}

describe('OpenTelemetry traces over OTLP/HTTP', () => {
  let receiver: OtlpReceiver;
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  const open: TestGateway[] = [];
  const files: Array<{ remove(): void }> = [];

  before(async () => {
    [receiver, a, b] = await Promise.all([startOtlpReceiver(), startFakeOpenAI(), startFakeOpenAI()]);
  });
  after(async () => {
    await Promise.all([receiver?.close(), a?.close(), b?.close()]);
  });
  beforeEach(() => {
    receiver.spans.length = 0;
    receiver.problems.length = 0;
    receiver.status = 200;
    a.reset();
    b.reset();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((gateway) => gateway.close()));
    for (const file of files.splice(0)) file.remove();
  });

  async function start(env: Record<string, string>, groups?: Record<string, unknown>) {
    const full: Record<string, string> = {
      OPENAI_API_KEY: 'sk-openai-primary',
      OPENAI_BASE_URL: a.url,
      GROQ_API_KEY: 'gsk-groq',
      GROQ_BASE_URL: b.url,
      REQUEST_TIMEOUT_MS: '8000',
      ...env,
    };
    if (groups !== undefined) {
      const file = writeConfigFile({ groups } as never);
      files.push(file);
      full.NEXUS_CONFIG = file.path;
    }
    const gateway = await startGateway(full);
    open.push(gateway);
    return gateway;
  }

  const traced = () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });

  /** Closes the gateway: its shutdown exports every span still buffered. */
  async function closed(gateway: TestGateway): Promise<void> {
    open.splice(open.indexOf(gateway), 1);
    await gateway.close();
    assert.deepEqual(receiver.problems, [], 'every export was an OTLP JSON trace export');
  }

  test(
    'a request is one trace: its server span, a span per stage doing I/O, a client span per attempt, its context upstream',
    limits,
    async () => {
      const gateway = await start(traced());
      a.setReply({ text: 'hello there', usage: { prompt_tokens: 11, completion_tokens: 7 } });
      const requestId = `trace-${randomUUID()}`;
      const reply = await postJson(
        `${gateway.origin}/v1/chat/completions`,
        { model: 'gpt-4o-mini', messages, max_tokens: 50, temperature: 0.5 },
        { 'x-request-id': requestId },
      );
      assert.equal(reply.status, 200);
      await closed(gateway);

      const tree = treeOf(receiver, requestId);
      const { server } = tree;
      assert.equal(server.parentSpanId, '', 'without a client traceparent the server span is the root');
      assert.equal(server.name, 'POST /v1/chat/completions');
      assert.equal(server.status, statusCode.unset);
      assert.deepEqual(
        {
          method: server.attributes['http.request.method'],
          path: server.attributes['url.path'],
          route: server.attributes['http.route'],
          status: server.attributes['http.response.status_code'],
          model: server.attributes['gen_ai.request.model'],
        },
        {
          method: 'POST',
          path: '/v1/chat/completions',
          route: '/v1/chat/completions',
          status: 200,
          model: 'gpt-4o-mini',
        },
      );
      assert.equal(server.resource['service.name'], 'nexus');

      assert.deepEqual([...tree.stages.keys()].sort(), stageNames);
      for (const stage of tree.stages.values()) assert.equal(stage.parentSpanId, server.spanId, stage.name);
      assert.equal(tree.attempts.length, 1);
      assert.equal(tree.all.length, 1 + stageNames.length + 1, 'nothing else in the trace');

      const [attempt] = tree.attempts;
      assert.equal(
        attempt!.parentSpanId,
        tree.stages.get('dispatch')!.spanId,
        'attempts are children of dispatch',
      );
      assert.equal(attempt!.name, 'chat gpt-4o-mini');
      assert.equal(attempt!.status, statusCode.unset);
      assert.deepEqual(attempt!.attributes, {
        'gen_ai.operation.name': 'chat',
        'gen_ai.system': 'openai',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o-mini',
        'gen_ai.request.max_tokens': 50,
        'gen_ai.request.temperature': 0.5,
        'gen_ai.response.model': (reply.body as { model: string }).model,
        'gen_ai.usage.input_tokens': 11,
        'gen_ai.usage.output_tokens': 7,
        'server.address': '127.0.0.1',
        'server.port': portOf(a),
        'nexus.attempt': 1,
        'nexus.instance': 'OpenAI (Key #1)',
        'nexus.attempt.outcome': 'ok',
      });

      const upstream = traceparentOf(a.callsTo('/chat/completions')[0]);
      assert.deepEqual(upstream, { traceId: tree.traceId, parentId: attempt!.spanId, flags: '01' });

      const line = accessLine(gateway, requestId);
      assert.equal(line.trace_id, tree.traceId);
      assert.equal(line.span_id, server.spanId);
    },
  );

  test('on Redis, admission and the cache do I/O and get spans of their own', limits, async (context) => {
    if (!(await requireService(context, 'Redis', redisUrl, 'redis-server --daemonize yes'))) return;
    const gateway = await start({
      ...traced(),
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `nexus-tracing-${randomUUID()}:`,
      CACHE_ENABLED: 'true',
    });
    const requestId = `trace-${randomUUID()}`;
    const reply = await postJson(
      `${gateway.origin}/v1/chat/completions`,
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `on redis ${randomUUID()}` }] },
      { 'x-request-id': requestId },
    );
    assert.equal(reply.status, 200);
    await closed(gateway);
    const tree = treeOf(receiver, requestId);
    assert.deepEqual([...tree.stages.keys()].sort(), ['admit', 'cache', 'dispatch']);
    for (const stage of tree.stages.values())
      assert.equal(stage.parentSpanId, tree.server.spanId, stage.name);
    assert.equal(tree.attempts.length, 1);
    assert.equal(tree.attempts[0]!.parentSpanId, tree.stages.get('dispatch')!.spanId);
  });
  test(
    "a client's traceparent is the server span's parent, and its tracestate reaches the upstream",
    limits,
    async () => {
      const gateway = await start(traced());
      const clientTraceId = randomBytes(16).toString('hex');
      const clientSpanId = randomBytes(8).toString('hex');
      const requestId = `trace-${randomUUID()}`;
      const reply = await postJson(
        `${gateway.origin}/v1/chat/completions`,
        { model: 'gpt-4o-mini', messages },
        {
          'x-request-id': requestId,
          traceparent: `00-${clientTraceId}-${clientSpanId}-01`,
          tracestate: 'client=abc',
        },
      );
      assert.equal(reply.status, 200);
      await closed(gateway);

      const tree = treeOf(receiver, requestId);
      assert.equal(tree.traceId, clientTraceId);
      assert.equal(tree.server.parentSpanId, clientSpanId);
      const call = a.callsTo('/chat/completions')[0];
      assert.deepEqual(traceparentOf(call), {
        traceId: clientTraceId,
        parentId: tree.attempts[0]!.spanId,
        flags: '01',
      });
      assert.equal(call?.headers.tracestate, 'client=abc');
    },
  );

  test('each request is a trace of its own, with one server span', limits, async () => {
    const gateway = await start(traced());
    const ids = [1, 2, 3].map(() => `trace-${randomUUID()}`);
    for (const requestId of ids) {
      const reply = await postJson(
        `${gateway.origin}/v1/chat/completions`,
        { model: 'gpt-4o-mini', messages },
        { 'x-request-id': requestId },
      );
      assert.equal(reply.status, 200);
    }
    await closed(gateway);

    const traceIds = ids.map((requestId) => treeOf(receiver, requestId).traceId);
    assert.equal(new Set(traceIds).size, ids.length, 'three requests, three traces');
    for (const traceId of traceIds) {
      const servers = receiver.spans.filter(
        (span) => span.traceId === traceId && span.kind === spanKind.server,
      );
      assert.equal(servers.length, 1);
    }
  });

  test(
    'failover: every attempt is a span, the failed ones in error, each upstream call parented by its own',
    limits,
    async () => {
      const gateway = await start(traced(), {
        chat: { targets: [{ model: 'openai/gpt-4o-mini' }], fallbacks: ['groq/llama-3.1-8b-instant'] },
      });
      a.setPersistentFault({ kind: 'status', status: 500 });
      b.setReply({ text: 'from groq', usage: { prompt_tokens: 13, completion_tokens: 5 } });
      const requestId = `trace-${randomUUID()}`;
      const reply = await postJson(
        `${gateway.origin}/v1/chat/completions`,
        { model: 'chat', messages },
        { 'x-request-id': requestId },
      );
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get('x-nexus-provider'), 'Groq (Key #1)');
      await closed(gateway);

      const tree = treeOf(receiver, requestId);
      const logged = accessLine(gateway, requestId).attempts as Array<{
        instance: string;
        outcome: string;
        errorCode?: string;
      }>;
      assert.ok(logged.length >= 2, 'the request failed over');
      assert.deepEqual(
        tree.attempts.map((span) => ({
          instance: span.attributes['nexus.instance'],
          outcome: span.attributes['nexus.attempt.outcome'],
          errorCode: span.attributes['nexus.error_code'],
        })),
        logged.map(({ instance, outcome, errorCode }) => ({ instance, outcome, errorCode })),
        'one span per attempt the access log lists, in order',
      );
      const failed = tree.attempts.slice(0, -1);
      const served = tree.attempts.at(-1)!;
      for (const span of failed) {
        assert.equal(span.status, statusCode.error);
        assert.equal(span.attributes['error.type'], span.attributes['nexus.error_code']);
        assert.equal(span.attributes['gen_ai.system'], 'openai');
        assert.equal(span.attributes['gen_ai.usage.input_tokens'], undefined);
      }
      assert.equal(served.status, statusCode.unset);
      assert.equal(served.name, 'chat llama-3.1-8b-instant');
      assert.equal(served.attributes['gen_ai.system'], 'groq');
      assert.equal(served.attributes['gen_ai.usage.input_tokens'], 13);
      assert.equal(served.attributes['gen_ai.usage.output_tokens'], 5);
      assert.equal(served.attributes['server.port'], portOf(b));
      assert.equal(tree.server.status, statusCode.unset, 'the client got its answer');

      const calls = [...a.callsTo('/chat/completions'), ...b.callsTo('/chat/completions')];
      assert.deepEqual(
        calls.map((call) => traceparentOf(call).parentId),
        tree.attempts.map((span) => span.spanId),
        "each upstream call's parent is its own attempt's span",
      );
      for (const call of calls) assert.equal(traceparentOf(call).traceId, tree.traceId);
    },
  );

  test("a streamed attempt's span ends with the stream, with its usage", limits, async () => {
    const gateway = await start(traced());
    a.setReply({ text: 'one two three four', usage: { prompt_tokens: 17, completion_tokens: 4 } });
    const requestId = `trace-${randomUUID()}`;
    const client = new OpenAI({ apiKey: 'unused', baseURL: gateway.baseURL, maxRetries: 0, timeout: 8000 });
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } },
      { headers: { 'x-request-id': requestId } },
    );
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, 'one two three four');
    await closed(gateway);

    const tree = treeOf(receiver, requestId);
    assert.equal(tree.attempts.length, 1);
    const [attempt] = tree.attempts;
    const dispatch = tree.stages.get('dispatch')!;
    assert.equal(attempt!.parentSpanId, dispatch.spanId);
    assert.equal(attempt!.attributes['nexus.stream'], true);
    // Ended with the stream, not when dispatch returned at its first token: the outcome is the stream's natural
    // end, and the usage is the last chunk's. (No clock is compared: spans anchor to the wall clock.)
    assert.equal(attempt!.attributes['nexus.attempt.outcome'], 'ok');
    assert.equal(attempt!.attributes['gen_ai.usage.input_tokens'], 17);
    assert.equal(attempt!.attributes['gen_ai.usage.output_tokens'], 4);
    assert.equal(attempt!.attributes['gen_ai.response.model'], 'gpt-4o-mini');
    assert.equal(traceparentOf(a.callsTo('/chat/completions')[0]).parentId, attempt!.spanId);
  });

  test(
    'a hedged stream: both racers are spans, the loser cancelled (not in error), the backup marked',
    limits,
    async () => {
      // Groq is the cheaper target, so `cheapest` makes it the primary; OpenAI is the backup.
      const gateway = await start(traced(), {
        hedged: {
          targets: [{ model: 'openai/gpt-4o-mini' }, { model: 'groq/llama-3.1-8b-instant' }],
          routing: 'cheapest',
          hedge: true,
          firstTokenTimeoutMs: 5000,
        },
      });
      a.setReply({ text: 'from the backup', usage: { prompt_tokens: 9, completion_tokens: 3 } });
      const client = new OpenAI({ apiKey: 'unused', baseURL: gateway.baseURL, maxRetries: 0, timeout: 8000 });
      const streamed = async (requestId: string) => {
        const stream = await client.chat.completions.create(
          { model: 'hedged', messages, stream: true, stream_options: { include_usage: true } },
          { headers: { 'x-request-id': requestId } },
        );
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        return text;
      };
      // Five answers give the primary the time-to-first-token history a hedge waits on.
      for (let warm = 0; warm < 5; warm++) await streamed(`warm-${randomUUID()}`);
      b.enqueue({ kind: 'slow-first-byte', ms: 4000 });
      const requestId = `trace-${randomUUID()}`;
      assert.equal(await streamed(requestId), 'from the backup');
      await closed(gateway);

      const tree = treeOf(receiver, requestId);
      assert.deepEqual(
        tree.attempts.map((span) => ({
          instance: span.attributes['nexus.instance'],
          outcome: span.attributes['nexus.attempt.outcome'],
          hedge: span.attributes['nexus.attempt.hedge'],
          status: span.status,
        })),
        [
          { instance: 'Groq (Key #1)', outcome: 'cancelled', hedge: undefined, status: statusCode.unset },
          { instance: 'OpenAI (Key #1)', outcome: 'ok', hedge: true, status: statusCode.unset },
        ],
      );
      const dispatch = tree.stages.get('dispatch')!;
      for (const span of tree.attempts) assert.equal(span.parentSpanId, dispatch.spanId);
      assert.equal(tree.attempts[1]!.attributes['gen_ai.usage.output_tokens'], 3);
      assert.equal(traceparentOf(b.callsTo('/chat/completions').at(-1)).parentId, tree.attempts[0]!.spanId);
      assert.equal(traceparentOf(a.callsTo('/chat/completions')[0]).parentId, tree.attempts[1]!.spanId);
    },
  );

  /** The gateway's warnings from the OpenTelemetry SDK, so far. */
  function exportWarnings(gateway: TestGateway): string[] {
    return gateway.logs
      .map((raw) => JSON.parse(raw) as { component?: string; level: number; msg: string })
      .filter((line) => line.component === 'opentelemetry' && line.level === 40)
      .map((line) => line.msg);
  }

  test(
    'a collector that refuses exports fails no request; each refusal is logged, on the timer and at shutdown',
    limits,
    async () => {
      receiver.status = 400;
      const onTimer = await start({ ...traced(), OTEL_BSP_SCHEDULE_DELAY: '10' });
      const first = await postJson(`${onTimer.origin}/v1/chat/completions`, {
        model: 'gpt-4o-mini',
        messages,
      });
      assert.equal(first.status, 200);
      for (let polls = 0; exportWarnings(onTimer).length === 0; polls++) {
        assert.ok(polls < 500, 'the refused export on the timer is logged while the gateway runs');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await closed(onTimer);

      // Nothing is exported on the timer here: the spans wait for shutdown, whose export is refused.
      const atShutdown = await start({ ...traced(), OTEL_BSP_SCHEDULE_DELAY: '600000' });
      const second = await postJson(`${atShutdown.origin}/v1/chat/completions`, {
        model: 'gpt-4o-mini',
        messages,
      });
      assert.equal(second.status, 200);
      assert.deepEqual(exportWarnings(atShutdown), []);
      await closed(atShutdown);
      assert.ok(
        exportWarnings(atShutdown).some((message) =>
          message.startsWith('the last spans could not be exported'),
        ),
        'the refused export at shutdown is logged',
      );
    },
  );

  for (const [label, env] of [
    ['no OTLP endpoint', {}],
    ['OTEL_SDK_DISABLED=true', { OTEL_SDK_DISABLED: 'true' }],
  ] as const) {
    test(
      `off (${label}): no span, no trace id in the log, and no traceparent upstream, not even the client's`,
      limits,
      async () => {
        const gateway = await start(
          label === 'no OTLP endpoint' ? env : { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint },
        );
        assert.equal(gateway.app.gateway.tracing.current, undefined);
        const requestId = `trace-${randomUUID()}`;
        const reply = await postJson(
          `${gateway.origin}/v1/chat/completions`,
          { model: 'gpt-4o-mini', messages },
          {
            'x-request-id': requestId,
            traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
          },
        );
        assert.equal(reply.status, 200);
        await closed(gateway);

        const call = a.callsTo('/chat/completions')[0];
        assert.ok(call !== undefined);
        assert.equal(call.headers.traceparent, undefined);
        assert.equal(call.headers.tracestate, undefined);
        const line = accessLine(gateway, requestId);
        assert.equal(line.trace_id, undefined);
        assert.equal(line.span_id, undefined);
        assert.deepEqual(receiver.spans, []);
      },
    );
  }

  test('off, the OpenTelemetry SDK is never loaded (on, the same probe sees it)', limits, async () => {
    const probe = fileURLToPath(new URL('../support/otel-modules.ts', import.meta.url));
    const run = async (...args: string[]) => {
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', probe, ...args], {
        timeout: 15_000,
      });
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as { status: number; loaded: number };
    };
    const [off, on] = await Promise.all([run(), run(receiver.endpoint)]);
    assert.deepEqual(off, { status: 200, loaded: 0 });
    assert.equal(on.status, 200);
    assert.ok(on.loaded > 0, 'with an endpoint the SDK is loaded, so the probe can see it');
  });
});
