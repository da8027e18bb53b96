/**
 * Cohere v2 wire shapes (docs.cohere.com/reference/chat, /reference/embed), typed only as far as Nexus reads
 * or writes them. Replies are typed with optional fields so that a field Cohere stops sending degrades to a
 * default instead of a crash; the converters check what they rely on.
 */

export type CohereContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } };

export interface CohereToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type CohereMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | CohereContentPart[] }
  | { role: 'assistant'; content?: string; tool_calls?: CohereToolCall[]; tool_plan?: string }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface CohereTool {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

export interface CohereChatBody {
  model: string;
  messages: CohereMessage[];
  stream: boolean;
  tools?: CohereTool[];
  strict_tools?: boolean;
  tool_choice?: 'REQUIRED' | 'NONE';
  response_format?: { type: 'json_object'; json_schema?: Record<string, unknown> };
  max_tokens?: number;
  stop_sequences?: string[];
  temperature?: number;
  p?: number;
  seed?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
}

export type CohereFinishReason =
  | 'COMPLETE'
  | 'STOP_SEQUENCE'
  | 'MAX_TOKENS'
  | 'TOOL_CALL'
  | 'ERROR'
  | 'TIMEOUT';

export interface CohereUsage {
  billed_units?: { input_tokens?: number; output_tokens?: number } | null;
  tokens?: { input_tokens?: number; output_tokens?: number } | null;
  /** Prompt tokens read from Cohere's prompt cache; part of `tokens.input_tokens`. */
  cached_tokens?: number | null;
}

export interface CohereChatResponse {
  id?: string;
  finish_reason?: CohereFinishReason | (string & {});
  message?: {
    role?: string;
    content?: Array<{ type?: string; text?: string; thinking?: string }> | null;
    tool_plan?: string | null;
    tool_calls?: Array<{
      id?: string;
      type?: string;
      function?: { name?: string; arguments?: string | null };
    }> | null;
  };
  usage?: CohereUsage | null;
}

/** One event of a v2 chat stream: the SSE `event:` name repeats `type`. */
export interface CohereStreamEvent {
  type: string;
  id?: string;
  index?: number;
  delta?: {
    error?: string;
    finish_reason?: CohereFinishReason | (string & {});
    usage?: CohereUsage | null;
    message?: {
      content?: { type?: string; text?: string; thinking?: string };
      tool_plan?: string;
      tool_calls?: {
        id?: string;
        type?: string;
        function?: { name?: string; arguments?: string };
      };
    };
  };
}

export interface CohereEmbedBody {
  model: string;
  texts: string[];
  input_type: string;
  embedding_types: ['float'];
  output_dimension?: number;
}

export interface CohereEmbedResponse {
  id?: string;
  embeddings?: { float?: number[][] | null } | null;
  meta?: {
    billed_units?: { input_tokens?: number } | null;
    tokens?: { input_tokens?: number } | null;
  } | null;
}
