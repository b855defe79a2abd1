"""The overlap check the parallel tests use: runs one after another never pass it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from helpers.overlap import assert_overlapped, overlapping_pairs, spans


def test_sequential_intervals_do_not_overlap_even_when_one_starts_as_the_other_ends():
    assert overlapping_pairs({"a": (0, 10), "b": (10, 20), "c": (25, 30)}) == []
    with pytest.raises(AssertionError, match="no two of these ran at the same time"):
        assert_overlapped({"a": (0, 10), "b": (10, 20)})


def test_intervals_overlap_when_each_started_before_the_other_ended():
    assert overlapping_pairs({"a": (0, 10), "b": (9, 20), "c": (20, 30), "d": (2, 3)}) == [("a", "b"), ("a", "d")]
    assert assert_overlapped({"x": (5, 6), "y": (0, 100)}) == [("x", "y")]


def test_spans_group_runs_from_the_first_start_to_the_last_end():
    def run(name, start, end, group):
        info = SimpleNamespace(
            run_name=name, run_id=f"{name}-0123456789", start_time=start, end_time=end, status="FINISHED"
        )
        return SimpleNamespace(info=info, data=SimpleNamespace(tags={"group": group}))

    runs = [run("a1", 0, 5, "a"), run("a2", 6, 10, "a"), run("b1", 11, 12, "b"), run("b2", 13, 20, "b")]
    assert spans(runs, key=lambda r: r.data.tags["group"]) == {"a": (0, 10), "b": (11, 20)}
    assert overlapping_pairs(spans(runs, key=lambda r: r.data.tags["group"])) == []
    assert spans(runs[:2]) == {"a1 (a1-01234)": (0, 5), "a2 (a2-01234)": (6, 10)}
