import { z } from 'zod';

/**
 * The bodies of `/health` and `/ready` (written by ops.ts), as /openapi.json describes them; the OpenAPI contract
 * test checks live replies against them.
 */

const circuitState = z.enum(['CLOSED', 'HALF_OPEN', 'OPEN']);
const count = z.int().min(0);
/** A share as text with one decimal, `99.5%`. */
const percent = z.string().regex(/^\d+(\.\d)?%$/);

/** One provider instance (one key) as `/health` shows it. */
const instanceHealth = z.strictObject({
  /** `Groq (Key #1)`: the name the toggle and `x-nexus-provider` use. */
  name: z.string(),
  id: z.string(),
  provider: z.string(),
  /** The worst circuit of its deployments. */
  circuitState,
  consecutiveFailures: count,
  /** False when switched off with `POST /v1/providers/toggle`. */
  enabled: z.boolean(),
  /** Whether the provider refused the key (401/403), and until when it is out of rotation. */
  key: z.union([
    z.strictObject({ status: z.literal('ok') }),
    z.strictObject({ status: z.literal('refused'), reason: z.string(), until: z.iso.datetime() }),
  ]),
  /** One circuit per model the instance has served. */
  deployments: z.array(
    z.strictObject({
      model: z.string(),
      circuitState,
      consecutiveFailures: count,
      openedAt: z.iso.datetime().optional(),
    }),
  ),
  metrics: z.strictObject({
    totalRequests: count,
    failures: count,
    recentErrors: count,
    inFlight: count,
    successRate: percent,
    avgLatencyMs: count,
    ttftMs: count,
    ttftP95Ms: count.nullable(),
    healthScore: percent,
  }),
});

/** `GET /health`: seed 001's shape, a superset. */
export const healthSchema = z.strictObject({
  status: z.enum(['healthy', 'shutting_down']),
  version: z.string(),
  uptimeSeconds: count,
  inFlightRequests: count,
  providers: z.array(instanceHealth),
  /** Providers named in the configuration that could not be set up, and why. */
  unavailableProviders: z.record(z.string(), z.string()),
});

/** `GET /ready` and `/health/ready`: 200 when ready, 503 when not, the same body. */
export const readySchema = z.strictObject({
  status: z.enum(['ready', 'not_ready']),
  checks: z.strictObject({ providers: z.boolean(), accepting: z.boolean() }),
  /**
   * The shared stores as last seen (reported, not required: keys and limits are served from memory and usage is
   * buffered while one is away, so a replica stays ready through an outage): the database, and Redis when set.
   */
  dependencies: z
    .strictObject({
      storage: z.enum(['ok', 'unreachable']),
      redis: z.enum(['ok', 'unreachable', 'not_configured']),
    })
    .optional(),
});
