"""Training on tf.distribute (issue #17): TF_CONFIG read through an allowlist, and a real two-worker
MultiWorkerMirroredStrategy build on localhost whose trained weights match a one-process build."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_config

from edgekit.distribute import local_tf_configs, read_plan
from edgekit.errors import ConfigError


def tf_config(workers: list[str], index: int, *, role: str = "worker", chief: list[str] | None = None) -> dict:
    cluster = {"worker": workers, **({"chief": chief} if chief else {})}
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": role, "index": index}})}


def test_no_tf_config_or_one_task_or_off_means_one_process():
    assert read_plan("auto", {}).kind == "single"
    assert read_plan("auto", tf_config(["localhost:2222"], 0)).kind == "single"
    assert read_plan("off", tf_config(["a:1", "b:2"], 1)).kind == "single"


def test_the_chief_is_the_chief_task_or_worker_zero():
    plan = read_plan("auto", tf_config(["a:1", "b:2"], 1))
    assert (plan.kind, plan.workers, plan.index, plan.chief) == ("multi_worker", 2, 1, False)
    assert read_plan("auto", tf_config(["a:1", "b:2"], 0)).chief
    with_chief = read_plan("auto", tf_config(["a:1", "b:2"], 0, role="chief", chief=["c:3"]))
    assert with_chief.chief and with_chief.workers == 3
    assert not read_plan("auto", tf_config(["a:1", "b:2"], 0, chief=["c:3"])).chief  # worker 0 is not the chief
    assert read_plan("auto", tf_config(["[::1]:5000", "host-2.example.org:5001"], 1)).workers == 2


@pytest.mark.parametrize("raw, problem", [
    ("{not json", "not JSON"),
    ("[]", "needs a \"cluster\" object"),
    (json.dumps({"cluster": {"ps": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}}), "role(s) ['ps']"),
    (json.dumps({"cluster": {"worker": ["a:1", "b"]}, "task": {"type": "worker", "index": 0}}), "is not \"host:port\""),
    (json.dumps({"cluster": {"worker": ["a:1", "b:99999"]}, "task": {"type": "worker", "index": 0}}), "host:port"),
    (json.dumps({"cluster": {"worker": ["a:1", "b;rm -rf /:2"]}, "task": {"type": "worker", "index": 0}}), "host:port"),
    (json.dumps({"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}), "must be a list"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}), "is not in its cluster"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": True}}), "is not in its cluster"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "evaluator", "index": 0}}), "is not in its cluster"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}, "x": 1}), "unknown key"),
    (json.dumps({"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}), "names 0 tasks"),
    ("{" + " " * 70_000 + "}", "at most"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:2\n"]}, "task": {"type": "worker", "index": 0}}), "host:port"),
    (json.dumps({"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}), "twice"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0, "x": 1}}), "unknown key"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0},
                 "rpc_layer": "grpc+evil"}), "only \"grpc\""),
    ("[" * 30_000 + "]" * 30_000, "nests too deeply"),
])
def test_a_bad_tf_config_is_refused_in_one_line_before_tensorflow_reads_it(raw, problem):
    with pytest.raises(ConfigError) as caught:
        read_plan("auto", {"TF_CONFIG": raw})
    line = caught.value.one_line()
    assert problem in line and "\n" not in line and caught.value.exit_code == 2


def test_a_worker_with_nothing_to_train_says_so(tmp_path, capsys):
    from edgekit.cli import main

    config = write_config(tmp_path, tmp_path / "model.keras")
    env = tf_config(["localhost:1", "localhost:2"], 1)
    os.environ["TF_CONFIG"] = env["TF_CONFIG"]
    try:
        assert main(["build", "--config", str(config)]) == 2
    finally:
        del os.environ["TF_CONFIG"]
    assert "no [[recipe]] to train together" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _checkpoint(folder: Path) -> dict[str, np.ndarray]:
    """The trained model's variables in a step's checkpoint folder (optimizer slots left out)."""
    from edgekit.tfenv import tensorflow

    tf = tensorflow()
    reader = tf.train.load_checkpoint(str(folder))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("model/") and "OPTIMIZER_SLOT" not in name}


@pytest.mark.slow
def test_two_workers_on_localhost_train_the_same_weights_as_one_process(tmp_path, tiny_model_path):
    recipe = """
        [[recipe]]
        step = "prune"
        final_sparsity = 0.5
        epochs = 2
        learning_rate = 1e-3

        [[recipe]]
        step = "cluster"
        clusters = 8
        epochs = 1
        learning_rate = 1e-4

        [[recipe]]
        step = "qat"
        epochs = 1
        learning_rate = 1e-5
    """
    single, multi = tmp_path / "single", tmp_path / "multi"
    for folder in (single, multi):
        folder.mkdir()
        write_config(folder, tiny_model_path, precisions=("int8",), recipe=recipe, train_samples=1024)
    command = [sys.executable, "-m", "edgekit", "build", "--config", "edgekit.toml", "--quiet"]
    plain_env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    done = subprocess.run(command, cwd=single, env=plain_env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]

    workers = [subprocess.Popen(command, cwd=multi, env={**plain_env, "TF_CONFIG": value},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for value in local_tf_configs(2)]
    try:
        outputs = [worker.communicate(timeout=900) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    assert "worker 1 of 2: trained prune, cluster with the others" in outputs[1][0]

    report = json.loads((multi / "out" / "report.json").read_text())
    assert report["recipe"]["distribute"]["kind"] == "multi_worker" and report["recipe"]["distribute"]["workers"] == 2
    assert [s["distributed"] for s in report["recipe"]["steps"]] == [True, True, False]
    assert any("recipe step qat trained on the chief alone" in note for note in report["notes"])
    assert sorted(p.name for p in multi.iterdir()) == [".edgekit-cache", "edgekit.toml", "out"]

    for step in ("0-prune", "1-cluster"):
        [one] = (single / ".edgekit-cache").glob(f"{step}-*")
        [chief] = (multi / ".edgekit-cache").glob(f"{step}-*")
        [other] = (multi / ".edgekit-cache" / "worker-1").glob(f"{step}-*")
        expected, got, peer = _checkpoint(one), _checkpoint(chief), _checkpoint(other)
        assert expected.keys() == got.keys() == peer.keys() and len(expected) >= 6
        for name in expected:
            assert np.array_equal(got[name], peer[name]), name  # in lockstep: the two workers hold the same weights
            if any(part in name for part in ("/mask/", "pulling_indices", "pruning_step")):
                # structure: the same weights pruned, the same cluster for every weight
                assert np.array_equal(got[name], expected[name]), (step, name)
            else:
                # stated tolerance: float summation order (all-reduce, unfused synchronised batch norm)
                # measured max 2.4e-4 on this model; weights are ~0.1-0.3
                assert np.allclose(got[name], expected[name], rtol=0, atol=1e-3), (step, name)


def _run_workers(folder: Path, configs: list[str], *, extra_env: dict | None = None, timeout: int = 600) -> list:
    command = [sys.executable, "-m", "edgekit", "build", "--config", "edgekit.toml", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    workers = [subprocess.Popen(command, cwd=folder, env={**env, **(extra_env or {}), "TF_CONFIG": value},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for value in configs]
    try:
        return [(worker.wait(timeout=timeout), *worker.communicate()) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()


@pytest.mark.slow
def test_a_worker_whose_peers_never_start_gives_up_after_the_join_timeout(tmp_path, tiny_model_path):
    write_config(tmp_path, tiny_model_path, precisions=("fp32",), eval_samples=100, train_samples=256,
                 recipe='[[recipe]]\nstep = "prune"\nepochs = 1\n')
    [(code, out, err)] = _run_workers(tmp_path, [local_tf_configs(2)[1]], extra_env={"EDGEKIT_JOIN_TIMEOUT_S": "5"},
                                      timeout=300)
    assert code == 4, err[-2000:]
    assert "the 2 workers did not all join within 5 s" in err and "EDGEKIT_JOIN_TIMEOUT_S" in err


@pytest.mark.slow
def test_a_chief_that_fails_tells_the_worker_which_exits_with_its_own_error(tmp_path, tiny_model_path):
    """The chief refuses its --out (a folder edgekit did not write) after the workers joined: its own exit 2,
    and the waiting worker learns it and stops (exit 4) instead of hanging."""
    write_config(tmp_path, tiny_model_path, precisions=("fp32",), eval_samples=100, train_samples=256,
                 recipe='[[recipe]]\nstep = "prune"\nepochs = 1\n')
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("someone else's folder")
    (chief, _, chief_err), (worker, _, worker_err) = _run_workers(tmp_path, local_tf_configs(2), timeout=400)
    assert chief == 2 and "not empty and was not written by edgekit" in chief_err, chief_err[-2000:]
    assert worker == 4 and "worker 1:" in worker_err, worker_err[-2000:]
    assert (tmp_path / "out" / "notes.txt").read_text() == "someone else's folder"
