import type { AttemptSpanStart, RequestTrace } from '../observability/tracing.ts';
import type { AttemptRecord, AttemptTracer } from '../resilience/attempt-record.ts';
import type { GatewayRequest, Operation } from './request.ts';

type RequestParameters = Pick<
  AttemptSpanStart,
  'operation' | 'maxTokens' | 'temperature' | 'topP' | 'stream'
>;

/**
 * The attempt loop's tracer for a traced request (undefined otherwise, and then the loop starts no span): each
 * attempt a CLIENT span under the dispatch stage's, named and attributed by the GenAI conventions from the
 * request's parameters and the attempt's target.
 */
export function attemptTracer(request: GatewayRequest): AttemptTracer | undefined {
  const trace = request.trace;
  const operation = request.operation;
  if (trace === undefined || operation === undefined) return undefined;
  return new RequestAttemptTracer(trace, parametersOf(operation));
}

class RequestAttemptTracer implements AttemptTracer {
  readonly #trace: RequestTrace;
  readonly #parameters: RequestParameters;

  constructor(trace: RequestTrace, parameters: RequestParameters) {
    this.#trace = trace;
    this.#parameters = parameters;
  }

  start(record: AttemptRecord, number: number) {
    const { instance, model } = record.target;
    return this.#trace.startAttempt({
      ...this.#parameters,
      provider: instance.provider.id,
      instance: instance.name,
      baseUrl: instance.baseUrl,
      model,
      attempt: number,
    });
  }
}

/** What the GenAI conventions record of the request itself, the same for each of its attempts. */
function parametersOf(operation: Operation): RequestParameters {
  switch (operation.kind) {
    case 'chat': {
      const body = operation.body;
      return {
        operation: 'chat',
        maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
        temperature: body.temperature ?? undefined,
        topP: body.top_p ?? undefined,
        stream: body.stream === true,
      };
    }
    case 'embeddings':
      return {
        operation: 'embeddings',
        maxTokens: undefined,
        temperature: undefined,
        topP: undefined,
        stream: false,
      };
    case 'messages': {
      const body = operation.body;
      return {
        operation: operation.endpoint === 'count_tokens' ? 'count_tokens' : 'chat',
        maxTokens: numberOrUndefined(body.max_tokens),
        temperature: numberOrUndefined(body.temperature),
        topP: numberOrUndefined(body.top_p),
        stream: body.stream === true,
      };
    }
  }
}

function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}
