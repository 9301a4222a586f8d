"""Android: TFLite artifacts checked in LiteRT, delegate compatibility, benchmark_model over adb."""
from edgekit.targets.android.settings import AndroidTarget
from edgekit.targets.base import Target

TARGET = Target("android", AndroidTarget, ("ai_edge_litert", "ai-edge-litert"), ("min_delegated_fraction",), "#2e7d32")
