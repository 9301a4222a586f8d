"""Runtime download bytes as a real static server (nginx, gzip + brotli on the fly) sends them (issue #18)."""
from __future__ import annotations

import gzip
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edgekit import node

TFJS = "/node_modules/@tensorflow/tfjs/dist/tf.min.js"
WASM = "/node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm"


def _roots(tmp_path: Path) -> dict[str, Path]:
    from edgekit.targets.web.harness import _roots

    return _roots(tmp_path)


def test_nginx_sends_compressed_runtime_files_that_decompress_to_the_originals(tmp_path):
    import brotli

    from edgekit.targets.web import served

    local = node.node_modules() / TFJS.removeprefix("/node_modules/")
    with served._nginx({TFJS: local}) as base:
        bodies = {}
        for encoding in ("identity", "gzip", "br"):
            request = urllib.request.Request(base + TFJS, headers={"Accept-Encoding": encoding})
            with urllib.request.urlopen(request, timeout=30) as response:
                bodies[encoding] = (response.headers.get("Content-Encoding", "identity"), response.read())
        assert (node.node_modules() / WASM.removeprefix("/node_modules/")).is_file()
        with pytest.raises(urllib.error.HTTPError) as refused:  # a real file it was not given is not served
            urllib.request.urlopen(base + WASM, timeout=10)
        assert refused.value.code == 404
    original = local.read_bytes()
    assert bodies["identity"] == ("identity", original)
    assert bodies["gzip"][0] == "gzip" and gzip.decompress(bodies["gzip"][1]) == original
    assert bodies["br"][0] == "br" and brotli.decompress(bodies["br"][1]) == original
    assert len(bodies["br"][1]) < len(bodies["gzip"][1]) < len(original)


def test_runtime_download_reports_served_bytes_and_the_precompressed_ones(tmp_path):
    from edgekit.targets.web.harness import runtime_download

    sizes = runtime_download([TFJS, WASM, "/node_modules/../outside.js", "/elsewhere/x.js"], _roots(tmp_path))
    raw = sum((node.node_modules() / p.removeprefix("/node_modules/")).stat().st_size for p in (TFJS, WASM))
    assert sizes["runtime_raw_bytes"] == raw  # the two real files only
    assert sizes["runtime_bytes_source"].startswith("served by nginx")
    assert 0 < sizes["runtime_brotli_bytes"] < sizes["runtime_gzip_bytes"] < raw
    # on-the-fly levels compress less than precompressed -9 / -11 files
    assert sizes["runtime_precompressed_brotli_bytes"] <= sizes["runtime_brotli_bytes"]


def test_without_nginx_the_sizes_are_computed_and_say_so(tmp_path, monkeypatch):
    from edgekit.targets.web import harness, served

    monkeypatch.setattr(served, "nginx_binary", lambda: None)
    monkeypatch.setattr(served, "_CACHE", {})
    sizes = harness.runtime_download([TFJS], _roots(tmp_path))
    assert sizes["runtime_bytes_source"].startswith("computed: gzip -9 / brotli -11")
    assert "nginx not found" in sizes["runtime_bytes_source"]
    assert sizes["runtime_brotli_bytes"] == sizes["runtime_precompressed_brotli_bytes"] > 0
