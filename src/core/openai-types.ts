/**
 * The canonical shapes inside Nexus are OpenAI's Chat Completions and Embeddings wire shapes: every inbound
 * protocol is translated to them and every provider adapter translates from them. Only the fields Nexus
 * reads are typed; everything else rides along in the index signature and reaches OpenAI-compatible
 * upstreams untouched.
 */

export interface TextPart {
  type: 'text';
  text: string;
}

export interface ImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' | undefined };
}

export type ContentPart = TextPart | ImagePart | { type: string; [field: string]: unknown };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function';
  content?: string | ContentPart[] | null | undefined;
  name?: string | undefined;
  tool_calls?: ToolCall[] | undefined;
  tool_call_id?: string | undefined;
  [field: string]: unknown;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean | null | undefined;
  stream_options?:
    | { include_usage?: boolean | null | undefined; [field: string]: unknown }
    | null
    | undefined;
  max_tokens?: number | null | undefined;
  max_completion_tokens?: number | null | undefined;
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  n?: number | null | undefined;
  [field: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number | undefined; [field: string]: unknown } | null | undefined;
  completion_tokens_details?:
    | { reasoning_tokens?: number | undefined; [field: string]: unknown }
    | null
    | undefined;
  [field: string]: unknown;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: {
      role: 'assistant';
      content: string | null;
      tool_calls?: ToolCall[] | undefined;
      [field: string]: unknown;
    };
    finish_reason: FinishReason | null;
    logprobs?: unknown;
    [field: string]: unknown;
  }>;
  usage?: Usage | undefined;
  [field: string]: unknown;
}

export interface ToolCallDelta {
  index: number;
  id?: string | undefined;
  type?: 'function' | undefined;
  function?: { name?: string | undefined; arguments?: string | undefined } | undefined;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: {
      role?: 'assistant' | undefined;
      content?: string | null | undefined;
      tool_calls?: ToolCallDelta[] | undefined;
      [field: string]: unknown;
    };
    finish_reason: FinishReason | null;
    logprobs?: unknown;
    [field: string]: unknown;
  }>;
  usage?: Usage | null | undefined;
  [field: string]: unknown;
}

export interface EmbeddingsRequest {
  model: string;
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64' | undefined;
  dimensions?: number | undefined;
  user?: string | undefined;
  [field: string]: unknown;
}

export interface EmbeddingsResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
  [field: string]: unknown;
}
