"""Batches and ablations on a Ray cluster: the same files and measures as in this process,
and every task once even when a worker dies in the middle of one.

The cluster is a local Ray started once for this module (2 CPUs, no dashboard); the tests
skip when Ray is not installed (``pip install -e ".[distributed]"``; CI installs it).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from photostyle.engine.config import TransferConfig
from photostyle.runs.ablate import find_pairs, read_results, run_ablation
from photostyle.runs.batch import collect, run_batch
from photostyle.runs.executors import RayExecutor
from photostyle.runs.outputs import OutputOptions, report_path, transforms_path

from ..conftest import gradient_image, make_pairs, save_png

ray = pytest.importorskip("ray")

TINY = TransferConfig(vgg_weights="random", content_layer="relu2_1",
                      style_layers=("relu1_1", "relu2_1"), size=32, scales=1, iterations=2,
                      segment="none", device="cpu")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


def test_ray_ablation_gives_the_local_measures_and_files(tmp_path: Path) -> None:
    pairs = find_pairs(make_pairs(tmp_path / "pairs"))
    vary = {"matting_weight": [0.0, 1e4]}
    local = run_ablation(pairs, TINY, vary, tmp_path / "local")
    executor = RayExecutor(workers=2)
    try:
        remote = run_ablation(pairs, TINY, vary, tmp_path / "ray", executor=executor)
    finally:
        executor.close()
    assert local.status == remote.status == "completed"
    by_key = {r["key"]: r for r in local.rows}
    assert sorted(by_key) == sorted(r["key"] for r in remote.rows)
    for row in remote.rows:
        for measure in ("style_sw", "structure_ssim", "affine_residual", "flat_paint"):
            assert row[measure] == pytest.approx(by_key[row["key"]][measure], rel=0.02,
                                                 abs=0.02), (row["variant"], measure)
    for name in ("metrics.csv", "aggregate.csv", "metrics.json", "sheet_in1.png",
                 "sheet_in2.png", "in1/matting_weight=0.png", "in2/matting_weight=10000.json"):
        assert (tmp_path / "ray" / name).exists(), name
    # the folders resume each other: a local re-run of the Ray folder has nothing to do
    again = run_ablation(pairs, TINY, vary, tmp_path / "ray")
    assert again.skipped == 4


def test_workers_that_reserve_gpus_need_them_in_the_cluster() -> None:
    """The local cluster has no GPU: a worker reserving one would wait for ever, so it is
    refused at once, naming the count."""
    from photostyle.errors import ConfigError

    with pytest.raises(ConfigError, match=r"has 0 GPU\(s\), too few for 1 worker"):
        RayExecutor(workers=1, gpus_per_worker=1)
    with pytest.raises(ConfigError, match="too few"):
        RayExecutor(gpus_per_worker=0.5)  # default workers: as many as the GPUs allow: none


def test_a_worker_killed_mid_task_loses_nothing_and_counts_nothing_twice(
        tmp_path: Path) -> None:
    pairs = find_pairs(make_pairs(tmp_path / "pairs"))
    slow = TINY.replace(size=64, iterations=80)  # a few seconds a task: time to kill one
    vary = {"matting_weight": [0.0, 1e4], "tv_weight": [1e-3, 1e-2]}
    executor = RayExecutor(workers=2)
    victim = executor.pids()[0]
    killed = threading.Event()
    results = tmp_path / "abl" / "results.jsonl"

    def kill_soon() -> None:
        # once the first task is written, both workers have their network and are busy
        # with the next ones (a fixed delay was too long on a quiet machine: all done)
        deadline = time.time() + 120
        while time.time() < deadline and not (results.exists() and results.read_text()):
            time.sleep(0.05)
        os.kill(victim, signal.SIGKILL)
        killed.set()

    threading.Thread(target=kill_soon, daemon=True).start()
    try:
        result = run_ablation(pairs, slow, vary, tmp_path / "abl", executor=executor)
        pids_after = executor.pids()
    finally:
        executor.close()
    assert killed.is_set() and victim not in pids_after  # Ray restarted that worker
    assert result.status == "completed"
    rows = read_results(tmp_path / "abl")
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8  # each task once
    assert all(r["status"] == "completed" for r in rows)


def test_ray_batch_writes_what_a_local_batch_writes(tmp_path: Path) -> None:
    folder = tmp_path / "shoot"
    folder.mkdir()
    save_png(gradient_image(40, 56, 0), folder / "a.png")
    save_png(gradient_image(36, 50, 1), folder / "b.png")
    (folder / "c.png").write_text("broken")
    style = save_png(gradient_image(48, 40, 2), tmp_path / "style.png")
    options = OutputOptions(lut="")
    executor = RayExecutor(workers=2)
    try:
        batch = collect([folder], tmp_path / "out")
        status = run_batch(batch, style, TINY, options, executor=executor)
    finally:
        executor.close()
    assert status == "completed"
    assert {i.content.name: i.status for i in batch.items} == {
        "a.png": "done", "b.png": "done", "c.png": "failed"}
    report = json.loads(report_path(tmp_path / "out" / "a-styled.png").read_text())
    assert report["inputs"]["content"] == str(folder / "a.png") and report["lut"]["size"] == 33
    assert transforms_path(tmp_path / "out" / "b-styled.png").exists()
    # and a local re-run skips what Ray finished
    again = collect([folder], tmp_path / "out")
    run_batch(again, style, TINY, options)
    assert [i.status for i in again.items] == ["skipped", "skipped", "failed"]


def test_command_line_executor_options(tmp_path: Path, capsys) -> None:
    from photostyle.cli import main

    folder = tmp_path / "shoot"
    folder.mkdir()
    save_png(gradient_image(40, 56, 0), folder / "a.png")
    style = save_png(gradient_image(48, 40, 2), tmp_path / "style.png")
    fast = ["--vgg-weights", "random", "--content-layer", "relu2_1", "--style-layers",
            "relu1_1", "--size", "32", "--iterations", "2", "--segment", "none", "-q"]
    assert main(["transfer", "-c", str(folder), "-s", str(style), "--out-dir",
                 str(tmp_path / "out"), "--executor", "ray", "--workers", "1", *fast]) == 0
    assert (tmp_path / "out" / "a-styled.png").exists()
    assert main(["transfer", "-c", str(folder / "a.png"), "-s", str(style), "-o",
                 str(tmp_path / "x.png"), "--executor", "ray", *fast]) == 2
    assert "batches" in capsys.readouterr().err
    assert main(["transfer", "-c", str(folder), "-s", str(style), "--out-dir",
                 str(tmp_path / "o2"), "--workers", "2", *fast]) == 2
    assert "--executor ray" in capsys.readouterr().err
    pairs = make_pairs(tmp_path / "pairs")
    assert main(["ablate", "--pairs", str(pairs), "--vary", "matting_weight=0,1e4", "--set",
                 "vgg_weights=random", "--set", "content_layer=relu2_1", "--set",
                 "style_layers=relu1_1", "--set", "size=32", "--set", "iterations=2",
                 "--set", "scales=1", "--out", str(tmp_path / "abl"), "--executor", "ray",
                 "--workers", "2", "-q"]) == 0
    assert len(read_results(tmp_path / "abl")) == 4


def test_ctrl_c_on_the_driver_keeps_what_finished_and_a_rerun_resumes(tmp_path: Path) -> None:
    pairs = find_pairs(make_pairs(tmp_path / "pairs"))
    vary = {"matting_weight": [0.0, 1e4]}
    finished = []

    def ctrl_c_after_the_first(row: dict) -> None:
        finished.append(row["key"])
        raise KeyboardInterrupt

    executor = RayExecutor(workers=2)
    try:
        first = run_ablation(pairs, TINY, vary, tmp_path / "abl", executor=executor,
                             on_done=ctrl_c_after_the_first)
    finally:
        executor.close()
    assert first.status == "interrupted"
    assert [r["key"] for r in read_results(tmp_path / "abl")] == finished  # written, once
    again = run_ablation(pairs, TINY, vary, tmp_path / "abl")
    assert again.status == "completed" and again.skipped == 1
    assert len(read_results(tmp_path / "abl")) == 4


def test_ctrl_c_while_waiting_for_the_workers_stops_cleanly(tmp_path: Path) -> None:
    """Ctrl-C (or SIGTERM) arriving while the driver waits in ``ray.wait`` with tasks still
    running: the running ones are cancelled, finished ones kept, the run reports
    ``interrupted`` (it used to fail: actor tasks take no ``force=True`` cancel)."""
    pairs = find_pairs(make_pairs(tmp_path / "pairs"))
    vary = {"matting_weight": [0.0, 1e4]}
    executor = RayExecutor(workers=2)
    real_wait = executor.ray.wait
    calls = {"n": 0}

    def wait_then_ctrl_c(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # one result is in, two tasks are running (one just sent)
            raise KeyboardInterrupt
        return real_wait(*args, **kwargs)

    executor.ray.wait = wait_then_ctrl_c
    slow = TINY.replace(iterations=(300,))  # still running when Ctrl-C comes
    try:
        first = run_ablation(pairs, slow, vary, tmp_path / "abl", executor=executor)
    finally:
        executor.ray.wait = real_wait
        executor.close()
    assert first.status == "interrupted"
    assert len(read_results(tmp_path / "abl")) == 1
    again = run_ablation(pairs, slow, vary, tmp_path / "abl")
    assert again.status == "completed" and again.skipped == 1
