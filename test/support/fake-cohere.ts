/**
 * A fake Cohere v2 API on a real socket (127.0.0.1, random port) for gateway tests. It answers
 * `POST /v2/chat` (JSON, or SSE with `stream: true`) and `POST /v2/embed` in Cohere's wire shapes, checks the
 * Bearer token, records every call, and injects scripted faults (status codes, delays, stalled or cut
 * streams, malformed events, a stream that ends before `message-end`, resets, hangs).
 *
 * Shapes follow docs.cohere.com/reference/chat, /reference/chat-stream and /reference/embed and the replies
 * recorded in vercel/ai:packages/cohere/src/__fixtures__ (cohere-text.chunks.txt, cohere-tool-call.json,
 * cohere-tool-call.chunks.txt, cohere-embedding.json). A stream is `event: <type>` + `data: <json>` pairs
 * ending with `data: [DONE]`; error bodies are `{id, message}`.
 */
import { randomUUID } from 'node:crypto';
import { countTokens, fakeEmbedding } from './fake-openai.ts';
import {
  type BaseRecordedCall,
  cut,
  type Exchange as FakeExchange,
  jsonPayload,
  playGenericFault,
  sendBody,
  startFakeServer,
  waitForAbort,
  write,
} from './fake-server.ts';

export type { CallOutcome } from './fake-server.ts';

export interface RecordedCall extends BaseRecordedCall<Fault> {
  /** Pathname, e.g. `/v2/chat`. */
  path: string;
}

/**
 * A scripted misbehaviour for one call. Stream faults count SSE events (never `[DONE]`); past the last event
 * they fire at the end. On a JSON reply `stall` and `cut` send half the body and `malformed-event` sends a
 * body that is not JSON.
 */
export type Fault =
  /** Answer with this status; `body` defaults to Cohere's `{id, message}` for it (a string is sent raw). */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'delay'; ms: number }
  /** Send `afterEvents` events, then nothing until the client disconnects or the fake closes. */
  | { kind: 'stall'; afterEvents: number }
  /** Send `afterEvents` events, then destroy the socket. */
  | { kind: 'cut'; afterEvents: number }
  /** After `afterEvents` events send `data: {not json`, then carry on. */
  | { kind: 'malformed-event'; afterEvents: number }
  /** Send every event except `message-end`, then `[DONE]`, and end the body cleanly. */
  | { kind: 'no-message-end' }
  /** Destroy the socket before any response byte. */
  | { kind: 'reset' }
  /** Accept the request and never answer. */
  | { kind: 'hang' };

export interface ScriptedToolCall {
  id?: string | undefined;
  name: string;
  /** The JSON arguments text, streamed in several fragments. */
  arguments: string;
}

export interface CohereUsage {
  billed_units: { input_tokens: number; output_tokens: number };
  tokens: { input_tokens: number; output_tokens: number };
  cached_tokens: number;
}

export interface ScriptedReply {
  /** Assistant text; when absent the reply echoes the last user message, unless tool calls are given. */
  text?: string | undefined;
  /** Cohere's `tool_plan`, written before tool calls. */
  toolPlan?: string | undefined;
  toolCalls?: ScriptedToolCall[] | undefined;
  /** A reasoning model's thinking, sent as a `thinking` content part before the text. */
  thinking?: string | undefined;
  /** Defaults to `TOOL_CALL` with tool calls, else `COMPLETE` (or `MAX_TOKENS` when truncated). */
  finishReason?: string | undefined;
  usage?: Partial<CohereUsage> | undefined;
}

export interface FakeCohereOptions {
  /** When set, requests must carry `Authorization: Bearer <apiKey>` or get a 401. */
  apiKey?: string | undefined;
  /** Embedding length when the request has no `output_dimension`. Default 16. */
  embeddingDimensions?: number | undefined;
}

export interface FakeCohere {
  /** `http://127.0.0.1:PORT`: what the `cohere-ai` SDK takes as `environment` (it appends `v2/chat`). */
  origin: string;
  /** `http://127.0.0.1:PORT/v2`: the base URL Nexus takes (`COHERE_BASE_URL`). */
  url: string;
  calls: RecordedCall[];
  callsTo(path: string): RecordedCall[];
  /** Queue faults applied to the next calls in order, one per call. */
  enqueue(...faults: Fault[]): void;
  /** Script the reply of every following chat until replaced, cleared with `null`, or `reset()`. */
  setReply(reply: ScriptedReply | null): void;
  /** Forget calls, queued faults and the scripted reply. */
  reset(): void;
  /** Stop listening and destroy every open connection, including stalled and hung ones. */
  close(): Promise<void>;
}

export function cohereError(message: string): { id: string; message: string } {
  return { id: randomUUID(), message };
}

function defaultErrorBody(status: number): unknown {
  if (status === 401) return cohereError('invalid api token');
  if (status === 429) {
    return cohereError(
      "You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or email us at support@cohere.com with any questions",
    );
  }
  if (status >= 500) return cohereError('internal server error, this has been reported to our developers');
  return cohereError(`invalid request: status ${status}`);
}

type Json = Record<string, unknown>;

interface Reply {
  text: string | undefined;
  thinking: string | undefined;
  toolPlan: string | undefined;
  toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  finishReason: string;
  usage: CohereUsage;
}

function messageText(message: Json): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((part: Json) => part.type === 'text' && typeof part.text === 'string')
    .map((part: Json) => part.text)
    .join(' ');
}

/** Splits text like a tokenizer would stream it: each piece is one word with its leading whitespace. */
function pieces(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

function fragments(text: string): string[] {
  const points = Array.from(text);
  const out: string[] = [];
  for (let start = 0; start < points.length; start += 5) out.push(points.slice(start, start + 5).join(''));
  return out;
}

function buildReply(body: Json, scripted: ScriptedReply | null): Reply {
  const messages = body.messages as Json[];
  const toolCalls = (scripted?.toolCalls ?? []).map((call, index) => ({
    id: call.id ?? `${call.name}_${index}${randomUUID().slice(0, 8)}`,
    type: 'function' as const,
    function: { name: call.name, arguments: call.arguments },
  }));
  let text = scripted?.text;
  if (text === undefined && toolCalls.length === 0) {
    const lastUser = messages.findLast((message) => message.role === 'user');
    text = `Echo: ${lastUser ? messageText(lastUser) : ''}`;
  }
  let finishReason = toolCalls.length > 0 ? 'TOOL_CALL' : 'COMPLETE';
  if (text !== undefined && typeof body.max_tokens === 'number' && countTokens(text) > body.max_tokens) {
    text = pieces(text).slice(0, body.max_tokens).join('');
    finishReason = 'MAX_TOKENS';
  }
  const input = messages.reduce((sum, message) => sum + countTokens(messageText(message)), 0);
  const output =
    countTokens(text ?? '') +
    countTokens(scripted?.toolPlan ?? '') +
    toolCalls.reduce((sum, call) => sum + countTokens(`${call.function.name} ${call.function.arguments}`), 0);
  const usage: CohereUsage = {
    billed_units: { input_tokens: input, output_tokens: output },
    tokens: { input_tokens: input, output_tokens: output },
    cached_tokens: 0,
    ...scripted?.usage,
  };
  return {
    text,
    thinking: scripted?.thinking,
    toolPlan: scripted?.toolPlan,
    toolCalls,
    finishReason: scripted?.finishReason ?? finishReason,
    usage,
  };
}

function chatBody(reply: Reply): Json {
  const content: Json[] = [];
  if (reply.thinking !== undefined) content.push({ type: 'thinking', thinking: reply.thinking });
  if (reply.text !== undefined) content.push({ type: 'text', text: reply.text });
  return {
    id: randomUUID(),
    message: {
      role: 'assistant',
      ...(content.length > 0 ? { content } : {}),
      ...(reply.toolPlan !== undefined ? { tool_plan: reply.toolPlan } : {}),
      ...(reply.toolCalls.length > 0 ? { tool_calls: reply.toolCalls } : {}),
    },
    finish_reason: reply.finishReason,
    usage: reply.usage,
  };
}

/** The v2 event sequence for this reply, as recorded in vercel/ai's cohere-*.chunks.txt fixtures. */
function chatEvents(reply: Reply): Json[] {
  const events: Json[] = [
    {
      id: randomUUID(),
      type: 'message-start',
      delta: { message: { role: 'assistant', content: [], tool_plan: '', tool_calls: [], citations: [] } },
    },
  ];
  let index = 0;
  const contentPart = (kind: 'thinking' | 'text', text: string) => {
    events.push({
      type: 'content-start',
      index,
      delta: { message: { content: { type: kind, [kind]: '' } } },
    });
    for (const piece of pieces(text)) {
      events.push({ type: 'content-delta', index, delta: { message: { content: { [kind]: piece } } } });
    }
    events.push({ type: 'content-end', index });
    index++;
  };
  if (reply.thinking !== undefined) contentPart('thinking', reply.thinking);
  for (const piece of pieces(reply.toolPlan ?? '')) {
    events.push({ type: 'tool-plan-delta', delta: { message: { tool_plan: piece } } });
  }
  reply.toolCalls.forEach((call, callIndex) => {
    const start = { id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } };
    events.push({ type: 'tool-call-start', index: callIndex, delta: { message: { tool_calls: start } } });
    for (const fragment of fragments(call.function.arguments)) {
      events.push({
        type: 'tool-call-delta',
        index: callIndex,
        delta: { message: { tool_calls: { function: { arguments: fragment } } } },
      });
    }
    events.push({ type: 'tool-call-end', index: callIndex });
  });
  if (reply.text !== undefined) contentPart('text', reply.text);
  events.push({ type: 'message-end', delta: { finish_reason: reply.finishReason, usage: reply.usage } });
  return events;
}

type Exchange = FakeExchange<RecordedCall>;

export async function startFakeCohere(options: FakeCohereOptions = {}): Promise<FakeCohere> {
  let scripted: ScriptedReply | null = null;

  async function sendJson(
    exchange: Exchange,
    status: number,
    body: unknown,
    extra: Record<string, string> = {},
  ) {
    const { text, headers } = jsonPayload(
      body,
      exchange.call.fault?.kind === 'malformed-event',
      'text/plain',
      'application/json',
    );
    return sendBody(exchange, status, { ...headers, 'x-trial-endpoint-call-limit': '10', ...extra }, text);
  }

  async function streamEvents(exchange: Exchange, events: Json[]): Promise<void> {
    const { response, call, signal } = exchange;
    const fault = call.fault;
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    response.flushHeaders();
    const sent = fault?.kind === 'no-message-end' ? events.slice(0, -1) : events;
    const faultAt = fault && 'afterEvents' in fault ? Math.min(fault.afterEvents, sent.length) : -1;
    for (let index = 0; index <= sent.length; index++) {
      if (index === faultAt && fault) {
        if (fault.kind === 'stall') return waitForAbort(signal);
        if (fault.kind === 'cut') return cut(exchange);
        if (fault.kind === 'malformed-event' && !(await write(response, 'data: {not json\n\n'))) return;
      }
      const event = sent[index];
      if (!event) break;
      if (!(await write(response, `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`)))
        return;
    }
    if (!(await write(response, 'data: [DONE]\n\n'))) return;
    response.end();
  }

  function chat(exchange: Exchange, body: Json): Promise<void> {
    if (typeof body.model !== 'string' || body.model === '') {
      return sendJson(exchange, 400, cohereError('invalid request: model must be a non-empty string.'));
    }
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      return sendJson(exchange, 400, cohereError('invalid request: messages must be a non-empty list.'));
    }
    const reply = buildReply(body, scripted);
    if (body.stream === true) return streamEvents(exchange, chatEvents(reply));
    return sendJson(exchange, 200, chatBody(reply));
  }

  function embed(exchange: Exchange, body: Json): Promise<void> {
    const texts = body.texts;
    if (!Array.isArray(texts) || texts.length === 0 || !texts.every((text) => typeof text === 'string')) {
      return sendJson(
        exchange,
        400,
        cohereError('invalid request: texts must be a non-empty list of strings.'),
      );
    }
    if (typeof body.input_type !== 'string') {
      return sendJson(
        exchange,
        400,
        cohereError('invalid request: valid input_type must be provided with the provided model'),
      );
    }
    const dimensions = Number(body.output_dimension ?? options.embeddingDimensions ?? 16);
    const tokens = texts.reduce((sum: number, text: string) => sum + countTokens(text), 0);
    return sendJson(exchange, 200, {
      id: randomUUID(),
      texts,
      embeddings: { float: texts.map((text: string) => fakeEmbedding(text, dimensions)) },
      meta: { api_version: { version: '2' }, billed_units: { input_tokens: tokens } },
      response_type: 'embeddings_by_type',
    });
  }

  async function respond(exchange: Exchange, body: unknown, isJson: boolean): Promise<void> {
    const over = await playGenericFault(exchange, (fault) =>
      sendJson(exchange, fault.status, fault.body ?? defaultErrorBody(fault.status), fault.headers),
    );
    if (over) return;
    const { call, request } = exchange;
    if (options.apiKey !== undefined && request.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendJson(exchange, 401, cohereError('invalid api token'));
    }
    const handler = { '/v2/chat': chat, '/v2/embed': embed }[call.path];
    if (handler === undefined || request.method !== 'POST') {
      return sendJson(exchange, 404, cohereError(`Not Found: ${request.method} ${call.path}`));
    }
    if (!isJson || body === null || typeof body !== 'object' || Array.isArray(body)) {
      return sendJson(exchange, 400, cohereError('invalid request: the body is not valid JSON.'));
    }
    return handler(exchange, body as Json);
  }

  const server = await startFakeServer<Fault, RecordedCall>({
    describe: () => ({}),
    respond,
    internalErrorBody: (error) => cohereError(`Fake Cohere failed: ${String(error)}`),
  });
  const { calls } = server;
  return {
    origin: server.origin,
    url: `${server.origin}/v2`,
    calls,
    callsTo: (path) => calls.filter((call) => call.path === path || call.path === `/v2${path}`),
    enqueue: server.enqueue,
    setReply: (reply) => {
      scripted = reply;
    },
    reset: () => {
      server.reset();
      scripted = null;
    },
    close: server.close,
  };
}
