"""Web: TF.js and LiteRT.js artifacts, parity in Node, latency in headless Chromium, the runtime choice."""
from edgekit.targets.base import Target
from edgekit.targets.web.settings import WebTarget

TARGET = Target("web", WebTarget, ("tensorflowjs", "tensorflowjs"),
                ("max_download_brotli", "max_browser_p50", "max_first_inference"), "#e65100")
