import type { ChatRequest, EmbeddingsRequest } from '../core/openai-types.ts';
import { isRoutingMode } from '../resilience/routing.ts';
import type { Stage } from './compose.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { ownInstances } from './own-instances.ts';
import type { GatewayRequest, Operation } from './request.ts';

/**
 * The plan stage: the request's model (with its per-request fallback chain) becomes a RoutePlan of upstream
 * targets (`resolve-model.ts`), on the project's own provider keys where it brought any (`own-instances.ts`),
 * and `X-Routing-Mode` picks how each step orders them. Resolution errors
 * (unknown model or provider, a provider without a key) end the request here, before anything goes upstream.
 */
export function createPlanStage(dependencies: PipelineDependencies): Stage<GatewayRequest> {
  return async function plan(request, next) {
    readRoutingMode(request);
    const operation = request.operation;
    if (operation === undefined) throw new Error('plan stage: no operation (the parse stage did not run)');
    const mine = ownInstances(request.principal, dependencies.registry);
    const own = mine.size === 0 ? undefined : mine;
    if (operation.kind === 'messages') {
      request.requestedModels = [operation.request.model];
      request.plan = dependencies.resolver.plan(operation.request.model, 'chat', { own });
    } else {
      const { body, fallbacks } = takeFallbacks(operation.body);
      request.requestedModels = [operation.body.model, ...fallbacks];
      request.operation = { ...operation, body } as Operation;
      request.plan = dependencies.resolver.plan(
        operation.body.model,
        operation.kind === 'chat' ? 'chat' : 'embedding',
        { fallbacks, own },
      );
    }
    return next();
  };
}

/** `X-Routing-Mode`: an unknown value falls back to the default and says so in `x-nexus-warnings`. */
function readRoutingMode(request: GatewayRequest): void {
  const header = request.headers['x-routing-mode'];
  if (typeof header !== 'string' || header === '') return;
  const mode = header.trim().toLowerCase();
  if (isRoutingMode(mode)) {
    request.routingMode = mode;
    return;
  }
  request.warnings.push({
    param: 'x-routing-mode',
    message: `Unknown X-Routing-Mode '${mode.replace(/[^\w-]/g, '?').slice(0, 40)}'; the default routing mode was used.`,
  });
}

/** Removes the per-request fallback chain (`fallbacks`, LiteLLM; `models`, OpenRouter) before the body goes upstream. */
export function takeFallbacks<T extends ChatRequest | EmbeddingsRequest>(
  request: T,
): { body: T; fallbacks: string[] } {
  if (request.fallbacks === undefined && request.models === undefined)
    return { body: request, fallbacks: [] };
  const { fallbacks, models, ...rest } = request as T & { fallbacks?: unknown; models?: unknown };
  const names = [...asNames(models), ...asNames(fallbacks)].filter((name) => name !== request.model);
  return { body: rest as T, fallbacks: [...new Set(names)] };
}

function asNames(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
