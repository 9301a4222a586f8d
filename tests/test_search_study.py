"""The search's Optuna plumbing without TensorFlow: claiming, dead workers, resume, finalists."""
from __future__ import annotations

import socket

import optuna
import pytest

from edgekit import search_study as studies
from edgekit.errors import ConfigError
from edgekit.recipe import SearchSection

SETTINGS = SearchSection(alphas=[0.5], depths=[2], finalists=1)
ROWS = [{"name": n, "feasible": True, "bytes": b, "gzip_bytes": b} for n, b in (("a", 10), ("b", 20), ("c", 30))]


def study(tmp_path):
    store = studies.open_storage(str(tmp_path / "s.journal"))
    return studies.load_study(store, "t", SETTINGS, create=True)


def test_a_trial_left_running_by_a_dead_local_worker_is_run_again_by_the_waiting_coordinator(tmp_path):
    shared = study(tmp_path)
    studies.enqueue(shared, ROWS[:1], [1])
    trial = shared.ask()  # a worker claims it ...
    trial.set_user_attr("worker", f"{socket.gethostname()}:999999999")  # ... and dies (no such process)
    ran = []

    def objective(t):
        ran.append(t.user_attrs["candidate"])
        t.report(0.5, 1)
        return 0.5

    studies.wait_for_all(shared, objective, say=lambda _: None, poll=0.1)
    assert ran == ["a"]
    latest = {t.user_attrs["candidate"]: t for t in studies.finished(shared)}
    assert latest["a"].state == optuna.trial.TrialState.COMPLETE


def test_resume_enqueues_failed_candidates_again_but_not_finished_ones(tmp_path):
    shared = study(tmp_path)
    studies.enqueue(shared, ROWS, [1])

    def objective(t):
        t.report({"a": 0.9, "b": 0.8}.get(t.user_attrs["candidate"], 0.0), 1)
        if t.user_attrs["candidate"] == "c":
            raise RuntimeError("out of memory")  # recorded as failed; the others go on
        return 0.9

    assert studies.work(shared, objective, say=lambda _: None) == 3
    assert studies.enqueue(shared, ROWS, [1]) == 1  # only the failed "c"
    assert studies.finalists(studies.finished(shared), 3) == ["a", "b"]  # the failed try is never a finalist


def test_a_worker_without_a_ready_study_waits_then_says_what_to_start(tmp_path):
    store = studies.open_storage(str(tmp_path / "s.journal"))
    with pytest.raises(ConfigError) as caught:
        studies.wait_until_ready(store, "missing", SETTINGS, timeout=0.5, say=lambda _: None)
    assert "was not set up" in caught.value.one_line() and "start the coordinator" in caught.value.one_line()
