/**
 * Seed 000's plan upgrades on one running gateway, in sequence: a registered user opens a Stripe Checkout
 * (against a Stripe double on loopback, called by the official SDK, so the request and reply are Stripe's own
 * wire format), Stripe's signed webhook upgrades the user's plan and request quota at once, a replay changes
 * nothing more, a forged or altered event is refused and changes nothing, and the end of the subscription
 * brings the free plan back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Stripe from 'stripe';
import { call, json } from '../support/admin-client.ts';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { stripeEvent as event, type StripeDouble, startStripeDouble } from '../support/stripe-double.ts';

const limits = { timeout: 30_000 };
const masterKey = 'nexus-master-billing-tests';
const webhookSecret = 'whsec_test_billing_secret';
const stripeKey = 'sk_test_billing';
const v1 = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

describe('seed 000 plan upgrades through Stripe', () => {
  let fake: FakeOpenAI;
  let stripeDouble: StripeDouble;
  let gateway: TestGateway;
  let user: { api_key: string; user_id: string };
  const signer = new Stripe(stripeKey);
  const deliver = (payload: string, signature?: string) =>
    call(gateway, 'POST', '/api/webhook', {
      body: payload,
      headers: {
        'stripe-signature':
          signature ?? signer.webhooks.generateTestHeaderString({ payload, secret: webhookSecret }),
      },
    });
  const chat = () => call(gateway, 'POST', '/v1/chat/completions', { key: user.api_key, body: v1 });
  const plan = async () => {
    const reply = await call(gateway, 'GET', `/v1/admin/users/${user.user_id}`, { key: masterKey });
    return json<{ plan: string; request_quota: number | null }>(reply);
  };

  before(async () => {
    fake = await startFakeOpenAI();
    stripeDouble = await startStripeDouble();
    gateway = await startGateway({
      NEXUS_MASTER_KEY: masterKey,
      HOST: '127.0.0.1',
      OPENAI_API_KEY: 'sk-upstream-billing',
      OPENAI_BASE_URL: fake.url,
      NEXUS_SIGNUP: 'true',
      NEXUS_SIGNUP_REQUEST_QUOTA: '1',
      NEXUS_PAID_PLAN_REQUEST_QUOTA: '50',
      STRIPE_SECRET_KEY: stripeKey,
      STRIPE_WEBHOOK_SECRET: webhookSecret,
      STRIPE_PRICE_ID: 'price_pro_monthly',
      STRIPE_API_BASE_URL: stripeDouble.url,
    });
    const registered = await call(gateway, 'POST', '/api/register', { body: { email: 'payer@example.com' } });
    assert.equal(registered.status, 201, registered.text);
    user = json(registered);
  });

  after(async () => {
    await gateway.close();
    await fake.close();
    stripeDouble.server.closeAllConnections();
    stripeDouble.server.close();
  });

  test("checkout opens a subscription for the calling user's paid plan", limits, async () => {
    const reply = await call(gateway, 'POST', '/api/checkout', { key: user.api_key, body: {} });
    assert.equal(reply.status, 200, reply.text);
    const session = json<{ id: string; url: string }>(reply);
    assert.match(session.url, /^https:\/\/checkout\.stripe\.com\//);
    const [sent] = stripeDouble.calls;
    assert.equal(sent?.authorization, `Bearer ${stripeKey}`);
    assert.equal(sent?.form.get('mode'), 'subscription');
    assert.equal(sent?.form.get('line_items[0][price]'), 'price_pro_monthly');
    assert.equal(sent?.form.get('client_reference_id'), user.user_id);
    assert.equal(sent?.form.get('subscription_data[metadata][user_id]'), user.user_id);

    const master = await call(gateway, 'POST', '/api/checkout', { key: masterKey, body: {} });
    assert.equal(master.status, 400, 'the master key is nobody to bill');
  });

  test(
    'a signed completed checkout upgrades the plan at once; a replay changes nothing more',
    limits,
    async () => {
      assert.equal((await chat()).status, 200);
      const over = await chat();
      assert.equal(over.status, 429, 'the free quota of one request is spent');
      const completed = event(
        'checkout.session.completed',
        {
          id: 'cs_test_1',
          object: 'checkout.session',
          client_reference_id: user.user_id,
          metadata: { user_id: user.user_id },
        },
        'evt_completed_1',
      );
      const first = await deliver(completed);
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(json(first), { received: true, applied: true });
      const upgraded = await plan();
      assert.equal(upgraded.plan, 'pro');
      assert.equal(upgraded.request_quota, 50);
      assert.equal((await chat()).status, 200, 'the upgrade holds from the next request');
      const replay = await deliver(completed);
      assert.equal(replay.status, 200);
      assert.equal((await plan()).request_quota, 50, 'a redelivered event leaves the same state');
    },
  );

  test('a forged, altered or unsigned event is refused and changes nothing', limits, async () => {
    const downgrade = event(
      'customer.subscription.deleted',
      { id: 'sub_1', object: 'subscription', metadata: { user_id: user.user_id } },
      'evt_forged',
    );
    const forged = signer.webhooks.generateTestHeaderString({
      payload: downgrade,
      secret: 'whsec_someone_else',
    });
    const signedOther = signer.webhooks.generateTestHeaderString({
      payload: downgrade.replace('evt_forged', 'evt_x'),
      secret: webhookSecret,
    });
    for (const [name, reply] of [
      ['another secret', await deliver(downgrade, forged)],
      ['a signature of another payload', await deliver(downgrade, signedOther)],
      ['no signature', await call(gateway, 'POST', '/api/webhook', { body: downgrade })],
    ] as const) {
      assert.equal(reply.status, 400, `${name}: ${reply.text}`);
      assert.equal((reply.body as { error: { code: string } }).error.code, 'invalid_signature', name);
      assert.ok(!reply.text.includes(webhookSecret));
    }
    assert.equal((await plan()).plan, 'pro', 'nothing changed');
  });

  test(
    'the end of the subscription brings the free plan back; unknown events are acknowledged',
    limits,
    async () => {
      const ended = await deliver(
        event(
          'customer.subscription.deleted',
          { id: 'sub_1', object: 'subscription', metadata: { user_id: user.user_id } },
          'evt_deleted_1',
        ),
      );
      assert.equal(ended.status, 200, ended.text);
      assert.deepEqual(
        { plan: (await plan()).plan, quota: (await plan()).request_quota },
        { plan: 'free', quota: 1 },
      );
      const other = await deliver(event('invoice.paid', { id: 'in_1', object: 'invoice' }, 'evt_other'));
      assert.deepEqual(json(other), { received: true, applied: false });
    },
  );
});
