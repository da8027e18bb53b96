import { countOf } from '../core/count.ts';
import type { CacheResultLabel, GatewayMetrics } from '../observability/metrics.ts';
import type { CacheResult, GatewayRequest } from './request.ts';

const cacheLabels: Record<CacheResult, CacheResultLabel> = {
  HIT: 'hit',
  'HIT-SEMANTIC': 'hit_semantic',
  MISS: 'miss',
  BYPASS: 'bypass',
};

/**
 * What one finished request adds to the metrics (read by the log stage once the reply or stream is over):
 * each upstream attempt's verdict, tokens, cost and time to first token, the cache's verdict and saving, the
 * admission decision. The HTTP counters are the edge's (`http/server.ts`), which also sees unrouted requests.
 */
export function observeRequest(metrics: GatewayMetrics, request: GatewayRequest): void {
  for (const attempt of request.attempts) {
    const provider = attempt.target.instance.provider.id;
    const verdict = attempt.outcome === 'pending' ? 'cancelled' : attempt.outcome;
    const model = metrics.attempt(provider, attempt.model, verdict, attempt.errorCode);
    const usage = attempt.usage;
    if (usage !== undefined) {
      const details = usage.prompt_tokens_details as Record<string, unknown> | null | undefined;
      metrics.tokens(provider, model, 'prompt', countOf(usage.prompt_tokens));
      metrics.tokens(provider, model, 'completion', countOf(usage.completion_tokens));
      metrics.tokens(provider, model, 'cached_read', countOf(details?.cached_tokens));
      metrics.tokens(provider, model, 'cache_write', countOf(details?.cache_creation_tokens));
    }
    if (attempt.costUsd !== undefined) metrics.cost(provider, model, attempt.costUsd);
    if (attempt.ttftMs !== undefined) metrics.timeToFirstToken(provider, model, attempt.ttftMs / 1000);
  }
  if (request.cacheResult !== undefined) {
    metrics.cache(cacheLabels[request.cacheResult], request.cacheHit?.savingsUsd ?? 0);
  }
  if (request.admission !== undefined)
    metrics.limitDecision(request.admission.decision, request.admission.limit);
}
