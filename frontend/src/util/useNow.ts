// The current time as state that moves on every `intervalMs`: rendering stays pure (no Date.now() in it)
// and durations counted up to now, such as how long an alert has been open, keep going.
import { useEffect, useState } from "react";

export function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}
