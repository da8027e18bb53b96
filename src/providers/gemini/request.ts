import type { ChatRequest } from '../../core/openai-types.ts';
import type { UpstreamTarget, Warning } from '../types.ts';
import { convertMessages } from './messages.ts';
import { convertJsonSchema, isEmptyObjectSchema } from './schema.ts';
import type { GeminiFunctionDeclaration, GeminiGenerationConfig, GeminiRequest } from './wire.ts';

/**
 * Builds a Gemini `generateContent` body from an OpenAI chat request. Every request field is either
 * translated here or reported as a warning: Gemini rejects unknown fields, so nothing is passed through.
 */
export function buildGeminiRequest(
  target: UpstreamTarget,
  request: ChatRequest,
  warnings: Warning[],
): GeminiRequest {
  const { contents, systemInstruction } = convertMessages(request.messages, warnings, {
    placeholderSignatures: enforcesThoughtSignatures(target.model),
  });
  const body: GeminiRequest = { contents };
  if (systemInstruction !== undefined) body.systemInstruction = systemInstruction;
  const declarations = functionDeclarations(request.tools, warnings);
  if (declarations.length > 0) {
    body.tools = [{ functionDeclarations: declarations }];
    const toolConfig = functionCallingConfig(request.tool_choice, warnings);
    if (toolConfig !== undefined) body.toolConfig = { functionCallingConfig: toolConfig };
  }
  const generationConfig = buildGenerationConfig(request, warnings);
  if (Object.keys(generationConfig).length > 0) body.generationConfig = generationConfig;
  reportUntranslated(request, warnings);
  return body;
}

/** Gemini 3 and later reject replayed function calls without a thought signature; 1.x and 2.x do not check. */
export function enforcesThoughtSignatures(model: string): boolean {
  return !/^(models\/)?(gemini-[12][.-]|gemma)/.test(model);
}

/** Fields translated above or by the edge; anything else in the request is reported and not sent. */
const translatedFields = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'n',
  'seed',
  'stop',
  'presence_penalty',
  'frequency_penalty',
  'response_format',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
]);

function reportUntranslated(request: ChatRequest, warnings: Warning[]) {
  for (const [field, value] of Object.entries(request)) {
    if (value == null || translatedFields.has(field)) continue;
    warnings.push({ param: field, message: `Gemini does not support '${field}'; it was not sent.` });
  }
  if (request.parallel_tool_calls === false) {
    warnings.push({
      param: 'parallel_tool_calls',
      message:
        'Gemini cannot be told to avoid parallel tool calls; `parallel_tool_calls: false` was ignored.',
    });
  }
}

function buildGenerationConfig(request: ChatRequest, warnings: Warning[]): GeminiGenerationConfig {
  const config: GeminiGenerationConfig = {};
  if (request.temperature != null) config.temperature = request.temperature;
  if (request.top_p != null) config.topP = request.top_p;
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens != null) config.maxOutputTokens = maxTokens;
  const stop = request.stop;
  if (typeof stop === 'string') config.stopSequences = [stop];
  else if (Array.isArray(stop) && stop.length > 0) config.stopSequences = stop as string[];
  if (request.n != null && request.n > 1) config.candidateCount = request.n;
  if (typeof request.seed === 'number') config.seed = request.seed;
  // Zero is the default: leaving it out keeps models that reject penalties working.
  if (typeof request.presence_penalty === 'number' && request.presence_penalty !== 0) {
    config.presencePenalty = request.presence_penalty;
  }
  if (typeof request.frequency_penalty === 'number' && request.frequency_penalty !== 0) {
    config.frequencyPenalty = request.frequency_penalty;
  }
  applyResponseFormat(request.response_format, config, warnings);
  return config;
}

function applyResponseFormat(format: unknown, config: GeminiGenerationConfig, warnings: Warning[]) {
  if (format == null || typeof format !== 'object') return;
  const { type, json_schema: jsonSchema } = format as { type?: unknown; json_schema?: { schema?: unknown } };
  if (type === 'text') return;
  if (type !== 'json_object' && type !== 'json_schema') {
    warnings.push({
      param: 'response_format.type',
      message: `Gemini has no '${String(type)}' response format; it was not sent.`,
    });
    return;
  }
  config.responseMimeType = 'application/json';
  if (type !== 'json_schema' || jsonSchema?.schema === undefined) return;
  const { schema, changes } = convertJsonSchema(jsonSchema.schema);
  config.responseSchema = schema;
  reportSchemaChanges('response_format.json_schema.schema', 'the response schema', changes, warnings);
}

interface OpenAITool {
  type?: unknown;
  function?: { name?: unknown; description?: unknown; parameters?: unknown; strict?: unknown };
}

function functionDeclarations(tools: unknown, warnings: Warning[]): GeminiFunctionDeclaration[] {
  if (!Array.isArray(tools)) return [];
  const declarations: GeminiFunctionDeclaration[] = [];
  (tools as OpenAITool[]).forEach((tool, index) => {
    const param = `tools.${index}`;
    const fn = tool.function;
    if (tool.type !== 'function' || typeof fn?.name !== 'string') {
      warnings.push({
        param,
        message: `Gemini takes only function tools; a '${String(tool.type)}' tool was not sent.`,
      });
      return;
    }
    const declaration: GeminiFunctionDeclaration = { name: fn.name };
    if (typeof fn.description === 'string') declaration.description = fn.description;
    const changes: string[] = [];
    if (fn.parameters !== undefined) {
      const converted = convertJsonSchema(fn.parameters);
      changes.push(...converted.changes);
      // Gemini rejects an object schema without properties; a function without parameters is the same thing.
      if (!isEmptyObjectSchema(converted.schema)) declaration.parameters = converted.schema;
    }
    if (fn.strict === true) changes.push('ignored strict (Gemini has no strict mode for function calls)');
    reportSchemaChanges(`${param}.function.parameters`, `tool '${fn.name}'`, changes, warnings);
    declarations.push(declaration);
  });
  return declarations;
}

function reportSchemaChanges(param: string, what: string, changes: readonly string[], warnings: Warning[]) {
  if (changes.length === 0) return;
  warnings.push({
    param,
    message: `Gemini accepts a subset of JSON Schema; for ${what} Nexus ${changes.join(', ')}.`,
  });
}

type FunctionCallingConfig = NonNullable<GeminiRequest['toolConfig']>['functionCallingConfig'];

function functionCallingConfig(choice: unknown, warnings: Warning[]): FunctionCallingConfig | undefined {
  if (choice == null) return undefined;
  if (choice === 'auto') return { mode: 'AUTO' };
  if (choice === 'none') return { mode: 'NONE' };
  if (choice === 'required') return { mode: 'ANY' };
  const named = choice as { type?: unknown; function?: { name?: unknown } };
  if (named.type === 'function' && typeof named.function?.name === 'string') {
    return { mode: 'ANY', allowedFunctionNames: [named.function.name] };
  }
  warnings.push({
    param: 'tool_choice',
    message: 'Gemini supports tool_choice auto, none, required or one named function; it was not sent.',
  });
  return undefined;
}
