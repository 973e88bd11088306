"""run.json compared by meaning: a resumed run must be the same run, however it is spelled.

What counts as the same:

- locations are compared resolved: a local path made absolute with its symlinks resolved
  (`taxonomies/x.yaml` and `/repo/taxonomies/x.yaml` are one file); an fsspec URL
  (`s3://...`) is compared as written, never resolved as a local path;
- each input file (taxonomy, problems file, system prompts, judge rubric) is recorded in
  run.json under `inputs` with its sha256, and compared by content: a file edited since the
  run started is refused, naming the file; the same bytes under another path resume. A
  directory or a URL (a run directory to take problems from) is compared by location only:
  only files are hashed;
- every other setting must be equal, except the slot count (a resume may raise it); the
  refusal names each setting that differs, with both values.

Run directories written before a setting was recorded (`LATER_SETTINGS`: the sandbox
limits, the lint rules, the near-duplicate threshold, the answer timeout) resume with a
warning that the setting cannot be checked, and record it from then on.

A setting renamed since a run started is read under its new name (`RENAMED`: `max_rounds`
is `max_attempts`, the knob of correction attempts, since "rounds" means training rounds).

Run directories written before the hashes existed have no `inputs`: their paths are compared
resolved (a relative one against today's working directory, the best guess there is), a
warning says their contents cannot be checked, and the resume records the hashes from then on.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from synth.errors import SynthError
from synth.store import RunStore, is_url, local_path

log = logging.getLogger(__name__)

# Top-level settings that name a location; with `inputs` recorded they are compared there.
LOCATIONS = ("taxonomy", "problems_from", "source")
SHORT = 12  # hex digits of a sha256 shown in messages
# Settings run.json has recorded only since they were found to change the data unchecked.
LATER_SETTINGS = ("limits", "lint", "near_duplicate_threshold", "answer_timeout_s")
# Settings run.json recorded under another name: old name -> name now.
RENAMED = {"max_rounds": "max_attempts"}


def resolved(location: str | Path | None) -> str | None:
    """A location as run.json records it: a local path absolute with symlinks resolved, an
    fsspec URL as given (resolving `s3://b/k` as a path would make it `/cwd/s3:/b/k`)."""
    if location is None:
        return None
    if is_url(location):
        return str(location)
    return str(local_path(location).expanduser().resolve())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_input(location: str | Path) -> dict[str, str]:
    """`{"path": resolved}` plus `"sha256"` when the location is a local file."""
    where = resolved(location)
    entry = {"path": where}
    if not is_url(location) and Path(where).is_file():
        try:
            entry["sha256"] = sha256_of(Path(where))
        except OSError as exc:
            raise SynthError(str(location), f"cannot be read: {exc}") from None
    return entry


def describe_inputs(**locations: str | Path | None) -> dict[str, dict[str, str]]:
    """The `inputs` of run.json: one entry per input given (None: not given)."""
    return {name: describe_input(loc) for name, loc in locations.items() if loc is not None}


def check_settings(store: RunStore, settings: dict[str, Any]) -> None:
    """Refuse, with a SynthError, to resume a run directory that holds another run; a
    directory without run.json (a new run) passes."""
    stored = store.read_settings()
    if stored is None:
        return
    stored = {RENAMED.get(key, key): value for key, value in stored.items()}
    if "inputs" in stored:
        _check_inputs(stored["inputs"], settings.get("inputs", {}), store)
    else:
        _check_old_locations(stored, settings, store)
    unrecorded = [key for key in LATER_SETTINGS if key in settings and key not in stored]
    if unrecorded:
        log.warning(
            "%s/run.json does not record %s (written by an older synth): they cannot be "
            "checked against the run's start; resuming, and recording them from now on",
            store.location.rstrip("/"),
            ", ".join(unrecorded),
        )
    different: dict[str, tuple[Any, Any]] = {}
    for key, value in settings.items():
        if key not in ("problems", "inputs", *LOCATIONS, *unrecorded):
            different |= _differences(key, stored.get(key), value)
    if different:
        _refuse(store, different)


def _differences(key: str, then: Any, now: Any) -> dict[str, tuple[Any, Any]]:
    """`{name: (stored, given)}` for what differs; a mapping (the sandbox limits) names
    the fields inside it that differ (`limits.timeout_s`)."""
    if then == now:
        return {}
    if isinstance(then, dict) and isinstance(now, dict):
        return {
            f"{key}.{field}": (then.get(field), now.get(field))
            for field in sorted(set(then) | set(now))
            if then.get(field) != now.get(field)
        }
    return {key: (then, now)}


def _check_inputs(stored: Any, given: dict, store: RunStore) -> None:
    if not isinstance(stored, dict) or not all(isinstance(e, dict) for e in stored.values()):
        raise SynthError(
            f"{store.location.rstrip('/')}/run.json: inputs",
            "not the mapping synth writes ({name: {path, sha256}})",
        )
    for name in sorted(set(stored) | set(given)):
        then, now = stored.get(name), given.get(name)
        if then is None or now is None:
            _refuse(store, {name: (_path(then), _path(now))})
        elif "sha256" in then and "sha256" in now:
            if then["sha256"] != now["sha256"]:
                raise SynthError(
                    f"{name} {now['path']}",
                    "changed since the run started (sha256 stored "
                    f"{then['sha256'][:SHORT]}, now {now['sha256'][:SHORT]})",
                    f"restore the file that {store.location} was started with, "
                    "or use a new --out directory",
                )
        elif then.get("path") != now.get("path") or ("sha256" in then) != ("sha256" in now):
            _refuse(store, {name: (then.get("path"), now.get("path"))})


def _check_old_locations(stored: dict, settings: dict, store: RunStore) -> None:
    different = {
        key: (stored.get(key), settings.get(key))
        for key in LOCATIONS
        if key in settings and resolved(stored.get(key)) != settings.get(key)
    }
    if different:
        _refuse(store, different)
    if any(settings.get(key) for key in LOCATIONS):
        log.warning(
            "%s/run.json records no hashes of its input files (written by an older synth): "
            "their contents cannot be checked against the run's start; resuming, and "
            "recording the hashes from now on",
            store.location.rstrip("/"),
        )


def _path(entry: dict | None) -> str | None:
    return entry.get("path") if entry else None


def _refuse(store: RunStore, different: dict[str, tuple[Any, Any]]) -> None:
    listed = ", ".join(f"{k}: stored {a!r}, given {b!r}" for k, (a, b) in sorted(different.items()))
    raise SynthError(
        f"--out {store.location}",
        f"holds a run with other settings ({listed})",
        "use a new --out directory, or the stored settings to resume",
    )
