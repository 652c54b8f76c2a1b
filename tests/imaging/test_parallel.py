"""Tests for tracker.imaging.parallel: work on threads gives the results of work in line."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tracker.analysis import analyze
from tracker.imaging import parallel
from tracker.imaging.segment import Pyramid, line_response
from tracker.synth import render_closeup


def test_map_threads_keeps_the_order_and_raises():
    assert parallel.map_threads(lambda x: x * x, range(50)) == [x * x for x in range(50)]
    assert parallel.map_threads(abs, []) == []

    def fail(x):
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.raises(ValueError, match="seven"):
        parallel.map_threads(fail, range(20))


def test_threads_are_not_nested():
    inner = parallel.map_threads(lambda _: parallel.thread_count(), range(4))
    assert set(inner) == {1}
    assert parallel.start(parallel.thread_count).result() == 1


def test_start_runs_in_line_with_one_thread(monkeypatch):
    monkeypatch.setattr(parallel, "thread_count", lambda: 1)
    caller = threading.get_ident()
    assert parallel.start(threading.get_ident).result() == caller
    failed = parallel.start(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failed.result()


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
@pytest.mark.parametrize(("shape", "length"), [((40, 50), 9), ((700, 900), 41), ((1001, 523), 40.8)])
def test_line_response_is_the_same_on_any_number_of_threads(monkeypatch, threads, shape, length):
    c = np.random.default_rng(2).random(shape, dtype=np.float32)
    monkeypatch.setattr(parallel, "thread_count", lambda: 1)
    alone = line_response(c, length=length)
    monkeypatch.setattr(parallel, "thread_count", lambda: threads)
    np.testing.assert_array_equal(line_response(c, length=length), alone)


def test_a_shared_pyramid_makes_each_copy_once():
    p = Pyramid(np.random.default_rng(3).integers(0, 256, (600, 800, 3), np.uint8))
    copies = parallel.map_threads(lambda _: p.reduce(0.3), range(8))
    assert all(c is copies[0] for c in copies)
    np.testing.assert_array_equal(copies[0], Pyramid(p.image).reduce(0.3))


@pytest.mark.parametrize("case", ["closeup", "exclude", "bar", "overview"])
def test_analysis_is_the_same_on_threads_and_in_line(monkeypatch, case):
    image = render_closeup(seed=5, shape=(600, 800)).image.copy()
    options: dict = {"px_per_mm": 100.0}
    if case == "exclude":  # pixels left out inside the ROI (as under a card)
        exclude = np.zeros(image.shape[:2], bool)
        exclude[100:250, 300:500] = True
        options.update(exclude=exclude, roi=(50, 50, 600, 400))
    elif case == "bar":  # a flat caption bar burnt in at the top
        image[:40] = 20
    elif case == "overview":
        options["mode"] = "overview"
    monkeypatch.setattr(parallel, "thread_count", lambda: 3)  # threads whatever the machine's cores
    threaded = analyze(image, **options)
    monkeypatch.setattr(parallel, "thread_count", lambda: 1)
    alone = analyze(image, **options)
    assert threaded.to_record() == alone.to_record()
    np.testing.assert_array_equal(threaded.mask, alone.mask)
    # each case takes the path it is meant to
    assert ("excluded_px" in alone.parameters) == (case == "exclude")
    assert ("edge_bars_px" in alone.parameters) == (case == "bar")
    assert alone.mode == ("overview" if case == "overview" else "closeup")
