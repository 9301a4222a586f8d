"""Screenshot of report.html with a baseline, for the README (docs/report_baseline.png).

    .venv/bin/python scripts/report_screenshot.py build/fashion_mnist/report.json BASE/report.json docs/report_baseline.png

Renders the current report with the baseline's points beside it (what `edgekit check --baseline
BASE --html FILE` writes), opens it in headless Chromium (tests/js/screenshot_page.mjs) and saves the
first screen; prints what the page showed (points, labels, overlapping labels, Pareto line, budget lines).
"""
import argparse
import json
import tempfile
from pathlib import Path

from edgekit import node
from edgekit.report import load_report
from edgekit.report.html import render

DRIVER = Path(__file__).resolve().parents[1] / "tests" / "js" / "screenshot_page.mjs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("png", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        page = Path(work) / "report.html"
        page.write_text(render(load_report(args.report), load_report(args.baseline)), encoding="utf-8")
        spec = {"chromium": node.chromium_binary(), "page": str(page), "png": str(args.png.resolve()), "width": 1100}
        facts = node.run_script(str(DRIVER), spec, workdir=Path(work), timeout=120)
    print(json.dumps(facts))
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
