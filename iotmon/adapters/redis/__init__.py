"""Redis: key names (`keys`), the live windows, notification rate limits."""
