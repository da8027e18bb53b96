/**
 * A fake Google Gemini API (Generative Language API v1beta) on a real socket (127.0.0.1, random port) for
 * gateway tests. It answers `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`
 * (`?alt=sse` for Server-Sent Events, else one JSON array) and `:batchEmbedContents` in Gemini's exact wire
 * shapes, checks the `x-goog-api-key` header the way Google does (a wrong key is a 400 API_KEY_INVALID),
 * rejects unknown request fields and unsupported schema keywords as Gemini does, records every call, and
 * injects scripted faults (status codes, delays, stalled or cut streams, a missing finishReason, error
 * events, resets).
 *
 * Shapes follow ai.google.dev/api/generate-content and recorded replies in
 * vercel/ai:packages/google/src/__fixtures__ (google-text.json, google-text.chunks.txt, google-tool-call.json,
 * issue-19758-prompt-block.json, google-429-retry-info.json). Like Gemini, the stream has no terminator: the
 * last event carries `finishReason`; events end with `\r\n\r\n`.
 */
import { randomBytes } from 'node:crypto';
import { countTokens, fakeEmbedding } from './fake-openai.ts';
import {
  type BaseRecordedCall,
  cut,
  type Exchange as FakeExchange,
  jsonPayload,
  playGenericFault,
  sendBody,
  sleep,
  startFakeServer,
  waitForAbort,
  write,
} from './fake-server.ts';

export type { CallOutcome } from './fake-server.ts';
export { fakeEmbedding };

export interface RecordedCall extends BaseRecordedCall<Fault> {
  /** Pathname without the query string, e.g. `/v1beta/models/gemini-2.5-flash:generateContent`. */
  path: string;
  /** The query string including `?`, or `''`. */
  query: string;
  /** The model id from the path (`gemini-2.5-flash`), or `''` when the path names none. */
  model: string;
  /** The method after the colon (`generateContent`, `streamGenerateContent`, `batchEmbedContents`), or `''`. */
  action: string;
}

/**
 * A scripted misbehaviour for one call. Stream faults count SSE events; when `afterEvents` reaches past the
 * last event the fault fires at the end. On a JSON (non-stream) reply `stall` and `cut` send half the body
 * and `malformed-event` sends a body that is not JSON.
 */
export type Fault =
  /** Answer with this status; `body` defaults to Google's error object for it (a string is sent raw). */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'delay'; ms: number }
  /** Send headers at once, the first body byte only after `ms`. */
  | { kind: 'slow-first-byte'; ms: number }
  /** Send `afterEvents` events, then nothing until the client disconnects or the fake closes. */
  | { kind: 'stall'; afterEvents: number }
  /** Send `afterEvents` events, then destroy the socket. */
  | { kind: 'cut'; afterEvents: number }
  /** After `afterEvents` events send `data: {not json`, then carry on. */
  | { kind: 'malformed-event'; afterEvents: number }
  /** After `afterEvents` events send `data: {"error": {...}}` (default 500 INTERNAL) and end the body. */
  | { kind: 'error-event'; afterEvents: number; status?: number; message?: string }
  /** Send every event but leave `finishReason` off the last one, then end the body cleanly. */
  | { kind: 'no-finish' }
  /** Destroy the socket before any response byte. */
  | { kind: 'reset' }
  /** Accept the request and never answer. */
  | { kind: 'hang' };

export interface ScriptedFunctionCall {
  name: string;
  args: Record<string, unknown>;
  /** Gemini 3 signs the first call of a step; sent as the part's `thoughtSignature`. */
  thoughtSignature?: string | undefined;
}

export interface ScriptedGeminiReply {
  /** Answer text; default `Echo: <last user text>` (none when function calls are given). */
  text?: string | undefined;
  functionCalls?: ScriptedFunctionCall[] | undefined;
  /** Default `STOP` (also with function calls, as Gemini does), or `MAX_TOKENS` when truncated. */
  finishReason?: string | undefined;
  /** A prompt refusal: no candidates, `promptFeedback.blockReason` set to this. */
  blockReason?: string | undefined;
  /** Overrides the computed usage fields; `totalTokenCount` is recomputed unless given. */
  usage?: Partial<UsageMetadata> | undefined;
  /** Default: the model id from the path. */
  modelVersion?: string | undefined;
}

export interface UsageMetadata {
  promptTokenCount: number;
  candidatesTokenCount: number;
  totalTokenCount: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
  promptTokensDetails?: Array<{ modality: string; tokenCount: number }>;
}

export interface FakeGeminiOptions {
  /** When set, requests need `x-goog-api-key` (or `?key=`) equal to it: 403 without, 400 when wrong. */
  apiKey?: string | undefined;
  /** When set, other model ids get Gemini's 404. */
  models?: string[] | undefined;
  /** Embedding length when a request has no `outputDimensionality`. Default 16. */
  embeddingDimensions?: number | undefined;
}

export interface FakeGemini {
  /** `http://127.0.0.1:PORT`: the `baseUrl` for `@google/genai` (which adds `/v1beta`). */
  origin: string;
  /** `http://127.0.0.1:PORT/v1beta`: the base URL for Nexus (`GEMINI_BASE_URL`). */
  url: string;
  calls: RecordedCall[];
  /** Calls whose action is `generateContent`, `streamGenerateContent` or `batchEmbedContents`. */
  callsTo(action: string): RecordedCall[];
  enqueue(...faults: Fault[]): void;
  setPersistentFault(fault: Fault | null): void;
  setReply(reply: ScriptedGeminiReply | null): void;
  reset(): void;
  close(): Promise<void>;
}

type Exchange = FakeExchange<RecordedCall>;

type Json = Record<string, unknown>;

const statusNames: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Google's error envelope (google.rpc.Status). */
export function googleError(code: number, message: string, details?: unknown[]): { error: Json } {
  return {
    error: { code, message, status: statusNames[code] ?? 'UNKNOWN', ...(details ? { details } : {}) },
  };
}

function defaultErrorBody(status: number): unknown {
  if (status === 429) {
    // Recorded: vercel/ai:packages/google/src/__fixtures__/google-429-retry-info.json
    return googleError(429, 'You exceeded your current quota, please check your plan and billing details.', [
      {
        '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
        violations: [{ quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }],
      },
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '34.4s' },
    ]);
  }
  if (status === 503) return googleError(503, 'The model is overloaded. Please try again later.');
  if (status >= 500) return googleError(status, 'An internal error has occurred. Please retry or report.');
  if (status === 403) return googleError(403, 'The caller does not have permission');
  return googleError(status, `Request failed with status ${status}.`);
}

const keyInvalid = googleError(400, 'API key not valid. Please pass a valid API key.', [
  {
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason: 'API_KEY_INVALID',
    domain: 'googleapis.com',
    metadata: { service: 'generativelanguage.googleapis.com' },
  },
]);

const requestFields = new Set([
  'contents',
  'systemInstruction',
  'system_instruction',
  'tools',
  'toolConfig',
  'tool_config',
  'generationConfig',
  'generation_config',
  'safetySettings',
  'safety_settings',
  'cachedContent',
  'cached_content',
]);

const generationConfigFields = new Set([
  'temperature',
  'topP',
  'topK',
  'maxOutputTokens',
  'stopSequences',
  'candidateCount',
  'seed',
  'presencePenalty',
  'frequencyPenalty',
  'responseMimeType',
  'responseSchema',
  'responseJsonSchema',
  'responseLogprobs',
  'logprobs',
  'thinkingConfig',
  'responseModalities',
  'mediaResolution',
]);

const schemaFields = new Set([
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'maxItems',
  'minItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'example',
  'anyOf',
  'propertyOrdering',
  'default',
  'items',
  'minimum',
  'maximum',
]);

function unknownField(name: string, at?: string): string {
  return `Invalid JSON payload received. Unknown name "${name}"${at ? ` at '${at}'` : ''}: Cannot find field.`;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Gemini's own complaint about a Schema, or null when it would accept it. */
function checkSchema(schema: unknown, at: string): string | null {
  if (!isObject(schema)) return null;
  for (const key of Object.keys(schema)) if (!schemaFields.has(key)) return unknownField(key, at);
  if (isObject(schema.properties)) {
    for (const [name, property] of Object.entries(schema.properties)) {
      const problem = checkSchema(property, `${at}.properties[${name}].value`);
      if (problem) return problem;
    }
  }
  const nested = [schema.items, ...(Array.isArray(schema.anyOf) ? schema.anyOf : [])];
  for (const child of nested) {
    const problem = checkSchema(child, `${at}.items`);
    if (problem) return problem;
  }
  return null;
}

/** Validates a generateContent body like Gemini does where a converter could get it wrong. */
export function validateGenerateContent(body: unknown): string | null {
  if (!isObject(body)) return 'Invalid JSON payload received.';
  for (const key of Object.keys(body)) if (!requestFields.has(key)) return unknownField(key);
  const contents = body.contents;
  if (!Array.isArray(contents) || contents.length === 0) {
    return '* GenerateContentRequest.contents: contents is not specified\n';
  }
  for (const [index, content] of contents.entries()) {
    if (!isObject(content) || (content.role !== 'user' && content.role !== 'model')) {
      return 'Please use a valid role: user, model.';
    }
    if (!Array.isArray(content.parts) || content.parts.length === 0) {
      return `* GenerateContentRequest.contents[${index}].parts: contents.parts must not be empty.\n`;
    }
    for (const part of content.parts) {
      if (isObject(part.functionResponse) && !isObject(part.functionResponse.response)) {
        return `Invalid value at 'contents[${index}].parts[0].function_response.response' (type.googleapis.com/google.protobuf.Struct)`;
      }
    }
  }
  const config = body.generationConfig;
  if (isObject(config)) {
    for (const key of Object.keys(config)) {
      if (!generationConfigFields.has(key)) return unknownField(key, 'generation_config');
    }
    const problem = checkSchema(config.responseSchema, 'generation_config.response_schema');
    if (problem) return problem;
  }
  for (const [toolIndex, tool] of (Array.isArray(body.tools) ? body.tools : []).entries()) {
    const declarations =
      isObject(tool) && Array.isArray(tool.functionDeclarations) ? tool.functionDeclarations : [];
    for (const [index, declaration] of declarations.entries()) {
      const at = `tools[${toolIndex}].function_declarations[${index}].parameters`;
      const problem = isObject(declaration) ? checkSchema(declaration.parameters, at) : null;
      if (problem) return problem;
    }
  }
  return null;
}

function randomId(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(length), (byte) => alphabet[byte % alphabet.length]).join('');
}

function partsText(parts: unknown): string {
  if (!Array.isArray(parts)) return '';
  return parts
    .map((part) => (isObject(part) && typeof part.text === 'string' ? part.text : ''))
    .filter(Boolean)
    .join(' ');
}

function promptTokens(body: Json): number {
  const contents = Array.isArray(body.contents) ? body.contents : [];
  const system = isObject(body.systemInstruction) ? partsText(body.systemInstruction.parts) : '';
  return contents.reduce(
    (sum: number, content) => sum + countTokens(isObject(content) ? partsText(content.parts) : ''),
    countTokens(system),
  );
}

/** Splits text like a tokenizer would stream it: each piece is one word with its leading whitespace. */
function pieces(text: string): string[] {
  const found: string[] = text.match(/\s*\S+/g) ?? [];
  const rest = text.slice(found.join('').length);
  if (rest) found.push(rest);
  return found;
}

interface Reply {
  parts: Json[];
  finishReason: string | undefined;
  usage: UsageMetadata;
  blockReason: string | undefined;
  modelVersion: string;
  candidates: number;
}

function buildReply(body: Json, model: string, scripted: ScriptedGeminiReply | null): Reply {
  const calls = scripted?.functionCalls ?? [];
  let text = scripted?.text;
  if (text === undefined && calls.length === 0) {
    const contents = Array.isArray(body.contents) ? body.contents : [];
    const lastUser = contents.findLast((content) => isObject(content) && content.role === 'user');
    text = `Echo: ${isObject(lastUser) ? partsText(lastUser.parts) : ''}`;
  }
  let finishReason = 'STOP';
  const config = isObject(body.generationConfig) ? body.generationConfig : {};
  const limit = config.maxOutputTokens;
  if (text !== undefined && typeof limit === 'number' && countTokens(text) > limit) {
    text = pieces(text).slice(0, limit).join('');
    finishReason = 'MAX_TOKENS';
  }
  const parts: Json[] = text === undefined ? [] : [{ text }];
  for (const call of calls) {
    parts.push({
      functionCall: { name: call.name, args: call.args },
      ...(call.thoughtSignature ? { thoughtSignature: call.thoughtSignature } : {}),
    });
  }
  const prompt = promptTokens(body);
  const candidatesTokens =
    countTokens(text ?? '') +
    calls.reduce((sum, call) => sum + countTokens(`${call.name} ${JSON.stringify(call.args)}`), 0);
  const usage: UsageMetadata = {
    promptTokenCount: prompt,
    candidatesTokenCount: candidatesTokens,
    totalTokenCount: 0,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }],
    ...scripted?.usage,
  };
  usage.totalTokenCount =
    scripted?.usage?.totalTokenCount ??
    usage.promptTokenCount +
      usage.candidatesTokenCount +
      (usage.thoughtsTokenCount ?? 0) +
      (usage.toolUsePromptTokenCount ?? 0);
  const count = typeof config.candidateCount === 'number' ? config.candidateCount : 1;
  return {
    parts,
    finishReason: scripted?.finishReason ?? finishReason,
    usage,
    blockReason: scripted?.blockReason,
    modelVersion: scripted?.modelVersion ?? model,
    candidates: count,
  };
}

function responseBody(
  reply: Reply,
  parts: Json[],
  finishReason: string | undefined,
  responseId: string,
): Json {
  const base = { usageMetadata: reply.usage, modelVersion: reply.modelVersion, responseId };
  if (reply.blockReason !== undefined) {
    const { candidatesTokenCount: _, ...usage } = reply.usage;
    return { promptFeedback: { blockReason: reply.blockReason }, ...base, usageMetadata: usage };
  }
  const candidates = Array.from({ length: reply.candidates }, (_, index) => ({
    content: { parts, role: 'model' },
    ...(finishReason ? { finishReason } : {}),
    index,
  }));
  return { candidates, ...base };
}

/** The event sequence Gemini streams for this reply: text a word at a time, each function call whole. */
function streamEvents(reply: Reply, responseId: string): Json[] {
  if (reply.blockReason !== undefined) return [responseBody(reply, [], undefined, responseId)];
  const partsList: Json[][] = [];
  for (const part of reply.parts) {
    if (typeof part.text === 'string')
      for (const piece of pieces(part.text)) partsList.push([{ text: piece }]);
    else partsList.push([part]);
  }
  if (partsList.length === 0) partsList.push([{ text: '' }]);
  return partsList.map((parts, index) =>
    responseBody(reply, parts, index === partsList.length - 1 ? reply.finishReason : undefined, responseId),
  );
}

export async function startFakeGemini(options: FakeGeminiOptions = {}): Promise<FakeGemini> {
  let scripted: ScriptedGeminiReply | null = null;

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
      'application/json; charset=UTF-8',
      2,
    );
    return sendBody(exchange, status, { ...headers, 'server-timing': 'gfet4t7; dur=1', ...extra }, text);
  }

  async function streamSse(exchange: Exchange, events: Json[]): Promise<void> {
    const { response, call, signal } = exchange;
    const fault = call.fault;
    response.writeHead(200, { 'content-type': 'text/event-stream', 'x-content-type-options': 'nosniff' });
    response.flushHeaders();
    if (fault?.kind === 'slow-first-byte' && !(await sleep(fault.ms, signal))) return;
    if (fault?.kind === 'no-finish') {
      const last = events.at(-1);
      const candidates = last?.candidates;
      if (Array.isArray(candidates)) for (const candidate of candidates) delete candidate.finishReason;
    }
    const faultAt = fault && 'afterEvents' in fault ? Math.min(fault.afterEvents, events.length) : -1;
    for (let index = 0; index <= events.length; index++) {
      if (index === faultAt && fault) {
        if (fault.kind === 'stall') return waitForAbort(signal);
        if (fault.kind === 'cut') return cut(exchange);
        if (fault.kind === 'malformed-event' && !(await write(response, 'data: {not json\r\n\r\n'))) return;
        if (fault.kind === 'error-event') {
          const status = fault.status ?? 500;
          const error = googleError(status, fault.message ?? 'An internal error has occurred.');
          await write(response, `data: ${JSON.stringify(error)}\r\n\r\n`);
          response.end();
          return;
        }
      }
      const event = events[index];
      if (!event) break;
      if (!(await write(response, `data: ${JSON.stringify(event)}\r\n\r\n`))) return;
    }
    response.end();
  }

  function generate(exchange: Exchange, body: Json, stream: boolean): Promise<void> {
    const problem = validateGenerateContent(body);
    if (problem) return sendJson(exchange, 400, googleError(400, problem));
    const reply = buildReply(body, exchange.call.model, scripted);
    const responseId = randomId(22);
    if (!stream) {
      return sendJson(exchange, 200, responseBody(reply, reply.parts, reply.finishReason, responseId));
    }
    const events = streamEvents(reply, responseId);
    if (exchange.call.query.includes('alt=sse')) return streamSse(exchange, events);
    // Without alt=sse Gemini streams one JSON array of the same responses.
    return sendJson(exchange, 200, events);
  }

  function batchEmbed(exchange: Exchange, body: Json): Promise<void> {
    const requests = body.requests;
    if (!Array.isArray(requests) || requests.length === 0) {
      return sendJson(
        exchange,
        400,
        googleError(400, '* BatchEmbedContentsRequest.requests: requests is required\n'),
      );
    }
    if (requests.length > 100) {
      const message = '* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n';
      return sendJson(exchange, 400, googleError(400, message));
    }
    const embeddings: Json[] = [];
    for (const [index, item] of requests.entries()) {
      if (!isObject(item) || item.model !== `models/${exchange.call.model}`) {
        const message = `* BatchEmbedContentsRequest.requests[${index}].model: the model of every request must be models/${exchange.call.model}\n`;
        return sendJson(exchange, 400, googleError(400, message));
      }
      const text = isObject(item.content) ? partsText(item.content.parts) : '';
      if (text === '') {
        const message = `* BatchEmbedContentsRequest.requests[${index}].content: contents must not be empty\n`;
        return sendJson(exchange, 400, googleError(400, message));
      }
      const dimensions =
        typeof item.outputDimensionality === 'number'
          ? item.outputDimensionality
          : (options.embeddingDimensions ?? 16);
      embeddings.push({ values: fakeEmbedding(text, dimensions) });
    }
    return sendJson(exchange, 200, { embeddings });
  }

  function route(exchange: Exchange, body: unknown, isJson: boolean): Promise<void> {
    const { call } = exchange;
    const handlers: Record<string, (exchange: Exchange, body: Json) => Promise<void>> = {
      generateContent: (ex, json) => generate(ex, json, false),
      streamGenerateContent: (ex, json) => generate(ex, json, true),
      batchEmbedContents: batchEmbed,
    };
    const handler = call.path.startsWith('/v1beta/models/') ? handlers[call.action] : undefined;
    if (!handler || call.method !== 'POST') {
      return sendJson(exchange, 404, googleError(404, `Method not found: ${call.method} ${call.path}`));
    }
    if (options.models && !options.models.includes(call.model)) {
      const message = `models/${call.model} is not found for API version v1beta, or is not supported for ${call.action}. Call ListModels to see the list of available models and their supported methods.`;
      return sendJson(exchange, 404, googleError(404, message));
    }
    if (!isJson || !isObject(body)) {
      return sendJson(exchange, 400, googleError(400, 'Invalid JSON payload received. Unexpected token.'));
    }
    return handler(exchange, body);
  }

  function checkKey(exchange: Exchange): Promise<void> | null {
    if (options.apiKey === undefined) return null;
    const header = exchange.request.headers['x-goog-api-key'];
    const key = typeof header === 'string' ? header : new URLSearchParams(exchange.call.query).get('key');
    if (key === options.apiKey) return null;
    if (!key) {
      const message =
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
      return sendJson(exchange, 403, googleError(403, message));
    }
    return sendJson(exchange, 400, keyInvalid);
  }

  async function respond(exchange: Exchange, body: unknown, isJson: boolean): Promise<void> {
    const over = await playGenericFault(exchange, (fault) =>
      sendJson(exchange, fault.status, fault.body ?? defaultErrorBody(fault.status), fault.headers),
    );
    if (over) return;
    return checkKey(exchange) ?? route(exchange, body, isJson);
  }

  const server = await startFakeServer<Fault, RecordedCall>({
    describe: (url) => {
      const match = /^\/v1beta\/models\/([^/:]+):([A-Za-z]+)$/.exec(url.pathname);
      return {
        query: url.search,
        model: match?.[1] ? decodeURIComponent(match[1]) : '',
        action: match?.[2] ?? '',
      };
    },
    respond,
    internalErrorBody: (error) => googleError(500, `Fake Gemini failed: ${String(error)}`),
  });
  const { calls } = server;
  return {
    origin: server.origin,
    url: `${server.origin}/v1beta`,
    calls,
    callsTo: (action) => calls.filter((call) => call.action === action),
    enqueue: server.enqueue,
    setPersistentFault: server.setPersistentFault,
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
