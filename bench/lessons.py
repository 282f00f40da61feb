"""Scripted lessons with their truth: the evaluation set for session documents.

Each lesson is two speakers (a tutor and a student) taking turns, built from a
bank of topics: the tutor's explanations, a comprehension check with the
student's answer, what the student finds hard, praise, and homework set in one
of several phrasings, or none (said outright or not mentioned at all). Some
lessons also mention last week's homework, which is not homework set now: a
drafter that reports it is wrong. What each lesson truly contains (``Truth``)
is stored beside its transcript, so a document can be scored against it
(``bench.documents``).

The same ``lesson(n)`` every time: the choices come from ``random.Random(n)``.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.speech import Line


@dataclass(frozen=True)
class Topic:
    subject: str
    name: str  # the topic as a parent would read it
    explanations: tuple[str, ...]  # the tutor's key explanations, in order
    check: tuple[str, str]  # the tutor's question, the student's right answer
    wrong: str  # a first answer that is not right
    difficulty: str  # the student says what they find hard
    homework: tuple[str, ...]  # things a tutor sets, each finishing "please ..."


TOPICS = (
    Topic(
        "mathematics",
        "adding fractions",
        (
            "Today we are adding fractions.",
            "When the bottom numbers match, we add the top numbers and keep the bottom number.",
            "The bottom number is called the denominator.",
        ),
        ("What do we add when the denominators match?", "We add the top numbers."),
        "We add the bottom numbers too.",
        "I find it hard when the bottom numbers are different.",
        ("finish the fractions worksheet", "do page twelve of your fractions book"),
    ),
    Topic(
        "science",
        "photosynthesis",
        (
            "Today we are learning about photosynthesis.",
            "Plants use sunlight to turn water and carbon dioxide into sugar.",
            "The green part of the leaf that catches the light is called chlorophyll.",
        ),
        ("What does a plant need for photosynthesis?", "Sunlight, water and carbon dioxide."),
        "It needs soil.",
        "I keep forgetting what chlorophyll does.",
        ("draw and label a leaf", "read the chapter on plants and answer the questions"),
    ),
    Topic(
        "geography",
        "the water cycle",
        (
            "Today we are looking at the water cycle.",
            "The sun heats the sea and the water evaporates into the air.",
            "The vapour cools, makes clouds, and falls again as rain.",
        ),
        ("What happens when water vapour cools?", "It turns into clouds and then rain."),
        "It disappears.",
        "I mix up evaporation and condensation.",
        ("draw a diagram of the water cycle", "learn the four stages of the water cycle"),
    ),
    Topic(
        "mathematics",
        "area of rectangles",
        (
            "Today we are working out the area of rectangles.",
            "The area is the length times the width.",
            "We write the answer in square centimetres.",
        ),
        ("What is the area of a rectangle five by three?", "Fifteen square centimetres."),
        "Eight.",
        "I forget to write the units at the end.",
        ("do the area questions on page twenty", "measure three rectangles at home"),
    ),
    Topic(
        "english",
        "the past tense",
        (
            "Today we are practising the past tense.",
            "Most verbs take an e d ending in the past, like walked and played.",
            "Some verbs are irregular, like went and saw.",
        ),
        ("What is the past tense of go?", "Went."),
        "Goed.",
        "I find the irregular verbs hard to remember.",
        ("write five sentences about your weekend", "learn the ten irregular verbs on the sheet"),
    ),
    Topic(
        "history",
        "the Romans in Britain",
        (
            "Today we are studying the Romans in Britain.",
            "The Romans arrived in Britain nearly two thousand years ago.",
            "They built roads, towns and Hadrian's Wall.",
        ),
        ("Why did the Romans build Hadrian's Wall?", "To protect their land from the north."),
        "To keep the sea out.",
        "I get the dates muddled up.",
        ("write a paragraph about Roman roads", "make a timeline of the Romans in Britain"),
    ),
    Topic(
        "science",
        "magnets",
        (
            "Today we are finding out about magnets.",
            "Every magnet has a north pole and a south pole.",
            "Opposite poles attract and the same poles push apart.",
        ),
        ("What happens when two north poles meet?", "They push each other away."),
        "They stick together.",
        "I am not sure which metals are magnetic.",
        ("test five objects at home with a magnet", "finish the magnets worksheet"),
    ),
    Topic(
        "mathematics",
        "times tables",
        (
            "Today we are practising the seven times table.",
            "Seven times eight is fifty six.",
            "A quick way is to learn the square numbers first.",
        ),
        ("What is seven times six?", "Forty two."),
        "Forty eight.",
        "I always forget seven times eight.",
        ("practise the seven times table every day", "do the times table quiz online"),
    ),
    Topic(
        "english",
        "writing a persuasive letter",
        (
            "Today we are writing a persuasive letter.",
            "A persuasive letter gives reasons and uses strong words to convince the reader.",
            "We finish with a clear request.",
        ),
        ("What should a persuasive letter end with?", "A clear request."),
        "A story.",
        "I find it hard to think of enough reasons.",
        ("write a persuasive letter to your head teacher", "plan three reasons for your letter"),
    ),
    Topic(
        "science",
        "states of matter",
        (
            "Today we are learning about solids, liquids and gases.",
            "When ice melts it changes from a solid to a liquid.",
            "When water boils it becomes a gas called steam.",
        ),
        ("What is ice when it melts?", "A liquid."),
        "A gas.",
        "I am confused about what happens when things freeze.",
        ("sort the objects on the sheet into solids, liquids and gases", "read pages eight to ten"),
    ),
)

# How a tutor sets homework: "{}" is one of the topic's things to do.
SET_HOMEWORK = (
    "For homework, please {}.",
    "Your homework this week is to {}.",
    "Before next time, please {}.",
    "For next time, could you {}?",
    "I would like you to {} for homework.",
)
NO_HOMEWORK = (
    "There is no homework this week.",
    "No homework today, just have a rest.",
)
PRAISE = ("Well done, that is right.", "Excellent, exactly right.", "Great job.")
OPENERS = ("Hello, how are you today?", "Good afternoon, are you ready to start?")
STUDENT_OPENERS = ("I am fine, thank you.", "Yes, I am ready.")
LAST_WEEK = ("Did you finish last week's homework?", "Yes, I finished it on Sunday.")
CLOSERS = ("That is all for today. See you next week.", "Good work today. Goodbye.")


@dataclass
class Truth:
    """What a lesson contains, as its script says."""

    subject: str
    topics: list[str]
    homework: str | None  # what the tutor set, in the tutor's words; None: nothing set
    said_no_homework: bool  # the tutor said outright that there is none
    difficulties: list[str]  # the student's own words
    checks: list[str]  # the tutor's questions
    mentions_last_homework: bool  # last week's homework comes up: not homework set now
    explanations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def lesson(n: int) -> tuple[list[Line], Truth]:
    """Lesson ``n`` of the evaluation set: its lines and its truth."""
    rng = random.Random(n)
    first = TOPICS[n % len(TOPICS)]
    topics = [first]
    if rng.random() < 0.4:
        topics.append(rng.choice([t for t in TOPICS if t is not first]))
    lines = [
        Line("tutor", rng.choice(OPENERS), 0.5),
        Line("student", rng.choice(STUDENT_OPENERS), 0.8),
    ]
    mentions_last = rng.random() < 0.35
    if mentions_last:
        lines += [Line("tutor", LAST_WEEK[0], 1.0), Line("student", LAST_WEEK[1], 0.8)]
    difficulties: list[str] = []
    for topic in topics:
        lines += [Line("tutor", text, 1.0) for text in topic.explanations]
        question, answer = topic.check
        lines.append(Line("tutor", question, 1.2))
        if rng.random() < 0.4:
            lines += [
                Line("student", topic.wrong, 1.5),
                Line("tutor", "Not quite. Think about what I just said.", 0.8),
            ]
        lines.append(Line("student", answer, 1.5))
        lines.append(Line("tutor", rng.choice(PRAISE), 0.8))
        if rng.random() < 0.6:
            lines.append(Line("student", topic.difficulty, 1.0))
            difficulties.append(topic.difficulty)
            lines.append(Line("tutor", "That is normal. We will practise it again.", 0.8))
    roll = rng.random()
    homework: str | None = None
    said_none = False
    if roll < 0.6:
        task = rng.choice(topics[-1].homework)
        homework = task
        lines.append(Line("tutor", rng.choice(SET_HOMEWORK).format(task), 1.0))
        lines.append(Line("student", "Okay, I will.", 0.8))
    elif roll < 0.8:
        said_none = True
        lines.append(Line("tutor", rng.choice(NO_HOMEWORK), 1.0))
    lines.append(Line("tutor", rng.choice(CLOSERS), 1.0))
    truth = Truth(
        subject=first.subject,
        topics=[t.name for t in topics],
        homework=homework,
        said_no_homework=said_none,
        difficulties=difficulties,
        checks=[t.check[0] for t in topics],
        mentions_last_homework=mentions_last,
        explanations=[e for t in topics for e in t.explanations],
    )
    return lines, truth
