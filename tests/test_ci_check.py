"""Size budgets in CI (issue #16): a baseline diff, budgets of change, output formats, --verify.

The fast tests use hand-made reports; the slow one runs what examples/ci/github-actions.yml runs on
two real builds of a tiny trained model that differ only in the recipe's cluster count.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
from conftest import full_report

from edgekit.cli import main
from edgekit.diff_format import COMMENT_LIMIT, MARKER, render_text

ROOT = Path(__file__).resolve().parents[1]
CHECK_SCHEMA = json.loads((ROOT / "docs" / "check.schema.json").read_text())
BASE = {"target": "android", "path": "android/model_int8.tflite", "precision": "int8", "bytes": 100_000,
        "gzip_bytes": 80_000, "brotli_bytes": 75_000, "accuracy": 0.90, "accuracy_drop": 0.4, "shipped": True,
        "parity": {"status": "passed"}, "budgets": [],
        "latency": [{"where": "host", "runtime": "litert", "threads": 1, "p50_ms": 1.0},
                    {"where": "device", "runtime": "litert", "threads": 4, "p50_ms": 5.0}]}


def write(folder: Path, name: str, artifacts: list, budgets: dict | None = None) -> Path:
    config = {"targets": {"android": {"budgets": budgets or {}}}}
    path = folder / name
    path.write_text(json.dumps(full_report(artifacts, config=config)))
    return path


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().out


def test_diff_matches_artifacts_and_compares_latency_only_in_the_same_place(tmp_path, capsys):
    grown = {**BASE, "bytes": 102_500, "gzip_bytes": 84_000, "accuracy": 0.897,
             "latency": [{"where": "host", "runtime": "litert", "threads": 1, "p50_ms": 1.2},
                         {"where": "device", "runtime": "litert", "threads": 1, "p50_ms": 0.1}]}  # other threads
    added = {**BASE, "target": "web", "path": "web/model.tflite", "precision": "fp16"}
    removed = {**BASE, "path": "android/model_fp32.tflite", "precision": "fp32"}
    base = write(tmp_path, "base.json", [BASE, removed])
    new = write(tmp_path, "new.json", [grown, added])
    code, out = run_cli(["diff", str(base), str(new), "--format", "json"], capsys)
    doc = json.loads(out)
    jsonschema.validate(doc, CHECK_SCHEMA)
    assert code == 0 and doc["passed"]
    rows = {r["path"]: r for r in doc["artifacts"]}
    assert rows["android/model_int8.tflite"]["status"] == "matched"
    assert rows["android/model_int8.tflite"]["bytes"] == {"base": 100_000, "current": 102_500, "change": 2_500,
                                                          "relative": 0.025}
    assert rows["android/model_int8.tflite"]["accuracy"]["change"] == pytest.approx(-0.3)
    latency = rows["android/model_int8.tflite"]["latency"]
    assert [(e["where"], e["threads"]) for e in latency] == [("host", 1)]  # the device runs differ in threads
    assert latency[0]["p50_ms"]["relative"] == pytest.approx(0.2)
    assert rows["web/model.tflite"]["status"] == "added"
    assert rows["android/model_fp32.tflite"]["status"] == "removed"


def test_a_changed_precision_is_compared_with_the_artifact_it_replaces(tmp_path, capsys):
    base = write(tmp_path, "base.json", [BASE])
    swapped = {**BASE, "path": "android/model_dynamic.tflite", "precision": "dynamic", "bytes": 10_000_000}
    new = write(tmp_path, "new.json", [swapped], {"max_size_increase": "2 %"})
    code, out = run_cli(["check", str(new), "--baseline", str(base), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 1 and [r["status"] for r in doc["artifacts"]] == ["matched"]
    assert "replaces the baseline's int8" in doc["artifacts"][0]["note"]
    assert doc["failed_budgets"][0]["name"] == "max_size_increase"


def test_a_budgets_file_with_only_budgets_of_change_keeps_the_recorded_absolute_budgets(tmp_path, capsys):
    over = {**BASE, "budgets": [{"name": "max_size", "limit": 1000, "actual": 100_000, "unit": "bytes",
                                 "passed": False}]}
    new, base = write(tmp_path, "new.json", [over]), write(tmp_path, "base.json", [BASE])
    (tmp_path / "change.toml").write_text('[android]\nmax_size_increase = "2 %"\n')
    code, out = run_cli(["check", str(new), "--baseline", str(base), "--budgets", str(tmp_path / "change.toml"),
                         "--format", "json"], capsys)
    names = [f["name"] for f in json.loads(out)["failed_budgets"]]
    assert code == 1 and names == ["max_size"]


def test_failed_budget_lines_render_in_every_format_for_every_kind_of_actual(tmp_path, capsys):
    delegated = {**BASE, "budgets": [{"name": "min_delegated_fraction", "limit": {"gpu": 1.0}, "passed": False,
                                      "actual": {"gpu": 0.5}, "unit": "fraction", "note": "gpu falls back on MEAN"}]}
    report = write(tmp_path, "r.json", [delegated])
    for fmt in ("text", "markdown", "github", "json"):
        code, out = run_cli(["check", str(report), "--baseline", str(report), "--format", fmt], capsys)
        assert code == 1 and "min_delegated_fraction" in out


def test_a_baseline_that_failed_to_build_an_artifact_does_not_block_the_fix(tmp_path, capsys):
    broken = {**BASE, "status": "failed", "error": {"reason": "converter crashed", "exit_code": 5}}
    base, new = write(tmp_path, "base.json", [broken]), write(tmp_path, "new.json", [BASE], {"max_size_increase": "2 %"})
    code, out = run_cli(["check", str(new), "--baseline", str(base), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["artifacts"][0]["status"] == "added"


def test_verify_refuses_artifact_paths_outside_the_report_folder(tmp_path, capsys):
    (tmp_path / "outside.bin").write_bytes(b"x")
    (tmp_path / "build").mkdir()
    import hashlib

    digest = hashlib.sha256(b"x").hexdigest()
    report = write(tmp_path / "build", "report.json", [{**BASE, "path": "../outside.bin", "sha256": digest}])
    code = main(["check", str(report), "--verify", "--format", "json"])
    assert code == 2 and "points outside" in capsys.readouterr().err


def test_budgets_of_change_pass_at_the_limit_and_fail_above_it(tmp_path, capsys):
    budgets = {"max_size_increase": "2.5 %", "max_download_increase": "4 KB", "max_accuracy_decrease": 0.3,
               "max_latency_increase": "20 %"}
    grown = {**BASE, "bytes": 102_500, "gzip_bytes": 84_000, "accuracy": 0.897,
             "latency": [{"where": "host", "runtime": "litert", "threads": 1, "p50_ms": 1.2}]}
    base = write(tmp_path, "base.json", [BASE])
    new = write(tmp_path, "new.json", [grown], budgets)
    code, out = run_cli(["check", str(new), "--baseline", str(base), "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["passed"], doc["failed_budgets"]
    names = [b["name"] for b in doc["artifacts"][0]["budgets"]]
    assert names == ["max_size_increase", "max_download_increase", "max_accuracy_decrease", "max_latency_increase"]
    tighter = write(tmp_path, "tight.json", [grown], {**budgets, "max_size_increase": "2 %",
                                                      "max_accuracy_decrease": 0.2})
    code, out = run_cli(["check", str(tighter), "--baseline", str(base), "--format", "json"], capsys)
    doc = json.loads(out)
    jsonschema.validate(doc, CHECK_SCHEMA)
    assert code == 1 and not doc["passed"]
    assert {(f["name"], f["actual"]) for f in doc["failed_budgets"]} == {("max_size_increase", 2.5),
                                                                         ("max_accuracy_decrease", 0.3)}


def test_a_budget_of_change_without_the_number_in_both_builds_fails(tmp_path, capsys):
    base = write(tmp_path, "base.json", [{**BASE, "latency": []}])
    new = write(tmp_path, "new.json", [BASE], {"max_latency_increase": "1 ms"})
    code, out = run_cli(["check", str(new), "--baseline", str(base), "--format", "json"], capsys)
    failed = json.loads(out)["failed_budgets"]
    assert code == 1 and failed[0]["name"] == "max_latency_increase" and failed[0]["note"] == "not measured in both builds"


def test_markdown_comment_has_marker_status_table_and_stays_under_githubs_limit(tmp_path, capsys):
    many = [{**BASE, "path": f"android/model_{i}.tflite", "precision": f"p{i}"} for i in range(2000)]
    base = write(tmp_path, "base.json", many)
    new = write(tmp_path, "new.json", many)
    code, out = run_cli(["check", str(new), "--baseline", str(base), "--format", "markdown",
                         "--report-url", "https://ci.example/report.html"], capsys)
    assert code == 0 and out.startswith(MARKER) and "✅ edgekit: all budgets pass (2000 artifacts" in out
    assert len(out) <= COMMENT_LIMIT and "more artifacts: see the full report" in out
    assert "[Full report](https://ci.example/report.html)" in out


def test_github_format_annotates_each_failed_budget(tmp_path, capsys):
    new = write(tmp_path, "new.json", [BASE], {"max_size_increase": "1 %"})
    base = write(tmp_path, "base.json", [{**BASE, "bytes": 50_000}])
    code, out = run_cli(["check", str(new), "--baseline", str(base), "--format", "github"], capsys)
    assert code == 1
    assert out.splitlines()[0].startswith("::error title=edgekit budget::android/model_int8.tflite: "
                                          "max_size_increase 100.0 %25 > limit 1 %25")
    start = next(i for i, line in enumerate(out.splitlines()) if line.startswith("::stop-commands::"))
    token = out.splitlines()[start].split("::")[2]
    assert out.splitlines()[-1] == f"::{token}::" and len(token) == 32  # the table cannot issue commands


def test_text_summary_fits_100_columns_and_says_what_it_left_out():
    row = {"target": "web", "format": "tfjs", "precision": "uint8", "path": "web/" + "x" * 40 + "/model.json",
           "status": "matched", "shipped": True, "failed": False, "passed": True, "budgets": [],
           "bytes": {"base": 1e6, "current": 1.1e6, "change": 1e5, "relative": 0.1},
           "gzip_bytes": {"base": 9e5, "current": 9.5e5, "change": 5e4, "relative": 0.0555},
           "brotli_bytes": None, "accuracy": {"base": 93.1, "current": 92.9, "change": -0.2, "relative": None},
           "latency": [{"where": "browser", "runtime": "litertjs", "backend": "wasm", "threads": 1,
                        "p50_ms": {"base": 1.5, "current": 1.6, "change": 0.1, "relative": 0.0667}}]}
    doc = {"passed": True, "baseline": {"path": "b"}, "artifacts": [row], "failed_budgets": [], "targets_failed": []}
    text = render_text(doc)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "columns left out to fit 100 columns" in text


def test_verify_fails_a_report_whose_artifact_changed_after_the_build(tmp_path, capsys):
    import hashlib

    artifact_file = tmp_path / "android" / "model_int8.tflite"
    artifact_file.parent.mkdir()
    artifact_file.write_bytes(b"TFL3 model bytes")
    digest = hashlib.sha256(artifact_file.read_bytes()).hexdigest()
    report = write(tmp_path, "report.json", [{**BASE, "sha256": digest}])
    assert run_cli(["check", str(report), "--verify", "--format", "json"], capsys)[0] == 0
    artifact_file.write_bytes(b"TFL3 swapped bytes")
    code, out = run_cli(["check", str(report), "--verify", "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 1 and doc["failed_budgets"][0]["name"] == "sha256"
    assert doc["failed_budgets"][0]["note"] == "the files changed after the build"


def test_edgekit_with_no_command_prints_help_and_exits_2():
    result = subprocess.run([sys.executable, "-m", "edgekit"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage: edgekit" in result.stderr


@pytest.mark.slow
def test_two_builds_differing_in_clusters_gate_like_the_workflow(tmp_path, tiny_model_path):
    """What examples/ci/github-actions.yml runs: build the base and the PR, check with the baseline."""
    def build(name: str, clusters: int) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "edgekit.toml").write_text(textwrap.dedent(f"""
            [[recipe]]
            step = "cluster"
            clusters = {clusters}
            epochs = 1
            learning_rate = 1e-4

            [model]
            path = "{tiny_model_path}"

            [dataset]
            kind = "fashion_mnist"
            eval_samples = 300
            calibration_samples = 32
            train_samples = 1000

            [targets.android]
            precisions = ["int8"]
            runs = 10
            warmup = 2

            [targets.android.budgets]
            max_download_increase = "2 %"
            max_accuracy_decrease = 5.0

            [build]
            out = "out"
        """))
        done = subprocess.run([sys.executable, "-m", "edgekit", "build", "--config", str(folder / "edgekit.toml"),
                               "--quiet"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return folder / "out" / "report.json"

    base, pr = build("base", 4), build("pr", 64)
    check = [sys.executable, "-m", "edgekit", "check", str(pr), "--baseline", str(base), "--verify"]
    comment = subprocess.run(check + ["--format", "markdown"], capture_output=True, text=True)
    assert comment.returncode == 1, comment.stderr
    assert comment.stdout.startswith(MARKER) and "❌ edgekit: 1 budget exceeded" in comment.stdout
    assert "max_download_increase" in comment.stdout and "android/model_int8.tflite" in comment.stdout
    (ROOT / "build" / "test-artifacts").mkdir(parents=True, exist_ok=True)
    (ROOT / "build" / "test-artifacts" / "ci_comment.md").write_text(comment.stdout)  # the README's sample
    as_json = subprocess.run(check + ["--format", "json"], capture_output=True, text=True)
    doc = json.loads(as_json.stdout)
    jsonschema.validate(doc, CHECK_SCHEMA)
    (row,) = doc["artifacts"]
    assert row["gzip_bytes"]["change"] > 0.02 * row["gzip_bytes"]["base"]  # 64 clusters gzip worse than 4
    assert [f["name"] for f in doc["failed_budgets"]] == ["max_download_increase"]
    same = subprocess.run([sys.executable, "-m", "edgekit", "check", str(base), "--baseline", str(base),
                           "--verify", "--format", "markdown"], capture_output=True, text=True)
    assert same.returncode == 0 and "✅" in same.stdout
    report = json.loads(pr.read_text())
    assert report["provenance"]["model_sha256"] and report["provenance"]["data"]["eval"]["samples"] == 300
    assert all(len(a["sha256"]) == 64 for a in report["artifacts"])


@pytest.mark.slow
def test_same_inputs_give_the_same_artifact_hashes_except_where_the_report_says_not(tmp_path, tiny_model_path):
    config = tmp_path / "edgekit.toml"
    config.write_text(textwrap.dedent(f"""
        [model]
        path = "{tiny_model_path}"

        [dataset]
        kind = "fashion_mnist"
        eval_samples = 100
        calibration_samples = 16

        [targets.android]
        precisions = ["fp32", "int8"]
        runs = 5
        warmup = 1

        [targets.ios]
        variants = ["fp16"]

        [targets.web]
        profile_browser = false
        node_backends = ["wasm"]
        parity_samples = 20
    """))
    reports = []
    for name in ("one", "two"):
        assert main(["build", "--config", str(config), "--out", str(tmp_path / name), "--quiet"]) == 0
        reports.append(json.loads((tmp_path / name / "report.json").read_text()))
    for first, second in zip(*(r["artifacts"] for r in reports)):
        assert first["path"] == second["path"]
        if first["format"] == "mlpackage":  # fresh random ids in Manifest.json on every save
            assert first["reproducible"] is False and any("not reproducible" in n for n in first["notes"])
        else:
            assert first["sha256"] == second["sha256"], first["path"]
            assert first.get("reproducible") is None


def test_dry_run_checks_the_targets_tools_and_exits_4_when_one_is_missing(tmp_path, monkeypatch, capsys):
    config = ROOT / "examples" / "fashion_mnist" / "edgekit.toml"
    monkeypatch.setenv("EDGEKIT_CHROMIUM", str(tmp_path / "no-chromium"))
    assert main(["build", "--config", str(config), "--target", "web", "--dry-run"]) == 4
    captured = capsys.readouterr()
    assert json.loads(captured.out)["targets"]["web"] is not None  # the resolved config is still printed
    assert "target web: cannot be built here" in captured.err and "no-chromium" in captured.err
    assert main(["build", "--config", str(config), "--target", "android", "--dry-run"]) == 0
    assert "target android: ready" in capsys.readouterr().err


def test_verbose_flag_turns_on_debug_output(monkeypatch, tmp_path):
    import os

    monkeypatch.setenv("EDGEKIT_DEBUG", "")  # recorded, so the variable is restored (removed) after the test
    monkeypatch.delenv("EDGEKIT_DEBUG")
    main(["-v", "why", str(tmp_path / "missing.tflite")])
    assert os.environ.get("EDGEKIT_DEBUG") == "1"
