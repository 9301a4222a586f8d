"""Android target: TFLite artifacts, each validated in LiteRT, measured, profiled on the host and
checked for delegate compatibility (XNNPACK, GPU, NNAPI)."""
from __future__ import annotations

from typing import Any

from edgekit import budgets, measure
from edgekit.config import AndroidTarget
from edgekit.context import BuildContext
from edgekit.validate import accuracy, parity_within


def build(ctx: BuildContext, cfg: AndroidTarget) -> list[dict[str, Any]]:
    from edgekit.converters import tflite
    from edgekit.delegates import compatibility
    from edgekit.litert import TFLiteRunner
    from edgekit.profile.host import profile_tflite
    from edgekit.structure import tflite_structure

    folder = ctx.stage / "android"
    folder.mkdir(exist_ok=True)
    shipped = set(cfg.shipped())
    artifacts = []
    for precision in cfg.precisions:
        relative = f"android/model_{precision}.tflite"
        with ctx.progress.stage(f"android {precision}: converted"):
            data = tflite.convert(ctx.model, precision, calibration=ctx.calibration)
            (ctx.stage / relative).write_bytes(data)
        with ctx.progress.stage(f"android {precision}: validated on {len(ctx.eval.y):,} samples in LiteRT"):
            runner = TFLiteRunner(data, batch=64)
            with ctx.progress.bar(f"{precision} eval", len(ctx.eval.y)) as advance:
                outputs = runner.predict(ctx.eval.x, progress=advance)
        check = parity_within(ctx.reference, outputs, cfg.parity[precision], samples=cfg.parity_samples)
        acc = accuracy(outputs, ctx.eval.y)
        structure = tflite_structure(runner, layers=ctx.facts)
        with ctx.progress.stage(f"android {precision}: delegates checked (XNNPACK, GPU, NNAPI)"):
            delegate_support = compatibility(data, min_sdk=cfg.min_sdk)
        with ctx.progress.stage(f"android {precision}: profiled on host ({cfg.runs} runs)"):
            latency = profile_tflite(data, ctx.eval.x, threads=cfg.threads, warmup=cfg.warmup, runs=cfg.runs)
        artifact = {
            "target": "android",
            "format": "tflite",
            "precision": precision,
            "path": relative,
            **measure.sizes(ctx.stage / relative, params=ctx.model.params),
            "accuracy": round(acc, 6),
            "accuracy_drop": round(100 * (ctx.reference_accuracy - acc), 4),
            "parity": check.to_dict(),
            "latency": [latency],
            "structure": structure,
            "delegates": delegate_support,
            "io": {"input_dtype": str(runner.input_dtype), "output_dtype": str(runner.output["dtype"].__name__)},
            "shipped": precision in shipped,
        }
        artifact["budgets"] = budgets.evaluate(artifact, cfg.budgets) if artifact["shipped"] else []
        artifacts.append(artifact)
    return artifacts
