"""Where a model's weights come from: ``auto``, ``random``, ``torchvision`` or a file.

`resolve_weights` is cheap (no tensors are loaded) so the source's `id` can key the
artifact cache; `WeightsSource.build_model` does the expensive part only when an
artifact actually has to be built.
"""

from __future__ import annotations

import functools
import logging
import socket
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from harness.core.digests import sha256_of
from harness.core.errors import WeightsError
from harness.core.zoo import build_model, get_spec

if TYPE_CHECKING:  # torch is imported where tensors are made: a run that loads a built
    import torch  # artifact (most of a sweep's runs) starts a second faster without it

log = logging.getLogger(__name__)

RANDOM_SEED = 0
WEIGHTS_CHOICES = ("auto", "random", "torchvision")
DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class WeightsSource:
    kind: str  # "torchvision" | "file" | "random" | "embedded" (a user model's own)
    # what results record: "torchvision", "file:<sha256>", "random:<seed>" or
    # "embedded:<the model's digest>"
    id: str
    path: Path | None = None
    seed: int = RANDOM_SEED
    note: str = ""  # why auto fell back to random weights, for the run's warnings

    @property
    def pretrained(self) -> bool:
        return self.kind != "random"

    @property
    def cache_key(self) -> str:
        """Identifies the exact tensors: `id` plus which official file, if any."""
        return f"{self.id}:{self.path.name}" if self.kind == "torchvision" else self.id

    def build_model(self, model_name: str, **overrides) -> torch.nn.Module:
        import torch

        if self.kind == "embedded":  # the program's or the callable's own weights
            return build_model(model_name, **overrides)
        if self.kind == "random":
            # The builders draw from the global RNG: seeding makes "random:<seed>"
            # the same network on every machine and in every run.
            torch.manual_seed(self.seed)
            return build_model(model_name, **overrides)
        model = build_model(model_name, **overrides)
        load_checkpoint(model, self.path)
        return model


def checkpoint_dir() -> Path:
    """torch hub's checkpoint cache, shared with torchvision and every other user of it.

    torch.hub.get_dir()'s own rule ($TORCH_HOME, else $XDG_CACHE_HOME/torch, else
    ~/.cache/torch; then hub/), read without importing torch: every run with --weights
    auto looks here, and most of a sweep's runs never need torch otherwise.
    """
    import os
    import sys

    if "torch" in sys.modules:  # torch.hub.set_dir() may have moved it
        return Path(sys.modules["torch"].hub.get_dir()) / "checkpoints"
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def _hash_prefix(url: str) -> str:
    # torchvision names files '<name>-<first 8 hex of sha256>.pth'
    return Path(urlparse(url).path).stem.rsplit("-", 1)[-1]


def _official_url(model_name: str) -> str:
    url = get_spec(model_name).checkpoint_url
    if url is None:
        raise WeightsError(f"model {model_name} has no official checkpoint; pass --weights PATH")
    return url


def _cached_official(model_name: str) -> Path | None:
    url = _official_url(model_name)
    path = checkpoint_dir() / Path(urlparse(url).path).name
    return path if path.is_file() else None


def _verify_official(path: Path, url: str) -> None:
    stat = path.stat()
    _verify_once(str(path), stat.st_size, stat.st_mtime_ns, _hash_prefix(url))


@functools.cache
def _verify_once(path: str, size: int, mtime_ns: int, prefix: str) -> None:
    # Hashing VGG-19's 548 MB takes seconds (more on a Pi): once per file version and
    # process is enough for a sweep; size and mtime in the key catch a changed file.
    actual = sha256_of(Path(path))
    if not actual.startswith(prefix):
        raise WeightsError(
            f"checkpoint {path} is corrupt: sha256 {actual[:12]}... does not start with "
            f"{prefix}; delete it and run again to re-download"
        )


def download_official(model_name: str) -> Path:
    """Download torchvision's checkpoint into torch hub's cache, checking its hash.

    A file already in the cache is reused after the same hash check, so a truncated
    download left by an earlier crash is caught rather than loaded.
    """
    url = _official_url(model_name)
    cached = _cached_official(model_name)
    if cached is None:
        target = checkpoint_dir() / Path(urlparse(url).path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s -> %s", url, target)
        try:
            # download_url_to_file writes to a temporary file and renames it only once
            # the sha256 prefix matches, so no half-written checkpoint is ever cached.
            _download(url, target)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise WeightsError(
                f"no pretrained checkpoint: download of {url} failed "
                f"({getattr(exc, 'reason', exc)}); put {target.name} in {target.parent} "
                "or pass --weights PATH"
            ) from None
        except RuntimeError as exc:  # torch.hub's hash mismatch
            raise WeightsError(f"download of {url} failed its hash check: {exc}") from None
        cached = target
    _verify_official(cached, url)
    return cached


def _download(url: str, target: Path) -> None:
    # urllib has no overall timeout; without one an unreachable host can hang a run.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        # An offline machine fails here in milliseconds, before the second it takes to
        # import torch for its downloader (every run of a sweep with --weights auto).
        socket.getaddrinfo(urlparse(url).hostname, 443)
        import torch

        torch.hub.download_url_to_file(url, str(target), hash_prefix=_hash_prefix(url))
    finally:
        socket.setdefaulttimeout(previous)


def resolve_weights(choice: str, model_name: str) -> WeightsSource:
    """Turn ``--weights`` into a source, downloading for ``torchvision`` and ``auto``."""
    source = get_spec(model_name).source  # unknown model names fail here, before any download
    if source is not None:
        return _user_model_weights(choice, source)
    if choice == "random":
        return WeightsSource("random", f"random:{RANDOM_SEED}")
    if choice == "torchvision":
        return WeightsSource("torchvision", "torchvision", download_official(model_name))
    if choice == "auto":
        try:
            return WeightsSource("torchvision", "torchvision", download_official(model_name))
        except WeightsError as exc:
            return WeightsSource("random", f"random:{RANDOM_SEED}", note=str(exc))
    return _checkpoint(choice, f"one of: {', '.join(WEIGHTS_CHOICES)}")


def _checkpoint(choice: str, otherwise: str) -> WeightsSource:
    path = Path(choice).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found; pass an existing checkpoint or "
                           f"{otherwise}")
    return WeightsSource("file", f"file:{sha256_of(path)}", path.resolve())


def _user_model_weights(choice: str, source) -> WeightsSource:
    """A model file carries its weights; a callable makes its own (`auto`), or takes a
    checkpoint or seeded random ones."""
    embedded = WeightsSource("embedded", f"embedded:{source.digest[:16]}")
    if choice == "auto":
        return embedded
    if source.kind.suffixes or choice == "torchvision":
        raise WeightsError(f"--weights {choice}: {source.file_name} carries its own weights; "
                           "--weights applies to zoo models (and a callable's random or "
                           "checkpoint weights): leave it at auto")
    if choice == "random":
        return WeightsSource("random", f"random:{RANDOM_SEED}")
    return _checkpoint(choice, "auto (what the callable loads itself)")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot read checkpoint {path}: {first_line}") from None
    # Training scripts often wrap the weights; accept the common wrappers.
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"checkpoint {path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_checkpoint(model: torch.nn.Module, path: Path) -> None:
    """Load `path` into `model` strictly; a mismatch names the first offending key."""
    from harness.core.zoo.densenet import upgrade_legacy_keys

    state = upgrade_legacy_keys(read_state_dict(path))
    expected = model.state_dict()
    # Old checkpoints (torchvision's among them) lack BatchNorm's counter; BatchNorm
    # itself accepts that, so it is not a mismatch.
    problems = []
    for key, tensor in expected.items():  # in the model's order: "first" means first
        if key not in state:
            if not key.endswith("num_batches_tracked"):
                problems.append(f"missing key {key!r}")
        elif state[key].shape != tensor.shape:
            problems.append(f"key {key!r} has shape {tuple(state[key].shape)}, "
                            f"the model wants {tuple(tensor.shape)}")
    problems += [f"unexpected key {k!r}" for k in state if k not in expected]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise WeightsError(
            f"checkpoint {path} does not fit {type(model).__name__}: {problems[0]}{more}"
        )
    model.load_state_dict(state, strict=True)
