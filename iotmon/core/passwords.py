"""Which passwords are too weak to accept (pure).

Length alone lets `password1234` through, so the strength is estimated by
zxcvbn (dictionaries of common passwords, names, keyboard patterns, l33t
substitutions), and a password must be one it rates at least "safely
unguessable" at its top score (4 of 4: about 10^10 guesses or more, years at the hash's cost).
"""

from __future__ import annotations

from zxcvbn import zxcvbn

MIN_LENGTH = 10
MAX_LENGTH = 128  # the hash and the estimate both grow with the length
MIN_SCORE = 4


def weakness(password: str, username: str | None = None) -> str | None:
    """Why `password` is too weak (a sentence that says what to choose instead), or None if it will do."""
    if len(password) < MIN_LENGTH:
        return f"the password is shorter than {MIN_LENGTH} characters: choose a longer one, e.g. four random words"
    if len(password) > MAX_LENGTH:
        return f"the password is longer than {MAX_LENGTH} characters"
    estimate = zxcvbn(password, user_inputs=[username, "iotmon", "iot-monitoring"] if username else ["iotmon"])
    if int(estimate["score"]) < MIN_SCORE:
        hint = str(estimate["feedback"]["warning"] or "it is easy to guess")
        return f"the password is too weak ({hint.rstrip('.').lower()}): choose a longer one, e.g. four random words"
    return None
