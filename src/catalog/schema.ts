import { z } from 'zod';

/**
 * Zod schemas for catalog/providers.yaml and catalog/models.yaml. Every object is strict (an unknown key is
 * an error, so a typo never silently falls back to a default) and the outputs match src/catalog/types.ts.
 * Prices are USD per million tokens; context windows and output limits are token counts.
 */

/** Provider ids appear in `provider/model` addressing and env names (`nexus-demo` → `NEXUS_DEMO_API_KEY`). */
export const providerIdSchema = z
  .string()
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'expected a lower-case id (a-z, 0-9, single dashes)');

/**
 * Model ids and aliases are sent upstream as-is, so their case is kept (Together serves
 * `meta-llama/Llama-3.3-70B-Instruct-Turbo`); they only have to be non-empty and free of whitespace.
 */
export const modelNameSchema = z.string().regex(/^\S+$/, 'expected a non-empty name without whitespace');

const priceSchema = z.number().min(0, 'expected number >= 0');
const tokenCountSchema = z.int('expected a positive integer').positive('expected a positive integer');

/** An absolute URL, or `""` for providers with no usable default (Azure: one URL per resource). */
const baseUrlSchema = z
  .string()
  .refine(
    (value) => value === '' || URL.canParse(value),
    'expected an absolute URL, or "" when there is no default',
  );

export const providerQuirksSchema = z.strictObject({
  extraHeaders: z.record(z.string().min(1), z.string()).default({}),
  unsupportedParams: z.array(z.string().min(1)).default([]),
  supportsStreamUsage: z.boolean().default(true),
  supportsEmbeddings: z.boolean().default(false),
  maxTokensField: z.enum(['max_tokens', 'max_completion_tokens']).default('max_tokens'),
});

export const providerSpecSchema = z.strictObject({
  id: providerIdSchema,
  name: z.string().min(1),
  wire: z.enum(['openai', 'anthropic', 'gemini', 'cohere', 'azure', 'demo']),
  baseUrl: baseUrlSchema,
  requiresApiKey: z.boolean().default(true),
  defaultModel: modelNameSchema.nullable().default(null),
  quirks: providerQuirksSchema.prefault({}),
});

export const modelPricingSchema = z.strictObject({
  inputPerMillion: priceSchema,
  outputPerMillion: priceSchema,
  cachedInputPerMillion: priceSchema.nullable().default(null),
  cacheWriteInputPerMillion: priceSchema.nullable().default(null),
});

/** Capabilities default to false: a model does only what its entry says it does. */
export const modelCapabilitiesSchema = z.strictObject({
  vision: z.boolean().default(false),
  tools: z.boolean().default(false),
  streaming: z.boolean().default(false),
  jsonMode: z.boolean().default(false),
});

export const modelSpecSchema = z.strictObject({
  id: modelNameSchema,
  provider: providerIdSchema,
  mode: z.enum(['chat', 'embedding']),
  aliases: z.array(modelNameSchema).default([]),
  contextWindow: tokenCountSchema,
  maxOutputTokens: tokenCountSchema.nullable().default(null),
  pricing: modelPricingSchema,
  capabilities: modelCapabilitiesSchema.prefault({}),
});

/** The top level of catalog/providers.yaml. */
export const providersFileSchema = z.strictObject({ providers: z.array(z.unknown()) });

/** The top level of catalog/models.yaml. */
export const modelsFileSchema = z.strictObject({ models: z.array(z.unknown()) });
