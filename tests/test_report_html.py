"""report.html: self-contained, escaped, with both plots drawn from the report's numbers."""
import re

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
    circles = re.findall(r"<circle cx='[\d.]+' cy='[\d.]+' r='5' fill='([^']+)'", page)
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
