import { z } from 'zod';
import type { Gateway } from './exchange.ts';

const usdPerMillion = z.number().min(0);

/** One routable model, in OpenAI's model shape plus Nexus's fields. */
export const modelEntrySchema = z.strictObject({
  id: z.string(),
  object: z.literal('model'),
  created: z.int(),
  owned_by: z.string(),
  /** `chat`, `embedding`, or `pseudo` for `auto`, aliases, groups and instance names. */
  mode: z.enum(['chat', 'embedding', 'pseudo']),
  context_window: z.int().min(0).nullable(),
  /** USD per million tokens. */
  pricing: z
    .strictObject({
      input_per_million: usdPerMillion,
      output_per_million: usdPerMillion,
      cached_input_per_million: usdPerMillion.nullable(),
    })
    .nullable(),
  /** Whether a configured instance can serve it now. */
  available: z.boolean(),
});

export type ModelEntry = z.output<typeof modelEntrySchema>;

/** `GET /v1/models`. */
export const modelListSchema = z.strictObject({ object: z.literal('list'), data: z.array(modelEntrySchema) });

/**
 * Every routable model in OpenAI's list shape plus Nexus fields: catalogued models as `provider/model`
 * (always resolvable, whatever else shares the bare id), `auto`, configured aliases, model groups and instance
 * names.
 */
export function listModels(gateway: Gateway): ModelEntry[] {
  const created = Math.floor(gateway.startedAt / 1000);
  const configured = new Set(gateway.registry.instances.map((instance) => instance.provider.id));
  const entries: ModelEntry[] = gateway.catalog.models.map((model) => ({
    id: `${model.provider}/${model.id}`,
    object: 'model',
    created,
    owned_by: model.provider,
    mode: model.mode,
    context_window: model.contextWindow,
    pricing: {
      input_per_million: model.pricing.inputPerMillion,
      output_per_million: model.pricing.outputPerMillion,
      cached_input_per_million: model.pricing.cachedInputPerMillion,
    },
    available: configured.has(model.provider),
  }));
  const pseudo = (id: string, owner: string, available: boolean): ModelEntry => ({
    id,
    object: 'model',
    created,
    owned_by: owner,
    mode: 'pseudo',
    context_window: null,
    pricing: null,
    available,
  });
  entries.push(pseudo('auto', 'nexus', gateway.registry.instances.length > 0));
  for (const alias of Object.keys(gateway.config.aliases)) entries.push(pseudo(alias, 'nexus', true));
  for (const group of Object.keys(gateway.config.groups)) entries.push(pseudo(group, 'nexus', true));
  for (const instance of gateway.registry.instances)
    entries.push(pseudo(instance.name, instance.provider.id, true));
  return entries;
}
