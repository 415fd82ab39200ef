// A small external store: pure updates in, subscribers notified at most once per frame budget.
import { useSyncExternalStore } from "react";

export interface Store<S> {
  get(): S;
  /** Apply a pure update; subscribers hear about it within `throttleMs` (0: at once). */
  update(change: (state: S) => S, throttleMs?: number): void;
  subscribe(listener: () => void): () => void;
}

export function createStore<S>(initial: S): Store<S> {
  let state = initial;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const listeners = new Set<() => void>();
  const notify = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    listeners.forEach((listener) => listener());
  };
  return {
    get: () => state,
    update(change, throttleMs = 0) {
      const next = change(state);
      if (next === state) return;
      state = next;
      if (throttleMs <= 0) notify();
      else if (!timer) timer = setTimeout(notify, throttleMs);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Read a slice of a store in a component; re-renders only when the slice changes. */
export function useStore<S, T>(store: Store<S>, select: (state: S) => T): T {
  return useSyncExternalStore(store.subscribe, () => select(store.get()));
}
