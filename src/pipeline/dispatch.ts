import type { Stage } from './compose.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { dispatchChat, dispatchChatStream, dispatchEmbeddings } from './dispatch-chat.ts';
import { dispatchMessages } from './dispatch-messages.ts';
import type { GatewayRequest } from './request.ts';

/**
 * The dispatch stage, innermost: runs the operation through the resilience layer (attempt loop, breakers,
 * hedging, committed streams) and leaves the reply on the request, with every attempt on its record. It
 * writes nothing to the client; the route's deliver stage does, on the way out.
 */
export function createDispatchStage(dependencies: PipelineDependencies): Stage<GatewayRequest> {
  return async function dispatch(request) {
    const operation = request.operation;
    if (operation === undefined)
      throw new Error('dispatch stage: no operation (the parse stage did not run)');
    switch (operation.kind) {
      case 'chat':
        if (operation.body.stream === true) await dispatchChatStream(dependencies, request, operation.body);
        else await dispatchChat(dependencies, request, operation.body);
        return;
      case 'embeddings':
        await dispatchEmbeddings(dependencies, request, operation.body);
        return;
      case 'messages':
        await dispatchMessages(dependencies, request, operation);
        return;
    }
  };
}
