"""Words the app's screens share: how long ago, how old, and what to say when a call fails.

Plain functions (no Qt) so every screen, the banner and the background sync word things alike.
"""

from __future__ import annotations

from sync.errors import TideoverError


def age_text(seconds: float | None) -> str:
    """'4 min', '3 h 10 min', '2 days' for an age in seconds; 'unknown' for None."""
    if seconds is None:
        return "unknown"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return "under 1 min"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        rest = minutes % 60
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} days"


def ago_text(seconds: float) -> str:
    """'just now', '40 s ago', '3 min ago': how long since something happened."""
    seconds = max(0, int(seconds))
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    return f"{age_text(seconds)} ago"


def error_text(err: Exception) -> str:
    """What to show for an error from a store or service call: its own words, written for people.

    A TideoverError (every one has a ``kind``; forms' errors too) was worded where it was detected;
    anything else, a plain ValueError included, is a bug, and a person is told that nothing was changed
    instead of the bug's own words."""
    text = str(err).strip()
    if not isinstance(err, TideoverError):
        return f"Something went wrong ({type(err).__name__}); nothing was changed. Try again or call IT."
    return text or "That did not work; nothing was changed."
