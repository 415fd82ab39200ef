// Operator actions taken while the service is unreachable wait here and are sent when it is back.
import { ApiError } from "../api/client";

export type ActionKind = "acknowledge" | "resolve";

export interface QueuedAction {
  alertId: string;
  kind: ActionKind;
  note: string;
  queuedAt: string;
}

export interface FlushResult {
  sent: QueuedAction[];
  refused: { action: QueuedAction; reason: string }[];
  remaining: QueuedAction[];
}

/** Queue an action; a second one of the same kind for the same alert replaces the first. */
export function enqueue(queue: QueuedAction[], action: QueuedAction): QueuedAction[] {
  return [...queue.filter((a) => !(a.alertId === action.alertId && a.kind === action.kind)), action];
}

/**
 * Send the queue in order. An action the service refuses (409: already resolved,
 * 403, 404) is dropped with its reason; when the service is unreachable again
 * the rest stays queued.
 */
export async function flush(
  queue: QueuedAction[],
  send: (action: QueuedAction) => Promise<unknown>,
): Promise<FlushResult> {
  const result: FlushResult = { sent: [], refused: [], remaining: [] };
  for (let i = 0; i < queue.length; i++) {
    const action = queue[i];
    try {
      await send(action);
      result.sent.push(action);
    } catch (error) {
      if (error instanceof ApiError && !error.unreachable && error.status !== 401) {
        result.refused.push({ action, reason: error.message });
      } else {
        result.remaining = queue.slice(i);
        break;
      }
    }
  }
  return result;
}
