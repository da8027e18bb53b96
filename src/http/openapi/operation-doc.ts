import type { z } from 'zod';
import type { Route } from '../exchange.ts';

/** The groups the reference page shows operations in, in this order. */
export const tags = [
  {
    name: 'OpenAI-compatible',
    description: 'The canonical API: any provider, in OpenAI Chat Completions shapes.',
  },
  { name: 'Anthropic-compatible', description: "Anthropic's Messages API, for any provider." },
  { name: 'Models', description: 'What can be routed to.' },
  {
    name: 'Seed 000',
    description: 'Compatibility aliases: simple chat, signup, plans through Stripe, stats.',
  },
  {
    name: 'Seed 004',
    description: 'Compatibility aliases: camelCase bodies in a `{success, data}` envelope.',
  },
  { name: 'Usage', description: "The calling key's usage and costs." },
  {
    name: 'Admin',
    description: 'Organizations, projects, users, keys, usage, logs and the cache: master key only.',
  },
  { name: 'Operations', description: 'Health, readiness and the runtime provider switch.' },
] as const;

export type Tag = (typeof tags)[number]['name'];

/** The request body of an operation: its schema (the one that validates it) and a body that passes it. */
export interface BodyDoc {
  readonly schema: z.ZodType;
  /** A body this operation accepts; the reference page offers it, the OpenAPI test sends it. */
  readonly example: unknown;
  /** The schema's name in the document, when it has one better than `<OperationId>Request`. */
  readonly name?: string;
}

/** The success reply of an operation. */
export interface ReplyDoc {
  readonly status: 200 | 201 | 204;
  readonly description: string;
  /** The JSON body's schema; none for 204 and for a reply that is a stream only. */
  readonly schema?: z.ZodType;
  /** Also (or only, for `stream-only`) an event stream: OpenAI's chunks or Anthropic's events. */
  readonly stream?: 'openai' | 'anthropic' | 'openai-only';
  /** The media type of a reply that is text, not JSON (Prometheus' `text/plain; version=0.0.4`). */
  readonly text?: string;
  /** The schema's name in the document, when it has one better than `<OperationId>Reply`. */
  readonly name?: string;
  /** Other statuses answered with the same body (`/ready`'s 503). */
  readonly alsoFor?: readonly number[];
}

/**
 * What /openapi.json says about one route beyond what the route table knows (its method, path, whether it needs
 * a key, its error shape, whether it goes upstream): its words, its schemas, its success reply and the error
 * statuses it can answer besides those every route of its kind can.
 */
export interface OperationDoc {
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: Tag;
  /** Master key only (a tenant key gets 403). */
  readonly admin?: boolean;
  /** The name of a prefix route's last path segment (`/v1/admin/orgs/{id}`). */
  readonly pathParameter?: { readonly name: string; readonly description: string; readonly example: string };
  /** The query string's schema (a strict object of strings). */
  readonly query?: z.ZodType;
  readonly body?: BodyDoc;
  /** Request headers of its own: Anthropic's version and beta headers, Stripe's signature. */
  readonly headers?: ReadonlyArray<'anthropic' | 'stripe-signature'>;
  readonly reply: ReplyDoc;
  /** Error statuses this operation adds to its kind's (404 for an id, 409 for a taken email). */
  readonly errors?: readonly number[];
}

/** The key of a route in the tables of operation docs: `GET /v1/admin/orgs/*`. */
export function routeKey(route: Pick<Route, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}
