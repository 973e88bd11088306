"""Skill taxonomies: load and validate a YAML tree, sample concept combinations.

A taxonomy is a tree of areas, topics and concepts (any depth). Internal nodes have
`id`, `name`, optional `description` and `children`; leaves have `id`, `name`,
`description` and a positive `weight` (relative sampling frequency). Ids are unique across
the whole file. `domain` (code or math) says which pipeline the taxonomy feeds.
See taxonomies/code/python.yaml and taxonomies/math/skills.yaml.

Loading reports every problem with the file, the node's path in the tree and the reason;
sampling is reproducible: the combination for slot i of a run depends only on the seed and i.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from synth.errors import SynthError
from synth.records import Concept, SkillCombo

ID_PATTERN = re.compile(r"^[a-z0-9]+([-_.][a-z0-9]+)*$")
LEAF_KEYS = {"id", "name", "description", "weight"}
NODE_KEYS = {"id", "name", "description", "children"}
TOP_KEYS = {"name", "domain", "language", "description", "areas"}
DOMAINS = ("code", "math")


@dataclass(frozen=True)
class Taxonomy:
    name: str
    language: str
    source: str
    domain: str  # which pipeline the taxonomy feeds: code or math
    concepts: tuple[Concept, ...]
    areas: int
    topics: int
    max_depth: int

    def stats(self) -> dict[str, int]:
        return {
            "leaves": len(self.concepts),
            "topics": self.topics,
            "areas": self.areas,
            "max_depth": self.max_depth,
        }

    def by_id(self) -> dict[str, Concept]:
        return {c.id: c for c in self.concepts}


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Read and validate a taxonomy file; raise SynthError naming file, tree path and reason."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SynthError(where, "taxonomy file not found") from None
    except OSError as exc:
        raise SynthError(where, f"cannot read taxonomy: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SynthError(where, f"YAML syntax error at {line}{problem}") from None
    return parse_taxonomy(data, source=where)


def parse_taxonomy(data: Any, source: str = "<taxonomy>") -> Taxonomy:
    if not isinstance(data, dict):
        raise SynthError(source, "a taxonomy is a mapping with keys: name, language, areas")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise SynthError(
            source, f"unknown top-level key(s) {sorted(unknown)}", f"allowed: {sorted(TOP_KEYS)}"
        )
    for key in ("name", "areas"):
        if key not in data:
            raise SynthError(source, f"missing top-level field '{key}'")
    domain = data.get("domain", "code")
    if domain not in DOMAINS:
        raise SynthError(
            f"{source}: domain",
            f"unknown domain {domain!r}",
            f"choose one of: {', '.join(DOMAINS)}",
        )
    areas = data["areas"]
    if not isinstance(areas, list) or not areas:
        raise SynthError(f"{source}: areas", "must be a non-empty list of nodes")

    walker = _Walker(source)
    for index, node in enumerate(areas):
        walker.visit(node, f"areas[{index}]", parents=(), depth=1)
    if not walker.concepts:
        raise SynthError(source, "the taxonomy has no leaf concepts")
    return Taxonomy(
        name=str(data["name"]),
        language=str(data.get("language", "python" if domain == "code" else "")),
        source=source,
        domain=domain,
        concepts=tuple(walker.concepts),
        areas=len(areas),
        topics=walker.internal_nodes - len(areas),
        max_depth=walker.max_depth,
    )


class _Walker:
    """Depth-first validation of the tree, collecting leaves."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.concepts: list[Concept] = []
        self.seen: dict[str, str] = {}
        self.internal_nodes = 0
        self.max_depth = 0

    def fail(self, tree_path: str, reason: str, fix: str = "") -> SynthError:
        return SynthError(f"{self.source}: {tree_path}", reason, fix)

    def visit(self, node: Any, tree_path: str, parents: tuple[str, ...], depth: int) -> None:
        if not isinstance(node, dict):
            raise self.fail(tree_path, f"expected a mapping, got {type(node).__name__}")
        node_id = node.get("id")
        if node_id is not None:
            tree_path = f"{tree_path} ({'/'.join((*parents, str(node_id)))})"
        for key in ("id", "name"):
            if key not in node:
                raise self.fail(tree_path, f"missing field '{key}'")
        if not isinstance(node_id, str) or not ID_PATTERN.match(node_id):
            raise self.fail(tree_path, f"bad id {node_id!r}", "use lowercase words joined by '-'")
        if node_id in self.seen:
            raise self.fail(
                tree_path, f"duplicate id '{node_id}' (first used at {self.seen[node_id]})"
            )
        self.seen[node_id] = tree_path
        self.max_depth = max(self.max_depth, depth)

        if "children" in node:
            self.visit_internal(node, tree_path, (*parents, node_id), depth)
        else:
            self.visit_leaf(node, tree_path, (*parents, node_id))

    def visit_internal(self, node: dict, tree_path: str, path: tuple[str, ...], depth: int) -> None:
        unknown = set(node) - NODE_KEYS
        if unknown:
            raise self.fail(
                tree_path, f"unknown field(s) {sorted(unknown)} on a node with children"
            )
        children = node["children"]
        if not isinstance(children, list) or not children:
            raise self.fail(tree_path, "'children' must be a non-empty list")
        self.internal_nodes += 1
        for index, child in enumerate(children):
            self.visit(child, f"{tree_path}.children[{index}]", path, depth + 1)

    def visit_leaf(self, node: dict, tree_path: str, path: tuple[str, ...]) -> None:
        unknown = set(node) - LEAF_KEYS
        if unknown:
            raise self.fail(
                tree_path, f"unknown field(s) {sorted(unknown)}", f"a leaf has {sorted(LEAF_KEYS)}"
            )
        for key in ("description", "weight"):
            if key not in node:
                raise self.fail(tree_path, f"missing field '{key}' (a leaf concept needs it)")
        description = node["description"]
        if not isinstance(description, str) or not description.strip():
            raise self.fail(tree_path, "'description' must be a non-empty string")
        weight = node["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise self.fail(tree_path, f"bad weight {weight!r}: not a number")
        if not math.isfinite(weight) or weight <= 0:
            raise self.fail(tree_path, f"bad weight {weight!r}: must be a positive finite number")
        self.concepts.append(
            Concept(
                id=node["id"],
                name=str(node["name"]),
                description=description.strip(),
                weight=float(weight),
                path=path,
            )
        )


# --- sampling ---------------------------------------------------------------------------

DEFAULT_COMBO_SIZES = {1: 0.4, 2: 0.4, 3: 0.2}


@dataclass(frozen=True)
class SamplerConfig:
    """How concept combinations are drawn.

    rare_boost flattens the weights: a concept is drawn with probability proportional to
    weight ** (1 - rare_boost), so 0 follows the taxonomy's weights and 1 draws uniformly,
    which up-weights the rare, long-tail concepts.
    """

    seed: int = 0
    rare_boost: float = 0.0
    combo_sizes: tuple[tuple[int, float], ...] = tuple(DEFAULT_COMBO_SIZES.items())

    def __post_init__(self) -> None:
        if not 0.0 <= self.rare_boost <= 1.0:
            raise SynthError("--rare-boost", f"{self.rare_boost} is outside [0, 1]")
        for size, share in self.combo_sizes:
            if size < 1 or share < 0:
                raise SynthError("combo sizes", f"bad entry {size}: {share}")


def sample_combo(taxonomy: Taxonomy, slot: int, config: SamplerConfig) -> SkillCombo:
    """The skill combination of one problem slot; the same (seed, slot) gives the same combo."""
    rng = random.Random(f"{config.seed}:{slot}")
    sizes = [s for s, _ in config.combo_sizes]
    size_weights = [w for _, w in config.combo_sizes]
    size = min(rng.choices(sizes, weights=size_weights)[0], len(taxonomy.concepts))
    exponent = 1.0 - config.rare_boost
    pool = list(taxonomy.concepts)
    weights = [c.weight**exponent for c in pool]
    chosen: list[Concept] = []
    for _ in range(size):  # draw without replacement
        index = rng.choices(range(len(pool)), weights=weights)[0]
        chosen.append(pool.pop(index))
        weights.pop(index)
    return SkillCombo(slot=slot, concepts=tuple(chosen))


def default_taxonomy_path() -> Path:
    """taxonomies/code/python.yaml from a source checkout, an installed package or the cwd."""
    package_dir = Path(__file__).resolve().parent
    for root in (package_dir, package_dir.parent, Path.cwd()):
        candidate = root / "taxonomies" / "code" / "python.yaml"
        if candidate.exists():
            return candidate
    raise SynthError("--taxonomy", "no default taxonomy found", "pass --taxonomy FILE")
