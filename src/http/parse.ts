import type { Operation } from '../pipeline/request.ts';
import { readExchangeJson } from './body.ts';
import type { EdgeStage, Gateway } from './exchange.ts';

/**
 * A route's parse stage: the body, read under the configured limit and the request deadline, validated and
 * turned into the operation the pipeline runs. Validation errors are 400s naming the field.
 */
export function parseBody(toOperation: (body: unknown, exchange: Parameters<EdgeStage>[0]) => Operation) {
  return (gateway: Gateway): EdgeStage =>
    async function parse(exchange, next) {
      exchange.operation = toOperation(await readExchangeJson(gateway, exchange), exchange);
      return next();
    };
}
