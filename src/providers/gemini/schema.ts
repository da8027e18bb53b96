import type { GeminiSchema } from './wire.ts';

/**
 * Converts a JSON Schema (what OpenAI clients send for tool parameters and `response_format`) into Gemini's
 * Schema, a subset of OpenAPI 3.0. Gemini answers 400 to any keyword outside that subset, so unsupported
 * keywords are removed and listed in `changes`, which the caller turns into one warning per schema.
 */
export interface SchemaConversion {
  readonly schema: GeminiSchema;
  /** What was removed or rewritten, e.g. `removed additionalProperties (at properties.user)`; empty when nothing. */
  readonly changes: readonly string[];
}

/** Keywords Gemini's Schema accepts as they are (ai.google.dev/api/caching#Schema). */
const keptKeywords = new Set([
  'type',
  'title',
  'description',
  'nullable',
  'maxItems',
  'minItems',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'example',
  'default',
  'minimum',
  'maximum',
  'propertyOrdering',
]);

/** Formats Gemini accepts, by type; any other format is a 400 ("only 'enum' and 'date-time' are supported"). */
const allowedFormats: Record<string, readonly string[]> = {
  string: ['enum', 'date-time'],
  number: ['float', 'double'],
  integer: ['int32', 'int64'],
};

export function convertJsonSchema(schema: unknown): SchemaConversion {
  const changes: string[] = [];
  const converted = convert(schema, '', changes);
  return { schema: converted, changes };
}

function convert(node: unknown, path: string, changes: string[]): GeminiSchema {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return {};
  const source = node as Record<string, unknown>;
  const result: GeminiSchema = {};
  const at = (key: string) => (path === '' ? key : `${key} (at ${path})`);
  const child = (suffix: string) => (path === '' ? suffix : `${path}.${suffix}`);

  for (const [key, value] of Object.entries(source)) {
    if (keptKeywords.has(key)) {
      if (key !== 'type') result[key] = value;
      continue;
    }
    switch (key) {
      case 'properties':
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
          result.properties = Object.fromEntries(
            Object.entries(value).map(([name, property]) => [
              name,
              convert(property, child(`properties.${name}`), changes),
            ]),
          );
        }
        break;
      case 'required':
        if (Array.isArray(value)) result.required = value;
        break;
      case 'items':
        if (Array.isArray(value)) changes.push(`removed tuple-style items ${at('items')}`);
        else result.items = convert(value, child('items'), changes);
        break;
      case 'anyOf':
      case 'oneOf':
        if (Array.isArray(value)) {
          result.anyOf = value.map((option, index) => convert(option, child(`${key}.${index}`), changes));
          if (key === 'oneOf') changes.push(`sent oneOf as anyOf ${at('oneOf')}`);
        }
        break;
      case 'enum':
        if (Array.isArray(value) && value.every((item) => typeof item === 'string')) result.enum = value;
        else changes.push(`removed a non-string enum ${at('enum')}`);
        break;
      case 'const':
        if (typeof value === 'string') {
          result.enum = [value];
          changes.push(`sent const as a one-value enum ${at('const')}`);
        } else changes.push(`removed a non-string const ${at('const')}`);
        break;
      case 'examples':
        if (Array.isArray(value) && value.length > 0) result.example = value[0];
        break;
      case 'format':
        break;
      default:
        changes.push(`removed ${at(key)}`);
    }
  }
  applyType(source, result, path, changes);
  return result;
}

/** `type` may be a list in JSON Schema (`["string", "null"]`); Gemini takes one type plus `nullable`. */
function applyType(source: Record<string, unknown>, result: GeminiSchema, path: string, changes: string[]) {
  const where = path === '' ? '' : ` (at ${path})`;
  const types = Array.isArray(source.type) ? source.type : source.type === undefined ? [] : [source.type];
  const concrete = types.filter((type): type is string => typeof type === 'string' && type !== 'null');
  if (types.includes('null')) result.nullable = true;
  if (concrete.length === 1) result.type = concrete[0];
  else if (concrete.length > 1) {
    if (result.anyOf === undefined) result.anyOf = concrete.map((type) => ({ type }));
    else changes.push(`removed the type list ${JSON.stringify(types)}${where}`);
  }
  const format = source.format;
  if (format === undefined) return;
  const type = typeof result.type === 'string' ? result.type : '';
  if (typeof format === 'string' && allowedFormats[type]?.includes(format)) result.format = format;
  else changes.push(`removed format ${JSON.stringify(format)}${where}`);
}

/** True when the schema is an object without properties: Gemini rejects `parameters` of that shape. */
export function isEmptyObjectSchema(schema: GeminiSchema): boolean {
  const properties = schema.properties;
  const noProperties =
    properties === undefined ||
    (properties !== null && typeof properties === 'object' && Object.keys(properties).length === 0);
  return (
    (schema.type === undefined || schema.type === 'object') && noProperties && schema.anyOf === undefined
  );
}
