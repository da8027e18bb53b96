/**
 * A fake Azure OpenAI resource on a real socket (127.0.0.1, random port) for gateway tests. It answers the
 * deployment routes `POST /openai/deployments/{deployment}/chat/completions|embeddings?api-version=...` and
 * the v1 routes `POST /openai/v1/chat/completions|embeddings` in Azure's wire shapes: OpenAI's, plus the
 * content-filter annotations Azure adds (`prompt_filter_results` in a first `choices: []` chunk with blank
 * id/object/model, `content_filter_results` per choice, and with `asynchronousFilter` the annotation chunks
 * without `delta`). It checks the `api-key` header, records every call and injects scripted faults.
 *
 * Shapes follow learn.microsoft.com/azure/ai-services/openai/reference and
 * MicrosoftDocs/azure-ai-docs:articles/ai-services/openai/concepts/content-filter-streaming.md (sample
 * streams), and a recorded Azure stream in dto-btn/ssc-assistant (mergeOpenAiDelta/testHelpers/simple_chat.ts).
 */
import { randomBytes } from 'node:crypto';
import type { ChatMessage, Usage } from '../../src/core/openai-types.ts';
import { countTokens, encodeEmbeddingBase64, fakeEmbedding } from './fake-openai.ts';
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
  /** Pathname without the query, e.g. `/openai/deployments/gpt-4o-prod/chat/completions`. */
  path: string;
  /** The `api-version` query parameter, or `null` when absent. */
  apiVersion: string | null;
  /** The deployment from the path, or the body's `model` on a v1 route. */
  deployment: string;
}

/** A scripted misbehaviour for one call. Stream faults count SSE chunks, the annotation chunks included. */
export type Fault =
  /** Answer with this status; `body` defaults to Azure's `{error:{code, message}}` (a string is sent raw). */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'delay'; ms: number }
  | { kind: 'stall'; afterChunks: number }
  | { kind: 'cut'; afterChunks: number }
  | { kind: 'malformed-chunk'; afterChunks: number }
  | { kind: 'reset' }
  | { kind: 'hang' };

export interface ScriptedReply {
  text?: string | undefined;
  toolCalls?: Array<{ id?: string | undefined; name: string; arguments: string }> | undefined;
  /** `content_filter` reproduces a completion Azure's filter stopped. */
  finishReason?: string | undefined;
  usage?: Partial<Usage> | undefined;
}

export interface FakeAzureOptions {
  /** When set, requests must carry `api-key: <apiKey>` or get Azure's 401. */
  apiKey?: string | undefined;
  /** Deployment name → the model it reports. Default: `gpt-4o-prod` and `embed-small`. */
  deployments?: Record<string, string> | undefined;
  /** Streams as a deployment with the Asynchronous Filter: annotation chunks without `delta`. */
  asynchronousFilter?: boolean | undefined;
  /** Embedding length when the request has no `dimensions`. Default 16. */
  embeddingDimensions?: number | undefined;
}

export interface FakeAzure {
  /** `http://127.0.0.1:PORT`: the resource endpoint (`AzureOpenAI({endpoint})`, `AZURE_BASE_URL`). */
  origin: string;
  /** `http://127.0.0.1:PORT/openai/v1`: the v1 base URL. */
  v1Url: string;
  calls: RecordedCall[];
  enqueue(...faults: Fault[]): void;
  setReply(reply: ScriptedReply | null): void;
  reset(): void;
  close(): Promise<void>;
}

const defaultDeployments = { 'gpt-4o-prod': 'gpt-4o-2024-08-06', 'embed-small': 'text-embedding-3-small' };

export function azureError(code: string, message: string): { error: Record<string, unknown> } {
  return { error: { code, message } };
}

const safe = {
  hate: { filtered: false, severity: 'safe' },
  self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' },
  violence: { filtered: false, severity: 'safe' },
};

/** The 400 Azure answers when its content filter rejects a prompt (Chat Completions error shape). */
export function azureContentFilterError(): { error: Record<string, unknown> } {
  return {
    error: {
      message:
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
      type: null,
      param: 'prompt',
      code: 'content_filter',
      status: 400,
      innererror: {
        code: 'ResponsibleAIPolicyViolation',
        content_filter_result: { ...safe, violence: { filtered: true, severity: 'medium' } },
      },
    },
  };
}

function defaultErrorBody(status: number): unknown {
  if (status === 401) return accessDenied;
  if (status === 429) {
    return azureError(
      '429',
      'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds.',
    );
  }
  if (status >= 500)
    return azureError('InternalServerError', 'The service is temporarily unable to process your request.');
  return azureError(String(status), `Request failed with status ${status}.`);
}

const accessDenied = azureError(
  '401',
  'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
);

type Json = Record<string, unknown>;

function randomId(prefix: string): string {
  return prefix + randomBytes(15).toString('base64url').slice(0, 29);
}

function messageText(message: ChatMessage): string {
  if (typeof message.content === 'string') return message.content;
  if (!Array.isArray(message.content)) return '';
  return message.content
    .flatMap((part) => (part.type === 'text' && typeof part.text === 'string' ? [part.text] : []))
    .join(' ');
}

interface Reply {
  content: string | null;
  toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  finishReason: string;
  usage: Usage;
}

function buildReply(body: Json, scripted: ScriptedReply | null): Reply {
  const messages = body.messages as ChatMessage[];
  const toolCalls = (scripted?.toolCalls ?? []).map((call) => ({
    id: call.id ?? randomId('call_'),
    type: 'function' as const,
    function: { name: call.name, arguments: call.arguments },
  }));
  const lastUser = messages.findLast((message) => message.role === 'user');
  const content =
    scripted?.text ?? (toolCalls.length > 0 ? null : `Echo: ${lastUser ? messageText(lastUser) : ''}`);
  const prompt = messages.reduce((sum, message) => sum + countTokens(messageText(message)), 0);
  const completion =
    countTokens(content ?? '') +
    toolCalls.reduce((sum, call) => sum + countTokens(`${call.function.name} ${call.function.arguments}`), 0);
  const usage: Usage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: 0,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
    ...scripted?.usage,
  };
  usage.total_tokens = scripted?.usage?.total_tokens ?? usage.prompt_tokens + usage.completion_tokens;
  const finishReason = scripted?.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
  return { content, toolCalls, finishReason, usage };
}

const promptFilterResults = [{ prompt_index: 0, content_filter_results: safe }];

function completionBody(model: string, reply: Reply): Json {
  return {
    choices: [
      {
        content_filter_results: reply.finishReason === 'content_filter' ? {} : safe,
        finish_reason: reply.finishReason,
        index: 0,
        logprobs: null,
        message: {
          annotations: [],
          content: reply.content,
          refusal: null,
          role: 'assistant',
          ...(reply.toolCalls.length > 0 ? { tool_calls: reply.toolCalls } : {}),
        },
      },
    ],
    created: Math.floor(Date.now() / 1000),
    id: randomId('chatcmpl-'),
    model,
    object: 'chat.completion',
    prompt_filter_results: promptFilterResults,
    system_fingerprint: 'fp_azure00001',
    usage: reply.usage,
  };
}

function chatChunks(body: Json, model: string, reply: Reply, asynchronous: boolean): Json[] {
  const includeUsage = (body.stream_options as Json | undefined)?.include_usage === true;
  const head = {
    created: Math.floor(Date.now() / 1000),
    id: randomId('chatcmpl-'),
    model,
    object: 'chat.completion.chunk',
    system_fingerprint: 'fp_azure00001',
  };
  const blank = { created: 0, id: '', model: '', object: '' };
  const annotation = (finishReason: string | null): Json => ({
    ...blank,
    choices: [
      {
        index: 0,
        finish_reason: finishReason,
        content_filter_results: finishReason === 'content_filter' ? { violence: { filtered: true } } : safe,
        content_filter_offsets: { check_offset: 0, start_offset: 0, end_offset: 100 },
      },
    ],
    usage: null,
  });
  const chunks: Json[] = [{ ...blank, choices: [], prompt_filter_results: promptFilterResults }];
  const push = (delta: Json, finishReason: string | null) =>
    chunks.push({
      ...head,
      choices: [
        {
          ...(asynchronous ? {} : { content_filter_results: delta.content ? safe : {} }),
          delta,
          finish_reason: finishReason,
          index: 0,
          logprobs: null,
        },
      ],
      ...(includeUsage ? { usage: null } : {}),
    });
  push({ content: '', refusal: null, role: 'assistant' }, null);
  for (const piece of (reply.content ?? '').match(/\s*\S+/g) ?? []) push({ content: piece }, null);
  if (asynchronous) chunks.push(annotation(null));
  reply.toolCalls.forEach((call, index) => {
    push(
      {
        tool_calls: [
          { index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } },
        ],
      },
      null,
    );
    for (let start = 0; start < call.function.arguments.length; start += 5) {
      push(
        { tool_calls: [{ index, function: { arguments: call.function.arguments.slice(start, start + 5) } }] },
        null,
      );
    }
  });
  // With the asynchronous filter a filtered completion's finish reason arrives in an annotation chunk.
  if (asynchronous && reply.finishReason === 'content_filter') chunks.push(annotation('content_filter'));
  else push({}, reply.finishReason);
  if (includeUsage) chunks.push({ ...head, choices: [], usage: reply.usage });
  return chunks;
}

type Exchange = FakeExchange<RecordedCall>;

const deploymentRoute = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/;
const v1Route = /^\/openai\/v1\/(chat\/completions|embeddings)$/;

export async function startFakeAzure(options: FakeAzureOptions = {}): Promise<FakeAzure> {
  const deployments: Record<string, string> = options.deployments ?? defaultDeployments;
  let scripted: ScriptedReply | null = null;

  async function sendJson(
    exchange: Exchange,
    status: number,
    body: unknown,
    extra: Record<string, string> = {},
  ) {
    const { text, headers } = jsonPayload(
      body,
      exchange.call.fault?.kind === 'malformed-chunk',
      'text/plain',
      'application/json',
    );
    return sendBody(exchange, status, { ...headers, 'apim-request-id': randomId(''), ...extra }, text);
  }

  async function stream(exchange: Exchange, chunks: Json[]): Promise<void> {
    const { response, call, signal } = exchange;
    const fault = call.fault;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
    });
    response.flushHeaders();
    const faultAt = fault && 'afterChunks' in fault ? Math.min(fault.afterChunks, chunks.length) : -1;
    for (let index = 0; index <= chunks.length; index++) {
      if (index === faultAt && fault) {
        if (fault.kind === 'stall') return waitForAbort(signal);
        if (fault.kind === 'cut') return cut(exchange);
        if (fault.kind === 'malformed-chunk' && !(await write(response, 'data: {not json\n\n'))) return;
      }
      const chunk = chunks[index];
      if (!chunk) break;
      if (!(await write(response, `data: ${JSON.stringify(chunk)}\n\n`))) return;
    }
    if (!(await write(response, 'data: [DONE]\n\n'))) return;
    response.end();
  }

  function chat(exchange: Exchange, body: Json, model: string): Promise<void> {
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      return sendJson(exchange, 400, {
        error: {
          message: "'messages' is a required property",
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
      });
    }
    const reply = buildReply(body, scripted);
    if (body.stream === true) {
      return stream(exchange, chatChunks(body, model, reply, options.asynchronousFilter === true));
    }
    return sendJson(exchange, 200, completionBody(model, reply));
  }

  function embeddings(exchange: Exchange, body: Json, model: string): Promise<void> {
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((item) => typeof item === 'string')) {
      return sendJson(exchange, 400, azureError('InvalidRequest', "'input' is invalid."));
    }
    const dimensions = Number(body.dimensions ?? options.embeddingDimensions ?? 16);
    const tokens = inputs.reduce((sum: number, item: string) => sum + countTokens(item), 0);
    return sendJson(exchange, 200, {
      object: 'list',
      data: inputs.map((item: string, index) => {
        const vector = fakeEmbedding(item, dimensions);
        const embedding = body.encoding_format === 'base64' ? encodeEmbeddingBase64(vector) : vector;
        return { object: 'embedding', index, embedding };
      }),
      model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }

  async function respond(exchange: Exchange, body: unknown, isJson: boolean): Promise<void> {
    const over = await playGenericFault(exchange, (fault) => {
      const headers = fault.status === 429 ? { 'retry-after': '6', ...fault.headers } : fault.headers;
      return sendJson(exchange, fault.status, fault.body ?? defaultErrorBody(fault.status), headers);
    });
    if (over) return;
    const { call, request } = exchange;
    const deploymentMatch = deploymentRoute.exec(call.path);
    const v1Match = v1Route.exec(call.path);
    if (request.method !== 'POST' || (deploymentMatch === null && v1Match === null)) {
      return sendJson(exchange, 404, azureError('404', 'Resource not found'));
    }
    // The deployment routes need an api-version; Azure answers an unversioned call as an unknown resource.
    if (deploymentMatch !== null && call.apiVersion === null) {
      return sendJson(exchange, 404, azureError('404', 'Resource not found'));
    }
    if (options.apiKey !== undefined && request.headers['api-key'] !== options.apiKey) {
      return sendJson(exchange, 401, accessDenied);
    }
    if (!isJson || body === null || typeof body !== 'object' || Array.isArray(body)) {
      return sendJson(exchange, 400, azureError('BadRequest', 'The request body is not valid JSON.'));
    }
    const model = deployments[call.deployment];
    if (model === undefined) {
      return sendJson(
        exchange,
        404,
        azureError(
          'DeploymentNotFound',
          'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
        ),
      );
    }
    const operation = deploymentMatch?.[2] ?? v1Match?.[1];
    return operation === 'embeddings'
      ? embeddings(exchange, body as Json, model)
      : chat(exchange, body as Json, model);
  }

  const server = await startFakeServer<Fault, RecordedCall>({
    describe: (url, body) => {
      const fromPath = deploymentRoute.exec(url.pathname)?.[1];
      const fromBody = (body as { model?: unknown } | undefined)?.model;
      return {
        apiVersion: url.searchParams.get('api-version'),
        deployment:
          fromPath !== undefined
            ? decodeURIComponent(fromPath)
            : typeof fromBody === 'string'
              ? fromBody
              : '',
      };
    },
    respond,
    internalErrorBody: (error) => azureError('InternalServerError', `Fake Azure failed: ${String(error)}`),
  });
  const { calls } = server;
  return {
    origin: server.origin,
    v1Url: `${server.origin}/openai/v1`,
    calls,
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
