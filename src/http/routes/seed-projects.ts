import { z } from 'zod';
import { NexusError } from '../../core/errors.ts';
import { ProviderKeyCipher, type ProviderKeys } from '../../tenancy/provider-key-cipher.ts';
import type { Gateway, Route } from '../exchange.ts';
import { seed004Envelope, sendJson } from '../respond.ts';
import { idSchema, nameSchema } from './admin-wire.ts';
import { fromStore, readBody, readQuery, requireAdmin, servicesOf } from './route-input.ts';
import { key004, key004Schema, project004, project004Schema, targetProject } from './seed-project-wire.ts';

/** A provider key as a project brings it: opaque text, bounded. */
const providerKey = z.string().min(1).max(1024);

/** `POST /api/v1/projects`: a name, and the project's own provider keys (stored sealed, never shown). */
export const createProject = z.strictObject({
  name: nameSchema,
  openaiKey: providerKey.optional(),
  anthropicKey: providerKey.optional(),
});

/** `GET /api/v1/projects/current`'s query: the master key names the project. */
export const currentProjectQuery = z.strictObject({ projectId: idSchema.optional() });

/** `POST /api/v1/projects`: the project, and its first key, as `apiKey` (shown in this reply only) and listed. */
export const createdProjectReplySchema = seed004Envelope(
  project004Schema.extend({ apiKey: z.string(), key: key004Schema }),
);

/** `GET /api/v1/projects/current`. */
export const currentProjectReplySchema = seed004Envelope(project004Schema);

/**
 * Creates an organization and a project of the same name, stores the project's own provider keys sealed, and
 * issues its first key, shown in this reply only. Anything created is removed again if a later step fails.
 */
async function createSeedProject(
  gateway: Gateway,
  cipher: ProviderKeyCipher | undefined,
  input: z.output<typeof createProject>,
) {
  const providerKeys: ProviderKeys = {
    ...(input.openaiKey === undefined ? {} : { openai: input.openaiKey }),
    ...(input.anthropicKey === undefined ? {} : { anthropic: input.anthropicKey }),
  };
  const bringsKeys = Object.keys(providerKeys).length > 0;
  if (bringsKeys && cipher === undefined) {
    throw new NexusError(
      'encryption_not_configured',
      'Provider keys are stored encrypted, and NEXUS_ENCRYPTION_KEY is not set: set it to 32 random bytes in base64 (openssl rand -base64 32) and restart, or create the project without openaiKey / anthropicKey.',
    );
  }
  const { store } = servicesOf(gateway);
  const org = await fromStore(store.organizations.create({ name: input.name }));
  try {
    const project = await fromStore(store.projects.create({ orgId: org.id, name: input.name }));
    if (bringsKeys && cipher !== undefined) {
      await store.projects.setProviderKeysCiphertext(project.id, cipher.seal(project.id, providerKeys));
    }
    const created = await fromStore(store.apiKeys.create({ projectId: project.id, name: 'default' }));
    return { project: { ...project, hasProviderKeys: bringsKeys }, created };
  } catch (error) {
    await store.organizations.delete(org.id).catch(() => undefined);
    throw error;
  }
}

/**
 * Seed 004's projects, in its envelope (`{success, data}`, camelCase):
 * - `POST /api/v1/projects {name, openaiKey?, anthropicKey?}` (master key): an organization and a project, the
 *   provider keys sealed with AES-256-GCM under `NEXUS_ENCRYPTION_KEY` and never returned, and the project's
 *   first API key (`apiKey`, shown once). The provider keys serve the project's traffic in place of the
 *   gateway's (pipeline/own-instances.ts).
 * - `GET /api/v1/projects/current`: the calling key's project (the master key names one with `?projectId=`).
 */
export const seedProjectRoutes: readonly Route[] = [
  {
    kind: 'plain',
    method: 'POST',
    path: '/api/v1/projects',
    authenticated: true,
    errorShape: 'seed-004',
    handle: (gateway) => {
      const secret = gateway.config.tenancy.encryptionKey;
      const cipher = secret === undefined ? undefined : new ProviderKeyCipher(secret);
      return async function createProjectHandler(exchange) {
        requireAdmin(exchange);
        const input = await readBody(gateway, exchange, createProject);
        const { project, created } = await createSeedProject(gateway, cipher, input);
        await servicesOf(gateway).keys.refresh();
        gateway.log.info(
          { requestId: exchange.id, entity: 'project', id: project.id, action: 'create' },
          'admin change',
        );
        const body: z.output<typeof createdProjectReplySchema> = {
          success: true,
          data: { ...project004(project), apiKey: created.secret, key: key004(created.key) },
        };
        sendJson(exchange.response, 201, body);
      };
    },
  },
  {
    kind: 'plain',
    method: 'GET',
    path: '/api/v1/projects/current',
    authenticated: true,
    errorShape: 'seed-004',
    handle: (gateway) =>
      async function currentProject(exchange) {
        const query = readQuery(exchange, currentProjectQuery);
        const project = await targetProject(servicesOf(gateway).store, exchange, query.projectId);
        const body: z.output<typeof currentProjectReplySchema> = { success: true, data: project004(project) };
        sendJson(exchange.response, 200, body);
      },
  },
];
