import { z } from 'zod';
import { NexusError } from '../../core/errors.ts';
import { StoreError } from '../../store/sql/store-error.ts';
import type { Route } from '../exchange.ts';
import { sendJson } from '../respond.ts';
import { nameSchema } from './admin-wire.ts';
import { fromStore, readBody, servicesOf } from './route-input.ts';

/** `POST /api/register`. */
export const registration = z.strictObject({
  email: z.email().max(320),
  name: nameSchema.optional(),
});

const count = z.int().min(0).nullable();

/** `POST /api/register`: the new account's ids, its plan and limits, and its key, shown in this reply only. */
export const registeredReplySchema = z.strictObject({
  api_key: z.string(),
  user_id: z.string(),
  org_id: z.string(),
  project_id: z.string(),
  plan: z.literal('free'),
  request_quota: count,
  limits: z.strictObject({ rpm: count, rph: count, tpm: count, token_budget: count }),
});

/**
 * Seed 000's self-service signup, `POST /api/register {email, name?}` (no key needed; off unless
 * `NEXUS_SIGNUP=true`): an organization on the free plan (`tenancy.signup.limits`, seed 003's 60 rpm, 1000 rph
 * and 100 000 tokens by default), its user with the plan's request quota per calendar month
 * (`tenancy.signup.requestQuota`, 1000; over it: 429 `insufficient_quota` on /v1, 402 on /api; raising the
 * user's `request_quota` through the admin API upgrades it at once), a `default` project and a key, shown in
 * this reply only. An email
 * that is already registered is 409 `conflict` and never shows that account's key. Each client address may make
 * `tenancy.signup.perHour` well-formed signups an hour, counted by the gateway's limiter (across replicas on Redis); more
 * is 429 with `Retry-After`. Anything created is removed again if a later step fails.
 */
export const seedRegisterRoutes: readonly Route[] = [
  {
    kind: 'plain',
    method: 'POST',
    path: '/api/register',
    authenticated: false,
    errorShape: 'openai',
    handle: (gateway) => {
      const signup = gateway.config.tenancy.signup;
      return async function register(exchange) {
        if (!signup.enabled) {
          throw new NexusError('signup_disabled', 'Self-service signup is off on this gateway.');
        }
        const services = servicesOf(gateway);
        // Well-formed signups count against the address; a malformed one costs nothing to refuse.
        const input = await readBody(gateway, exchange, registration);
        const address = exchange.request.socket.remoteAddress ?? 'unknown';
        const decision = await services.limiter.admit(
          [{ kind: 'user', id: `signup:${address}`, limits: { rph: signup.perHour } }],
          { tokens: 0, costNanoUsd: 0 },
        );
        if (!decision.admitted) {
          throw new NexusError('rate_limited', 'Too many signups from this address; try again later.', {
            retryAfterSeconds: decision.retryAfterSeconds,
          });
        }
        // Nothing is held for a signup: it counts once, at admission.
        await services.limiter.release(decision.reservation);
        const { store } = services;
        const org = await fromStore(
          store.organizations.create({ name: input.name ?? input.email, limits: signup.limits }),
        );
        try {
          const user = await store.users.create({
            orgId: org.id,
            email: input.email,
            plan: 'free',
            requestQuota: signup.requestQuota,
          });
          const project = await fromStore(store.projects.create({ orgId: org.id, name: 'default' }));
          const created = await fromStore(
            store.apiKeys.create({ projectId: project.id, userId: user.id, name: 'default' }),
          );
          await services.keys.refresh();
          gateway.log.info(
            { requestId: exchange.id, entity: 'user', id: user.id, orgId: org.id, action: 'register' },
            'signup',
          );
          const body: z.output<typeof registeredReplySchema> = {
            api_key: created.secret,
            user_id: user.id,
            org_id: org.id,
            project_id: project.id,
            plan: 'free',
            request_quota: signup.requestQuota,
            limits: {
              rpm: signup.limits.rpm,
              rph: signup.limits.rph,
              tpm: signup.limits.tpm,
              token_budget: signup.limits.tokenBudget,
            },
          };
          sendJson(exchange.response, 201, body);
        } catch (error) {
          await store.organizations.delete(org.id).catch(() => undefined);
          if (error instanceof StoreError && error.code === 'conflict') {
            throw new NexusError(
              'conflict',
              'An account with this email exists; its key was shown once, when it was created, and is not shown again.',
              { param: 'email' },
            );
          }
          return fromStore(Promise.reject(error));
        }
      };
    },
  },
];
