import type { ServerResponse } from 'node:http';
import { type NexusError, toOpenAIErrorBody } from '../core/errors.ts';
import type { Usage } from '../core/openai-types.ts';
import type { ChatStream } from '../providers/types.ts';

export const sseHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

export interface PumpResult {
  /** True when at least one byte of the body reached the socket. */
  readonly started: boolean;
}

/**
 * The respond stage for streams: writes each upstream batch as OpenAI `data:` events in one write, waits for
 * `drain` when the client reads slower than the upstream sends (so memory stays bounded), and ends with
 * `data: [DONE]`. It returns normally only when the upstream stream completed; errors propagate with
 * `started` attached so the caller knows whether it can still answer with a status code.
 */
export async function pumpChatStream(
  response: ServerResponse,
  stream: ChatStream,
  onFirstWrite: () => void,
  onUsage: (usage: Usage) => void,
): Promise<void> {
  let started = false;
  let ended = false;
  try {
    for await (const batch of stream) {
      if (ended) continue;
      if (batch.usage !== undefined) onUsage(batch.usage);
      let text = '';
      for (const event of batch) {
        if (event.hidden !== true) text += `data: ${event.raw ?? JSON.stringify(event.chunk)}\n\n`;
      }
      if (text === '' && batch.complete !== true) continue;
      if (!started) {
        started = true;
        onFirstWrite();
      }
      if (batch.complete === true) {
        // The answer is whole: finish the client's stream now, in one write, while the upstream body drains.
        ended = true;
        response.end(`${text}data: [DONE]\n\n`);
      } else if (!response.write(text)) await drained(response);
    }
  } catch (error) {
    throw Object.assign(error instanceof Error ? error : new Error(String(error)), {
      streamStarted: started,
    });
  }
  if (ended) return;
  if (!started) onFirstWrite();
  response.end('data: [DONE]\n\n');
}

/** Ends a stream whose upstream broke after the first byte: an OpenAI error event, and no `[DONE]`. */
export function endWithStreamError(response: ServerResponse, error: NexusError): void {
  if (response.writableEnded || response.destroyed) return;
  response.end(`data: ${JSON.stringify(toOpenAIErrorBody(error))}\n\n`);
}

/** Resolves on `drain`; rejects if the client closes first. */
export function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      response.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      response.off('drain', onDrain);
      reject(new Error('client closed the stream'));
    };
    response.once('drain', onDrain);
    response.once('close', onClose);
  });
}

export function streamStarted(error: unknown): boolean {
  return (error as { streamStarted?: boolean }).streamStarted === true;
}
