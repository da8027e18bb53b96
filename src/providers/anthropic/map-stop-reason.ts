import type { FinishReason } from '../../core/openai-types.ts';
import type { Warning } from '../types.ts';

/**
 * Anthropic `stop_reason` → OpenAI `finish_reason`. Values OpenAI has no word for are reported as warnings
 * so that a client seeing `stop` can find out (in `x-nexus-warnings` or the log) that the turn was paused.
 */
export function mapStopReason(reason: string | null | undefined, warnings: Warning[]): FinishReason {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    // The context window filled up while writing: for the client that is a truncated answer.
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    case 'pause_turn':
      warnings.push({
        param: 'finish_reason',
        message: "Anthropic paused a long-running turn (stop_reason 'pause_turn'); reported as 'stop'.",
      });
      return 'stop';
    default:
      warnings.push({
        param: 'finish_reason',
        message: `Anthropic stopped with an unknown stop_reason '${String(reason)}'; reported as 'stop'.`,
      });
      return 'stop';
  }
}
