// The one QueryClient's defaults: how long data counts as fresh, which failures are retried, when to refetch.
import { QueryClient } from "@tanstack/react-query";
import { ApiError } from "./client";

const MAX_RETRIES = 3;

/** Retry what may pass a moment later (the service unreachable, 5xx, 408, 429); a refusal (4xx) will not. */
export function shouldRetry(failures: number, error: unknown): boolean {
  if (failures >= MAX_RETRIES || !(error instanceof ApiError)) return false;
  return error.unreachable || error.status >= 500 || error.status === 408 || error.status === 429;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Views opened one after the other share what was just fetched instead of asking again at once.
        staleTime: 5_000,
        retry: shouldRetry,
        refetchOnWindowFocus: true,
        refetchOnReconnect: true,
        // A failed refetch keeps the last good data (TanStack's default): the offline banner says it is old.
      },
      mutations: {
        retry: false,
        // Run even when the browser says it is offline: an acknowledge or resolve then lands in the outbox.
        networkMode: "always",
      },
    },
  });
}
