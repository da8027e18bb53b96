import Stripe from 'stripe';
import { z } from 'zod';
import type { Config } from '../../config/schema.ts';
import { NexusError } from '../../core/errors.ts';
import { readRawBody } from '../body.ts';
import type { Exchange, Gateway, Route } from '../exchange.ts';
import { sendJson } from '../respond.ts';
import { fromStore, servicesOf } from './route-input.ts';

type Billing = Config['billing'];

/** The official Stripe client for the configured secret key and API origin, or undefined without a key. */
function stripeClient(billing: Billing): Stripe | undefined {
  if (billing.stripeSecretKey === undefined) return undefined;
  const origin = new URL(billing.stripeApiBaseUrl);
  return new Stripe(billing.stripeSecretKey, {
    host: origin.hostname,
    port: origin.port === '' ? (origin.protocol === 'https:' ? 443 : 80) : Number(origin.port),
    protocol: origin.protocol === 'https:' ? 'https' : 'http',
    maxNetworkRetries: 1,
    timeout: 10_000,
  });
}

function notConfigured(what: string): NexusError {
  return new NexusError(
    'billing_not_configured',
    `Plan upgrades through Stripe are not configured: ${what}.`,
  );
}

/** The user behind the calling key: checkout upgrades a person's plan, so a key must belong to a user. */
function callingUser(exchange: Exchange): string {
  const principal = exchange.principal;
  const userId = principal?.kind === 'key' ? principal.key.userId : null;
  if (userId === null) {
    throw new NexusError(
      'invalid_request',
      "Checkout upgrades a user's plan: call it with the key of a registered user (POST /api/register).",
    );
  }
  return userId;
}

/** Moves a user to a plan: its name and monthly request quota, effective on every replica within the poll. */
async function setPlan(gateway: Gateway, userId: string, plan: string, requestQuota: number | null) {
  const services = servicesOf(gateway);
  const user = await fromStore(services.store.users.update(userId, { plan, requestQuota }));
  if (user !== undefined) await services.keys.refresh();
  return user;
}

/** The user a checkout or a subscription was opened for (set by `POST /api/checkout`). */
function userOf(object: { metadata?: Record<string, string> | null; client_reference_id?: string | null }) {
  return object.client_reference_id ?? object.metadata?.user_id ?? undefined;
}

/** `POST /api/checkout`: the Checkout Session's id and the page to send the user to. */
export const checkoutReplySchema = z.strictObject({ id: z.string(), url: z.string().nullable() });

/** `POST /api/webhook`: received, and whether it changed a user's plan. */
export const webhookReplySchema = z.strictObject({ received: z.literal(true), applied: z.boolean() });

/**
 * Seed 000's plan upgrades through Stripe:
 * - `POST /api/checkout` (a registered user's key): a Stripe Checkout Session for the paid plan's price, as a
 *   subscription, tagged with the user's id; answers `{id, url}`, the page to send the user to.
 * - `POST /api/webhook` (Stripe, no key; the `Stripe-Signature` header is checked against the raw body with
 *   `STRIPE_WEBHOOK_SECRET` by the official SDK, so a forged or altered event is a 400 and changes nothing):
 *   `checkout.session.completed` moves the user to the paid plan and its request quota at once,
 *   `customer.subscription.deleted` back to the free plan; other events are acknowledged and ignored. Both set
 *   absolute values, so an event delivered twice (Stripe retries) leaves the same state: idempotent per event.
 */
export const seedBillingRoutes: readonly Route[] = [
  {
    kind: 'plain',
    method: 'POST',
    path: '/api/checkout',
    authenticated: true,
    errorShape: 'openai',
    handle: (gateway) => {
      const billing = gateway.config.billing;
      const stripe = stripeClient(billing);
      return async function checkout(exchange) {
        const userId = callingUser(exchange);
        if (stripe === undefined) throw notConfigured('STRIPE_SECRET_KEY is not set');
        if (billing.stripePriceId === undefined) throw notConfigured('STRIPE_PRICE_ID is not set');
        let session: Stripe.Checkout.Session;
        try {
          session = await stripe.checkout.sessions.create({
            mode: 'subscription',
            line_items: [{ price: billing.stripePriceId, quantity: 1 }],
            success_url: billing.successUrl,
            cancel_url: billing.cancelUrl,
            client_reference_id: userId,
            metadata: { user_id: userId },
            subscription_data: { metadata: { user_id: userId } },
          });
        } catch (error) {
          const message = error instanceof Stripe.errors.StripeError ? error.message : 'no answer';
          throw new NexusError('upstream_error', `Stripe did not open a checkout: ${message}`);
        }
        const body: z.output<typeof checkoutReplySchema> = { id: session.id, url: session.url };
        sendJson(exchange.response, 200, body);
      };
    },
  },
  {
    kind: 'plain',
    method: 'POST',
    path: '/api/webhook',
    authenticated: false,
    errorShape: 'openai',
    handle: (gateway) => {
      const billing = gateway.config.billing;
      const stripe = stripeClient(billing);
      return async function webhook(exchange) {
        const secret = billing.stripeWebhookSecret;
        if (stripe === undefined || secret === undefined) {
          throw notConfigured('STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET must both be set');
        }
        const payload = await readRawBody(exchange, gateway.config.server.bodyLimitBytes);
        const signature = exchange.headers['stripe-signature'];
        let event: Stripe.Event;
        try {
          if (typeof signature !== 'string') throw new Error('missing');
          event = stripe.webhooks.constructEvent(payload, signature, secret);
        } catch {
          throw new NexusError(
            'invalid_signature',
            'The Stripe-Signature header is missing or does not match this payload and the webhook secret.',
          );
        }
        let userId: string | undefined;
        let applied = false;
        if (event.type === 'checkout.session.completed') {
          userId = userOf(event.data.object);
          const { name, requestQuota } = billing.paidPlan;
          if (userId !== undefined)
            applied = (await setPlan(gateway, userId, name, requestQuota)) !== undefined;
        } else if (event.type === 'customer.subscription.deleted') {
          userId = userOf(event.data.object);
          const quota = gateway.config.tenancy.signup.requestQuota;
          if (userId !== undefined) applied = (await setPlan(gateway, userId, 'free', quota)) !== undefined;
        }
        gateway.log.info(
          { requestId: exchange.id, stripeEvent: event.id, type: event.type, userId, applied },
          'stripe webhook',
        );
        // A 2xx tells Stripe to stop retrying: right for events about nobody we know, too.
        const body: z.output<typeof webhookReplySchema> = { received: true, applied };
        sendJson(exchange.response, 200, body);
      };
    },
  },
];
