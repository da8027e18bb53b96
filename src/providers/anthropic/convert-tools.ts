import type { AnthropicTool, AnthropicToolChoice } from './wire-types.ts';

/** Reports a parameter that could not be sent as given; repeated reports of the same thing are merged. */
export type Warn = (param: string, message: string) => void;

interface OpenAITool {
  type?: unknown;
  function?: { name?: unknown; description?: unknown; parameters?: unknown; strict?: unknown };
}

/**
 * OpenAI function tools → Anthropic tools (`input_schema` is required: a missing one
 * becomes an empty object schema).
 */
export function convertTools(tools: unknown, warn: Warn): AnthropicTool[] {
  if (!Array.isArray(tools)) return [];
  const converted: AnthropicTool[] = [];
  (tools as OpenAITool[]).forEach((tool, index) => {
    const fn = tool.function;
    if (tool.type !== 'function' || typeof fn?.name !== 'string') {
      warn(
        `tools[${index}]`,
        `Anthropic takes only function tools; a '${String(tool.type)}' tool was not sent.`,
      );
      return;
    }
    const schema =
      fn.parameters !== null && typeof fn.parameters === 'object'
        ? (fn.parameters as Record<string, unknown>)
        : { type: 'object', properties: {} };
    const entry: AnthropicTool = { name: fn.name, input_schema: schema };
    if (typeof fn.description === 'string' && fn.description !== '') entry.description = fn.description;
    if (fn.strict != null) {
      warn('tools[].function.strict', "Anthropic does not support 'strict'; it was not sent.");
    }
    converted.push(entry);
  });
  return converted;
}

/** OpenAI tool_choice → Anthropic's: none, auto, any (for `required`), or one named tool. */
export function convertToolChoice(choice: unknown, warn: Warn): AnthropicToolChoice | undefined {
  if (choice == null) return undefined;
  if (choice === 'none' || choice === 'auto') return { type: choice };
  if (choice === 'required') return { type: 'any' };
  const named = choice as { type?: unknown; function?: { name?: unknown } };
  if (named.type === 'function' && typeof named.function?.name === 'string') {
    return { type: 'tool', name: named.function.name };
  }
  warn('tool_choice', `Anthropic cannot express this tool_choice; it was not sent.`);
  return undefined;
}
