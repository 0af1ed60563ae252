"""Password rules after NIST SP 800-63B: length, a blocklist, no composition rules.

The blocklist is zxcvbn's list of the 30,000 most common passwords, shipped inside the
``zxcvbn`` package (so nothing is downloaded at run time), plus context words.
"""

from __future__ import annotations

from functools import lru_cache

from .errors import WeakPassword
from .settings import DEFAULT_SETTINGS

DEFAULT_MIN_LENGTH = DEFAULT_SETTINGS["min_password_length"]
MAX_LENGTH = 256


@lru_cache(maxsize=1)
def _blocklist() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_new_password(password: str, *, min_length: int = DEFAULT_MIN_LENGTH,
                       context: tuple[str, ...] = ()) -> None:
    """Raise WeakPassword with the reason if ``password`` may not be set; return None if it may."""
    if len(password) < min_length:
        raise WeakPassword(f"The password must be at least {min_length} characters "
                           f"(a few unrelated words make a good one).")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"The password may be at most {MAX_LENGTH} characters.")
    low = password.lower()
    if low in _blocklist():
        raise WeakPassword("That password is on the list of commonly used passwords; choose another.")
    if len(set(low)) <= 3:
        raise WeakPassword("The password repeats too few characters; choose another.")
    for n in range(1, len(low) // 2 + 1):
        if len(low) % n == 0 and low == low[:n] * (len(low) // n):
            raise WeakPassword("The password is one pattern repeated; choose another.")
    if _is_sequence(low):
        raise WeakPassword("The password is a simple sequence; choose another.")
    for word in ("tideover", *context):
        word = word.lower().strip()
        if len(word) >= 3 and word in low and len(low.replace(word, "")) < min_length // 2:
            raise WeakPassword(f"The password is mostly '{word}'; choose something less guessable.")


def _is_sequence(text: str) -> bool:
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return len(steps) == 1 and steps <= {1, -1, 0}
