// Fetch once (and again every `refreshMs`); the last good data stays when a later request fails.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "./client";

export interface ApiState<T> {
  data: T | null;
  error: ApiError | Error | null;
  loading: boolean;
  reload(): void;
}

export function useApi<T>(load: (() => Promise<T>) | null, deps: unknown[], refreshMs = 0): ApiState<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [loading, setLoading] = useState(load !== null);
  const generation = useRef(0);
  // `load` is a new closure at every render; `deps` say when it asks for something else (as useEffect's do).
  const run = useCallback(load ?? (() => Promise.resolve(null as T)), deps);

  const reload = useCallback(() => {
    const mine = ++generation.current;
    setLoading(true);
    run()
      .then((found) => {
        if (mine !== generation.current) return;
        setData(found);
        setError(null);
      })
      .catch((problem: Error) => mine === generation.current && setError(problem))
      .finally(() => mine === generation.current && setLoading(false));
  }, [run]);

  useEffect(() => {
    if (!load) return;
    reload();
    if (!refreshMs) return;
    const timer = setInterval(reload, refreshMs);
    return () => clearInterval(timer);
  }, [reload, refreshMs]);

  return { data, error, loading, reload };
}
