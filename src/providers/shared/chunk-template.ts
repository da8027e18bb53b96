import type { ChatCompletionChunk } from '../../core/openai-types.ts';

/**
 * The text of a parsed stream chunk with its answer strings cut out, to recognise the chunks after it without
 * parsing them. Parsing every chunk was the largest single cost of a stream (JSON.parse of 20+ chunks per
 * answer), while the chunks of one answer differ only in their text: `{"id":"c1",...,"choices":[{"index":0,
 * "delta":{"content":"` + text + `"},"logprobs":null,"finish_reason":null}]}`.
 *
 * A template is learned only from a chunk that was parsed and found plain: one choice, index 0, no finish
 * reason, no usage, no error. Its holes are the string values of `content`, `reasoning_content`,
 * `reasoning`, `refusal`, `arguments` and `obfuscation` (OpenAI's per-chunk padding). A text matches when it
 * is the template's text exactly outside the holes, and each hole holds a well-formed JSON string (escapes
 * checked, no raw control character). A match is therefore valid JSON, with the same keys and the same
 * non-text values as the plain chunk: choice 0, unfinished, no usage, no error. Whatever does not match is
 * parsed, so nothing that completeness, accounting or error handling depends on can pass unseen, and no
 * malformed chunk can be forwarded.
 */
export class ChunkTemplate {
  /** The text around the holes: fixed[0] hole fixed[1] ... hole fixed[n]; every hole lies between quotes. */
  readonly #fixed: readonly string[];

  private constructor(fixed: readonly string[]) {
    this.#fixed = fixed;
  }

  /** The template of `raw`, whose parse is `chunk`, or undefined when the chunk is not a plain one. */
  static learn(raw: string, chunk: ChatCompletionChunk): ChunkTemplate | undefined {
    const [choice, ...others] = chunk.choices;
    if (choice === undefined || others.length > 0 || choice.index !== 0) return undefined;
    if (choice.finish_reason != null || chunk.usage != null || 'error' in chunk) return undefined;
    const fixed: string[] = [];
    let start = 0;
    let key = '';
    // `raw` parsed, so it is valid JSON: every unescaped quote opens or closes a string.
    for (let open = raw.indexOf('"'); open >= 0; ) {
      const close = closingQuote(raw, open + 1);
      if (close < 0) return undefined;
      let next = close + 1;
      while (isBlank(raw.charCodeAt(next))) next++;
      if (raw.charCodeAt(next) === colon) key = raw.slice(open + 1, close);
      else if (holeKeys.has(key)) {
        fixed.push(raw.slice(start, open + 1));
        start = close;
      }
      open = raw.indexOf('"', close + 1);
    }
    fixed.push(raw.slice(start));
    return fixed.length > 1 ? new ChunkTemplate(fixed) : undefined;
  }

  /** Whether `text` is this template with well-formed JSON strings in its holes (see the class). */
  matches(text: string): boolean {
    const fixed = this.#fixed;
    const holes = fixed.length - 1;
    let position = 0;
    // Slices compared with ===, not startsWith: on Node 20 startsWith walks the characters one by one (1.7 µs for
    // a 150-character chunk head against 0.1 µs for a slice and a compare).
    for (let index = 0; index < holes; index++) {
      const part = fixed[index] as string;
      const end = position + part.length;
      if (text.slice(position, end) !== part) return false;
      position = stringEnd(text, end);
      if (position < 0) return false;
    }
    const last = fixed[holes] as string;
    return text.length === position + last.length && text.slice(position) === last;
  }
}

const holeKeys = new Set([
  'content',
  'reasoning_content',
  'reasoning',
  'refusal',
  'arguments',
  'obfuscation',
]);

const quote = 0x22;
const backslash = 0x5c;
const colon = 0x3a;

function isBlank(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/** Index of the first unescaped quote from `start` on (the end of a string whose body starts there), or -1. */
function closingQuote(text: string, start: number): number {
  for (let position = text.indexOf('"', start); position >= 0; position = text.indexOf('"', position + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(position - 1 - backslashes) === backslash) backslashes++;
    if (backslashes % 2 === 0) return position;
  }
  return -1;
}

/** Index of the quote that closes the JSON string whose body starts at `start`, or -1 if it is malformed. */
function stringEnd(text: string, start: number): number {
  const length = text.length;
  for (let position = start; position < length; position++) {
    const code = text.charCodeAt(position);
    if (code === quote) return position;
    if (code < 0x20) return -1;
    if (code !== backslash) continue;
    position++;
    const escaped = text.charCodeAt(position);
    if (escaped === 0x75) {
      // \uXXXX
      for (let digit = 1; digit <= 4; digit++) if (!isHex(text.charCodeAt(position + digit))) return -1;
      position += 4;
    } else if (!simpleEscapes.has(escaped)) return -1;
  }
  return -1;
}

/** `"` `\` `/` `b` `f` `n` `r` `t` after a backslash. */
const simpleEscapes = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

function isHex(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66) || (code >= 0x41 && code <= 0x46);
}
