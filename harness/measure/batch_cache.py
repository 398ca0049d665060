"""Offline's batch-size choice, remembered per device: the probe behind `--max-batch auto`
costs seconds per cell and is noisy (batch 4 probed 292 samples/s and batch 8 516 on the
same artifact, minutes apart), so a sweep asks it once per device, model, backend,
precision, threads, runtime version and recipe options, and each later run says it took
the answer from here (`batch_choice.source`, and a "batch from cache" shortcut).

One JSON file per key under `<cache>/batch-choices/`; delete one (or the folder) to
probe again.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.core.digests import fields_digest
from harness.core.records import utc_now, write_json_atomic

FOLDER = "batch-choices"


class BatchChoiceCache:
    def __init__(self, root: Path) -> None:
        self.folder = Path(root) / FOLDER

    @staticmethod
    def key_fields(device: str, model: str, backend: str, precision: str, threads: int,
                   runtime_version: str | None, recipe_options: dict) -> dict:
        return {"device": device, "model": model, "backend": backend,
                "precision": precision, "threads": threads,
                "runtime_version": runtime_version,
                "recipe_options": {k: str(v) for k, v in sorted(recipe_options.items())}}

    def _path(self, key: dict) -> Path:
        return self.folder / f"{key['model']}-{key['backend']}-{key['precision']}-" \
                             f"{fields_digest(key)}.json"

    def get(self, key: dict) -> dict | None:
        """The choice an earlier run made for exactly this key, or None (unreadable
        entries count as none: the probe runs again and rewrites them)."""
        try:
            saved = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        return saved.get("choice") if saved.get("key") == key else None

    def put(self, key: dict, choice: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._path(key), {"key": key, "choice": choice})

    @staticmethod
    def stamped(choice: dict) -> dict:
        """A fresh probe's choice, with when it was made."""
        return {**choice, "probed_at": utc_now().isoformat(timespec="seconds")}
