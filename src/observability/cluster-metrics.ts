import { AggregatorRegistry, type Registry } from 'prom-client';

/**
 * `/metrics` under `WORKERS` > 1: each worker counts in its own registry, and the worker that takes a scrape
 * asks the primary (over node:cluster's IPC channel) for every worker's metrics added up, which the primary
 * gathers with prom-client's AggregatorRegistry (src/cluster/primary.ts). So one scrape shows the whole
 * process group, whichever worker answers it.
 */

export const metricsRequestType = 'nexus:metrics';

/** A worker asks the primary for the whole cluster's metrics, to answer its `/metrics`. */
export interface MetricsRequest {
  readonly type: typeof metricsRequestType;
  readonly id: number;
}

/** The primary's answer: the text exposition of every worker's metrics added up, or why there is none. */
export type MetricsReply = {
  readonly type: typeof metricsRequestType;
  readonly id: number;
  readonly reply: true;
} & ({ readonly contentType: string; readonly body: string } | { readonly error: string });

const askTimeoutMs = 5_000;
let nextId = 0;

/** Offers `registry` to the primary's AggregatorRegistry (prom-client answers its requests in this worker). */
export function offerToPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's worker-side listener; the instance itself is not used.
  new AggregatorRegistry();
}

/** The cluster's metrics, from the primary. */
export function askPrimary(): Promise<{ readonly contentType: string; readonly body: string }> {
  const send = process.send?.bind(process);
  if (send === undefined) return Promise.reject(new Error('not a cluster worker'));
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      const reply = message as MetricsReply;
      if (reply?.type !== metricsRequestType || reply.reply !== true || reply.id !== id) return;
      finish();
      if ('error' in reply) reject(new Error(`the primary could not gather metrics: ${reply.error}`));
      else resolve({ contentType: reply.contentType, body: reply.body });
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error('the primary did not answer with the metrics in time'));
    }, askTimeoutMs);
    const finish = () => {
      clearTimeout(timer);
      process.off('message', onMessage);
    };
    process.on('message', onMessage);
    send({ type: metricsRequestType, id } satisfies MetricsRequest);
  });
}
