// What a panel shows while loading or after a failed request (the last data stays when there is some).
import { ApiError } from "../api/client";

export function Notice({ loading, error, empty }: { loading?: boolean; error?: Error | null; empty?: string | false }) {
  if (error) {
    const text =
      error instanceof ApiError && error.unreachable
        ? "Service unreachable; showing the last data received."
        : error.message;
    return (
      <p className="notice problem" role="status">
        {text}
      </p>
    );
  }
  if (loading)
    return (
      <p className="notice muted" role="status">
        Loading…
      </p>
    );
  if (empty) return <p className="notice muted">{empty}</p>;
  return null;
}
