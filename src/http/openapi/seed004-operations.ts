import {
  createKey,
  issuedKeyReplySchema,
  projectKeysQuery,
  projectKeysReplySchema,
  revokedKeyReplySchema,
  revokeKeyQuery,
} from '../routes/seed-project-keys.ts';
import {
  createdProjectReplySchema,
  createProject,
  currentProjectQuery,
  currentProjectReplySchema,
} from '../routes/seed-projects.ts';
import {
  seedBudgetReplySchema,
  seedCostsReplySchema,
  seedProjectQuery,
  seedStatsQuery,
  seedStatsReplySchema,
} from '../routes/seed-usage.ts';
import type { OperationDoc } from './operation-doc.ts';

const scopeNote =
  "A project key reads and changes its own project (another project's id is 404); the master key names one " +
  'with `projectId`.';

/** Seed 004's projects, project keys and usage, in its `{success, data}` envelope. Keyed by `METHOD path`. */
export const seed004Operations: Readonly<Record<string, OperationDoc>> = {
  'POST /api/v1/projects': {
    operationId: 'seed004CreateProject',
    summary: 'Create a project',
    description:
      'An organization and a project of the same name, and its first key (`apiKey`, shown in this reply only). ' +
      '`openaiKey` / `anthropicKey` are stored encrypted (`NEXUS_ENCRYPTION_KEY`, else 400 ' +
      "`encryption_not_configured`), never returned, and serve the project's traffic to that provider.",
    tag: 'Seed 004',
    admin: true,
    body: { schema: createProject, example: { name: 'checkout-service' } },
    reply: { status: 201, description: 'The project and its first key.', schema: createdProjectReplySchema },
  },
  'GET /api/v1/projects/current': {
    operationId: 'seed004CurrentProject',
    summary: "The caller's project",
    description: scopeNote,
    tag: 'Seed 004',
    query: currentProjectQuery,
    reply: { status: 200, description: 'The project.', schema: currentProjectReplySchema },
    errors: [403, 404],
  },
  'GET /api/v1/projects/api-keys': {
    operationId: 'seed004ListKeys',
    summary: "The project's keys",
    description: `Revoked keys included, never a key itself. ${scopeNote}`,
    tag: 'Seed 004',
    query: projectKeysQuery,
    reply: { status: 200, description: 'The keys.', schema: projectKeysReplySchema },
    errors: [403, 404],
  },
  'POST /api/v1/projects/api-keys': {
    operationId: 'seed004CreateKey',
    summary: 'Issue a key',
    description:
      `The new key is \`apiKey\`, shown in this reply only. A key never issues one with more models, a later ` +
      `expiry or a larger budget than its own (403). ${scopeNote}`,
    tag: 'Seed 004',
    body: { schema: createKey, example: { name: 'ci', dailyBudget: 5, projectId: 'proj_…' } },
    reply: { status: 201, description: 'The new key.', schema: issuedKeyReplySchema },
    errors: [403, 404],
  },
  'DELETE /api/v1/projects/api-keys': {
    operationId: 'seed004RevokeKeyByQuery',
    summary: 'Revoke a key (`?id=`)',
    description: `Refused from its next request on. ${scopeNote}`,
    tag: 'Seed 004',
    query: revokeKeyQuery,
    reply: { status: 200, description: 'Revoked.', schema: revokedKeyReplySchema },
    errors: [403, 404],
  },
  'DELETE /api/v1/projects/api-keys/*': {
    operationId: 'seed004RevokeKey',
    summary: 'Revoke a key',
    description: `Refused from its next request on. ${scopeNote}`,
    tag: 'Seed 004',
    pathParameter: { name: 'id', description: "The key's id.", example: 'key_…' },
    query: projectKeysQuery,
    reply: { status: 200, description: 'Revoked.', schema: revokedKeyReplySchema },
    errors: [403, 404],
  },
  'GET /api/v1/usage/stats': {
    operationId: 'seed004UsageStats',
    summary: 'Usage by day and model',
    description: `Totals and every day of the last \`days\` (1-365, default 30). ${scopeNote}`,
    tag: 'Seed 004',
    query: seedStatsQuery,
    reply: { status: 200, description: 'The numbers.', schema: seedStatsReplySchema },
    errors: [404],
  },
  'GET /api/v1/usage/costs': {
    operationId: 'seed004UsageCosts',
    summary: 'Costs today and this month',
    description: scopeNote,
    tag: 'Seed 004',
    query: seedProjectQuery,
    reply: { status: 200, description: 'The costs.', schema: seedCostsReplySchema },
    errors: [404],
  },
  'GET /api/v1/usage/budget': {
    operationId: 'seed004UsageBudget',
    summary: 'Budgets: spent and remaining',
    description: `The project's daily and monthly budget and the calling key's. ${scopeNote}`,
    tag: 'Seed 004',
    query: seedProjectQuery,
    reply: { status: 200, description: 'The budgets.', schema: seedBudgetReplySchema },
    errors: [404],
  },
};
