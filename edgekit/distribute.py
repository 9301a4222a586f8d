"""Training across workers on tf.distribute: MultiWorkerMirroredStrategy when `TF_CONFIG` names a
cluster, MirroredStrategy on a machine with several GPUs, one process otherwise (the default).

Every worker runs the same `edgekit build` with its own `TF_CONFIG`; the recipe's steps train in
lockstep (gradients all-reduced, each worker reading its shard of every global batch, so
`batch_size` stays the global batch). The chief (task type "chief", else worker 0) goes on to
convert, validate and write the build; the other workers stop after the last distributed step.
A step whose wrappers do not train correctly under a strategy (`RecipeStep.distributed = False`:
QAT, whose quantizer ranges are per replica) runs on the chief alone, and the report says so.

`TF_CONFIG` is read through an allowlist before TensorFlow sees it: a JSON object with a
`cluster` of `chief`/`worker` lists of `host:port` strings and a `task` naming one of them.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from edgekit.errors import ConfigError, EnvironmentProblem

TASK_TYPES = ("chief", "worker")  # MultiWorkerMirroredStrategy's roles; evaluators and ps are not used
ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?):[0-9]{1,5}")
MAX_TF_CONFIG = 64 * 1024
MAX_WORKERS = 1024
JOIN_TIMEOUT_ENV = "EDGEKIT_JOIN_TIMEOUT_S"  # how long a worker waits for the others to start (default 600 s)
STATUS_KEY = "edgekit/chief_status"  # the chief's outcome, in the coordination service's key-value store
JOIN_GRACE_S = 30  # past the join wait, the watchdog ends a process TensorFlow keeps retrying in
ACK_TIMEOUT_S = 60  # how long the chief waits for each worker to read it
HINT = ('TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
        '"index": 0}}\' on each machine (its own index), or unset it for one process')


@dataclass(frozen=True)
class Plan:
    kind: str = "single"  # "single" | "multi_worker" | "mirrored"
    workers: int = 1
    index: int = 0  # this process's place among the workers (the chief is 0)
    task: str = "worker"
    devices: int = 1  # replicas in sync: workers, or GPUs for "mirrored"

    @property
    def chief(self) -> bool:
        return self.index == 0

    def describe(self) -> str:
        if self.kind == "multi_worker":
            return (f"MultiWorkerMirroredStrategy, {self.workers} workers, this one is "
                    f"{'the chief' if self.chief else f'worker {self.index}'}")
        if self.kind == "mirrored":
            return f"MirroredStrategy on {self.devices} GPUs"
        return "one process"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": self.workers, "replicas": self.devices,
                "strategy": self.describe().split(", this one")[0]}


def read_plan(setting: str = "auto", environ: Optional[dict[str, str]] = None) -> Plan:
    """The plan `TF_CONFIG` asks for (validated), without importing TensorFlow. `setting` "off" ignores it."""
    raw = (environ if environ is not None else os.environ).get("TF_CONFIG", "").strip()
    if setting == "off" or not raw:
        return Plan()
    if len(raw) > MAX_TF_CONFIG:
        raise ConfigError(f"TF_CONFIG is {len(raw):,} characters; at most {MAX_TF_CONFIG:,}", hint=HINT)
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"TF_CONFIG is not JSON ({err.msg} at character {err.pos})", hint=HINT) from None
    except RecursionError:
        raise ConfigError("TF_CONFIG nests too deeply to be a cluster description", hint=HINT) from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("cluster"), dict) \
            or not isinstance(parsed.get("task"), dict):
        raise ConfigError("TF_CONFIG needs a \"cluster\" object and a \"task\" object", hint=HINT)
    unknown = sorted(set(parsed) - {"cluster", "task", "rpc_layer"}) + sorted(set(parsed["task"]) - {"type", "index"})
    if unknown:
        raise ConfigError(f"TF_CONFIG has unknown key(s) {unknown[:5]}", hint=HINT)
    if parsed.get("rpc_layer", "grpc") != "grpc":
        raise ConfigError(f"TF_CONFIG rpc_layer {str(parsed['rpc_layer'])[:20]!r}: only \"grpc\"", hint=HINT)
    cluster = parsed["cluster"]
    roles = sorted(set(cluster) - set(TASK_TYPES))
    if roles:
        raise ConfigError(f"TF_CONFIG cluster has role(s) {roles}; edgekit trains with {' and '.join(TASK_TYPES)} only",
                          hint=HINT)
    members: list[tuple[str, int]] = []
    for role in TASK_TYPES:
        addresses = cluster.get(role, [])
        if not isinstance(addresses, list) or (role == "chief" and len(addresses) > 1):
            raise ConfigError(f"TF_CONFIG cluster.{role} must be a list of \"host:port\" strings"
                              + (" with one entry" if role == "chief" else ""), hint=HINT)
        for address in addresses:
            if not isinstance(address, str) or not ADDRESS.fullmatch(address) \
                    or not 0 < int(address.rsplit(":", 1)[1]) < 65536:
                raise ConfigError(f"TF_CONFIG cluster.{role}: {str(address)[:80]!r} is not \"host:port\"", hint=HINT)
        members += [(role, i) for i in range(len(addresses))]
    if not members or len(members) > MAX_WORKERS:
        raise ConfigError(f"TF_CONFIG names {len(members)} tasks; use 1 to {MAX_WORKERS}", hint=HINT)
    addresses = [a for role in TASK_TYPES for a in cluster.get(role, [])]
    if len(set(addresses)) != len(addresses):
        raise ConfigError("TF_CONFIG lists one address twice; every task needs its own host:port", hint=HINT)
    task = parsed["task"]
    role, index = task.get("type"), task.get("index")
    if role not in TASK_TYPES or isinstance(index, bool) or not isinstance(index, int) \
            or (role, index) not in members:
        raise ConfigError(f"TF_CONFIG task {{type: {str(role)[:20]!r}, index: {str(index)[:20]}}} is not in its "
                          "cluster", hint=HINT)
    if len(members) == 1:
        return Plan()
    return Plan("multi_worker", workers=len(members), index=members.index((role, index)), task=role,
                devices=len(members))


_STRATEGY: Any = None
_PLAN = Plan()


def start(setting: str = "auto") -> Plan:
    """Create the strategy for this process, once, before TensorFlow runs anything else (collective ops
    must be configured at program start). Returns the plan it follows."""
    global _STRATEGY, _PLAN
    if _STRATEGY is not None:
        return _PLAN
    plan = read_plan(setting)
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    if plan.kind == "multi_worker":
        _STRATEGY = _multi_worker(tf, plan)
    elif setting != "off":
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            _STRATEGY = tf.distribute.MirroredStrategy()
            plan = Plan("mirrored", devices=len(gpus))
    if _STRATEGY is not None:
        plan = dataclasses.replace(plan, devices=int(_STRATEGY.num_replicas_in_sync))
    _PLAN = plan
    return plan


def _multi_worker(tf: Any, plan: Plan) -> Any:
    """MultiWorkerMirroredStrategy with a bounded wait for the other workers to join (TensorFlow's own
    default waits forever), refused when TensorFlow already ran in this process."""
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    ctx = context.context()
    if ctx._context_handle is not None:  # collective ops must be configured before TensorFlow runs anything
        raise ConfigError("TF_CONFIG asks for multi-worker training, but TensorFlow already ran in this process "
                          "(an in-memory model or dataset, or the student search)",
                          hint="run `edgekit build --config ...` as its own process on every worker, or unset TF_CONFIG")
    try:
        join_s = float(os.environ.get(JOIN_TIMEOUT_ENV) or 600)
    except ValueError:
        join_s = -1.0
    if not 1 <= join_s <= 86400:
        raise ConfigError(f"{JOIN_TIMEOUT_ENV} must be 1 to 86400 seconds", hint=f"e.g. {JOIN_TIMEOUT_ENV}=600")
    spec = tf.distribute.cluster_resolver.TFConfigClusterResolver().cluster_spec()
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=spec.num_tasks(job))
            for job in TASK_TYPES if job in spec.jobs]
    ctx.configure_coordination_service(service_type="standalone",
                                       service_leader=multi_worker_util.coordination_leader(spec),
                                       coordinated_jobs=jobs, cluster_register_timeout_in_ms=int(join_s * 1000))
    def problem(reason: str) -> EnvironmentProblem:
        return EnvironmentProblem(f"worker {plan.index}: the {plan.workers} workers did not all join within "
                                  f"{join_s:.0f} s, or this one could not start ({reason})",
                                  hint="start `edgekit build` with the same config on every machine of TF_CONFIG; "
                                       f"{JOIN_TIMEOUT_ENV} sets the wait")

    joined = threading.Event()

    def watchdog() -> None:
        # TensorFlow's own registration retries for minutes when the leader is not there at all, and ignores
        # SIGTERM meanwhile: past the wait plus a grace period, say so and leave (nothing was written yet)
        if not joined.wait(join_s + JOIN_GRACE_S):
            sys.stderr.write(f"edgekit: error: {' '.join(problem('no answer').one_line().split())}\n")
            sys.stderr.flush()
            os._exit(problem("").exit_code)

    threading.Thread(target=watchdog, name="edgekit-join-watchdog", daemon=True).start()
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except Exception as err:  # noqa: BLE001 - TensorFlow reports a missing peer as several error types
        raise problem(str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__) from None
    finally:
        joined.set()
    return strategy


def announce(status: str) -> None:
    """The chief tells the waiting workers how its build ended ("done" or "failed: <reason>")."""
    if _STRATEGY is None or _PLAN.kind != "multi_worker":
        return
    from tensorflow.python.eager import context

    ctx = context.context()
    try:
        ctx.set_config_key_value(STATUS_KEY, status[:500])
        # the key-value store lives in this process: after a success, wait (bounded) until every worker has
        # read it; after a failure the workers are mid-training and notice this process end instead
        for index in range(1, _PLAN.workers if status == "done" else 1):
            ctx.get_config_key_value(f"{STATUS_KEY}/read/{index}", timeout_in_ms=ACK_TIMEOUT_S * 1000)
    except Exception:  # noqa: BLE001 - a worker already gone (or nobody left to tell): it noticed on its own
        pass


def wait_for_chief() -> str:
    """A worker's wait, after its training, for the chief's outcome (raises when the chief is gone)."""
    from tensorflow.python.eager import context

    ctx = context.context()
    status = ctx.get_config_key_value(STATUS_KEY)
    ctx.set_config_key_value(f"{STATUS_KEY}/read/{_PLAN.index}", "1")
    return status


def current() -> tuple[Any, Plan]:
    """The strategy `start` created (None in one process) and its plan."""
    return _STRATEGY, _PLAN


@contextlib.contextmanager
def scope(distributed: bool) -> Iterator[None]:
    """The strategy's scope for a step that trains distributed; nothing otherwise."""
    if _STRATEGY is None or not distributed:
        yield
        return
    with _STRATEGY.scope():
        yield


def all_agree(value: int) -> bool:
    """Whether every replica holds the same integer (e.g. epochs already trained), checked with two
    all-reduces: the values are equal exactly when n·Σv² = (Σv)². Outside the strategy's scope (a step that
    trains on the chief alone) there is nothing to agree on."""
    if _STRATEGY is None or _STRATEGY.num_replicas_in_sync == 1:
        return True
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    if not tf.distribute.has_strategy():
        return True
    per_replica = _STRATEGY.run(lambda: tf.constant([float(value), float(value) ** 2], tf.float64))
    total, squares = (float(v) for v in _STRATEGY.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None))
    return _STRATEGY.num_replicas_in_sync * squares == total * total


def all_agree_on(values: tuple[int, ...]) -> bool:
    """`all_agree` for each value (each a small non-negative integer, or -1)."""
    return all(all_agree(value) for value in values)


def replicas() -> int:
    """Replicas training in sync in the current scope (1 outside a strategy's scope)."""
    if _STRATEGY is None:
        return 1
    from edgekit.tfenv import tensorflow

    return int(_STRATEGY.num_replicas_in_sync) if tensorflow().distribute.has_strategy() else 1


def same_inputs(digest: str) -> bool:
    """Whether every worker computed the same digest (of its model, config and training data): 60 bits of it,
    in three 20-bit parts, so `all_agree`'s float64 sums stay exact."""
    if _STRATEGY is None or _PLAN.kind != "multi_worker":
        return True
    value = int(digest[:15], 16)
    with _STRATEGY.scope():
        return all_agree_on(tuple((value >> shift) & 0xFFFFF for shift in (0, 20, 40)))


def shard_option(dataset: Any) -> Any:
    """Each worker reads its part of every global batch (in-memory data has no files to shard by)."""
    if _STRATEGY is None:
        return dataset
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    if not tf.distribute.has_strategy():
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def plain_copy(model: Any, *, in_scope: bool) -> Any:
    """The same Keras model rebuilt with fresh variables (in the strategy's scope, or outside any), weights
    copied: variables created elsewhere cannot train under a strategy, and a model compiled under one
    must not predict outside it."""
    if _STRATEGY is None:
        return model
    from edgekit.tfenv import keras

    k = keras()
    with (_STRATEGY.scope() if in_scope else contextlib.nullcontext()):
        copy = k.models.clone_model(model)
        copy.set_weights(model.get_weights())
    return copy


def sync_batch_norm(model: Any) -> int:
    """Make every BatchNormalization layer of `model` compute its batch statistics over the global batch
    (all-reduced across replicas), as one process would: otherwise each replica normalises by its own
    part of the batch and training drifts from the one-process result. Returns how many it changed."""
    from edgekit.tfenv import keras

    norm = keras().layers.BatchNormalization
    changed = 0
    for layer in model.submodules:
        if isinstance(layer, norm) and not layer.synchronized:
            layer.synchronized, layer.fused = True, False  # the fused kernel computes unsynchronised statistics
            changed += 1
    return changed


def local_tf_configs(workers: int) -> list[str]:
    """`TF_CONFIG` values for `workers` processes on this machine (free localhost ports), worker 0 first."""
    import socket

    sockets = [socket.socket() for _ in range(workers)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        addresses = [f"localhost:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()
    return [json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}})
            for i in range(workers)]


def reset_for_tests() -> None:
    global _STRATEGY, _PLAN
    _STRATEGY, _PLAN = None, Plan()
