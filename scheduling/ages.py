"""A person's age on a day: what consent (``sessions.consent``) and reminder links
(``notifications.reminders``) decide by."""

from __future__ import annotations

from datetime import date


def age_on(born: date, today: date) -> int:
    """Whole years from ``born`` to ``today``; someone born on 29 February turns a year
    older on 1 March in other years."""
    years = today.year - born.year
    if (today.month, today.day) < (born.month, born.day):
        years -= 1
    return years
