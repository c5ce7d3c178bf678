"""Where transfers run: in this process, or on the workers of a Ray cluster.

Batches and ablations describe their work as :class:`Task` objects (one photo, or one pair
and variant) and hand them to an executor, which yields each task's outcome as it finishes;
the caller writes every file itself, so the files, the reports and the resume records are
the same whichever executor ran.

* :class:`LocalExecutor` (the default): one task after another in this process, with the
  network loaded once and the caches (matting Laplacians, segmentation model) shared.
* :class:`RayExecutor` (``pip install -e ".[distributed]"``): one actor per worker, each of
  which loads the network once and keeps its own caches across its tasks; each actor runs
  one task at a time. An actor whose process dies (killed, out of memory) is restarted by
  Ray and its task run again, so each task still yields exactly one outcome; Ctrl-C on the
  driver cancels what is still running (what finished is already written).

A task's inputs travel with it (pixels, not file names), so workers need no shared file
system.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from photostyle.engine.config import TransferConfig
from photostyle.errors import ConfigError, describe

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")


@dataclass
class Task:
    """One transfer to run.

    Attributes:
        key: the caller's name for it (unique within a run).
        content, style: what :func:`photostyle.engine.pipeline.transfer` takes (a
            :class:`~photostyle.files.images.Photo` keeps a file's profile and bit depth).
        config: the settings.
        content_mask, style_mask: masks (:class:`~photostyle.engine.masks.LabelMap`, arrays or
            ``None``).
        data: anything the caller wants back with the outcome (not sent to workers).
    """

    key: str
    content: Any
    style: Any
    config: TransferConfig
    content_mask: Any = None
    style_mask: Any = None
    data: Any = field(default=None, repr=False)

    def payload(self) -> tuple[Any, ...]:
        return (self.content, self.style, self.config, self.content_mask, self.style_mask)


@dataclass
class Outcome:
    """What became of a task: a :class:`~photostyle.engine.pipeline.TransferResult`, or an error
    (``error``: its one-line message, ``kind``: ``"input"`` for bad input, ``"internal"``
    for a bug, ``"memory"``)."""

    task: Task
    result: Any = None
    error: str = ""
    kind: str = ""
    worker: str = ""


class WorkerState:
    """A worker's network and caches, kept across its tasks.

    The network is loaded on first use with the layers the task needs (and again only
    when a task needs other layers or weights).
    """

    def __init__(self) -> None:
        self.extractors: dict[tuple[Any, ...], Any] = {}
        self.cache: dict[Any, Any] = {}
        self.progress: Callable[..., None] | None = None

    def network(self, config: TransferConfig, layers: list[str] | None = None) -> Any:
        """The network for ``config`` (one per weights, backbone, device and seed, kept:
        an ablation that varies the backbone loads each once)."""
        from photostyle.engine.network import network_for

        if not any(config.iterations_per_level()):
            return None
        wanted = layers or config.layers_in_use()
        key = (config.vgg_weights, config.network, config.device, config.seed)
        extractor = self.extractors.get(key)
        if extractor is None or any(n not in extractor.layers for n in wanted):
            if extractor is not None:  # more layers than before: the union, once
                wanted = list(dict.fromkeys([*extractor.layers, *wanted]))
            extractor = network_for(config, wanted)
            self.extractors[key] = extractor
        return extractor

    def run(self, payload: tuple[Any, ...]) -> tuple[Any, str, str]:
        """Run one transfer; returns ``(result, error, kind)`` (never raises for bad input
        or a bug: those are the task's outcome; Ctrl-C does raise)."""
        from photostyle.engine.pipeline import transfer

        content, style, config, content_mask, style_mask = payload
        for stale in [k for k in self.cache if k[0] == "laplacian"][:-4]:
            del self.cache[stale]  # keep the last few contents' Laplacians only
        try:
            result = transfer(content, style, config, content_mask=content_mask,
                              style_mask=style_mask, extractor=self.network(config),
                              cache=self.cache, progress=self.progress)
        except Exception as exc:  # bad input or a bug: the task's outcome, in one line
            log.debug("task failed", exc_info=True)
            kind, message = describe(exc)
            return None, message, kind
        return result, "", ""


class Executor(Protocol):
    """Where the transfers of a batch or an ablation run (:class:`LocalExecutor`,
    :class:`RayExecutor`, or any class with these methods)."""

    name: str

    def preload(self, config: TransferConfig, layers: list[str]) -> None:
        """Load the network with ``layers`` before the first task (where it will run)."""

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Run ``tasks`` (taken lazily) and yield each one's :class:`Outcome` as it ends."""

    def close(self) -> None:
        """Release the workers."""


class LocalExecutor:
    """Tasks one after another in this process (see the module's docstring).

    Args:
        state: a worker state to reuse (its network and caches); a new one otherwise.
        progress: the transfer's progress callback (per optimisation step).
    """

    name = "local"

    def __init__(self, state: WorkerState | None = None,
                 progress: Callable[..., None] | None = None) -> None:
        self.state = state or WorkerState()
        self.state.progress = progress

    def preload(self, config: TransferConfig, layers: list[str]) -> None:
        """Load the network now (before the first task) with ``layers``."""
        self.state.network(config, layers)

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        for task in tasks:
            result, error, kind = self.state.run(task.payload())
            yield Outcome(task, result, error, kind, "local")

    def close(self) -> None:
        pass


class RayExecutor:
    """Tasks on Ray actors, one task at a time per actor (see the module's docstring).

    Args:
        address: ``None`` starts a local Ray (no dashboard); ``"auto"`` joins the cluster
            this machine belongs to; or a cluster's address (``ray://host:10001``).
        workers: number of actors; ``None``: one per CPU of the cluster.
        cpus_per_worker: CPUs reserved by each actor.
        gpus_per_worker: GPUs reserved by each actor (a share, e.g. 0.5, lets two actors
            share one). An actor that reserves none sees no GPU at all (Ray hides them), so
            its transfers run on the CPU; with GPUs, ``workers`` defaults to what the
            cluster's GPUs allow.
        max_retries: how many times a task is run again when its actor's process dies.

    Raises:
        ConfigError: Ray is not installed, the cluster cannot be reached, or it has too few
            GPUs for ``workers`` actors of ``gpus_per_worker``.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0,
                 max_retries: int = 3) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray: Ray is not installed; pip install -e "
                              "\".[distributed]\" (or pip install ray)") from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            try:
                kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                          "configure_logging": False}
                if address is None and workers is not None:
                    kwargs["num_cpus"] = max(1, int(workers * cpus_per_worker))
                ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(f"--ray-address {address}: cannot start or join Ray "
                                  f"({exc})") from None
            self.started = True
        self.actors: list[Any] = []
        resources = ray.cluster_resources()
        if workers is None:
            workers = max(1, int(resources.get("CPU", 1) // cpus_per_worker))
            if gpus_per_worker > 0:
                workers = min(workers, int(resources.get("GPU", 0) // gpus_per_worker))
        gpus = resources.get("GPU", 0)
        if gpus_per_worker > 0 and (workers < 1 or gpus + 1e-9 < workers * gpus_per_worker):
            self.close()
            raise ConfigError(f"--gpus-per-worker {gpus_per_worker:g}: the Ray cluster has "
                              f"{gpus:g} GPU(s), too few for {max(workers, 1)} worker(s) of "
                              f"{gpus_per_worker:g} (fewer --workers, or 0 GPUs a worker)")
        actor = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker, max_restarts=-1,
                           max_task_retries=max_retries)(_RayWorker)
        self.actors = [actor.remote() for _ in range(workers)]

    def preload(self, config: TransferConfig, layers: list[str]) -> None:
        """Load the network on every actor now (in parallel)."""
        self.ray.get([a.preload.remote(config, layers) for a in self.actors])

    def pids(self) -> list[int]:
        """The process ids of the actors (for tests that kill one)."""
        return list(self.ray.get([a.pid.remote() for a in self.actors]))

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        ray = self.ray
        pending = iter(tasks)
        running: dict[Any, tuple[Task, int]] = {}
        idle = list(range(len(self.actors)))

        def submit() -> None:
            while idle:
                task = next(pending, None)
                if task is None:
                    return
                index = idle.pop()
                ref = self.actors[index].run.remote(task.payload())
                running[ref] = (task, index)

        try:
            submit()
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                ref = ready[0]
                task, index = running.pop(ref)
                idle.append(index)
                try:
                    result, error, kind, worker = ray.get(ref)
                except ray.exceptions.RayError as exc:  # retries used up
                    result, error, kind, worker = None, f"worker lost: {exc}", "internal", ""
                submit()
                yield Outcome(task, result, error, kind, worker)
        finally:  # Ctrl-C or an error: stop what is still running (actor tasks take no
            for ref in running:  # force=True; close() kills the actors anyway)
                try:
                    ray.cancel(ref)
                except Exception as exc:  # a dead actor's task; nothing left to stop
                    log.debug("ray.cancel: %s", exc)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self.started:
            self.ray.shutdown()


class _RayWorker:
    """A Ray actor: a :class:`WorkerState` in its own process."""

    def __init__(self) -> None:
        logging.getLogger("photostyle").setLevel(logging.ERROR)
        self.state = WorkerState()

    def pid(self) -> int:
        return os.getpid()

    def preload(self, config: TransferConfig, layers: list[str]) -> None:
        self.state.network(config, layers)

    def run(self, payload: tuple[Any, ...]) -> tuple[Any, str, str, str]:
        result, error, kind = self.state.run(payload)
        return result, error, kind, f"pid {os.getpid()}"
