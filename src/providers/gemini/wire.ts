/**
 * The Gemini REST shapes Nexus reads and writes (generativelanguage.googleapis.com v1beta: generateContent,
 * streamGenerateContent, batchEmbedContents). Only the fields Nexus uses are typed; every response field is
 * optional so that a field Google stops sending degrades one value instead of failing the whole reply.
 */

export interface GeminiFunctionCall {
  id?: string | undefined;
  name?: string | undefined;
  args?: Record<string, unknown> | undefined;
}

export interface GeminiPart {
  text?: string | undefined;
  /** True on a thought summary part (only sent when thoughts are requested); never part of the answer. */
  thought?: boolean | undefined;
  /** Opaque; Gemini 3 rejects a replayed function call without the signature it came with. */
  thoughtSignature?: string | undefined;
  inlineData?: { mimeType: string; data: string } | undefined;
  fileData?: { fileUri: string; mimeType?: string } | undefined;
  functionCall?: GeminiFunctionCall | undefined;
  functionResponse?: { name: string; response: Record<string, unknown> } | undefined;
}

export interface GeminiContent {
  role?: 'user' | 'model' | undefined;
  parts?: GeminiPart[] | undefined;
}

/** Gemini's Schema: a subset of OpenAPI 3.0 (see schema.ts for what is kept). */
export type GeminiSchema = Record<string, unknown>;

export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  parameters?: GeminiSchema;
}

export interface GeminiGenerationConfig {
  temperature?: number;
  topP?: number;
  maxOutputTokens?: number;
  stopSequences?: string[];
  candidateCount?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  responseMimeType?: string;
  responseSchema?: GeminiSchema;
}

export interface GeminiRequest {
  contents: GeminiContent[];
  systemInstruction?: GeminiContent;
  tools?: Array<{ functionDeclarations: GeminiFunctionDeclaration[] }>;
  toolConfig?: {
    functionCallingConfig: { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] };
  };
  generationConfig?: GeminiGenerationConfig;
}

export interface GeminiCandidate {
  content?: GeminiContent | undefined;
  finishReason?: string | undefined;
  index?: number | undefined;
}

export interface GeminiUsageMetadata {
  promptTokenCount?: number | undefined;
  cachedContentTokenCount?: number | undefined;
  candidatesTokenCount?: number | undefined;
  toolUsePromptTokenCount?: number | undefined;
  thoughtsTokenCount?: number | undefined;
  totalTokenCount?: number | undefined;
}

export interface GeminiResponse {
  candidates?: GeminiCandidate[] | undefined;
  promptFeedback?: { blockReason?: string | undefined } | undefined;
  usageMetadata?: GeminiUsageMetadata | undefined;
  modelVersion?: string | undefined;
  responseId?: string | undefined;
}

export interface GeminiEmbedRequest {
  requests: Array<{
    model: string;
    content: { parts: Array<{ text: string }> };
    outputDimensionality?: number;
  }>;
}

export interface GeminiEmbedResponse {
  embeddings?: Array<{ values?: number[] | undefined }> | undefined;
}
