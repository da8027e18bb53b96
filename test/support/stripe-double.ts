/**
 * A Stripe double on loopback for the seed 000 billing routes: the official SDK's checkout calls reach it and get
 * Stripe's own wire format back; webhook events are built here for a test to sign.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CheckoutCall {
  authorization: string | undefined;
  form: URLSearchParams;
}

export interface StripeDouble {
  /** Every checkout the gateway opened, in order. */
  readonly calls: CheckoutCall[];
  /** `http://127.0.0.1:PORT`, for `STRIPE_API_BASE_URL`. */
  readonly url: string;
  readonly server: Server;
}

/** Stripe's `POST /v1/checkout/sessions`, answering a session object the way Stripe does. */
export async function startStripeDouble(): Promise<StripeDouble> {
  const calls: CheckoutCall[] = [];
  const server: Server = createServer((request, response) => {
    const pieces: Buffer[] = [];
    request.on('data', (piece: Buffer) => pieces.push(piece));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/checkout/sessions') {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } }),
        );
        return;
      }
      const form = new URLSearchParams(Buffer.concat(pieces).toString('utf8'));
      calls.push({ authorization: request.headers.authorization, form });
      const id = `cs_test_${calls.length}`;
      response.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_${calls.length}` });
      response.end(
        JSON.stringify({
          id,
          object: 'checkout.session',
          mode: form.get('mode'),
          status: 'open',
          client_reference_id: form.get('client_reference_id'),
          metadata: { user_id: form.get('metadata[user_id]') },
          success_url: form.get('success_url'),
          cancel_url: form.get('cancel_url'),
          url: `https://checkout.stripe.com/c/pay/${id}`,
          livemode: false,
        }),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { calls, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A Stripe event as its webhook delivers it (sign it with `Stripe.webhooks.generateTestHeaderString`). */
export function stripeEvent(type: string, object: Record<string, unknown>, id: string): string {
  return JSON.stringify({
    id,
    object: 'event',
    api_version: '2025-01-27.acacia',
    created: Math.floor(Date.now() / 1000),
    type,
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
  });
}
