"""report.html: self-contained, escaped, with both plots drawn from the report's numbers."""
import re
from pathlib import Path

from edgekit.report.html import markdown_to_html, render

LATENCY = {"where": "host", "runtime": "litert", "threads": 1, "p50_ms": 0.5, "p90_ms": 0.6, "runs": 10}


def artifact(target, path, gzip, accuracy, latency=(), budgets=()):
    return {"target": target, "path": path, "precision": "x", "bytes": gzip * 2, "gzip_bytes": gzip,
            "accuracy": accuracy, "accuracy_drop": None if accuracy is None else 0.1, "latency": list(latency),
            "parity": {"status": "passed" if accuracy is not None else "not_verified"}, "budgets": list(budgets)}


REPORT = {
    "schema": "edgekit.report/v1", "passed": False, "edgekit_version": "0", "created": "now",
    "reference": {"path": "m.keras", "accuracy": 0.93, "eval_samples": 10},
    "artifacts": [
        artifact("android", "android/<script>alert(1)</script>.tflite", 20_000, 0.92, [LATENCY],
                 [{"name": "max_size", "limit": 1, "actual": 40_000, "unit": "bytes", "passed": False}]),
        artifact("ios", "ios/model_palettized.mlpackage", 15_000, None),
        artifact("web", "web/model.tflite", 25_000, 0.925,
                 [{**LATENCY, "where": "browser", "runtime": "tfjs", "backend": "cpu", "p50_ms": 40.0, "p90_ms": 45.0}]),
    ],
}


def test_every_artifact_is_a_point_and_unmeasured_accuracy_is_hollow():
    page = render(REPORT)
    circles = re.findall(r"<circle cx='[\d.]+' cy='[\d.]+' r='5' class='point' fill='([^']+)'", page)
    assert len(circles) == 3
    assert circles.count("white") == 1  # the Core ML package: accuracy not measured off macOS
    assert "accuracy not measured here" in page


def test_report_strings_are_escaped_and_nothing_is_fetched():
    page = render(REPORT)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://" not in page and "https://" not in page and " src=" not in page


def test_latency_bars_switch_to_a_log_scale_when_one_runtime_is_far_slower():
    assert "(log scale)" in render(REPORT)  # 40 ms vs 0.5 ms
    close = {**REPORT, "artifacts": REPORT["artifacts"][:1]}
    assert "(log scale)" not in render(close)
    assert len(re.findall(r"<rect ", render(REPORT))) == 2


def test_failed_budgets_are_marked_and_the_verdict_is_shown():
    page = render(REPORT)
    assert "edgekit report — FAILED" in page
    assert "<td class='fail'><strong>FAIL</strong></td>" in page  # the budgets table row
    assert "<td class='fail'>FAILED: max_size</td>" in page  # the artifact table's budgets column


def test_markdown_subset_tables_lists_and_inline_code():
    html = markdown_to_html("## T\n\n| a | b |\n|---|---:|\n| `x` | **1** |\n\n- one\n- two\n\ntext & more")
    assert "<h2>T</h2>" in html
    assert "<td><code>x</code></td><td class='num'><strong>1</strong></td>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html and "<p>text &amp; more</p>" in html


def test_pareto_frontier_keeps_only_points_nothing_beats():
    from edgekit.report.plots import pareto

    points = [(100, 0.90), (120, 0.89), (150, 0.93), (90, 0.80), (200, 0.93), (300, 0.95)]
    assert pareto(points) == [(90, 0.80), (100, 0.90), (150, 0.93), (300, 0.95)]


def crowded(shift: float) -> dict:
    """Six artifacts within a few bytes and tenths of a percent of each other: labels would collide."""
    budgets = [{"name": "max_download", "limit": 26_000, "actual": 0, "unit": "bytes", "passed": True},
               {"name": "min_accuracy", "limit": 91.5, "actual": 0, "unit": "%", "passed": True}]
    artifacts = []
    for i, (target, precision, fmt) in enumerate([("android", "fp32", "tflite"), ("android", "fp16", "tflite"),
                                                  ("android", "int8", "tflite"), ("web", "uint8", "tfjs"),
                                                  ("web", "dynamic", "tflite"), ("ios", "fp16", "mlpackage")]):
        entry = artifact(target, f"{target}/m{i}", int(20_000 + 150 * i + shift), 0.92 + 0.0005 * i,
                         [LATENCY], budgets)
        artifacts.append({**entry, "precision": precision, "format": fmt, "accuracy": None if target == "ios"
                          else entry["accuracy"]})
    return {**REPORT, "passed": True, "targets": ["android", "ios", "web"], "artifacts": artifacts,
            "web_recommendation": {"runtime": "litertjs wasm"}}


def test_report_with_a_baseline_reads_well_in_a_real_browser(tmp_path):
    """Rendered in headless Chromium: every point labelled, no two labels overlapping, the Pareto line,
    the budget lines, the baseline's points, the 'what to ship' summary and collapsed sections."""
    import pytest
    from test_web import CHROMIUM_PROBLEM

    from edgekit import node

    if CHROMIUM_PROBLEM is not None:
        pytest.skip(f"headless Chromium cannot start: {CHROMIUM_PROBLEM}")
    current, baseline = crowded(0), crowded(-2500)
    page = tmp_path / "report.html"
    page.write_text(render(current, baseline), encoding="utf-8")
    png = tmp_path / "report.png"
    driver = Path(__file__).resolve().parent / "js" / "screenshot_page.mjs"
    facts = node.run_script(str(driver), {"chromium": node.chromium_binary(), "page": str(page), "png": str(png)},
                            workdir=tmp_path, timeout=120)
    assert facts["points"] == 6 and facts["labels"] == 6
    assert facts["overlapping_labels"] == 0
    assert facts["baseline_points"] == 6 and facts["pareto"] == 1
    assert facts["budget_lines"] >= 2 and facts["ship_items"] == 3
    assert facts["details"] >= 1 and facts["details_open"] < facts["details"]
    assert png.stat().st_size > 10_000
    text = render(current, baseline)
    assert "android int8</text>" in text and "web tfjs uint8</text>" in text and "ios coreml fp16</text>" in text
    (ARTIFACTS := Path(__file__).resolve().parents[1] / "build" / "test-artifacts").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "report_crowded.png").write_bytes(png.read_bytes())  # to look at
