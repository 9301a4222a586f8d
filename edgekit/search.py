"""Budget-driven student search: the smallest MobileNet-style student that meets the goal.

1. Free rung: every candidate (alpha x resolution x depth x block) is built untrained, converted
   to int8 and timed on the host; size, download and latency budgets drop candidates before any
   training (sizes and latency do not depend on the weights' values).
2. Successive halving: the rest are distilled for `proxy_epochs` on `proxy_samples` training
   images, scored on a validation slice held out from the training split (the test split is
   never used for choosing); the best 1/eta go on with eta times the epochs, resuming their
   checkpoints, until `finalists` remain.
3. Finalists are built for real (`edgekit build` with a distill step and the config's other
   recipe steps); the winner is the most accurate one that meets every budget.

Everything is cached under `build.cache`, so an interrupted search resumes.
"""
from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgekit.compress.students import StudentSpec
from edgekit.errors import ConfigError, UnsupportedModelError
from edgekit.progress import Reporter
from edgekit.recipe import STEPS, SearchSection
from edgekit.search_compress import compress_weights, final_steps, suffix


def candidates(settings: SearchSection) -> list[StudentSpec]:
    return [StudentSpec(alpha=a, depth=d, resolution=r or None, block=b)  # type: ignore[arg-type]
            for b, d, r, a in itertools.product(settings.blocks, settings.depths, settings.resolutions, settings.alphas)]


def variants(settings: SearchSection) -> dict[str, tuple[StudentSpec, float, int]]:
    """Every candidate: a student architecture, then optionally pruned to a sparsity and clustered."""
    return {spec.name() + suffix(sparsity, clusters): (spec, sparsity, clusters)
            for spec in candidates(settings) for sparsity in settings.sparsities for clusters in settings.clusters}


def run_search(config: Any, *, progress: Reporter, storage: Optional[str] = None, study: Optional[str] = None,
               workers: int = 1, worker: bool = False, wait_s: Optional[float] = 600.0,
               worker_command: Optional[list[str]] = None) -> dict[str, Any]:
    """The coordinator (free rung, enqueue, trials, finals) or, with `worker`, trials only.

    `workers` > 1 starts that many - 1 local processes running `edgekit <worker_command> --worker`."""
    from edgekit import search_study as studies
    from edgekit.data import load_split
    from edgekit.models import load_model

    settings: SearchSection = config.search or SearchSection()
    android = config.targets.android
    budgets = android.budgets
    started = time.perf_counter()
    teacher = load_model(config.model.path, allow_unsafe=config.model.allow_unsafe)
    if teacher.keras_model is None:
        raise UnsupportedModelError(f"{teacher.path.name}: the search distills from a Keras teacher, not a {teacher.format}",
                                    hint="pass the teacher as a .keras or .h5 file")
    from edgekit.compress.run import recipe_model

    teacher = recipe_model(teacher, progress=progress, allow_unsafe=config.model.allow_unsafe)
    data = config.dataset
    train = load_split(data, data.train_split, limit=data.train_samples, seed=config.build.seed, inputs=teacher.inputs)
    if train.y is None:
        raise UnsupportedModelError("the search distills classifiers: the dataset has no labels",
                                    hint="add y_<split> class ids to the data")
    order = np.random.default_rng(config.build.seed).permutation(len(train))
    val_index, proxy_index = order[:settings.validation_samples], order[settings.validation_samples:][:settings.proxy_samples]
    calibration = train.x[proxy_index[:128]]
    key = _search_key(config, settings)
    cache = config.build.cache / f"search-{key}"
    store = studies.open_storage(storage or str(config.build.out / "search.journal"))
    if workers > 1 and (storage or "").startswith("sqlite"):
        raise ConfigError("--workers with a sqlite:/// storage: SQLite breaks under parallel writers (optuna#4002)",
                          hint="leave --storage out (a journal file, safe for local workers) or use postgresql://")
    name = study or f"edgekit-search-{key}-{_space_key(config, settings)}"  # an edited space is a new study
    space = variants(settings)

    def objective(trial: Any) -> float:
        spec, sparsity, clusters = space[trial.user_attrs["candidate"]]
        row = {"name": trial.user_attrs["candidate"], "spec": spec.__dict__, "sparsity": sparsity,
               "clusters": clusters, "proxy": []}
        for epochs in trial.study.user_attrs["rungs"]:
            row["proxy"].append(_proxy_round(row, teacher.keras_model, train, proxy_index, val_index, epochs=epochs,
                                             cache=cache, config=config, progress=progress))
            trial.set_user_attr("proxy", row["proxy"])
            trial.report(row["proxy"][-1]["accuracy"], epochs)
            if trial.should_prune():
                progress.say(f"  search {row['name']}: stopped by the pruner after {epochs} epochs")
                raise studies.optuna.TrialPruned()
        return row["proxy"][-1]["accuracy"]

    if worker:
        shared = studies.wait_until_ready(store, name, settings, timeout=wait_s, say=progress.say)
        ran = studies.work(shared, objective, say=progress.say)
        return {"worker": studies.worker_id(), "study": name, "trials_run": ran,
                "seconds": round(time.perf_counter() - started, 1)}

    shared = studies.load_study(store, name, settings, create=True)
    shared.set_user_attr("ready", False)  # workers (re)joining wait until this run has enqueued its trials
    # local helpers start now and wait for the study, so they are ready when the first trials are
    helpers = _start_workers(workers - 1, worker_command or [], name=name, logs=config.build.out,
                             storage=storage or str(config.build.out / "search.journal"))
    try:
        rows = [_measure(spec, teacher.keras_model, calibration, budgets, sparsity=sparsity, clusters=clusters)
                for spec, sparsity, clusters in space.values()]
        feasible = sorted([r for r in rows if r["feasible"]], key=lambda r: r["bytes"])
        progress.say(f"  search: {len(rows)} candidates, {len(feasible)} fit the size/latency budgets")
        released = studies.release_dead_local_trials(shared)
        added = studies.enqueue(shared, feasible, studies.rung_epochs(settings, len(feasible)))
        progress.say(f"  search: study {name!r}: {added} trials enqueued"
                     + (f", {released} left running by a stopped worker re-enqueued" if released else "")
                     + (f"; {workers} local workers" if workers > 1 else ""))
        trials_started = time.perf_counter()
        studies.wait_for_all(shared, objective, say=progress.say)  # works too, and re-runs retried trials
    except BaseException:
        for helper in helpers:
            helper.terminate()
        for helper in helpers:
            helper.wait()
        raise
    failed_helpers = _join_workers(helpers)
    trial_seconds = time.perf_counter() - trials_started
    current = {r["name"] for r in rows if r["feasible"]}  # trials of this run's feasible candidates only
    trials = {t.user_attrs["candidate"]: t for t in studies.finished(shared) if t.user_attrs["candidate"] in current}
    for row in rows:
        described = studies.describe(trials.get(row["name"]))
        if described:
            row.update(proxy=described["proxy"], trial=described)
    chosen = studies.finalists(list(trials.values()), settings.finalists)
    for row in rows:
        if row["name"] in chosen:
            row["final"] = _final_build(row, config, settings, progress)
            row["final"]["validation_accuracy"] = _artifact_accuracy(row["final"], train.x[val_index], train.y[val_index])
    winner = _winner(rows)
    by_worker: dict[str, int] = {}
    for trial in trials.values():
        by_worker[str(trial.user_attrs.get("worker"))] = by_worker.get(str(trial.user_attrs.get("worker")), 0) + 1
    return {
        "candidates": rows,
        "pareto": pareto_front(rows),
        "winner": winner["name"] if winner else None,
        "study": {"name": name, "storage": _redacted(storage) if storage else "journal (search.journal)",
                  "trials": len(trials), "trials_by_worker": by_worker, "workers_failed": failed_helpers,
                  "trials_per_hour": round(3600 * len(trials) / trial_seconds, 1) if trial_seconds > 0 else None},
        "cost": {"seconds": round(time.perf_counter() - started, 1), "trial_seconds": round(trial_seconds, 1),
                 "proxy_epochs": sum(p["epochs_trained"] for r in rows for p in r.get("proxy", [])),
                 "final_builds": sum(1 for r in rows if "final" in r)},
    }


def _redacted(url: str) -> str:
    """A storage URL without its password (user:password@ and ?password=), for the report."""
    import re

    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    if "@" in rest.split("/", 1)[0]:
        credentials, host = rest.split("@", 1)
        if ":" in credentials:
            rest = f"{credentials.split(':', 1)[0]}:***@{host}"
    return f"{scheme}://" + re.sub(r"(?i)(password=)[^&]*", r"\1***", rest)


STORAGE_ENV = "EDGEKIT_SEARCH_STORAGE"  # --storage's default; how local workers get it (never in argv)


def _start_workers(count: int, command: list[str], *, name: str, storage: str, logs: Path) -> list[Any]:
    """Local worker processes (`edgekit search ... --worker`) on the same study; each writes its stderr to
    `<out>/search-worker-<n>.log` (a pipe read only at the end could fill up and stall the worker)."""
    import subprocess
    import sys

    if count <= 0:
        return []
    if not command:
        raise ValueError("local workers need the search command line to repeat")
    logs.mkdir(parents=True, exist_ok=True)
    helpers = []
    for number in range(1, count + 1):
        log = logs / f"search-worker-{number}.log"
        with log.open("w", encoding="utf-8") as handle:
            process = subprocess.Popen([sys.executable, "-m", "edgekit", *command, "--study", name, "--worker", "--quiet",
                                        "--wait", "0"],
                                       stdout=subprocess.DEVNULL, stderr=handle,
                                       env={**os.environ, STORAGE_ENV: storage})  # not in argv: it may hold a password
        process.log = log  # type: ignore[attr-defined]
        helpers.append(process)
    return helpers


def _join_workers(helpers: list[Any]) -> list[str]:
    failed = []
    for helper in helpers:
        helper.wait()
        if helper.returncode != 0:
            lines = helper.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            failed.append(f"worker exit {helper.returncode}: {(lines or ['no output'])[-1][:200]} (see {helper.log})")
    return failed


def _measure(spec: StudentSpec, teacher: Any, calibration: np.ndarray, budgets: Any, *, sparsity: float = 0.0,
             clusters: int = 0) -> dict[str, Any]:
    """Size, gzip and host latency of the untrained student's int8 artifact: free, no training."""
    from edgekit.compress.students import build_student
    from edgekit.converters import tflite
    from edgekit.measure import gzip_size
    from edgekit.models import keras_loaded
    from edgekit.profile.host import profile_tflite

    student = build_student(spec, input_shape=tuple(teacher.input_shape[1:]), classes=int(teacher.output_shape[-1]))
    _like_trained(student)
    compress_weights(student, sparsity=sparsity, clusters=clusters)  # the structure prune/cluster would leave
    name = spec.name() + suffix(sparsity, clusters)
    loaded = keras_loaded(Path(name), "keras", student)
    data = tflite.convert(loaded, "int8", calibration=[calibration])
    latency = profile_tflite(data, [calibration], runs=50, warmup=5)
    row = {"name": name, "spec": spec.__dict__, "sparsity": sparsity, "clusters": clusters,
           "params": loaded.params, "bytes": len(data),
           "gzip_bytes": gzip_size(data), "p50_ms": latency["p50_ms"]}
    reasons = []
    if budgets.max_size is not None and row["bytes"] > budgets.max_size:
        reasons.append("max_size")
    if budgets.max_download is not None and row["gzip_bytes"] > budgets.max_download:
        reasons.append("max_download")
    if budgets.max_latency_p50 is not None and row["p50_ms"] > budgets.max_latency_p50:
        reasons.append("max_latency_p50")
    row["feasible"], row["over_budget"] = not reasons, reasons
    return row


def _like_trained(model: Any, seed: int = 0) -> None:
    """Give every weight distinct non-zero values, as training would.

    Fresh models have all-zero biases and identity BatchNorm statistics; the converter elides or
    deduplicates such constant buffers, so an untrained artifact would look smaller than the
    trained one. Sizes and latency then depend only on shapes, as they do after training.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = layer.get_weights()
        if values:
            noisy = [v + rng.normal(0.0, 0.05, v.shape).astype(v.dtype) for v in values]
            if type(layer).__name__ == "BatchNormalization":
                noisy[-1] = np.abs(noisy[-1]) + 0.5  # moving variance stays positive
            layer.set_weights(noisy)


def _proxy_round(row: dict[str, Any], teacher: Any, train: Any, proxy_index: np.ndarray, val_index: np.ndarray, *,
                 epochs: int, cache: Path, config: Any, progress: Reporter) -> dict[str, Any]:
    from edgekit.compress import distill
    from edgekit.compress.train import fine_tune
    from edgekit.recipe import DistillStep

    spec = row["spec"]
    before = row["proxy"][-1]["epochs"] if row.get("proxy") else 0
    step = DistillStep(step="distill", alpha=spec["alpha"], depth=spec["depth"], resolution=spec["resolution"],
                       block=spec["block"], epochs=epochs, lr_schedule="constant", learning_rate=2e-3)
    x, y = train.x[proxy_index], train.y[proxy_index]
    plan = distill.setup(teacher, step, x=x, y=y, seed=config.build.seed)
    start = time.perf_counter()
    state = fine_tune(plan.train_model, step, x=x, y=plan.targets, folder=cache / row["name"], seed=config.build.seed,
                      progress=progress, callbacks=[], label=f"search {row['name']}", loss=plan.loss,
                      metrics=plan.metrics, loss_weights=plan.loss_weights)
    scored = plan.student
    if row.get("sparsity") or row.get("clusters"):
        scored = _recovered_copy(plan.student, row, x, y, seed=config.build.seed)
    predictions = scored.predict(train.x[val_index], batch_size=512, verbose=0)
    accuracy = float(np.mean(predictions.argmax(-1) == train.y[val_index]))
    progress.say(f"  search {row['name']}: {epochs} proxy epochs -> validation accuracy {100 * accuracy:.2f} %")
    return {"epochs": epochs, "accuracy": round(accuracy, 5), "epochs_trained": epochs - before,
            "resumed": bool(state.get("resumed")),
            "seconds": round(time.perf_counter() - start, 1)}


def _recovered_copy(student: Any, row: dict[str, Any], x: np.ndarray, y: np.ndarray, *, seed: int) -> Any:
    """A copy of the distilled student, pruned/clustered in one shot, then fine-tuned for one epoch on the
    proxy data with every step projected back onto that structure (what the real steps' fine-tuning does)."""
    from edgekit.tfenv import keras

    k = keras()
    k.utils.set_random_seed(seed)
    copy = k.models.clone_model(student)
    copy.set_weights(student.get_weights())
    structure = compress_weights(copy, sparsity=row.get("sparsity", 0.0), clusters=row.get("clusters", 0))

    class Project(k.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            structure.project()

    copy.compile(optimizer=k.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    copy.fit(x, y, epochs=1, batch_size=128, verbose=0, callbacks=[Project()])
    return copy


def _final_build(row: dict[str, Any], config: Any, settings: SearchSection, progress: Reporter) -> dict[str, Any]:
    from edgekit.pipeline import build
    from edgekit.recipe import DistillStep

    spec = row["spec"]
    final = config.model_copy(deep=True)
    sparsity, clusters = row.get("sparsity", 0.0), row.get("clusters", 0)
    # with sparsities / clusters searched, the config's own prune / cluster steps are templates only:
    # a candidate with 0 is built without them, as it was measured
    replaced = {"distill"} | ({"prune"} if sparsity or settings.sparsities != [0.0] else set()) | \
        ({"cluster"} if clusters or settings.clusters != [0] else set())
    rest = [s for s in config.recipe if s.step not in replaced]
    final.recipe = [DistillStep(step="distill", alpha=spec["alpha"], depth=spec["depth"], resolution=spec["resolution"],
                                block=spec["block"], epochs=settings.final_epochs)] + \
        sorted(final_steps(sparsity, clusters, config.recipe) + rest, key=lambda s: STEPS[s.step].order)
    final.targets.android.precisions = ["int8"]
    final.targets.android.ship = None
    final.build.out = config.build.out / "candidates" / row["name"]
    final.build.distribute = "off"  # trials scale through Optuna; TensorFlow already ran in this process
    progress.say(f"  search: final build of {row['name']} ({settings.final_epochs} epochs)")
    report = build(final, target="android", progress=progress)
    artifact = report["artifacts"][0]
    return {"accuracy": artifact["accuracy"], "accuracy_drop": artifact["accuracy_drop"], "bytes": artifact["bytes"],
            "gzip_bytes": artifact["gzip_bytes"], "p50_ms": artifact["latency"][0]["p50_ms"],
            "passed": report["passed"], "report": str(final.build.out / "report.json")}


def _space_key(config: Any, settings: SearchSection) -> str:
    """The space, schedule and budgets: a study only ever holds trials of one of these."""
    import hashlib

    text = json.dumps({"search": settings.model_dump(mode="json"),
                       "budgets": config.targets.android.budgets.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _search_key(config: Any, settings: SearchSection) -> str:
    """Proxy checkpoints depend on the teacher file, the data settings, the search settings and the seed."""
    import hashlib

    from edgekit.compress.run import file_digest

    digest = hashlib.sha256(file_digest(config.model.path).encode())
    digest.update(json.dumps(config.dataset.model_dump(mode="json"), sort_keys=True).encode())
    digest.update(json.dumps({"proxy_samples": settings.proxy_samples, "validation_samples": settings.validation_samples,
                              "seed": config.build.seed}, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _artifact_accuracy(final: dict[str, Any], x: np.ndarray, y: np.ndarray) -> float:
    """LiteRT accuracy of a finalist's int8 artifact on the validation slice (choosing never uses test data)."""
    from edgekit.litert import run

    report = json.loads(Path(final["report"]).read_text())
    data = (Path(final["report"]).parent / report["artifacts"][0]["path"]).read_bytes()
    predictions = run(data, [x])[1][0]
    return round(float(np.mean(predictions.argmax(-1) == y)), 5)


def _winner(rows: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The finalist with the best validation accuracy among those whose build met every budget."""
    passing = [r for r in rows if "final" in r and r["final"]["passed"]]
    return max(passing, key=lambda r: r["final"]["validation_accuracy"]) if passing else None


def pareto_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Candidates no other candidate beats on both gzip bytes and accuracy (best accuracy known)."""
    points = []
    for r in rows:
        accuracy = r["final"]["accuracy"] if "final" in r else (r["proxy"][-1]["accuracy"] if r.get("proxy") else None)
        if accuracy is None:
            continue
        gzip_bytes = r["final"]["gzip_bytes"] if "final" in r else r["gzip_bytes"]
        points.append({"name": r["name"], "gzip_bytes": gzip_bytes, "accuracy": accuracy, "p50_ms": r["p50_ms"],
                       "measured_on": "test (final build)" if "final" in r else "validation (proxy)"})
    front = [p for p in points if not any(q["gzip_bytes"] <= p["gzip_bytes"] and q["accuracy"] >= p["accuracy"]
                                          and q != p for q in points)]
    return sorted(front, key=lambda p: p["gzip_bytes"])


def finish_search(result: dict[str, Any], out: Path) -> None:
    """search.json + search.md; the winner's report, with the search embedded, as out/report.*"""
    from edgekit.report import write_json
    from edgekit.report.markdown import render

    out.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "report.md"):  # never leave an older build's verdict beside this search
        (out / stale).unlink(missing_ok=True)
    (out / "search.json").write_text(json.dumps(result, indent=2) + "\n")
    table = search_markdown(result)
    (out / "search.md").write_text(table)
    winner = next((r for r in result["candidates"] if r["name"] == result["winner"]), None)
    if winner is not None:
        report = json.loads(Path(winner["final"]["report"]).read_text())
        report["search"] = result
        for artifact in report["artifacts"]:
            artifact["path"] = f"candidates/{winner['name']}/{artifact['path']}"
        write_json(report, out / "report.json")
        (out / "report.md").write_text(render(report) + "\n" + table.replace("# edgekit student search", "## Student search"))


def search_markdown(result: dict[str, Any]) -> str:
    lines = ["# edgekit student search", "", f"Winner: **{result['winner'] or 'none met every budget'}** · "
             f"cost {result['cost']['seconds'] / 60:.1f} min, {result['cost']['proxy_epochs']} proxy epochs, "
             f"{result['cost']['final_builds']} final builds", "",
             "## Pareto front (gzip bytes vs accuracy)", "", "| student | gzip bytes | accuracy | host p50 | measured on |",
             "|---|---:|---:|---:|---|"]
    lines += [f"| {p['name']} | {p['gzip_bytes']:,} | {100 * p['accuracy']:.2f} % | {p['p50_ms']:.3f} ms | {p['measured_on']} |"
              for p in result["pareto"]]
    lines += ["", "Proxy and final validation accuracy choose; test accuracy (the build's eval split) is reported only.",
              "", "## All candidates", "",
              "| student | params | int8 bytes | gzip | host p50 | budgets | proxy accuracy | final (validation / test) |",
              "|---|---:|---:|---:|---:|---|---|---|"]
    for r in result["candidates"]:
        proxy = ", ".join(f"{100 * p['accuracy']:.1f} % ({p['epochs']} ep)" for p in r.get("proxy", [])) or "—"
        final = (f"{100 * r['final']['validation_accuracy']:.2f} % / {100 * r['final']['accuracy']:.2f} % · "
                 f"{'pass' if r['final']['passed'] else 'FAIL'}"
                 if "final" in r else "—")
        fits = "fits" if r["feasible"] else "over " + ", ".join(r["over_budget"])
        lines.append(f"| {r['name']} | {r['params']:,} | {r['bytes']:,} | {r['gzip_bytes']:,} | {r['p50_ms']:.3f} ms | "
                     f"{fits} | {proxy} | {final} |")
    return "\n".join(lines) + "\n"
