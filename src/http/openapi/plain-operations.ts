import { z } from 'zod';
import { modelEntrySchema, modelListSchema } from '../model-list.ts';
import { healthSchema, readySchema } from '../routes/ops-wire.ts';
import { toggleBody, toggleReplySchema } from '../routes/providers-admin.ts';
import { seed004ModelsReplySchema } from '../routes/seed-aliases.ts';
import { checkoutReplySchema, webhookReplySchema } from '../routes/seed-billing.ts';
import { registeredReplySchema, registration } from '../routes/seed-register.ts';
import { publicStatsSchema } from '../routes/seed-usage.ts';
import { costsQuery, costsReplySchema, usageQuery, usageReplySchema } from '../routes/usage.ts';
import type { OperationDoc } from './operation-doc.ts';

/** Stripe's event as it reaches the webhook: only its signature is checked against the raw bytes. */
const stripeEvent = z.looseObject({
  id: z.string(),
  object: z.literal('event'),
  type: z.string(),
  data: z.looseObject({ object: z.looseObject({}) }),
});

const readiness: OperationDoc = {
  operationId: 'ready',
  summary: 'Readiness',
  description: '200 when a provider is enabled and Nexus is not shutting down; 503 (same body) otherwise.',
  tag: 'Operations',
  reply: {
    status: 200,
    description: 'Ready (503 when not, with the same body).',
    schema: readySchema,
    alsoFor: [503],
  },
};

/** Models, operations, the caller's usage and seed 000's own routes. Keyed by `METHOD path`. */
export const plainOperations: Readonly<Record<string, OperationDoc>> = {
  'GET /v1/models': {
    operationId: 'listModels',
    summary: 'List models',
    description:
      'Every routable model as `provider/model` with its context window, prices and availability, plus `auto`, ' +
      'aliases, model groups and instance names.',
    tag: 'Models',
    reply: { status: 200, description: 'The models.', schema: modelListSchema },
  },
  'GET /v1/models/*': {
    operationId: 'getModel',
    summary: 'One model',
    tag: 'Models',
    pathParameter: {
      name: 'model',
      description: 'A model id from the list; its `/` may be sent as is or as `%2F`.',
      example: 'openai/gpt-4o-mini',
    },
    reply: { status: 200, description: 'The model.', schema: modelEntrySchema },
    errors: [404],
  },
  'GET /api/v1/completions/models': {
    operationId: 'seed004Models',
    summary: 'Seed 004 model list',
    tag: 'Seed 004',
    reply: {
      status: 200,
      description: 'Chat and embedding models, prices per 1K tokens.',
      schema: seed004ModelsReplySchema,
    },
  },
  'GET /health': {
    operationId: 'health',
    summary: 'Health',
    description:
      "Seed 001's shape: per provider instance its circuits, whether its key was refused, and its numbers.",
    tag: 'Operations',
    reply: { status: 200, description: 'Always 200 while the process answers.', schema: healthSchema },
  },
  'GET /metrics': {
    operationId: 'metrics',
    summary: 'Prometheus metrics',
    description:
      'The text exposition format: requests, latency, tokens, costs, cache, provider errors, time to first token, ' +
      'attempts, circuits, limit decisions and process metrics (docs/observability.md). The master key or ' +
      '`METRICS_TOKEN` as a bearer token; open on a gateway with neither. Under `WORKERS` every worker added up.',
    tag: 'Operations',
    admin: true,
    reply: {
      status: 200,
      description: 'Every metric, in the Prometheus text format (`text/plain; version=0.0.4`).',
      text: 'text/plain',
    },
    errors: [401, 404],
  },
  'GET /ready': readiness,
  'GET /health/ready': { ...readiness, operationId: 'healthReady' },
  'POST /v1/providers/toggle': {
    operationId: 'toggleProvider',
    summary: 'Switch a provider instance off or on',
    description: 'Local to this replica. Switching a key on also brings a refused key back into rotation.',
    tag: 'Operations',
    admin: true,
    body: { schema: toggleBody, example: { name: 'OpenAI (Key #1)', enabled: true } },
    reply: { status: 200, description: 'The new state.', schema: toggleReplySchema },
    errors: [404],
  },
  'GET /v1/usage': {
    operationId: 'getUsage',
    summary: "The caller's usage",
    description:
      "A tenant key reads its project's usage (an id of another tenant is 404), the master key everything. " +
      'Defaults to this UTC month so far.',
    tag: 'Usage',
    query: usageQuery,
    reply: { status: 200, description: 'Totals and groups.', schema: usageReplySchema },
    errors: [404],
  },
  'GET /v1/usage/costs': {
    operationId: 'getUsageCosts',
    summary: "The caller's costs",
    tag: 'Usage',
    query: costsQuery,
    reply: {
      status: 200,
      description: 'Today and this month, by model and provider.',
      schema: costsReplySchema,
    },
  },
  'POST /api/register': {
    operationId: 'seed000Register',
    summary: 'Sign up (seed 000)',
    description:
      'Off unless `NEXUS_SIGNUP=true` (400 `signup_disabled`). Creates an organization on the free plan, a user, a ' +
      '`default` project and a key, shown in this reply only. A registered email is 409; too many signups from ' +
      'one address in an hour, 429.',
    tag: 'Seed 000',
    body: { schema: registration, example: { email: 'grace@example.com', name: 'Grace' } },
    reply: { status: 201, description: 'The account and its key.', schema: registeredReplySchema },
    errors: [409, 429],
  },
  'POST /api/checkout': {
    operationId: 'seed000Checkout',
    summary: 'Open a Stripe Checkout for the paid plan',
    description:
      "With a registered user's key: a Checkout Session (subscription) for `STRIPE_PRICE_ID`. Without Stripe " +
      'settings, 400 `billing_not_configured`; Stripe failing, 502.',
    tag: 'Seed 000',
    reply: {
      status: 200,
      description: 'The session and the page to send the user to.',
      schema: checkoutReplySchema,
    },
    errors: [400, 502],
  },
  'POST /api/webhook': {
    operationId: 'seed000StripeWebhook',
    summary: "Stripe's webhook",
    description:
      'No key: the `Stripe-Signature` header is checked against the raw body with `STRIPE_WEBHOOK_SECRET` (400 ' +
      '`invalid_signature` otherwise). `checkout.session.completed` moves the user to the paid plan, ' +
      '`customer.subscription.deleted` back to the free one; other events are acknowledged.',
    tag: 'Seed 000',
    headers: ['stripe-signature'],
    body: {
      schema: stripeEvent,
      example: {
        id: 'evt_1',
        object: 'event',
        type: 'checkout.session.completed',
        data: { object: { object: 'checkout.session', client_reference_id: 'user_…' } },
      },
    },
    reply: { status: 200, description: 'Received.', schema: webhookReplySchema },
  },
  'GET /api/stats': {
    operationId: 'seed000Stats',
    summary: 'Public savings counter (seed 000)',
    description:
      'No key. Totals over every tenant and a week of requests per day; nothing that names a tenant.',
    tag: 'Seed 000',
    reply: { status: 200, description: 'The counters.', schema: publicStatsSchema },
  },
};
