"""Placing a whole batch of open requests at once with CP-SAT, against greedy first fit.

Pure: no database, no clock; it reads the same ``scheduling.matching.Snapshot``
as ranking, through ranking's candidate index (``scheduling.matching._Index``),
so a tutor and a slot are feasible here exactly when ranking would offer them.

``match_batch`` discretises candidate starts (every ``step`` minutes inside
each window), each a 0/1 variable; a tutor holds at most one request per time
cell (a request occupies its session plus the tutor's buffer, rounded up to
whole cells), a student at most one, daily and weekly limits hold, and the
objective is lexicographic through its weights: as many requests as possible,
then continuity, then balanced load. The greedy first-fit baseline
(``match_greedy``) gives the solver its hint, so the solver never places fewer.
A small batch is solved as one model; a large one (thousands of requests) is
improved one neighbourhood at a time until the time budget runs out: a few
requests left out plus the placed requests in their way, re-solved by CP-SAT
with everything else held (large-neighbourhood search). Nothing is booked: the
caller decides.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from ortools.sat.python import cp_model

# The candidate index is shared with ranking on purpose (see scheduling.matching).
from scheduling.matching import (
    MatchRequest,
    Snapshot,
    _at,
    _Index,
    _Option,
    _reasons,
    _Tutor,
    _week,
)

# Objective weights: continuity outweighs load, and one placement outweighs a
# thousand continuity gains (in practice, lexicographic).
_W_PLACE = 1_000_000
_W_CONTINUITY = 1_000
_W_EXCESS = 20
_LOAD_CAP = 50


class UnplacedCode(StrEnum):
    NO_QUALIFIED_TUTOR = "no_qualified_tutor"
    NO_FREE_TUTOR = "no_free_tutor"
    TAKEN_BY_BATCH = "taken_by_other_requests"


@dataclass(frozen=True)
class Placement:
    request_id: str
    tutor_id: str
    start: datetime
    end: datetime
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Unplaced:
    request_id: str
    code: UnplacedCode
    reason: str


@dataclass(frozen=True)
class BatchResult:
    """Proposed placements and, for each request left out, why.

    ``method`` is ``cp-sat`` or ``greedy``; ``status`` the solver's verdict
    (``OPTIMAL``, or ``FEASIBLE`` when the time limit stopped it early);
    ``options`` the number of (request, tutor, start) candidates considered;
    ``rounds`` the neighbourhoods re-solved (0 when the whole model was solved).
    """

    placements: list[Placement]
    unplaced: list[Unplaced]
    method: str
    status: str
    options: int
    rounds: int = 0


@dataclass
class _Batch:
    requests: Sequence[MatchRequest]
    index: _Index
    options: list[list[_Option]]  # per request, in rank order
    qualified: list[int]
    free: list[int]


def _batch_options(
    requests: Sequence[MatchRequest],
    snapshot: Snapshot,
    *,
    step: int,
    tutors_per_request: int,
    starts_per_tutor: int,
) -> _Batch:
    index = _Index(snapshot, requests)
    options: list[list[_Option]] = []
    qualified: list[int] = []
    free: list[int] = []
    for i, r in enumerate(requests):
        by_tutor = index.starts(r, step)
        qualified.append(len(index.qualified(r)))
        free.append(len(by_tutor))
        history = snapshot.history
        best = sorted(
            (
                -history.get((r.student_id, tid), 0),
                index.tutors[tid].load_at(starts[0]),
                starts[0],
                tid,
            )
            for tid, starts in by_tutor.items()
        )
        chosen: list[_Option] = []
        for *_, tid in best[:tutors_per_request]:
            chosen += [index.option(i, r, tid, s) for s in _spread(by_tutor[tid], starts_per_tutor)]
        options.append(chosen)
    return _Batch(requests, index, options, qualified, free)


def _spread(opts: list[int], n: int) -> list[int]:
    """At most ``n`` of ``opts``, spread from the first to the last."""
    if len(opts) <= n:
        return opts
    if n == 1:
        return opts[:1]
    return [opts[round(k * (len(opts) - 1) / (n - 1))] for k in range(n)]


def _cells(o: _Option, step: int) -> range:
    # The tutor's occupation: the session and the buffer after it, in whole cells,
    # so two requests for one tutor keep the buffer between them either way round.
    return range(o.start // step, -(-(o.end + o.tutor.buffer) // step))


def _student_cells(o: _Option, step: int) -> range:
    return range(o.start // step, -(-o.end // step))


class _State:
    """What a partial assignment has used up: cells, days and weeks."""

    def __init__(self, requests: Sequence[MatchRequest], step: int) -> None:
        self.requests = requests
        self.step = step
        self.tutor_cells: set[tuple[str, int]] = set()
        self.student_cells: set[tuple[str, int]] = set()
        self.day: dict[tuple[str, date], int] = defaultdict(int)
        self.week: dict[tuple[str, tuple[int, int]], int] = defaultdict(int)
        self.per_tutor: dict[str, int] = defaultdict(int)

    def fits(self, o: _Option) -> bool:
        t, sid = o.tutor, self.requests[o.request].student_id
        if any((t.id, c) in self.tutor_cells for c in _cells(o, self.step)):
            return False
        if any((sid, c) in self.student_cells for c in _student_cells(o, self.step)):
            return False
        limits = t.snap.schedule.limits
        day = o.day
        if limits.max_sessions_per_day is not None:
            if t.day_load.get(day, 0) + self.day[t.id, day] >= limits.max_sessions_per_day:
                return False
        if limits.max_sessions_per_week is not None:
            week = _week(day)
            if t.week_load.get(week, 0) + self.week[t.id, week] >= limits.max_sessions_per_week:
                return False
        return True

    def take(self, o: _Option) -> None:
        t, sid = o.tutor, self.requests[o.request].student_id
        self.tutor_cells.update((t.id, c) for c in _cells(o, self.step))
        self.student_cells.update((sid, c) for c in _student_cells(o, self.step))
        self.day[t.id, o.day] += 1
        self.week[t.id, _week(o.day)] += 1
        self.per_tutor[t.id] += 1


def _greedy(batch: _Batch, step: int, order: Iterable[int] | None = None) -> dict[int, _Option]:
    state = _State(batch.requests, step)
    chosen: dict[int, _Option] = {}
    for i in range(len(batch.options)) if order is None else order:
        for o in batch.options[i]:
            if state.fits(o):
                state.take(o)
                chosen[i] = o
                break
    return chosen


def _result(
    batch: _Batch, chosen: Mapping[int, _Option], method: str, status: str, rounds: int = 0
) -> BatchResult:
    placements: list[Placement] = []
    unplaced: list[Unplaced] = []
    for i, r in enumerate(batch.requests):
        rid = r.id or str(i)
        o = chosen.get(i)
        if o is not None:
            placements.append(Placement(rid, o.tutor.id, _at(o.start), _at(o.end), _reasons(o, r)))
        elif batch.qualified[i] == 0:
            unplaced.append(
                Unplaced(
                    rid,
                    UnplacedCode.NO_QUALIFIED_TUTOR,
                    f"no tutor is qualified for {r.subject} at level {r.level}; "
                    "add a qualification or change the request",
                )
            )
        elif batch.free[i] == 0:
            unplaced.append(
                Unplaced(
                    rid,
                    UnplacedCode.NO_FREE_TUTOR,
                    f"none of the {batch.qualified[i]} qualified tutor(s) is free for "
                    f"{r.duration.total_seconds() / 60:.0f} minutes inside the windows "
                    "(availability, booked sessions, buffer, limits, or the student is busy); "
                    "widen the windows",
                )
            )
        else:
            unplaced.append(
                Unplaced(
                    rid,
                    UnplacedCode.TAKEN_BY_BATCH,
                    f"{batch.free[i]} tutor(s) were free, but every slot considered was "
                    "needed for other requests in this batch; widen the windows or "
                    "match it after these are booked",
                )
            )
    return BatchResult(placements, unplaced, method, status, sum(map(len, batch.options)), rounds)


def match_greedy(
    requests: Sequence[MatchRequest],
    snapshot: Snapshot,
    *,
    step_minutes: int = 30,
    tutors_per_request: int = 12,
    starts_per_tutor: int = 2,
) -> BatchResult:
    """The baseline: each request in turn takes its best-ranked slot still free (first fit)."""
    if not requests:
        return BatchResult([], [], "greedy", "OPTIMAL", 0)
    batch = _batch_options(
        requests,
        snapshot,
        step=step_minutes,
        tutors_per_request=tutors_per_request,
        starts_per_tutor=starts_per_tutor,
    )
    return _result(batch, _greedy(batch, step_minutes), "greedy", "FEASIBLE")


# Above this many candidates, the whole model is not solved at once (see match_batch):
# on 2 busy cores CP-SAT needs more than the budget to improve on 100,000 of them,
# while 15 left-out requests and their blockers (about 300) solve in a fraction
# of a second and gain several placements each round.
_WHOLE_MODEL_OPTIONS = 20_000
_NEIGHBOURHOOD = 15
_ROUND_SECONDS = 0.3


def match_batch(
    requests: Sequence[MatchRequest],
    snapshot: Snapshot,
    *,
    step_minutes: int = 30,
    tutors_per_request: int = 12,
    starts_per_tutor: int = 2,
    time_limit: float = 8.0,
    workers: int = 2,
    seed: int = 0,
    whole_model_limit: int = _WHOLE_MODEL_OPTIONS,
) -> BatchResult:
    """Place as many ``requests`` as possible at once, then favour continuity and balance.

    Args:
        requests: open requests; ``id`` names each in the result (its index if empty).
        snapshot: tutors, booked sessions and history.
        step_minutes: the grid candidate starts lie on.
        tutors_per_request: the best-ranked free tutors each request considers.
        starts_per_tutor: starts per tutor per request, spread over its free time.
        time_limit: seconds for the whole call: the search gets what is left after
            the candidates and the model are built (half a second at least), and
            returns its best answer so far when it runs out.
        workers: solver threads.
        seed: solver seed.
        whole_model_limit: above this many candidates, improve by neighbourhoods.
    """
    if not requests:
        return BatchResult([], [], "cp-sat", "OPTIMAL", 0)
    started = time.monotonic()
    step = step_minutes
    batch = _batch_options(
        requests,
        snapshot,
        step=step,
        tutors_per_request=tutors_per_request,
        starts_per_tutor=starts_per_tutor,
    )
    # The solver starts from the first-fit answer, so it never places fewer.
    current = _greedy(batch, step)
    share = _fair_share(batch, len(requests))
    n_options = sum(map(len, batch.options))
    everyone = [i for i, opts in enumerate(batch.options) if opts]
    if n_options <= whole_model_limit:
        budget = max(0.5, time_limit - (time.monotonic() - started))
        chosen, status = _solve(
            batch, everyone, _State(requests, step), current, share, budget, workers, seed
        )
        if chosen is None:
            return _result(batch, current, "greedy", status)
        return _result(batch, chosen, "cp-sat", status)
    # Too large to solve whole in seconds: improve the greedy answer a
    # neighbourhood at a time (a slice of the requests left out, and every
    # placed request in their way), each neighbourhood solved by CP-SAT with the
    # rest held fixed; kept when it places no fewer.
    rng = random.Random(seed)
    rounds = 0
    while time.monotonic() - started < time_limit - 0.3:
        left_out = [i for i in everyone if i not in current]
        if not left_out:
            break
        rng.shuffle(left_out)
        subset = _neighbourhood(batch, current, left_out[:_NEIGHBOURHOOD], step)
        fixed = _State(requests, step)
        for i, o in current.items():
            if i not in subset:
                fixed.take(o)
        budget = min(_ROUND_SECONDS, time_limit - (time.monotonic() - started))
        hint = {i: o for i, o in current.items() if i in subset}
        chosen, _ = _solve(batch, sorted(subset), fixed, hint, share, budget, workers, seed)
        rounds += 1
        if chosen is not None and len(chosen) >= len(hint):
            current = {i: o for i, o in current.items() if i not in subset} | chosen
    return _result(batch, current, "cp-sat", "FEASIBLE", rounds)


def _fair_share(batch: _Batch, n_requests: int) -> int:
    tutors = {o.tutor.id: o.tutor for opts in batch.options for o in opts}
    if not tutors:
        return 0
    booked = sum(sum(t.week_load.values()) for t in tutors.values())
    return math.ceil((booked + n_requests) / len(tutors))


def _neighbourhood(
    batch: _Batch, current: Mapping[int, _Option], seeds: Sequence[int], step: int
) -> set[int]:
    """``seeds`` and the placed requests holding a cell any of their options needs."""
    owner: dict[tuple[str, int], int] = {}
    for i, o in current.items():
        for c in _cells(o, step):
            owner[o.tutor.id, c] = i
        sid = batch.requests[i].student_id
        for c in _student_cells(o, step):
            owner[sid, c] = i
    out = set(seeds)
    for i in seeds:
        sid = batch.requests[i].student_id
        for o in batch.options[i]:
            for c in _cells(o, step):
                if (j := owner.get((o.tutor.id, c))) is not None:
                    out.add(j)
            for c in _student_cells(o, step):
                if (j := owner.get((sid, c))) is not None:
                    out.add(j)
    return out


def _solve(
    batch: _Batch,
    subset: Sequence[int],
    fixed: _State,
    hint: Mapping[int, _Option],
    share: int,
    time_limit: float,
    workers: int,
    seed: int,
) -> tuple[dict[int, _Option] | None, str]:
    """The best placement of ``subset`` around what ``fixed`` already holds.

    Returns the placements (``None`` if the solver found none in time) and its status.
    """
    step = fixed.step
    requests = batch.requests
    model = cp_model.CpModel()
    xs: list[tuple[_Option, cp_model.IntVar]] = []
    tutor_cells: dict[tuple[str, int], list[cp_model.IntVar]] = defaultdict(list)
    student_cells: dict[tuple[str, int], list[cp_model.IntVar]] = defaultdict(list)
    days: dict[tuple[str, date], list[cp_model.IntVar]] = defaultdict(list)
    weeks: dict[tuple[str, tuple[int, int]], list[cp_model.IntVar]] = defaultdict(list)
    per_tutor: dict[str, list[cp_model.IntVar]] = defaultdict(list)
    tutors: dict[str, _Tutor] = {}
    terms: list[cp_model.IntVar] = []
    weights: list[int] = []
    for i in subset:
        sid = requests[i].student_id
        mine = []
        for o in batch.options[i]:
            if not fixed.fits(o):
                continue
            x = model.new_bool_var("")
            mine.append(x)
            xs.append((o, x))
            t = o.tutor
            tutors[t.id] = t
            for c in _cells(o, step):
                tutor_cells[t.id, c].append(x)
            for c in _student_cells(o, step):
                student_cells[sid, c].append(x)
            days[t.id, o.day].append(x)
            weeks[t.id, _week(o.day)].append(x)
            per_tutor[t.id].append(x)
            terms.append(x)
            weights.append(_W_PLACE - min(o.load, _LOAD_CAP) + (_W_CONTINUITY if o.history else 0))
            model.add_hint(x, hint.get(i) is o)
        if mine:
            model.add_at_most_one(mine)
    for group in (*tutor_cells.values(), *student_cells.values()):
        if len(group) > 1:
            model.add_at_most_one(group)
    for (tid, day), group in days.items():
        cap = tutors[tid].snap.schedule.limits.max_sessions_per_day
        if cap is not None:
            room = cap - tutors[tid].day_load.get(day, 0) - fixed.day[tid, day]
            if len(group) > room:
                model.add(cp_model.LinearExpr.sum(group) <= room)
    for (tid, week), group in weeks.items():
        cap = tutors[tid].snap.schedule.limits.max_sessions_per_week
        if cap is not None:
            room = cap - tutors[tid].week_load.get(week, 0) - fixed.week[tid, week]
            if len(group) > room:
                model.add(cp_model.LinearExpr.sum(group) <= room)
    # Balance: each tutor's sessions (booked, held and new) above the fair share cost extra.
    hinted: dict[str, int] = defaultdict(int)
    for o in hint.values():
        hinted[o.tutor.id] += 1
    for tid, group in per_tutor.items():
        held = sum(tutors[tid].week_load.values()) + fixed.per_tutor[tid]
        excess = model.new_int_var(0, len(group) + held, "")
        model.add(excess >= held + cp_model.LinearExpr.sum(group) - share)
        model.add_hint(excess, max(0, held + hinted[tid] - share))
        terms.append(excess)
        weights.append(-_W_EXCESS)
    model.maximize(cp_model.LinearExpr.weighted_sum(terms, weights))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, time_limit)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, solver.status_name(status)
    chosen = {o.request: o for o, x in xs if solver.boolean_value(x)}
    return chosen, solver.status_name(status)
