/**
 * A fake OpenAI REST API on a real socket (127.0.0.1, random port) for gateway tests. It answers
 * `/v1/chat/completions` (JSON and SSE), `/v1/embeddings` and `/v1/models` in OpenAI's exact wire shapes,
 * records every call, and injects scripted faults (status codes, delays, stalled or cut streams, resets).
 */
import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatMessage,
  EmbeddingsResponse,
  FinishReason,
  ToolCall,
  Usage,
} from '../../src/core/openai-types.ts';
import {
  type BaseRecordedCall,
  cut,
  type Exchange as FakeExchange,
  type FaultScope,
  jsonPayload,
  playGenericFault,
  sendBody,
  sleep,
  startFakeServer,
  waitForAbort,
  write,
} from './fake-server.ts';

export type { CallOutcome } from './fake-server.ts';

export interface RecordedCall extends BaseRecordedCall<Fault> {
  /** Pathname without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  /** The query string including `?`, or `''`. */
  query: string;
  /** `Date.now()` when the request body had been read. */
  receivedAt: number;
}

/**
 * A scripted misbehaviour for one call. Stream faults count `chat.completion.chunk` events (never
 * `[DONE]`); when `afterChunks` reaches past the last chunk the fault fires just before `[DONE]`. On a
 * JSON (non-stream) response the stream faults act on the body: `slow-first-byte` sends headers first,
 * `stall` and `cut` send half of the body, `malformed-chunk` sends a body that is not JSON, `no-done` does
 * nothing.
 */
export type Fault =
  /** Answer with this status; `body` defaults to an OpenAI error object (a string body is sent raw). */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  /** Wait `ms` before responding normally. */
  | { kind: 'delay'; ms: number }
  /** Send headers at once, the first body byte only after `ms`. */
  | { kind: 'slow-first-byte'; ms: number }
  /** Send `afterChunks` chunks, then nothing until the client disconnects or the fake closes. */
  | { kind: 'stall'; afterChunks: number }
  /** Send `afterChunks` chunks, then destroy the socket (no `[DONE]`, no terminating HTTP chunk). */
  | { kind: 'cut'; afterChunks: number }
  /** After `afterChunks` chunks send `data: {not json`, then carry on normally. */
  | { kind: 'malformed-chunk'; afterChunks: number }
  /** End the stream cleanly without `data: [DONE]`. */
  | { kind: 'no-done' }
  /** Destroy the socket (TCP RST) before any response byte. */
  | { kind: 'reset' }
  /** Accept the request and never answer. */
  | { kind: 'hang' };

export interface ScriptedToolCall {
  /** Defaults to a generated `call_...` id. */
  id?: string | undefined;
  name: string;
  /** The JSON arguments text, streamed in several fragments. */
  arguments: string;
}

export interface ScriptedReply {
  /** Assistant text; when absent the reply has `content: null` if tool calls are given, else the echo. */
  text?: string | undefined;
  toolCalls?: ScriptedToolCall[] | undefined;
  /** Defaults to `tool_calls` when tool calls are given, else `stop` (or `length` when truncated). */
  finishReason?: FinishReason | (string & {}) | undefined;
  /** Overrides the computed usage; `total_tokens` is recomputed unless given. */
  usage?: Partial<Usage> | undefined;
}

export interface FakeOpenAIOptions {
  /** When set, every request must carry `Authorization: Bearer <apiKey>` or gets a 401. */
  apiKey?: string | undefined;
  /** Model ids served by `/v1/models`. */
  models?: string[] | undefined;
  /** When true, chat and embeddings requests for a model not in `models` get OpenAI's 404. */
  rejectUnknownModels?: boolean | undefined;
  /** Embedding length when the request has no `dimensions`. Default 16. */
  embeddingDimensions?: number | undefined;
  /** The vector of one input, in place of the default hash of its text (a test's own notion of meaning). */
  embeddingOf?: ((text: string, dimensions: number) => number[]) | undefined;
  /** Pause between stream chunks, in milliseconds. Default 0. */
  chunkDelayMs?: number | undefined;
  /** Default `fp_fake0000001`. */
  systemFingerprint?: string | undefined;
}

export interface FakeOpenAI {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:PORT/v1`. */
  url: string;
  /** Every request received, in arrival order. */
  calls: RecordedCall[];
  /** Calls whose pathname equals `path`; a path without the `/v1` prefix also matches. */
  callsTo(path: string): RecordedCall[];
  /** Queue faults applied to the next calls in order (one per call); after the queue drains, behave normally. */
  enqueue(...faults: Fault[]): void;
  /** Apply this fault to every call (after the queue is drained) until cleared with `null`. */
  setPersistentFault(fault: Fault | null): void;
  /** Apply this fault to the calls for one model or carrying one key, until cleared with `null`. */
  setScopedFault(scope: FaultScope, fault: Fault | null): void;
  /** Script the reply of every following chat completion until replaced, cleared with `null`, or `reset()`. */
  setReply(reply: ScriptedReply | null): void;
  /** Forget calls, queued and persistent faults and the scripted reply. */
  reset(): void;
  /** Stop listening and destroy every open connection, including stalled and hung ones. */
  close(): Promise<void>;
}

type Exchange = FakeExchange<RecordedCall>;

const defaultModels = ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'];
const modelCreatedAt = 1_715_367_049;
const argumentFragmentLength = 5;

const invalidJsonMessage =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP " +
  'library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you ' +
  'have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)';

/** OpenAI's error envelope. */
export function openAIError(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return { error: { message, type, param, code } };
}

function defaultErrorBody(status: number): unknown {
  if (status === 401)
    return openAIError('Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key');
  if (status === 404) return openAIError('Not found.', 'invalid_request_error');
  if (status === 429) {
    return openAIError(
      'Rate limit reached for requests. Please try again later.',
      'requests',
      null,
      'rate_limit_exceeded',
    );
  }
  if (status === 503) return openAIError('The server is overloaded or not ready yet.', 'server_error');
  if (status >= 500) {
    return openAIError(
      'The server had an error while processing your request. Sorry about that!',
      'server_error',
    );
  }
  return openAIError(`Request failed with status ${status}.`, 'invalid_request_error');
}

function randomId(prefix: string, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return prefix + Array.from(randomBytes(length), (byte) => alphabet[byte % alphabet.length]).join('');
}

/** Deterministic token count: whitespace-separated words. */
export function countTokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function messageText(message: ChatMessage): string {
  if (typeof message.content === 'string') return message.content;
  if (!Array.isArray(message.content)) return '';
  return message.content
    .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join(' ');
}

/** Splits text like a tokenizer would stream it: each piece is one word with its leading whitespace. */
function splitIntoPieces(text: string): string[] {
  const pieces: string[] = text.match(/\s*\S+/g) ?? [];
  const rest = text.slice(pieces.join('').length);
  if (rest) pieces.push(rest);
  return pieces;
}

function splitArguments(text: string): string[] {
  const codePoints = Array.from(text);
  const fragments: string[] = [];
  for (let start = 0; start < codePoints.length; start += argumentFragmentLength) {
    fragments.push(codePoints.slice(start, start + argumentFragmentLength).join(''));
  }
  return fragments;
}

interface ChatReply {
  content: string | null;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage;
}

function buildChatReply(request: Record<string, unknown>, scripted: ScriptedReply | null): ChatReply {
  const messages = request.messages as ChatMessage[];
  const toolCalls: ToolCall[] = (scripted?.toolCalls ?? []).map((call) => ({
    id: call.id ?? randomId('call_', 24),
    type: 'function',
    function: { name: call.name, arguments: call.arguments },
  }));
  let content: string | null;
  if (scripted?.text !== undefined) content = scripted.text;
  else if (toolCalls.length > 0) content = null;
  else {
    const lastUser = messages.findLast((message) => message.role === 'user');
    content = `Echo: ${lastUser ? messageText(lastUser) : ''}`;
  }
  let finishReason: string = toolCalls.length > 0 ? 'tool_calls' : 'stop';
  const limit = request.max_completion_tokens ?? request.max_tokens;
  if (
    content !== null &&
    toolCalls.length === 0 &&
    typeof limit === 'number' &&
    countTokens(content) > limit
  ) {
    content = splitIntoPieces(content).slice(0, limit).join('');
    finishReason = 'length';
  }
  const promptTokens = messages.reduce((sum, message) => sum + countTokens(messageText(message)), 0);
  const completionTokens =
    countTokens(content ?? '') +
    toolCalls.reduce((sum, call) => sum + countTokens(`${call.function.name} ${call.function.arguments}`), 0);
  const usage: Usage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: 0,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
    ...scripted?.usage,
  };
  usage.total_tokens = scripted?.usage?.total_tokens ?? usage.prompt_tokens + usage.completion_tokens;
  // A scripted non-standard finish reason is passed through on purpose, to test how the gateway maps it.
  return {
    content,
    toolCalls,
    finishReason: (scripted?.finishReason ?? finishReason) as FinishReason,
    usage,
  };
}

function chatCompletionBody(model: string, reply: ChatReply, fingerprint: string): ChatCompletion {
  return {
    id: randomId('chatcmpl-', 29),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: reply.content,
          refusal: null,
          annotations: [],
          ...(reply.toolCalls.length > 0 ? { tool_calls: reply.toolCalls } : {}),
        },
        logprobs: null,
        finish_reason: reply.finishReason,
      },
    ],
    usage: reply.usage,
    service_tier: 'default',
    system_fingerprint: fingerprint,
  };
}

/** The chunk sequence OpenAI streams for this reply, without `[DONE]`. */
function chatChunks(
  request: Record<string, unknown>,
  reply: ChatReply,
  fingerprint: string,
): ChatCompletionChunk[] {
  const streamOptions = (request.stream_options ?? {}) as Record<string, unknown>;
  const includeUsage = streamOptions.include_usage === true;
  const includeObfuscation = streamOptions.include_obfuscation !== false;
  const head = {
    id: randomId('chatcmpl-', 29),
    object: 'chat.completion.chunk' as const,
    created: Math.floor(Date.now() / 1000),
    model: String(request.model),
    service_tier: 'default',
    system_fingerprint: fingerprint,
  };
  const chunks: ChatCompletionChunk[] = [];
  const push = (
    delta: ChatCompletionChunk['choices'][number]['delta'],
    finishReason: FinishReason | null,
  ): void => {
    chunks.push({
      ...head,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(includeUsage ? { usage: null } : {}),
    });
  };
  const toolCallHeader = (call: ToolCall, index: number) => ({
    index,
    id: call.id,
    type: 'function' as const,
    function: { name: call.function.name, arguments: '' },
  });
  const [firstCall] = reply.toolCalls;
  if (reply.content === null && firstCall) {
    // With no text OpenAI opens with the role and the first call's header in the same delta.
    push(
      { role: 'assistant', content: null, tool_calls: [toolCallHeader(firstCall, 0)], refusal: null },
      null,
    );
  } else {
    push({ role: 'assistant', content: '', refusal: null }, null);
    for (const piece of splitIntoPieces(reply.content ?? '')) push({ content: piece }, null);
  }
  reply.toolCalls.forEach((call, index) => {
    if (index > 0 || reply.content !== null) push({ tool_calls: [toolCallHeader(call, index)] }, null);
    for (const fragment of splitArguments(call.function.arguments)) {
      push({ tool_calls: [{ index, function: { arguments: fragment } }] }, null);
    }
  });
  push({}, reply.finishReason);
  if (includeUsage) chunks.push({ ...head, choices: [], usage: reply.usage });
  if (includeObfuscation) {
    // OpenAI pads each chunk with a random-length `obfuscation` string against side-channel length attacks.
    for (const chunk of chunks) chunk.obfuscation = randomId('', 1 + (JSON.stringify(chunk).length % 11));
  }
  return chunks;
}

/** A deterministic unit vector derived from the input (FNV-1a seed, mulberry32 sequence), float32-exact. */
export function fakeEmbedding(input: string, dimensions: number): number[] {
  let seed = 0x811c9dc5;
  for (const byte of Buffer.from(input, 'utf8')) seed = Math.imul(seed ^ byte, 0x01000193) >>> 0;
  const values: number[] = [];
  for (let i = 0; i < dimensions; i++) {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    values.push(((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1);
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((value) => Math.fround(value / norm));
}

/** Little-endian float32 bytes in base64, as OpenAI sends with `encoding_format: 'base64'`. */
export function encodeEmbeddingBase64(vector: number[]): string {
  const view = new DataView(new ArrayBuffer(vector.length * 4));
  for (const [index, value] of vector.entries()) view.setFloat32(index * 4, value, true);
  return Buffer.from(view.buffer).toString('base64');
}

function embeddingInputs(input: unknown): Array<{ text: string; tokens: number }> | null {
  const isTokens = (value: unknown): value is number[] =>
    Array.isArray(value) && value.length > 0 && value.every((item) => Number.isInteger(item));
  if (typeof input === 'string') return input ? [{ text: input, tokens: countTokens(input) }] : null;
  if (isTokens(input)) return [{ text: JSON.stringify(input), tokens: input.length }];
  if (!Array.isArray(input) || input.length === 0) return null;
  const items: Array<{ text: string; tokens: number }> = [];
  for (const item of input) {
    if (typeof item === 'string' && item) items.push({ text: item, tokens: countTokens(item) });
    else if (isTokens(item)) items.push({ text: JSON.stringify(item), tokens: item.length });
    else return null;
  }
  return items;
}

export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const models = options.models ?? defaultModels;
  const fingerprint = options.systemFingerprint ?? 'fp_fake0000001';
  let scriptedReply: ScriptedReply | null = null;

  const baseHeaders = (): OutgoingHttpHeaders => ({
    'x-request-id': randomId('req_', 32),
    'openai-version': '2020-10-01',
    'openai-processing-ms': '1',
  });

  /** Sends a JSON body, shaping it with any stream fault of this call (see `Fault`). */
  async function sendJson(
    exchange: Exchange,
    status: number,
    body: unknown,
    extraHeaders: Record<string, string> = {},
  ) {
    const { text, headers } = jsonPayload(
      body,
      exchange.call.fault?.kind === 'malformed-chunk',
      'text/plain; charset=utf-8',
      'application/json',
    );
    return sendBody(exchange, status, { ...baseHeaders(), ...headers, ...extraHeaders }, text);
  }

  async function streamChat(exchange: Exchange, chunks: ChatCompletionChunk[]): Promise<void> {
    const { response, call, signal } = exchange;
    const fault = call.fault;
    response.writeHead(200, {
      ...baseHeaders(),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    response.flushHeaders();
    if (fault?.kind === 'slow-first-byte' && !(await sleep(fault.ms, signal))) return;
    const faultAt = fault && 'afterChunks' in fault ? Math.min(fault.afterChunks, chunks.length) : -1;
    for (let index = 0; index <= chunks.length; index++) {
      if (index === faultAt && fault) {
        if (fault.kind === 'stall') return waitForAbort(signal);
        if (fault.kind === 'cut') return cut(exchange);
        if (fault.kind === 'malformed-chunk' && !(await write(response, 'data: {not json\n\n'))) return;
      }
      const chunk = chunks[index];
      if (!chunk) break;
      if (index > 0 && options.chunkDelayMs && !(await sleep(options.chunkDelayMs, signal))) return;
      if (!(await write(response, `data: ${JSON.stringify(chunk)}\n\n`))) return;
    }
    if (fault?.kind !== 'no-done' && !(await write(response, 'data: [DONE]\n\n'))) return;
    response.end();
  }

  function checkModel(exchange: Exchange, body: Record<string, unknown>): Promise<void> | null {
    if (typeof body.model !== 'string' || !body.model) {
      return sendJson(
        exchange,
        400,
        openAIError('you must provide a model parameter', 'invalid_request_error'),
      );
    }
    if (options.rejectUnknownModels && !models.includes(body.model)) {
      const message = `The model \`${body.model}\` does not exist or you do not have access to it.`;
      return sendJson(exchange, 404, openAIError(message, 'invalid_request_error', null, 'model_not_found'));
    }
    return null;
  }

  function chatCompletions(exchange: Exchange, body: Record<string, unknown>): Promise<void> {
    const rejected = checkModel(exchange, body);
    if (rejected) return rejected;
    if (body.messages === undefined) {
      const message = "Missing required parameter: 'messages'.";
      const error = openAIError(message, 'invalid_request_error', 'messages', 'missing_required_parameter');
      return sendJson(exchange, 400, error);
    }
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      const message = `Invalid value for 'messages': expected a non-empty array of message objects.`;
      return sendJson(
        exchange,
        400,
        openAIError(message, 'invalid_request_error', 'messages', 'invalid_value'),
      );
    }
    const reply = buildChatReply(body, scriptedReply);
    if (body.stream === true) return streamChat(exchange, chatChunks(body, reply, fingerprint));
    return sendJson(exchange, 200, chatCompletionBody(String(body.model), reply, fingerprint));
  }

  function embeddings(exchange: Exchange, body: Record<string, unknown>): Promise<void> {
    const rejected = checkModel(exchange, body);
    if (rejected) return rejected;
    if (body.input === undefined) {
      const message = "Missing required parameter: 'input'.";
      const error = openAIError(message, 'invalid_request_error', 'input', 'missing_required_parameter');
      return sendJson(exchange, 400, error);
    }
    const inputs = embeddingInputs(body.input);
    if (!inputs) {
      const message =
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";
      return sendJson(exchange, 400, openAIError(message, 'invalid_request_error'));
    }
    const dimensions = body.dimensions ?? options.embeddingDimensions ?? 16;
    if (typeof dimensions !== 'number' || !Number.isInteger(dimensions) || dimensions < 1) {
      const message = `Invalid value for 'dimensions': expected a positive integer.`;
      return sendJson(exchange, 400, openAIError(message, 'invalid_request_error', 'dimensions'));
    }
    const base64 = body.encoding_format === 'base64';
    const tokens = inputs.reduce((sum, input) => sum + input.tokens, 0);
    const response: EmbeddingsResponse = {
      object: 'list',
      data: inputs.map((input, index) => {
        const vector = options.embeddingOf?.(input.text, dimensions) ?? fakeEmbedding(input.text, dimensions);
        return { object: 'embedding', index, embedding: base64 ? encodeEmbeddingBase64(vector) : vector };
      }),
      model: String(body.model),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
    return sendJson(exchange, 200, response);
  }

  const modelObject = (id: string) => ({ id, object: 'model', created: modelCreatedAt, owned_by: 'system' });

  function route(exchange: Exchange, body: unknown, bodyIsJson: boolean): Promise<void> {
    const { method = 'GET' } = exchange.request;
    const { path } = exchange.call;
    const modelMatch = /^\/v1\/models\/([^/]+)$/.exec(path);
    const postRoutes: Record<string, typeof chatCompletions> = {
      '/v1/chat/completions': chatCompletions,
      '/v1/embeddings': embeddings,
    };
    const handler = postRoutes[path];
    if (handler) {
      if (method !== 'POST') {
        const message = `Invalid method for URL (${method} ${path})`;
        return sendJson(exchange, 405, openAIError(message, 'invalid_request_error'));
      }
      if (!bodyIsJson || typeof body !== 'object' || body === null || Array.isArray(body)) {
        return sendJson(exchange, 400, openAIError(invalidJsonMessage, 'invalid_request_error'));
      }
      return handler(exchange, body as Record<string, unknown>);
    }
    if (method === 'GET' && path === '/v1/models') {
      return sendJson(exchange, 200, { object: 'list', data: models.map(modelObject) });
    }
    if (method === 'GET' && modelMatch?.[1]) {
      const id = decodeURIComponent(modelMatch[1]);
      if (models.includes(id)) return sendJson(exchange, 200, modelObject(id));
      const message = `The model '${id}' does not exist`;
      return sendJson(
        exchange,
        404,
        openAIError(message, 'invalid_request_error', 'model', 'model_not_found'),
      );
    }
    return sendJson(exchange, 404, openAIError(`Invalid URL (${method} ${path})`, 'invalid_request_error'));
  }

  function checkAuth(exchange: Exchange): Promise<void> | null {
    if (options.apiKey === undefined) return null;
    const header = exchange.request.headers.authorization;
    if (header === `Bearer ${options.apiKey}`) return null;
    const message = header
      ? 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.'
      : "You didn't provide an API key. You need to provide your API key in an Authorization header using " +
        'Bearer auth (i.e. Authorization: Bearer YOUR_KEY).';
    return sendJson(exchange, 401, openAIError(message, 'invalid_request_error', null, 'invalid_api_key'));
  }

  async function respond(exchange: Exchange, body: unknown, bodyIsJson: boolean): Promise<void> {
    // A status fault is answered before auth and routing, as a rate limiter or failing load balancer in
    // front of OpenAI would.
    const over = await playGenericFault(exchange, (fault) =>
      sendJson(exchange, fault.status, fault.body ?? defaultErrorBody(fault.status), fault.headers),
    );
    if (over) return;
    const unauthorized = checkAuth(exchange);
    if (unauthorized) return unauthorized;
    return route(exchange, body, bodyIsJson);
  }

  const server = await startFakeServer<Fault, RecordedCall>({
    describe: (url) => ({ query: url.search, receivedAt: Date.now() }),
    respond,
    internalErrorBody: (error) =>
      openAIError(
        `Fake OpenAI failed: ${error instanceof Error ? error.message : String(error)}`,
        'server_error',
      ),
  });
  const { calls } = server;
  return {
    url: `${server.origin}/v1`,
    calls,
    callsTo: (path) => calls.filter((call) => call.path === path || call.path === `/v1${path}`),
    enqueue: server.enqueue,
    setPersistentFault: server.setPersistentFault,
    setScopedFault: server.setScopedFault,
    setReply: (reply) => {
      scriptedReply = reply;
    },
    reset: () => {
      server.reset();
      scriptedReply = null;
    },
    close: server.close,
  };
}
