"""iOS: Core ML ML Programs, per-layer weight formats read back, a Mac harness for latency."""
from edgekit.targets.base import Target
from edgekit.targets.ios.settings import IosTarget

TARGET = Target("ios", IosTarget, ("coremltools", "coremltools"), (), "#1565c0")
