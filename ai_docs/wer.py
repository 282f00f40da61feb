"""Word error rate, to judge transcripts against known text (tests, benchmarks)."""

from __future__ import annotations

import re

_NOT_WORD = re.compile(r"[^a-z0-9' ]+")


def words(text: str) -> list[str]:
    """Lower-case words without punctuation ("Don't!" -> ["dont"])."""
    return _NOT_WORD.sub(" ", text.lower().replace("-", " ")).replace("'", "").split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words in ``reference``.

    Case and punctuation are ignored. 0.0 is perfect; it can exceed 1.0 when the
    hypothesis adds many words. An empty reference gives 0.0 against an empty
    hypothesis and 1.0 otherwise.
    """
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i]
        for j, h in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / len(ref)
