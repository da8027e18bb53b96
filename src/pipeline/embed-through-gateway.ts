import { randomUUID } from 'node:crypto';
import { AttemptAbort } from '../core/call-signal.ts';
import { NexusError } from '../core/errors.ts';
import type { PipelineStages } from './chain.ts';
import { compose } from './compose.ts';
import { GatewayRequest } from './request.ts';

/** Longest an embedding for the semantic cache may take before the lookup is a miss, ms. */
const embedTimeoutMs = 10_000;

/**
 * Embeddings for the semantic cache from a model the gateway routes (`cache.semantic.embedder`, e.g.
 * `openai/text-embedding-3-small`), through the gateway's own chain: plan, meter, dispatch (keys, breakers,
 * retries, failover) and log, so each call is priced and written to the usage ledger (route
 * `semantic-cache`, no tenant: the gateway's own spend) like any other upstream call.
 */
export function embedThroughGateway(
  stages: PipelineStages,
  model: string,
  dimensions: number,
): (texts: string[]) => Promise<number[][]> {
  const run = compose([stages.log, stages.plan, stages.meter, stages.dispatch]);
  return async (texts) => {
    const signal = new AttemptAbort();
    const timer = setTimeout(
      () => signal.abort(new NexusError('upstream_timeout', 'The semantic cache embedding took too long.')),
      embedTimeoutMs,
    );
    try {
      const request = new GatewayRequest({
        id: randomUUID(),
        receivedAt: performance.now(),
        method: 'POST',
        path: 'semantic-cache',
        headers: {},
        signal,
      });
      request.principal = { kind: 'master' };
      request.operation = { kind: 'embeddings', body: { model, input: texts, dimensions } };
      await run(request);
      const reply = request.reply;
      if (reply?.kind !== 'embeddings') throw new Error('the embeddings call left no reply');
      return [...reply.result.response.data]
        .sort((a, b) => a.index - b.index)
        .map((item) => {
          if (typeof item.embedding === 'string') throw new Error('the embeddings came back as base64');
          return item.embedding;
        });
    } finally {
      clearTimeout(timer);
      signal.release();
    }
  };
}
