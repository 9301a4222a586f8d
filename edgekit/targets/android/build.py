"""Android target: TFLite artifacts (batch 1, named signature), each validated in LiteRT, measured,
profiled on the host and checked for delegate compatibility (XNNPACK, GPU, NNAPI)."""
from __future__ import annotations

from typing import Any

import numpy as np

from edgekit import budgets, measure
from edgekit.config import AndroidTarget
from edgekit.context import BuildContext


def build(ctx: BuildContext, cfg: AndroidTarget) -> list[dict[str, Any]]:
    from edgekit.converters import tflite
    from edgekit.targets.android.delegates import compatibility
    from edgekit.litert import TFLiteRunner, run
    from edgekit.profile.host import profile_tflite
    from edgekit.structure import tflite_structure
    from edgekit.targets.android import lowbit, sparse

    folder = ctx.stage / "android"
    folder.mkdir(exist_ok=True)
    shipped = set(cfg.shipped())
    names = {"input_names": ctx.model.input_names, "output_names": ctx.model.output_names}
    artifacts = []
    for precision in cfg.precisions:
        relative = f"android/model_{precision}.tflite"
        with ctx.progress.stage(f"android {precision}: converted"):
            data = tflite.convert(ctx.model, precision, calibration=ctx.calibration)
        storage, dense = None, data
        if cfg.sparse:
            with ctx.progress.stage(f"android {precision}: sparse storage checked"):
                data, storage = sparse.choose(
                    data, lambda p=precision: tflite.convert(ctx.model, p, calibration=ctx.calibration, sparse=True),
                    precision=precision, names=names, samples=ctx.eval.inputs)
        low_bit = None
        if cfg.low_bit and precision in lowbit.PRECISIONS:
            with ctx.progress.stage(f"android {precision}: 4-bit storage of clustered weights checked"):
                data, low_bit = lowbit.choose(
                    data, precision=precision, ops=cfg.low_bit, max_accuracy_loss=cfg.low_bit_max_accuracy_loss,
                    evaluate=lambda d: run(d, ctx.eval.inputs, **names)[1],
                    judge=lambda outs, p=precision: ctx.parity(outs, cfg.parity[p], samples=cfg.parity_samples),
                    accuracy=ctx.accuracy, load_ms=lambda d: TFLiteRunner(d, **names).load_ms,
                    delegate_problem=lambda d, p=precision, before=data: _delegate_problem(
                        cfg, d, before) if p in shipped else None)
        (ctx.stage / relative).write_bytes(data)
        with ctx.progress.stage(f"android {precision}: validated on {len(ctx.eval):,} samples in LiteRT"):
            with ctx.progress.bar(f"{precision} eval", len(ctx.eval)) as advance:
                runner, outputs = run(data, ctx.eval.inputs, progress=advance, **names)
        check = ctx.parity(outputs, cfg.parity[precision], samples=cfg.parity_samples)
        # a sparse or 4-bit tensor reads back as its stored values only: the structure is the dense 8-bit file's
        structure = tflite_structure(runner if data is dense else dense, layers=ctx.facts)
        with ctx.progress.stage(f"android {precision}: delegates checked (XNNPACK, GPU, NNAPI)"):
            delegate_support = compatibility(data, min_sdk=cfg.min_sdk)
        with ctx.progress.stage(f"android {precision}: profiled on host ({cfg.runs} runs)"):
            latency = profile_tflite(data, ctx.eval.inputs, threads=cfg.threads, warmup=cfg.warmup, runs=cfg.runs,
                                     input_names=ctx.model.input_names)
        artifact = {
            "target": "android",
            "format": "tflite",
            "precision": precision,
            "path": relative,
            **measure.sizes(ctx.stage / relative, params=ctx.model.params),
            **ctx.accuracy_fields(outputs),
            "parity": check.to_dict(),
            "latency": [latency],
            "structure": structure,
            "delegates": delegate_support,
            "io": io_record(TFLiteRunner(data, **names)),
            "shipped": precision in shipped,
            **({"sparse_storage": storage} if storage else {}),
            **({"low_bit_storage": low_bit} if low_bit else {}),
        }
        artifact["budgets"] = budgets.evaluate(artifact, cfg.budgets) if artifact["shipped"] else []
        artifacts.append(artifact)
    return artifacts


def _delegate_problem(cfg: AndroidTarget, candidate: bytes, current: bytes) -> str | None:
    """A delegate of the min_delegated_fraction budget that `current` meets and `candidate` falls short of."""
    from edgekit.targets.android.delegates import compatibility

    limits = cfg.budgets.min_delegated_fraction
    if not limits:
        return None
    before = budgets.delegated({"delegates": compatibility(current, min_sdk=cfg.min_sdk)}, limits)["actual"]
    after = budgets.delegated({"delegates": compatibility(candidate, min_sdk=cfg.min_sdk)}, limits)["actual"]
    for name, limit in limits.items():
        if before.get(name) is not None and before[name] >= limit and (after.get(name) or 0.0) < limit:
            return (f"min_delegated_fraction: {name} {100 * (after.get(name) or 0.0):.0f} % < {100 * limit:.0f} %, "
                    f"{name} takes no INT4 filter for some op")
    return None


def io_record(runner: Any) -> dict[str, Any]:
    """The file's signature as an app sees it: names, shapes and dtypes of inputs and outputs."""
    def describe(pairs: list, details: list) -> list[dict[str, Any]]:
        return [{"name": name, "shape": [int(d) for d in detail["shape"]], "dtype": np.dtype(detail["dtype"]).name}
                for (name, _), detail in zip(pairs, details)]

    inputs, outputs = describe(runner.inputs, runner.input_details), describe(runner.outputs, runner.output_details)
    return {"input_dtype": inputs[0]["dtype"], "output_dtype": outputs[0]["dtype"], "signature": "serving_default",
            "inputs": inputs, "outputs": outputs}
