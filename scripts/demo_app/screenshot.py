"""Phone screenshot of the demo app for the README (docs/demo_app_phone.png), from a web build.

    .venv/bin/python scripts/demo_app/screenshot.py build/fashion_mnist docs/demo_app_phone.png [--image 5]

Serves the build like `edgekit serve`, drives the app in headless Chromium as a phone (390x844,
deviceScaleFactor 2; tests/js/drive_demo_app.mjs), taps test image N (1-based) on the first runtime that
loaded and saves the screenshot; prints what each runtime got right on the 10 first test images.
"""
import argparse
import json
import tempfile
from pathlib import Path

from edgekit import node
from edgekit.serve import serving

DRIVER = Path(__file__).resolve().parents[2] / "tests" / "js" / "drive_demo_app.mjs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="build folder holding web/")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    parser.add_argument("--image", type=int, default=5, help="test image shown (1-based, default 5)")
    args = parser.parse_args()
    samples = json.loads((args.out / "web/samples.json").read_text())["samples"]
    first = args.image - 1
    fixed = [first] + [i for i in range(min(10, len(samples))) if i != first]
    with serving(args.out.resolve()) as server, tempfile.TemporaryDirectory() as work:
        spec = {"chromium": node.chromium_binary(), "base_url": f"http://127.0.0.1:{server.server_address[1]}",
                "fixed": fixed, "upload": None, "screenshot": str(args.png.resolve()), "offline": True,
                "timeout_ms": 60_000}
        result = node.run_script(str(DRIVER), spec, workdir=Path(work), timeout=300)
    for phase in ("online", "offline"):
        for runtime, results in result[phase]["results"].items():
            right = sum(r["top"][0]["index"] == samples[r["index"]]["label"] for r in results)
            shown = sorted(r["median_ms"] for r in results)
            print(f"{phase:7} {runtime:13} {right}/{len(results)} right; median latency shown "
                  f"{shown[0]:.2f}-{shown[-1]:.2f} ms {result[phase].get('notes', {}).get(runtime, '')}")
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
