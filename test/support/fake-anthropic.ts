/**
 * A fake Anthropic Messages API on a real socket (127.0.0.1, random port) for gateway tests. It answers
 * `POST /v1/messages` (JSON, and SSE with the full event sequence: `message_start`, `ping`, content blocks
 * with `text_delta` and `input_json_delta` fragments, `message_delta` with usage, `message_stop`) and
 * `POST /v1/messages/count_tokens`, in Anthropic's exact wire shapes. It checks `x-api-key` and
 * `anthropic-version`, validates bodies the way Anthropic does where a converter could get it wrong (unknown
 * fields, sampling parameters under API version 2026-10-21, empty text blocks, temperature above 1, unpaired
 * tool_use/tool_result), records every call, and injects scripted faults (status codes such as 529, delays,
 * stalled or cut streams, error events, resets). It accepts the key as `x-api-key` or, as SDK v1 sends it,
 * as `Authorization: Bearer`.
 *
 * Shapes follow Anthropic's API reference (docs.anthropic.com/en/api/messages, /messages-streaming,
 * /errors) and recorded replies in vercel/ai:packages/anthropic/src/__fixtures__ (anthropic-text.json,
 * anthropic-text.chunks.txt, anthropic-tool-no-args.chunks.txt).
 */
import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
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
  /** Pathname without the query string, e.g. `/v1/messages`. */
  path: string;
  query: string;
  receivedAt: number;
}

/**
 * A scripted misbehaviour for one call. Stream faults count SSE events (`ping` included); when
 * `afterEvents` reaches past the last event the fault fires at the end. On a JSON (non-stream) response the
 * stream faults act on the body: `slow-first-byte` sends headers first, `stall` and `cut` send half of the
 * body, `malformed-event` sends a body that is not JSON, `error-event` answers 529 overloaded.
 */
export type Fault =
  /** Answer with this status; `body` defaults to Anthropic's error object for it (a string is sent raw). */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'delay'; ms: number }
  | { kind: 'slow-first-byte'; ms: number }
  /** Send `afterEvents` events, then nothing until the client disconnects or the fake closes. */
  | { kind: 'stall'; afterEvents: number }
  /** Send `afterEvents` events, then destroy the socket. */
  | { kind: 'cut'; afterEvents: number }
  /** After `afterEvents` events send `event: content_block_delta` with `data: {not json`, then carry on. */
  | { kind: 'malformed-event'; afterEvents: number }
  /** After `afterEvents` events send Anthropic's `event: error` (default overloaded_error) and end. */
  | { kind: 'error-event'; afterEvents: number; errorType?: string; message?: string }
  /** Send every event except `message_stop`, then end the body cleanly. */
  | { kind: 'no-message-stop' }
  | { kind: 'reset' }
  | { kind: 'hang' };

export interface ScriptedToolUse {
  /** Defaults to a generated `toolu_...` id. */
  id?: string | undefined;
  name: string;
  input: Record<string, unknown>;
}

export interface ScriptedUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

export interface ScriptedReply {
  /** Text before any tool use; when absent the reply echoes the last user text unless tool uses are given. */
  text?: string | undefined;
  toolUses?: ScriptedToolUse[] | undefined;
  /** Overrides the computed stop reason (`end_turn`, `max_tokens`, `stop_sequence`, `tool_use`). */
  stopReason?: string | undefined;
  /** Overrides the computed usage counts. */
  usage?: ScriptedUsage | undefined;
}

export interface FakeAnthropicOptions {
  /** When set, `x-api-key` must equal it; otherwise any non-empty key is accepted. */
  apiKey?: string | undefined;
  /** Model ids accepted when `rejectUnknownModels` is set. */
  models?: string[] | undefined;
  rejectUnknownModels?: boolean | undefined;
  /** Pause between stream events, in milliseconds. Default 0. */
  eventDelayMs?: number | undefined;
}

export interface FakeAnthropic {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:PORT/v1`. */
  url: string;
  calls: RecordedCall[];
  /** Calls whose pathname equals `path`; a path without the `/v1` prefix also matches. */
  callsTo(path: string): RecordedCall[];
  enqueue(...faults: Fault[]): void;
  setPersistentFault(fault: Fault | null): void;
  /** Apply this fault to the calls for one model or carrying one key, until cleared with `null`. */
  setScopedFault(scope: FaultScope, fault: Fault | null): void;
  setReply(reply: ScriptedReply | null): void;
  reset(): void;
  close(): Promise<void>;
}

type Exchange = FakeExchange<RecordedCall>;

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

type Body = Record<string, unknown>;
type Block = Record<string, unknown>;

const argumentFragmentLength = 6;

/** Anthropic's error envelope. */
export function anthropicError(type: string, message: string) {
  return { type: 'error', error: { type, message }, request_id: randomId('req_', 24) };
}

function defaultErrorBody(status: number) {
  const known: Record<number, [string, string]> = {
    400: ['invalid_request_error', 'Invalid request.'],
    401: ['authentication_error', 'invalid x-api-key'],
    403: ['permission_error', 'Your API key does not have permission to use the specified resource.'],
    404: ['not_found_error', 'The requested resource could not be found.'],
    413: ['request_too_large', 'Request exceeds the maximum allowed number of bytes.'],
    429: ['rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit.'],
    500: ['api_error', 'Internal server error'],
    529: ['overloaded_error', 'Overloaded'],
  };
  const [type, message] = known[status] ?? [
    status >= 500 ? 'api_error' : 'invalid_request_error',
    `HTTP ${status}`,
  ];
  return anthropicError(type, message);
}

function randomId(prefix: string, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return prefix + Array.from(randomBytes(length), (byte) => alphabet[byte % alphabet.length]).join('');
}

/** Deterministic token count: whitespace-separated words. */
export function countTokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function blockTokens(block: Block): number {
  if (block.type === 'text') return countTokens(String(block.text));
  if (block.type === 'image') return 1;
  if (block.type === 'tool_use') return countTokens(`${String(block.name)} ${JSON.stringify(block.input)}`);
  if (block.type === 'tool_result') {
    const content = block.content;
    if (typeof content === 'string') return countTokens(content);
    return Array.isArray(content)
      ? content.reduce((sum: number, inner: Block) => sum + blockTokens(inner), 0)
      : 0;
  }
  return 0;
}

function blocksOf(content: unknown): Block[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return Array.isArray(content) ? (content as Block[]) : [];
}

/** Input tokens of a request: words of the system prompt, every block (an image counts 1) and tool names. */
export function countInputTokens(body: Body): number {
  const system = blocksOf(body.system).reduce((sum, block) => sum + blockTokens(block), 0);
  const messages = (body.messages as Array<{ content: unknown }>).reduce(
    (sum, message) => sum + blocksOf(message.content).reduce((inner, block) => inner + blockTokens(block), 0),
    0,
  );
  const tools = Array.isArray(body.tools)
    ? (body.tools as Block[]).reduce(
        (sum, tool) => sum + countTokens(`${tool.name} ${tool.description ?? ''}`),
        0,
      )
    : 0;
  return system + messages + tools;
}

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

interface Reply {
  id: string;
  model: string;
  content: Block[];
  stopReason: string;
  stopSequence: string | null;
  usage: Required<ScriptedUsage>;
}

function lastUserText(body: Body): string {
  const messages = body.messages as Array<{ role: string; content: unknown }>;
  const user = messages.findLast((message) => message.role === 'user');
  return blocksOf(user?.content)
    .filter((block) => block.type === 'text')
    .map((block) => String(block.text))
    .join(' ');
}

function buildReply(body: Body, scripted: ScriptedReply | null): Reply {
  const toolUses = (scripted?.toolUses ?? []).map((tool) => ({
    type: 'tool_use',
    id: tool.id ?? randomId('toolu_01', 22),
    name: tool.name,
    input: tool.input,
  }));
  let text: string | undefined = scripted?.text;
  if (text === undefined && toolUses.length === 0) text = `Echo: ${lastUserText(body)}`;
  let stopReason = toolUses.length > 0 ? 'tool_use' : 'end_turn';
  let stopSequence: string | null = null;
  if (text !== undefined && toolUses.length === 0) {
    const stops = Array.isArray(body.stop_sequences) ? (body.stop_sequences as string[]) : [];
    const hit = stops
      .map((stop) => ({ stop, at: text!.indexOf(stop) }))
      .filter((found) => found.at >= 0)
      .sort((a, b) => a.at - b.at)[0];
    if (hit !== undefined) {
      text = text.slice(0, hit.at);
      stopReason = 'stop_sequence';
      stopSequence = hit.stop;
    }
    const limit = body.max_tokens as number;
    if (countTokens(text) > limit) {
      text = splitIntoPieces(text).slice(0, limit).join('');
      stopReason = 'max_tokens';
    }
  }
  const content: Block[] = [...(text === undefined ? [] : [{ type: 'text', text }]), ...toolUses];
  const output = content.reduce((sum, block) => sum + blockTokens(block), 0);
  return {
    id: randomId('msg_01', 22),
    model: String(body.model),
    content,
    stopReason: scripted?.stopReason ?? stopReason,
    stopSequence,
    usage: {
      input_tokens: countInputTokens(body),
      output_tokens: output,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
      ...scripted?.usage,
    },
  };
}

function usageBody(usage: Required<ScriptedUsage>, outputTokens: number) {
  return {
    input_tokens: usage.input_tokens,
    cache_creation_input_tokens: usage.cache_creation_input_tokens,
    cache_read_input_tokens: usage.cache_read_input_tokens,
    cache_creation: {
      ephemeral_5m_input_tokens: usage.cache_creation_input_tokens,
      ephemeral_1h_input_tokens: 0,
    },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

function messageBody(reply: Reply) {
  return {
    model: reply.model,
    id: reply.id,
    type: 'message',
    role: 'assistant',
    content: reply.content,
    stop_reason: reply.stopReason,
    stop_sequence: reply.stopSequence,
    usage: usageBody(reply.usage, reply.usage.output_tokens),
  };
}

/** The event sequence Anthropic streams for this reply, in the order of anthropic-text.chunks.txt. */
function streamEvents(reply: Reply): SseEvent[] {
  const events: SseEvent[] = [];
  const push = (data: Record<string, unknown>) => events.push({ event: String(data.type), data });
  push({
    type: 'message_start',
    message: {
      ...messageBody(reply),
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: usageBody(reply.usage, 1),
    },
  });
  reply.content.forEach((block, index) => {
    if (block.type === 'text') {
      push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      if (index === 0) push({ type: 'ping' });
      for (const piece of splitIntoPieces(String(block.text))) {
        push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
      }
    } else {
      const start = { type: 'tool_use', id: block.id, name: block.name, input: {} };
      push({ type: 'content_block_start', index, content_block: start });
      if (index === 0) push({ type: 'ping' });
      // Anthropic opens every tool input with an empty fragment (anthropic-tool-no-args.chunks.txt).
      for (const fragment of ['', ...splitArguments(JSON.stringify(block.input))]) {
        push({
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: fragment },
        });
      }
    }
    push({ type: 'content_block_stop', index });
  });
  push({
    type: 'message_delta',
    delta: { stop_reason: reply.stopReason, stop_sequence: reply.stopSequence },
    usage: {
      input_tokens: reply.usage.input_tokens,
      cache_creation_input_tokens: reply.usage.cache_creation_input_tokens,
      cache_read_input_tokens: reply.usage.cache_read_input_tokens,
      output_tokens: reply.usage.output_tokens,
    },
  });
  push({ type: 'message_stop' });
  return events;
}

const messagesFields = [
  'model',
  'messages',
  'max_tokens',
  'system',
  'stop_sequences',
  'tools',
  'tool_choice',
  'metadata',
  'stream',
  'thinking',
  'service_tier',
  'container',
  'mcp_servers',
  'context_management',
  'output_config',
];
const countTokensFields = [
  'model',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'thinking',
  'mcp_servers',
  'context_management',
  'output_config',
];
const imageMediaTypes = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** One content block; returns Anthropic's message for the first problem, or undefined. */
function checkBlock(block: unknown, path: string): string | undefined {
  if (!isObject(block)) return `${path}: Input should be a valid dictionary or object to extract fields from`;
  switch (block.type) {
    case 'text':
      if (typeof block.text !== 'string') return `${path}.text: Field required`;
      return block.text === '' ? 'messages: text content blocks must be non-empty' : undefined;
    case 'image': {
      const source = block.source;
      if (!isObject(source)) return `${path}.source: Field required`;
      if (source.type === 'url')
        return typeof source.url === 'string' ? undefined : `${path}.source.url: Field required`;
      if (source.type !== 'base64')
        return `${path}.source: Input tag '${String(source.type)}' does not match`;
      if (!imageMediaTypes.includes(String(source.media_type))) {
        return `${path}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`;
      }
      return typeof source.data === 'string' ? undefined : `${path}.source.base64.data: Field required`;
    }
    case 'tool_use':
      if (typeof block.id !== 'string' || typeof block.name !== 'string')
        return `${path}: id and name are required`;
      return isObject(block.input) ? undefined : `${path}.input: Input should be a valid dictionary`;
    case 'tool_result': {
      if (typeof block.tool_use_id !== 'string') return `${path}.tool_use_id: Field required`;
      const content = block.content;
      if (content === undefined || typeof content === 'string') return undefined;
      if (!Array.isArray(content)) return `${path}.content: Input should be a valid list`;
      for (const [index, inner] of content.entries()) {
        const problem = checkBlock(inner, `${path}.content.${index}`);
        if (problem) return problem;
      }
      return undefined;
    }
    default:
      return `${path}: Input tag '${String(block.type)}' found using 'type' does not match any of the expected tags`;
  }
}

/** Tool uses must be answered by tool results in the very next message, and results must answer them. */
function checkToolPairing(messages: Array<{ role: string; content: unknown }>): string | undefined {
  const idsOf = (content: unknown, type: string, field: string) =>
    blocksOf(content)
      .filter((block) => block.type === type)
      .map((block) => String(block[field]));
  for (const [index, message] of messages.entries()) {
    const previous = messages[index - 1];
    const uses = previous?.role === 'assistant' ? idsOf(previous.content, 'tool_use', 'id') : [];
    const results = message.role === 'user' ? idsOf(message.content, 'tool_result', 'tool_use_id') : [];
    const unexpected = results.filter((id) => !uses.includes(id));
    if (unexpected.length > 0) {
      return (
        `messages.${index}.content.0: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${unexpected.join(', ')}. ` +
        'Each `tool_result` block must have a corresponding `tool_use` block in the previous message.'
      );
    }
    const unanswered = uses.filter((id) => !results.includes(id));
    if (unanswered.length > 0) {
      return (
        `messages.${index - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ` +
        `${unanswered.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`
      );
    }
  }
  return undefined;
}

function checkTools(body: Body): string | undefined {
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return 'tools: Input should be a valid list';
    for (const [index, tool] of (body.tools as unknown[]).entries()) {
      if (!isObject(tool) || typeof tool.name !== 'string')
        return `tools.${index}.custom.name: Field required`;
      if (!isObject(tool.input_schema)) return `tools.${index}.custom.input_schema: Field required`;
      if (tool.input_schema.type !== 'object')
        return `tools.${index}.custom.input_schema.type: Input should be 'object'`;
    }
  }
  const choice = body.tool_choice;
  if (choice === undefined) return undefined;
  if (!isObject(choice) || !['auto', 'any', 'tool', 'none'].includes(String(choice.type))) {
    return "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'";
  }
  if (choice.type === 'tool' && typeof choice.name !== 'string')
    return 'tool_choice.tool.name: Field required';
  if (choice.type === 'none' && choice.disable_parallel_tool_use !== undefined) {
    return 'tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted';
  }
  return undefined;
}

/**
 * Validates a Messages (or count_tokens) body the way Anthropic does for the mistakes a converter could make;
 * returns Anthropic's error message for the first problem, or undefined.
 */
function validateMessagesBody(body: Body, countOnly: boolean, version: string): string | undefined {
  // API version 2026-10-21 removed the sampling parameters: even default values are a 400 there.
  const sampling = version < '2026-10-21' ? ['temperature', 'top_p', 'top_k'] : [];
  const allowed = countOnly ? countTokensFields : [...messagesFields, ...sampling];
  const extra = Object.keys(body).find((field) => !allowed.includes(field));
  if (extra !== undefined) return `${extra}: Extra inputs are not permitted`;
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (!countOnly) {
    if (body.max_tokens === undefined) return 'max_tokens: Field required';
    if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) {
      return 'max_tokens: Input should be greater than or equal to 1';
    }
  }
  if (!Array.isArray(body.messages)) return 'messages: Field required';
  if (body.messages.length === 0) return 'messages: at least one message is required';
  for (const [index, message] of (body.messages as unknown[]).entries()) {
    if (!isObject(message) || (message.role !== 'user' && message.role !== 'assistant')) {
      return `messages.${index}.role: Input should be 'user' or 'assistant'`;
    }
    const last = index === body.messages.length - 1;
    const blocks = typeof message.content === 'string' ? [] : message.content;
    if (
      typeof message.content === 'string'
        ? message.content === ''
        : !Array.isArray(blocks) || blocks.length === 0
    ) {
      if (!(last && message.role === 'assistant')) {
        return `messages.${index}: all messages must have non-empty content except for the optional final assistant message`;
      }
    }
    for (const [at, block] of (Array.isArray(blocks) ? blocks : []).entries()) {
      const problem = checkBlock(block, `messages.${index}.content.${at}`);
      if (problem) return problem;
    }
  }
  const pairing = checkToolPairing(body.messages as Array<{ role: string; content: unknown }>);
  if (pairing) return pairing;
  if (body.system !== undefined && typeof body.system !== 'string') {
    if (!Array.isArray(body.system)) return 'system: Input should be a valid string or list';
    for (const [index, block] of body.system.entries()) {
      if (!isObject(block) || block.type !== 'text') return `system.${index}.type: Input should be 'text'`;
      const problem = checkBlock(block, `system.${index}`);
      if (problem) return problem;
    }
  }
  for (const field of ['temperature', 'top_p'] as const) {
    const value = body[field];
    if (value !== undefined && (typeof value !== 'number' || value < 0 || value > 1))
      return `${field}: range: 0..1`;
  }
  if (body.stop_sequences !== undefined) {
    if (!Array.isArray(body.stop_sequences) || body.stop_sequences.some((stop) => typeof stop !== 'string')) {
      return 'stop_sequences: Input should be a valid list of strings';
    }
  }
  if (body.metadata !== undefined) {
    if (!isObject(body.metadata)) return 'metadata: Input should be a valid dictionary';
    const extraKey = Object.keys(body.metadata).find((key) => key !== 'user_id');
    if (extraKey !== undefined) return `metadata.${extraKey}: Extra inputs are not permitted`;
  }
  return checkTools(body);
}

const versionOf = (exchange: Exchange) => String(exchange.request.headers['anthropic-version']);

const sse = (event: string, data: string) => `event: ${event}\ndata: ${data}\n\n`;

export async function startFakeAnthropic(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  let scriptedReply: ScriptedReply | null = null;

  const baseHeaders = (): OutgoingHttpHeaders => ({ 'request-id': randomId('req_', 24) });

  async function sendJson(
    exchange: Exchange,
    status: number,
    body: unknown,
    extra: Record<string, string> = {},
  ) {
    const { text, headers } = jsonPayload(
      body,
      exchange.call.fault?.kind === 'malformed-event',
      'text/plain; charset=utf-8',
      'application/json',
    );
    return sendBody(exchange, status, { ...baseHeaders(), ...headers, ...extra }, text);
  }

  async function streamMessage(exchange: Exchange, events: SseEvent[]): Promise<void> {
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
    const sent = fault?.kind === 'no-message-stop' ? events.slice(0, -1) : events;
    const faultAt = fault && 'afterEvents' in fault ? Math.min(fault.afterEvents, sent.length) : -1;
    for (let index = 0; index <= sent.length; index++) {
      if (index === faultAt && fault) {
        if (fault.kind === 'stall') return waitForAbort(signal);
        if (fault.kind === 'cut') return cut(exchange);
        if (fault.kind === 'error-event') {
          const error = anthropicError(fault.errorType ?? 'overloaded_error', fault.message ?? 'Overloaded');
          await write(response, sse('error', JSON.stringify(error)));
          response.end();
          return;
        }
        if (
          fault.kind === 'malformed-event' &&
          !(await write(response, sse('content_block_delta', '{not json')))
        ) {
          return;
        }
      }
      const event = sent[index];
      if (!event) break;
      if (index > 0 && options.eventDelayMs && !(await sleep(options.eventDelayMs, signal))) return;
      if (!(await write(response, sse(event.event, JSON.stringify(event.data))))) return;
    }
    response.end();
  }

  function messages(exchange: Exchange, body: Body): Promise<void> {
    const invalid = validateMessagesBody(body, false, versionOf(exchange));
    if (invalid) return sendJson(exchange, 400, anthropicError('invalid_request_error', invalid));
    if (options.rejectUnknownModels && !(options.models ?? []).includes(String(body.model))) {
      return sendJson(exchange, 404, anthropicError('not_found_error', `model: ${String(body.model)}`));
    }
    const fault = exchange.call.fault;
    if (body.stream !== true && fault?.kind === 'error-event') {
      return sendJson(exchange, 529, defaultErrorBody(529));
    }
    const reply = buildReply(body, scriptedReply);
    if (body.stream === true) return streamMessage(exchange, streamEvents(reply));
    return sendJson(exchange, 200, messageBody(reply));
  }

  function countTokensRoute(exchange: Exchange, body: Body): Promise<void> {
    const invalid = validateMessagesBody(body, true, versionOf(exchange));
    if (invalid) return sendJson(exchange, 400, anthropicError('invalid_request_error', invalid));
    return sendJson(exchange, 200, { input_tokens: countInputTokens(body) });
  }

  function route(exchange: Exchange, body: unknown, bodyIsJson: boolean): Promise<void> {
    const { method = 'GET' } = exchange.request;
    const { path } = exchange.call;
    const routes: Record<string, (exchange: Exchange, body: Body) => Promise<void>> = {
      '/v1/messages': messages,
      '/v1/messages/count_tokens': countTokensRoute,
    };
    const handler = routes[path];
    if (!handler) return sendJson(exchange, 404, anthropicError('not_found_error', 'Not Found'));
    if (method !== 'POST') {
      return sendJson(
        exchange,
        405,
        anthropicError('invalid_request_error', `Method Not Allowed (${method})`),
      );
    }
    if (!bodyIsJson || typeof body !== 'object' || body === null || Array.isArray(body)) {
      const message = 'There was an error parsing the body of your request. Please send valid JSON.';
      return sendJson(exchange, 400, anthropicError('invalid_request_error', message));
    }
    return handler(exchange, body as Body);
  }

  /** Anthropic checks the key first, then the version header. */
  function checkHeaders(exchange: Exchange): Promise<void> | null {
    const { headers } = exchange.request;
    // The documented header is `x-api-key`; the official SDK (v1) sends the same key as a Bearer token.
    const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
    const key = headers['x-api-key'] ?? bearer;
    if (typeof key !== 'string' || key === '') {
      return sendJson(exchange, 401, anthropicError('authentication_error', 'x-api-key header is required'));
    }
    if (options.apiKey !== undefined && key !== options.apiKey) {
      return sendJson(exchange, 401, anthropicError('authentication_error', 'invalid x-api-key'));
    }
    if (typeof headers['anthropic-version'] !== 'string' || headers['anthropic-version'] === '') {
      return sendJson(
        exchange,
        400,
        anthropicError('invalid_request_error', 'anthropic-version: header is required'),
      );
    }
    return null;
  }

  async function respond(exchange: Exchange, body: unknown, bodyIsJson: boolean): Promise<void> {
    const over = await playGenericFault(exchange, (fault) =>
      sendJson(exchange, fault.status, fault.body ?? defaultErrorBody(fault.status), fault.headers),
    );
    if (over) return;
    return checkHeaders(exchange) ?? route(exchange, body, bodyIsJson);
  }

  const server = await startFakeServer<Fault, RecordedCall>({
    describe: (url) => ({ query: url.search, receivedAt: Date.now() }),
    respond,
    internalErrorBody: (error) =>
      anthropicError(
        'api_error',
        `Fake Anthropic failed: ${error instanceof Error ? error.message : String(error)}`,
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
