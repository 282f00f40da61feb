"""The at-risk benchmark: planted patterns are scored as found, clean people as quiet."""

from __future__ import annotations

from bench.at_risk import plant, run


def test_planting_leaves_clean_controls_and_never_plants_the_unmeasurable() -> None:
    """About half are planted; a student without AI consent never gets talk_share_falling."""
    for seed in range(20):
        planted = plant(seed, tutors=4, students_per_tutor=3, share=0.5)
        assert planted.get("s3") != "talk_share_falling"
        assert planted.get("s7") != "talk_share_falling"
        assert 0 < len(planted) < 16


async def test_one_small_history_scores_every_planted_pattern_found() -> None:
    """Half a year, two tutors and six students: what was planted is found, once, and the
    clean controls raise nothing."""
    out = await run(seeds=1, weeks=26, tutors=2, students_per_tutor=3)
    assert out["planted"] > 0 and out["clean_controls"] > 0
    assert (out["precision"], out["recall"], out["raised_twice"]) == (1.0, 1.0, 0)
    assert set(out["per_kind"]) <= {
        "attendance_falling",
        "lateness_rising",
        "talk_share_falling",
        "repeated_difficulty",
        "homework_not_followed_up",
        "reviews_overdue",
        "late_starts",
    }
