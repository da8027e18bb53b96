/**
 * Shared pieces of the fault-scenario suite: fake providers on real sockets behind a real gateway, the official
 * `openai` SDK as the client, and helpers that read what the gateway logged and what each upstream received.
 *
 * Conventions used by every file here:
 *  - fake A plays OpenAI (`OPENAI_API_KEY=sk-openai-primary`, instance "OpenAI (Key #1)");
 *  - fake B plays Groq, either one key (`GROQ_API_KEY`, "Groq (Key #1)") or a pool (`GROQ_KEY_1`, `GROQ_KEY_2`,
 *    "Groq (Key #1)" / "Groq (Key #2)"), told apart by the Authorization header each call carried;
 *  - every test gets a fresh gateway (fresh breakers, health and rotation), closed after the test;
 *  - timeouts are small and come from env, never from assertions.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { ConfigInput } from '../../src/config/schema.ts';
import type { AttemptRecord } from '../../src/resilience/attempt-loop.ts';
import { writeConfigFile } from '../support/config-file.ts';
import type { FakeOpenAI, RecordedCall } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

/** Per-test bound: a scenario that hangs fails instead of stalling the suite. */
export const limits = { timeout: 15_000 };

export const openaiKey = 'sk-openai-primary';
export const groqKey = 'gsk-groq-single';
export const poolKeys = ['gsk-pool-key-one', 'gsk-pool-key-two'] as const;
export const openaiModel = 'gpt-4o-mini';
export const groqModel = 'llama-3.1-8b-instant';
export const messages = [{ role: 'user' as const, content: 'tell me something' }];

/** Small timeouts so that every fault resolves in well under a second. */
export const fastTimeouts: Record<string, string> = {
  FIRST_TOKEN_TIMEOUT_MS: '300',
  STREAM_STALL_TIMEOUT_MS: '300',
  REQUEST_TIMEOUT_MS: '5000',
  SHUTDOWN_TIMEOUT_MS: '200',
  LOG_LEVEL: 'info',
};

export function openaiEnv(fake: FakeOpenAI): Record<string, string> {
  return { OPENAI_API_KEY: openaiKey, OPENAI_BASE_URL: fake.url };
}

export function groqEnv(fake: FakeOpenAI): Record<string, string> {
  return { GROQ_API_KEY: groqKey, GROQ_BASE_URL: fake.url };
}

export function groqPoolEnv(fake: FakeOpenAI): Record<string, string> {
  return { GROQ_KEY_1: poolKeys[0], GROQ_KEY_2: poolKeys[1], GROQ_BASE_URL: fake.url };
}

/** Fresh gateways per test, optionally with a YAML config; `closeAll` in `afterEach`. */
export function gatewayFactory() {
  const open: TestGateway[] = [];
  const files: Array<{ remove(): void }> = [];
  return {
    async start(env: Record<string, string>, config?: ConfigInput): Promise<TestGateway> {
      const full = { ...fastTimeouts, ...env };
      if (config !== undefined) {
        const file = writeConfigFile(config);
        files.push(file);
        full.NEXUS_CONFIG = file.path;
      }
      const gateway = await startGateway(full);
      open.push(gateway);
      return gateway;
    },
    async closeAll(): Promise<void> {
      await Promise.all(open.splice(0).map((gateway) => gateway.close()));
      for (const file of files.splice(0)) file.remove();
    },
  };
}

export function sdk(gateway: TestGateway, apiKey = 'no-master-key-configured'): OpenAI {
  return new OpenAI({ apiKey, baseURL: gateway.baseURL, maxRetries: 0, timeout: 8000, logLevel: 'off' });
}

/** SDK request options: a known request id (to find the access-log line) and a hard client-side bound. */
export function requestOptions(extraHeaders: Record<string, string> = {}) {
  const id = `res-${randomUUID()}`;
  return {
    id,
    options: { headers: { 'x-request-id': id, ...extraHeaders }, signal: AbortSignal.timeout(8000) },
  };
}

/** Reads a stream to its end or its error; never throws. */
export async function drain(stream: AsyncIterable<ChatCompletionChunk>) {
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
    return { chunks, error: undefined as unknown, text: textOf(chunks) };
  } catch (error) {
    return { chunks, error, text: textOf(chunks) };
  }
}

export function textOf(chunks: readonly ChatCompletionChunk[]): string {
  return chunks.map((chunk) => chunk.choices.map((choice) => choice.delta?.content ?? '').join('')).join('');
}

/** Runs a call expected to fail and returns the SDK error. */
export async function failure(call: () => Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof OpenAI.APIError, `expected an SDK APIError, got ${String(error)}`);
    return error;
  }
  assert.fail('the call succeeded but was expected to fail');
}

/** Chat calls an upstream received, in arrival order. */
export function chatCalls(fake: FakeOpenAI): RecordedCall[] {
  return fake.callsTo('/chat/completions');
}

/** The bearer key a call carried. */
export function keyOf(call: RecordedCall): string {
  return String(call.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
}

/** The keys of the chat calls an upstream received, in order. */
export function keysCalled(fake: FakeOpenAI): string[] {
  return chatCalls(fake).map(keyOf);
}

export function bodyOf(call: RecordedCall | undefined): Record<string, unknown> {
  assert.ok(call !== undefined, 'the upstream received the call');
  return call.body as Record<string, unknown>;
}

/** Waits until the fake has settled this call; bounded so that a missing abort fails instead of stalling. */
export async function settledWithin(call: RecordedCall | undefined, ms = 3000): Promise<string> {
  assert.ok(call !== undefined, 'the upstream received the call');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`still ${call.outcome} after ${ms} ms`), ms);
  });
  try {
    return await Promise.race([call.settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One access-log line as the gateway writes it. */
export interface AccessLine {
  requestId: string;
  path: string;
  status: number;
  provider?: string;
  model?: string;
  errorCode?: string;
  stream?: boolean;
  costUsd?: number;
  attempts?: AttemptRecord[];
}

/** The access-log line of one request; it is written just after the response ends, so poll briefly. */
export async function accessLine(gateway: TestGateway, requestId: string, ms = 3000): Promise<AccessLine> {
  const deadline = Date.now() + ms;
  for (;;) {
    for (const raw of gateway.logs) {
      if (!raw.includes(requestId)) continue;
      const line = JSON.parse(raw) as AccessLine & { msg?: string };
      if (line.msg === 'request' && line.requestId === requestId) return line;
    }
    if (Date.now() > deadline) assert.fail(`no access-log line for request ${requestId}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The attempts of an access-log line, reduced to what the scenarios compare. */
export function attemptSummary(line: AccessLine) {
  return (line.attempts ?? []).map((attempt) => ({
    instance: attempt.instance,
    outcome: attempt.outcome,
    ...(attempt.errorCode === undefined ? {} : { errorCode: attempt.errorCode }),
    ...(attempt.hedge === undefined ? {} : { hedge: attempt.hedge }),
    ...(attempt.continuation === undefined ? {} : { continuation: attempt.continuation }),
  }));
}

interface HealthProvider {
  name: string;
  circuitState: 'CLOSED' | 'OPEN' | 'HALF_OPEN';
  consecutiveFailures: number;
  enabled: boolean;
  metrics: { totalRequests: number; failures: number; inFlight: number };
}

export async function healthOf(gateway: TestGateway, name: string): Promise<HealthProvider> {
  const response = await fetch(`${gateway.origin}/health`, { signal: AbortSignal.timeout(3000) });
  const body = (await response.json()) as { providers: HealthProvider[] };
  const found = body.providers.find((provider) => provider.name === name);
  assert.ok(found !== undefined, `/health lists ${name}`);
  return found;
}

/** Polls `/health` until the instance's circuit reads `state`; bounded. */
export async function waitForCircuit(
  gateway: TestGateway,
  name: string,
  state: HealthProvider['circuitState'],
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const current = (await healthOf(gateway, name)).circuitState;
    if (current === state) return;
    if (Date.now() > deadline) assert.fail(`${name} circuit is ${current}, waited for ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** OpenAI's error envelope, as a fake upstream sends it. */
export function upstreamError(message: string, code: string | null, type = 'invalid_request_error') {
  return { error: { message, type, param: null, code } };
}

/**
 * A bare upstream that answers every chat completion with this exact SSE text and then ends the response
 * cleanly: for shapes the fake cannot produce (a stream that ends without `[DONE]` and without any finish).
 */
export async function startScriptedSse(
  sse: string,
): Promise<{ url: string; calls: number; close(): Promise<void> }> {
  const state = { calls: 0 };
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      state.calls++;
      response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      response.end(sse);
    });
  });
  const { url, close } = await listenOnLoopback(server);
  return {
    url,
    get calls() {
      return state.calls;
    },
    close,
  };
}

/** Starts `server` on a free loopback port: its `/v1` base URL, and a close that drops open connections. */
async function listenOnLoopback(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * An upstream that sends `sse` and then keeps the response open until `release` ends it cleanly or resets the
 * socket: what a provider does when it flushes `[DONE]` but is slow to finish the HTTP body.
 */
export async function startHeldSse(sse: string): Promise<{
  url: string;
  release(how: 'end' | 'reset'): void;
  close(): Promise<void>;
}> {
  let held: ServerResponse | undefined;
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      response.write(sse);
      held = response;
    });
  });
  const { url, close } = await listenOnLoopback(server);
  return {
    url,
    release(how) {
      if (how === 'end') held?.end();
      else held?.socket?.resetAndDestroy();
    },
    close,
  };
}
