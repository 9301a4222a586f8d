"""The student search spread over workers (issue #17): a real PostgreSQL server (Debian package, started
here on localhost) holds one Optuna study that two `edgekit search` processes share."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import write_config

import postgres
from edgekit.cli import main

pytestmark = pytest.mark.slow

SEARCH = """
[search]
alphas = [0.25, 0.5, 1.0]
depths = [2]
proxy_epochs = 1
proxy_samples = 1500
validation_samples = 300
eta = 2
finalists = 1
final_epochs = 1
"""


@pytest.fixture(scope="module")
def server():
    started, reason = postgres.start()
    if started is None:
        pytest.skip(f"PostgreSQL server cannot start here: {reason}")
    yield started
    started.stop()


def search_config(folder, model):
    config = write_config(folder, model, precisions=("int8",), budgets='max_size = "1 MB"')
    text = config.read_text().replace("calibration_samples = 64", "calibration_samples = 64\ntrain_samples = 2000")
    config.write_text(text + SEARCH)
    return config


def test_two_workers_on_postgresql_share_one_study_and_pick_the_one_worker_winner(tmp_path, tiny_model_path, server):
    import optuna

    from edgekit.search_study import open_storage

    alone = search_config(tmp_path / "alone", tiny_model_path) if (tmp_path / "alone").mkdir() is None else None
    assert main(["search", "--config", str(alone), "--quiet"]) == 0  # one worker, the default journal file
    single = json.loads((tmp_path / "alone" / "out" / "search.json").read_text())

    (tmp_path / "shared").mkdir()
    shared = search_config(tmp_path / "shared", tiny_model_path)
    done = subprocess.run([sys.executable, "-m", "edgekit", "search", "--config", str(shared), "--storage", server.url,
                           "--study", "pr-123", "--workers", "2", "--quiet"], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "shared" / "out" / "search.json").read_text())
    assert result["study"]["workers_failed"] == []
    workers = result["study"]["trials_by_worker"]
    assert len(workers) == 2 and all(count >= 1 for count in workers.values()), workers  # both contributed
    study = optuna.load_study(study_name="pr-123", storage=open_storage(server.url))
    names = [t.user_attrs["candidate"] for t in study.get_trials() if "candidate" in t.user_attrs]
    assert sorted(names) == sorted(r["name"] for r in result["candidates"] if r["feasible"])  # none twice
    assert result["winner"] == single["winner"] and result["winner"] is not None
    assert result["study"]["storage"] == server.url  # no password in this URL: shown as it is


def test_storage_urls_are_shown_without_their_password():
    from edgekit.search import _redacted

    assert _redacted("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert _redacted("postgresql://bob@db/x") == "postgresql://bob@db/x"
    assert "s3cret" not in _redacted("postgresql://db/x?user=bob&password=s3cret")


def test_search_storage_outside_the_allowlist_is_refused_in_one_line(tmp_path, tiny_model_path, capsys):
    (tmp_path / "c").mkdir()
    config = search_config(tmp_path / "c", tiny_model_path)
    assert main(["search", "--config", str(config), "--storage", "redis://localhost:6379", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not a storage edgekit uses" in err and len(err.strip().splitlines()) == 1
