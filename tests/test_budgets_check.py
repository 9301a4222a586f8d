import json
import subprocess
import sys

import pytest

from edgekit.budgets import evaluate, pick_latency
from edgekit.report_check import check_report
from edgekit.config import Budgets
from edgekit.errors import ConfigError, InputError
from edgekit.report import gate_passed
from tests.conftest import full_report

ARTIFACT = {"target": "android", "path": "android/model_int8.tflite", "precision": "int8", "bytes": 30_000,
            "gzip_bytes": 20_000, "accuracy": 0.9, "accuracy_drop": 0.4, "shipped": True,
            "parity": {"status": "passed", "max_abs_error": 0.01, "top1_agreement": 1.0, "samples": 10},
            "latency": [{"where": "host", "runtime": "litert", "threads": 1, "p50_ms": 0.5, "p90_ms": 0.6, "runs": 5}]}


def test_budgets_pass_at_the_limit_and_fail_above_it():
    at_limit = evaluate(ARTIFACT, Budgets(max_size=30_000, max_download=20_000, max_latency_p50=0.5, max_accuracy_drop=0.4))
    assert [b["passed"] for b in at_limit] == [True, True, True, True]
    over = evaluate(ARTIFACT, Budgets(max_size="29 KB", max_accuracy_drop=0.3))
    assert [(b["name"], b["passed"]) for b in over] == [("max_size", False), ("max_accuracy_drop", False)]
    assert over[0] == {"name": "max_size", "limit": 29_000, "actual": 30_000, "unit": "bytes", "passed": False}


def test_latency_budget_without_a_measurement_fails_as_not_measured():
    result = evaluate({**ARTIFACT, "latency": []}, Budgets(max_latency_p50="1 ms"))
    assert result[0]["passed"] is False and result[0]["note"] == "not measured"


def test_latency_budget_prefers_device_over_host_numbers():
    entries = ARTIFACT["latency"] + [{"where": "device", "p50_ms": 3.0}]
    assert pick_latency(entries)["where"] == "device"


def test_gate_fails_on_parity_failure_but_not_on_not_verified():
    ok = {**ARTIFACT, "budgets": []}
    assert gate_passed([ok, {**ok, "parity": {"status": "not_verified"}}])
    assert not gate_passed([{**ok, "parity": {"status": "failed"}}])


def write_report(tmp_path, artifacts):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(full_report(artifacts)))
    return path


def test_check_recomputes_a_stale_passed_flag(tmp_path):
    stale = {**ARTIFACT, "budgets": [{"name": "max_size", "limit": 1000, "actual": 30_000, "unit": "bytes", "passed": True}]}
    report = check_report(write_report(tmp_path, [stale]))
    assert report["passed"] is False and report["artifacts"][0]["budgets"][0]["passed"] is False


def test_check_applies_a_budgets_file_per_target(tmp_path):
    path = write_report(tmp_path, [{**ARTIFACT, "budgets": []}])
    (tmp_path / "b.toml").write_text('[android]\nmax_download = "10 KB"\n')
    assert check_report(path, budgets_file=tmp_path / "b.toml")["passed"] is False
    (tmp_path / "b.toml").write_text('[targets.android.budgets]\nmax_download = "25 KB"\n')
    assert check_report(path, budgets_file=tmp_path / "b.toml")["passed"] is True
    (tmp_path / "b.toml").write_text('[android]\nmax_downlaod = "25 KB"\n')
    with pytest.raises(ConfigError, match="did you mean 'max_download'"):
        check_report(path, budgets_file=tmp_path / "b.toml")


def test_check_rejects_files_that_are_not_edgekit_reports(tmp_path):
    (tmp_path / "r.json").write_text('{"schema": "other/v9", "artifacts": []}')
    with pytest.raises(InputError, match="schema"):
        check_report(tmp_path / "r.json")
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        check_report(tmp_path / "x.json")


def test_check_command_never_imports_tensorflow(tmp_path):
    path = write_report(tmp_path, [{**ARTIFACT, "budgets": []}])
    code = ("import sys; from edgekit.cli import main; rc = main(['check', %r]); "
            "heavy = [m for m in ('tensorflow', 'tf_keras', 'coremltools', 'tensorflowjs') if m in sys.modules]; "
            "print('HEAVY', heavy); sys.exit(rc)") % str(path)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_check_reports_a_malformed_budget_entry_as_an_input_error(tmp_path):
    broken = {**ARTIFACT, "budgets": [{"name": "max_size", "limit": "lots", "unit": "bytes", "passed": True}]}
    with pytest.raises(InputError, match="malformed budgets entry"):
        check_report(write_report(tmp_path, [broken]))


def test_web_recommendation_skips_a_runtime_whose_outputs_were_wrong():
    from edgekit.targets.web.recommend import recommend_web

    wrong = {"where": "browser", "runtime": "tfjs", "backend": "webgl", "p50_ms": 0.2, "check": {"status": "failed"}}
    right = {"where": "browser", "runtime": "litertjs", "backend": "wasm", "p50_ms": 1.0, "check": {"status": "passed"}}
    artifacts = [{"target": "web", "path": "web/tfjs/model.json", "latency": [wrong]},
                 {"target": "web", "path": "web/model.tflite", "latency": [right]}]
    best = recommend_web(artifacts)
    assert (best["runtime"], best["backend"]) == ("litertjs", "wasm")


def test_latency_budgets_skip_runs_that_failed_or_gave_wrong_outputs():
    wrong = {"where": "browser", "runtime": "tfjs", "backend": "webgl", "p50_ms": 0.2, "check": {"status": "failed"}}
    right = {"where": "browser", "runtime": "litertjs", "backend": "wasm", "p50_ms": 1.0, "check": {"status": "passed"}}
    failed_run = {"where": "device", "p50_ms": 0.1, "status": "failed"}
    artifact = {**ARTIFACT, "latency": [wrong, right, failed_run]}
    assert pick_latency(artifact["latency"]) == right
    result = {b["name"]: b for b in evaluate(artifact, Budgets(max_browser_p50="0.5 ms", max_latency_p50="0.5 ms"))}
    assert result["max_browser_p50"]["actual"] == 1.0 and result["max_browser_p50"]["passed"] is False
    assert result["max_latency_p50"]["where"] == "browser"


def test_web_recommendation_gives_three_answers_and_follows_the_objective():
    """LiteRT.js: fastest per inference but a 10x bigger runtime; on a slow link TF.js wasm starts first."""
    from edgekit.targets.web.recommend import ROUND_TRIPS, recommend_web

    litert = {"where": "browser", "runtime": "litertjs", "backend": "wasm", "p50_ms": 0.5, "first_inference_ms": 300.0,
              "runtime_brotli_bytes": 2_000_000, "check": {"status": "passed"}}
    tfjs = {"where": "browser", "runtime": "tfjs", "backend": "wasm", "p50_ms": 1.5, "first_inference_ms": 400.0,
            "runtime_brotli_bytes": 200_000, "check": {"status": "passed"}}
    unmeasured = {"where": "browser", "runtime": "tfjs", "backend": "cpu", "p50_ms": 9.0, "first_inference_ms": 350.0,
                  "check": {"status": "passed"}}  # no runtime bytes: competes on p50 only
    artifacts = [{"target": "web", "path": "web/model.tflite", "brotli_bytes": 40_000, "latency": [litert]},
                 {"target": "web", "path": "web/tfjs/model.json", "brotli_bytes": 30_000, "latency": [tfjs, unmeasured]}]
    network = {"name": "slow", "mbit_s": 8.0, "rtt_ms": 100.0}
    fast = recommend_web(artifacts, objective="p50", network=network)
    assert (fast["runtime"], fast["objective"]) == ("litertjs", "p50")
    answers = fast["answers"]
    assert answers["p50"]["runtime"] == "litertjs"
    # litert: 300 + 2,040,000 B * 8 / 8 Mbit/s = 2040 ms + 4 RTT; tfjs: 400 + 230 ms + 4 RTT
    assert answers["first_inference"]["runtime"] == "tfjs" and answers["first_inference"]["backend"] == "wasm"
    assert answers["first_inference"]["value"] == pytest.approx(400 + 230 + ROUND_TRIPS * 100)
    assert answers["bytes"]["runtime"] == "tfjs" and answers["bytes"]["value"] == 230_000
    first = recommend_web(artifacts, objective="first_inference", network=network)
    assert (first["runtime"], first["path"]) == ("tfjs", "web/tfjs/model.json") and "slow" in first["reason"]
    on_lan = recommend_web(artifacts, objective="first_inference", network={"name": "LAN", "mbit_s": 1000, "rtt_ms": 1})
    assert on_lan["runtime"] == "litertjs"  # 300 + 16 ms beats 400 + 2 ms
    bare = [{**a, "latency": [{k: v for k, v in e.items() if k != "runtime_brotli_bytes"} for e in a["latency"]]}
            for a in artifacts]
    fallback = recommend_web(bare, objective="bytes")
    assert fallback["objective"] == "p50" and "not measured" in fallback["reason"] and fallback["answers"]["bytes"] is None
