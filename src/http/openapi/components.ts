import { z } from 'zod';
import { openAIErrorBodySchema } from '../../core/errors.ts';
import { anthropicErrorBodySchema } from '../../protocols/anthropic/errors.ts';
import { routingModes } from '../../resilience/routing.ts';
import { type ErrorShape, seed004ErrorBodySchema } from '../respond.ts';

/** A JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) as plain JSON. */
export type JsonSchema = Record<string, unknown>;

/**
 * A zod schema as JSON Schema: `input` for what a client sends (defaults make a field optional, a transform's
 * input side is what is sent), `output` for what Nexus answers. Refinements cannot be expressed and are left
 * out (`unrepresentable: 'any'` for anything else), so a documented schema may accept a little more than
 * validation does, never less.
 */
export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...converted } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  // `$defs` would be resolved against the OpenAPI document, not this schema: only a cycle makes them, and no
  // schema of Nexus has one.
  if ('$defs' in converted) throw new Error('a schema with $defs (a recursive schema) cannot be inlined');
  return converted;
}

const errorSchemas: Record<ErrorShape, { name: string; schema: z.ZodType }> = {
  openai: { name: 'OpenAIError', schema: openAIErrorBodySchema },
  anthropic: { name: 'AnthropicError', schema: anthropicErrorBodySchema },
  'seed-004': { name: 'Seed004Error', schema: seed004ErrorBodySchema },
};

/**
 * The named schemas of the document: each zod schema gets one name (per direction), the first time an operation
 * refers to it, and every later use is a `$ref` to it.
 */
export class SchemaRegistry {
  readonly #names = new Map<z.ZodType, Map<'input' | 'output', string>>();
  readonly #schemas: Record<string, JsonSchema> = {};

  /** A `$ref` to the schema, registered under `name` the first time (or a numbered variant if taken). */
  ref(schema: z.ZodType, name: string, io: 'input' | 'output'): { $ref: string } {
    const byIo = this.#names.get(schema) ?? new Map<'input' | 'output', string>();
    this.#names.set(schema, byIo);
    let registered = byIo.get(io);
    if (registered === undefined) {
      registered = name;
      for (let n = 2; registered in this.#schemas; n++) registered = `${name}${n}`;
      this.#schemas[registered] = toJsonSchema(schema, io);
      byIo.set(io, registered);
    }
    return { $ref: `#/components/schemas/${registered}` };
  }

  /** The error envelope of a route's shape. */
  error(shape: ErrorShape): { $ref: string } {
    const { name, schema } = errorSchemas[shape];
    return this.ref(schema, name, 'output');
  }

  get schemas(): Record<string, JsonSchema> {
    return this.#schemas;
  }
}

const header = (description: string, schema: JsonSchema = { type: 'string' }) => ({ description, schema });

/** Response headers, in `components.headers`. */
export const responseHeaders = {
  'x-request-id': header('Yours echoed when it matches `[\\w.:-]{1,128}`, else a generated UUID.'),
  'x-nexus-provider': header('The provider instance that served, e.g. `Groq (Key #1)`.'),
  'x-nexus-model': header("The provider's model id that served."),
  'x-nexus-cost-usd': header(
    "Decimal USD from the provider's reported usage and the catalogue price (replies in one piece).",
  ),
  'x-nexus-latency-ms': header('Time spent in Nexus itself, without the wait on upstreams.'),
  'x-nexus-warnings': header(
    'Parameters a provider could not take as given (dropped or clamped), separated by ` | `.',
  ),
  'x-nexus-cache': header('The response cache: `HIT`, `HIT-SEMANTIC`, `MISS` or `BYPASS`.', {
    type: 'string',
    enum: ['HIT', 'HIT-SEMANTIC', 'MISS', 'BYPASS'],
  }),
  'x-nexus-cache-similarity': header('On a semantic hit, the similarity of the stored prompt (0-1).'),
  'x-ratelimit-limit': header(
    'The tightest limit of the key, its project and organization (USD for a budget).',
  ),
  'x-ratelimit-remaining': header('What is left of it.'),
  'x-ratelimit-reset': header('Seconds until its window resets.'),
  'retry-after': header('Seconds to wait before retrying.'),
} as const;

export type ResponseHeaderName = keyof typeof responseHeaders;

/** Request headers, in `components.parameters`. */
export const requestHeaders = {
  RequestId: {
    name: 'x-request-id',
    in: 'header',
    description:
      'Your id for this request, echoed in the reply and the logs when it matches `[\\w.:-]{1,128}`.',
    schema: { type: 'string', pattern: '^[\\w.:-]{1,128}$' },
  },
  RoutingMode: {
    name: 'x-routing-mode',
    in: 'header',
    description: "The order to try a model's instances in; an unknown mode is ignored with a warning.",
    schema: { type: 'string', enum: [...routingModes] },
  },
  CacheControl: {
    name: 'cache-control',
    in: 'header',
    description:
      '`no-cache`: skip the stored answer and store the fresh one; `no-store`: the cache is not used.',
    schema: { type: 'string' },
  },
  NexusCache: {
    name: 'x-nexus-cache',
    in: 'header',
    description:
      '`bypass`: the cache is not used; `refresh`: skip the stored answer and store the fresh one.',
    schema: { type: 'string', enum: ['bypass', 'refresh'] },
  },
  NexusCacheTtl: {
    name: 'x-nexus-cache-ttl',
    in: 'header',
    description: 'How long to keep this answer, whole seconds from 60 to 86400.',
    schema: { type: 'string', pattern: '^\\d+$' },
  },
  AnthropicVersion: {
    name: 'anthropic-version',
    in: 'header',
    description: 'Passed to an Anthropic upstream (else the configured version, else 2023-06-01).',
    schema: { type: 'string' },
  },
  AnthropicBeta: {
    name: 'anthropic-beta',
    in: 'header',
    description: 'Passed to an Anthropic upstream as sent.',
    schema: { type: 'string' },
  },
  StripeSignature: {
    name: 'stripe-signature',
    in: 'header',
    required: true,
    description: "Stripe's signature of the raw body, checked with `STRIPE_WEBHOOK_SECRET`.",
    schema: { type: 'string' },
  },
} as const;

export type RequestHeaderName = keyof typeof requestHeaders;

/** How a caller proves who it is. */
export const securitySchemes = {
  bearerKey: {
    type: 'http',
    scheme: 'bearer',
    description:
      'A Nexus key (`nk-…`), the master key (`NEXUS_MASTER_KEY`), or a JWT when `auth.jwt` is set. A gateway ' +
      'without a master key serves loopback only and needs no key.',
  },
  apiKeyHeader: {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: 'The same keys as a bearer token, in the header Anthropic clients send.',
  },
  masterKey: {
    type: 'http',
    scheme: 'bearer',
    description: 'The master key (`NEXUS_MASTER_KEY`) or an admin JWT; a tenant key is refused with 403.',
  },
} as const;
