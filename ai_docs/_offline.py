"""What the offline summary and the offline briefing share: content words, clipping, a label.

Both pick out and compare sentences by their content words (the words left
when the common ones are dropped), clip what they quote to an item's length,
and sign what they write ``drafted_by="offline"``.
"""

from __future__ import annotations

import re

from ai_docs.documents import MAX_ITEM_CHARS

OFFLINE = "offline"

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't down during each few for from further get gets getting go going
    gonna got had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
    herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
    just let let's like lot me more most mustn't my myself need no nor not now of off okay ok on
    once only or other ought our ours ourselves out over own really right same say says see
    shan't she she'd she'll she's should shouldn't so some such sure than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've thing
    things think this those through to too under until up us very want was wasn't way we we'd
    we'll we're we've well were weren't what what's when when's where where's which while who
    who's whom why why's will with won't would wouldn't yeah yes you you'd you'll you're you've
    your yours yourself yourselves um uh oh hmm mm good great yep nope one two three next time
    today""".split()
)
_WORD = re.compile(r"[a-z][a-z'-]*")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry its content, lower-cased, in order."""
    return [w for w in _words(text) if len(w) > 2 and w not in STOPWORDS]


def clip(text: str, limit: int = MAX_ITEM_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
