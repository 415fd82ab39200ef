// Small settings kept in localStorage: theme, sound, session, queued actions.

export function load<T>(key: string, fallback: T): T {
  try {
    const raw = localStorage.getItem(`iotmon.${key}`);
    return raw === null ? fallback : (JSON.parse(raw) as T);
  } catch {
    return fallback;
  }
}

export function save(key: string, value: unknown): void {
  try {
    if (value === null || value === undefined) localStorage.removeItem(`iotmon.${key}`);
    else localStorage.setItem(`iotmon.${key}`, JSON.stringify(value));
  } catch {
    // storage full or disabled: the setting lasts for this page only
  }
}
