"""The student search's trials on Optuna: one study, any number of worker processes or machines.

Each candidate that passed the free rung is one enqueued trial. A worker pops waiting trials (the
storage hands each to exactly one worker), distils the candidate on the proxy data in rungs of
`proxy_epochs * eta^k` epochs, reports the validation accuracy after each rung, and stops when
Optuna's `SuccessiveHalvingPruner` prunes it. The storage is where workers meet:

  default      `<out>/search.journal`, Optuna's JournalStorage on a file (file locks; safe for several
               local processes, unlike SQLite under parallel writers, optuna#4002)
  postgresql://user:password@host:5432/db   many machines: run `edgekit search --storage URL
               --study NAME` once (the coordinator) and `--worker` with the same URL/NAME on the rest
  sqlite:///path.db   one process at a time

Only these storages are accepted (an allowlist of URL schemes). With several workers, which trials
the pruner stops depends on the order they report (asynchronous successive halving): a candidate
that is best at every rung always survives, close ones may differ between runs.
"""
from __future__ import annotations

import math
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

from edgekit.errors import ConfigError, EnvironmentProblem
from edgekit.lazy import LazyModule

optuna = LazyModule("optuna", package="optuna")
URL_SCHEMES = ("postgresql://", "postgresql+psycopg2://", "sqlite:///")
JOURNAL_SUFFIX = ".journal"
STORAGE_HINT = ("pass a PostgreSQL URL (postgresql://user:password@host:5432/db), sqlite:///path.db, "
                "or a file path ending in .journal")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def open_storage(spec: str) -> Any:
    """The Optuna storage for a `--storage` value (allowlisted schemes only)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats, journal files
    if spec.endswith(JOURNAL_SUFFIX) and "://" not in spec:
        path = Path(spec).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    if not spec.startswith(URL_SCHEMES):
        scheme = spec.split("://", 1)[0] if "://" in spec else spec[:40]
        raise ConfigError(f"--storage {scheme!r}: not a storage edgekit uses", hint=STORAGE_HINT)
    if spec.startswith("postgresql://"):  # SQLAlchemy 2.1 would pick psycopg 3; the pinned driver is psycopg2
        spec = "postgresql+psycopg2://" + spec[len("postgresql://"):]
    for attempt in range(3):  # several processes creating Optuna's tables at once: one loses (optuna#1092)
        try:
            return optuna.storages.RDBStorage(
                spec, heartbeat_interval=30, grace_period=120,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2))
        except Exception as err:  # noqa: BLE001 - drivers raise many types; one line
            if attempt < 2:
                time.sleep(2 + 3 * attempt)
                continue
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            raise EnvironmentProblem(f"cannot open the search storage: {first}",
                                     hint="check the URL, that the database server runs and accepts this user") from None
    raise AssertionError("unreachable")


def pruner(settings: Any) -> Any:
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=settings.proxy_epochs,
                                                  reduction_factor=settings.eta, min_early_stopping_rate=0)


def rung_epochs(settings: Any, feasible: int) -> list[int]:
    """Epoch counts at which a trial reports: enough rungs that about `finalists` survive the last one."""
    rungs = max(0, math.ceil(math.log(max(feasible, 1) / settings.finalists, settings.eta))) if feasible else 0
    return [settings.proxy_epochs * settings.eta ** k for k in range(rungs + 1)]


def load_study(storage: Any, name: str, settings: Any, *, create: bool) -> Any:
    if create:
        return optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                   pruner=pruner(settings))
    return optuna.load_study(study_name=name, storage=storage, pruner=pruner(settings))


def enqueue(study: Any, rows: list[dict[str, Any]], epochs: list[int]) -> int:
    """One waiting trial per feasible candidate not in the study yet, or whose latest try failed (an
    interrupted or crashed trial is tried again on resume; finished and running ones are not)."""
    state = optuna.trial.TrialState
    known = {t.user_attrs.get("candidate") for t in finished(study) if t.state != state.FAIL}
    added = 0
    for row in rows:
        if row["feasible"] and row["name"] not in known:
            study.enqueue_trial({"candidate": row["name"]},
                                user_attrs={"candidate": row["name"], "bytes": row["bytes"],
                                            "gzip_bytes": row["gzip_bytes"]})
            added += 1
    study.set_user_attr("rungs", epochs)
    study.set_user_attr("candidates", [r["name"] for r in rows if r["feasible"]])
    study.set_user_attr("ready", True)
    return added


def release_dead_local_trials(study: Any) -> int:
    """Trials left RUNNING by a local worker that died (journal storage has no heartbeat): fail and re-enqueue."""
    state = optuna.trial.TrialState
    released = 0
    for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        owner = str(trial.user_attrs.get("worker", ""))
        host, _, pid = owner.rpartition(":")
        if host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
            continue
        study._storage.set_trial_state_values(trial._trial_id, state=state.FAIL)
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)(study, study._storage.get_trial(trial._trial_id))
        released += 1
    return released


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_until_ready(storage: Any, name: str, settings: Any, *, timeout: Optional[float],
                     say: Callable[[str], None]) -> Any:
    """A worker started before the coordinator enqueued the candidates waits for the study (bounded,
    unless `timeout` is None: local helpers wait as long as their coordinator runs)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    announced = False
    while True:
        try:
            study = load_study(storage, name, settings, create=False)
            if study.user_attrs.get("ready"):
                return study
        except KeyError:  # no such study yet
            pass
        if deadline is not None and time.monotonic() > deadline:
            raise ConfigError(f"search study {name!r} was not set up within {timeout:.0f} s",
                              hint="start the coordinator (the same command without --worker) with the same "
                                   "--storage and --study")
        if not announced:
            say(f"  search worker: waiting for study {name!r} to be set up by the coordinator")
            announced = True
        time.sleep(2)


def work(study: Any, objective: Callable[[Any], float], *, say: Callable[[str], None]) -> int:
    """Run waiting trials until none is left; return how many this process ran. A trial whose objective
    raises is recorded as failed (and tried again when the search is resumed); the others go on."""
    state = optuna.trial.TrialState
    mine: list[int] = []
    while study.get_trials(deepcopy=False, states=(state.WAITING,)):
        study.optimize(_claimed(objective, mine), n_trials=1, catch=(Exception,), gc_after_trial=True)
    return len(mine)


def _claimed(objective: Callable[[Any], float], mine: list[int]) -> Callable[[Any], float]:
    def run(trial: Any) -> float:
        if "candidate" not in trial.user_attrs:  # another worker took the last waiting trial first
            trial.set_user_attr("stray", True)
            raise optuna.TrialPruned()
        trial.set_user_attr("worker", worker_id())
        mine.append(trial.number)
        return objective(trial)
    return run


def wait_for_all(study: Any, objective: Callable[[Any], float], *, say: Callable[[str], None],
                 poll: float = 5.0) -> None:
    """Work on waiting trials, then block until no trial is waiting or running. While waiting, a trial
    whose worker died is failed and enqueued again (heartbeats on PostgreSQL/SQLite; on the journal file,
    a local worker process that is gone), and this process runs it."""
    state = optuna.trial.TrialState
    said = 0.0
    while True:
        work(study, objective, say=say)
        optuna.storages.fail_stale_trials(study)  # nothing to do on storages without heartbeats
        release_dead_local_trials(study)
        if study.get_trials(deepcopy=False, states=(state.WAITING,)):
            continue
        busy = study.get_trials(deepcopy=False, states=(state.RUNNING,))
        if not busy:
            return
        if time.monotonic() - said > 60:
            say(f"  search: waiting for {len(busy)} trials on other workers")
            said = time.monotonic()
        time.sleep(poll)


def finished(study: Any) -> list[Any]:
    """The study's trials, one per candidate (the latest try of a retried one), strays left out."""
    latest: dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False):
        name = trial.user_attrs.get("candidate")
        if name and not trial.user_attrs.get("stray"):
            latest[name] = trial
    return list(latest.values())


def finalists(trials: list[Any], count: int) -> list[str]:
    """The `count` best candidates: the furthest rung reached first, then its accuracy, then fewer bytes."""
    def rank(trial: Any) -> tuple:
        values = trial.intermediate_values
        last = max(values) if values else -1
        return (last, values.get(last, 0.0) if values else 0.0, -int(trial.user_attrs.get("gzip_bytes", 0)))
    usable = [t for t in trials if t.intermediate_values and t.state != optuna.trial.TrialState.FAIL]
    return [t.user_attrs["candidate"] for t in sorted(usable, key=rank, reverse=True)[:count]]


def describe(trial: Optional[Any]) -> dict[str, Any]:
    if trial is None:
        return {}
    return {"trial": trial.number, "state": trial.state.name.lower(), "worker": trial.user_attrs.get("worker"),
            "proxy": trial.user_attrs.get("proxy", [])}
