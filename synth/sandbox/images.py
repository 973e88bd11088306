"""Build the sandbox images from `sandboxes/<language>/Dockerfile` through docker-py.

Each Dockerfile takes `ARG BASE_IMAGE` (Debian bookworm by default); a machine that
reaches no registry passes a locally bootstrapped base (sandboxes/bootstrap-base.sh).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from synth.errors import SynthError
from synth.sandbox.docker_pool import docker_client
from synth.sandbox.languages import get_language

DEFAULT_BASE_IMAGE = "debian:bookworm-slim"


def default_dockerfiles() -> Path:
    """The `sandboxes/` directory of the source tree synth runs from."""
    return Path(__file__).resolve().parents[2] / "sandboxes"


@dataclass(frozen=True)
class BuiltImage:
    language: str
    tag: str
    seconds: float
    size_mb: float


def build_images(
    languages: Iterable[str],
    base_image: str = DEFAULT_BASE_IMAGE,
    dockerfiles: Path | None = None,
    tag: str = "latest",
    log: Callable[[str], None] = lambda line: None,
) -> list[BuiltImage]:
    """Build one image per language, in order; the first failure stops with its build log."""
    root = dockerfiles or default_dockerfiles()
    specs = [get_language(name) for name in languages]
    for spec in specs:
        if not (root / spec.name / "Dockerfile").is_file():
            raise SynthError(
                f"--dockerfiles {root}",
                f"no {spec.name}/Dockerfile here",
                "pass the sandboxes/ dir",
            )
    client = docker_client(timeout_s=600)
    built = []
    for spec in specs:
        image = f"{spec.image}:{tag}"
        started = time.monotonic()
        lines: list[str] = []
        for chunk in client.api.build(
            path=str(root / spec.name),
            tag=image,
            buildargs={"BASE_IMAGE": base_image},
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    if line.strip():
                        lines.append(line)
                        log(f"{spec.name}: {line}")
            if "error" in chunk:
                tail = "\n".join(lines[-15:])
                raise SynthError(
                    f"{root / spec.name / 'Dockerfile'}",
                    f"building {image} on {base_image} failed: {chunk['error'].strip()}",
                    f"last lines of the build:\n{tail}",
                )
        size = client.images.get(image).attrs.get("Size", 0) / 1e6
        built.append(BuiltImage(spec.name, image, time.monotonic() - started, size))
    return built
