"""Taxonomy loading reports malformed files precisely; sampling is reproducible."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.errors import SynthError
from synth.taxonomy import SamplerConfig, load_taxonomy, parse_taxonomy, sample_combo

ROOT = Path(__file__).resolve().parents[1]
PYTHON_TAXONOMY = ROOT / "taxonomies" / "code" / "python.yaml"

VALID = """\
name: t
areas:
  - id: algo
    name: Algorithms
    children:
      - id: graphs
        name: Graphs
        children:
          - {id: bfs, name: BFS, description: Breadth-first search., weight: 3}
          - {id: astar, name: A*, description: Heuristic search., weight: 0.1}
      - id: sorting
        name: Sorting
        children:
          - {id: radix, name: Radix sort, description: Sort by digits., weight: 1}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tax.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(SynthError) as info:
        load_taxonomy(write(tmp_path, text))
    return str(info.value)


def test_shipped_python_taxonomy_is_large_deep_and_has_the_long_tail():
    taxonomy = load_taxonomy(PYTHON_TAXONOMY)
    stats = taxonomy.stats()
    assert stats["leaves"] >= 150 and stats["max_depth"] == 3
    assert stats["areas"] >= 8 and stats["topics"] >= 30
    text = " ".join(f"{c.id} {c.name} {c.description}".lower() for c in taxonomy.concepts)
    for long_tail in (
        "trie",
        "interval",
        "regex",
        "decorator",
        "generator",
        "bit",
        "date",
        "dijkstra",
        "pars",
    ):
        assert long_tail in text, long_tail


def test_stats_command_prints_the_shape_as_json(tmp_path):
    result = CliRunner().invoke(app, ["taxonomy", "stats", str(write(tmp_path, VALID))])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"leaves": 3, "topics": 2, "areas": 1, "max_depth": 3}


def test_leaves_know_their_path():
    taxonomy = parse_taxonomy(__import__("yaml").safe_load(VALID))
    assert taxonomy.by_id()["astar"].path == ("algo", "graphs", "astar")


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    message = error_of(tmp_path, VALID.replace("name: Graphs", "name: [Graphs"))
    assert "tax.yaml" in message and "YAML syntax error at line" in message


def test_duplicate_id_names_both_places(tmp_path):
    message = error_of(tmp_path, VALID.replace("id: radix", "id: bfs"))
    assert "duplicate id 'bfs'" in message
    assert "algo/sorting/bfs" in message and "first used at" in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("weight: 3", "weight: -1"), "bad weight -1"),
        (("weight: 3", "weight: lots"), "bad weight 'lots': not a number"),
        (("weight: 3", "weight: .nan"), "must be a positive finite number"),
        ((", weight: 0.1", ""), "missing field 'weight'"),
        (("description: Sort by digits., ", ""), "missing field 'description'"),
        (("name: Graphs", "title: Graphs"), "missing field 'name'"),
        (("id: astar", "id: A Star"), "bad id 'A Star'"),
        (("weight: 1}", "weight: 1, colour: red}"), "unknown field(s) ['colour']"),
    ],
)
def test_malformed_nodes_are_reported_with_their_tree_path(tmp_path, edit, expected):
    message = error_of(tmp_path, VALID.replace(*edit))
    assert expected in message
    assert "areas[0]" in message  # where in the tree


def test_empty_and_non_mapping_files_are_rejected(tmp_path):
    assert "a taxonomy is a mapping" in error_of(tmp_path, "- just\n- a list\n")
    assert "missing top-level field 'areas'" in error_of(tmp_path, "name: x\n")
    assert "taxonomy file not found" in str(
        pytest.raises(SynthError, load_taxonomy, tmp_path / "nope.yaml").value
    )


def test_cli_reports_a_malformed_taxonomy_without_a_traceback(tmp_path):
    from synth.cli import main

    path = write(tmp_path, VALID.replace("weight: 3", "weight: -1"))
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from synth.cli import main; main()",
            "taxonomy",
            "stats",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "bad weight -1" in done.stderr and "Traceback" not in done.stderr
    assert main  # the console entry point exists


def test_sampling_is_reproducible_per_slot_and_draws_one_to_three_distinct_concepts():
    taxonomy = load_taxonomy(PYTHON_TAXONOMY)
    config = SamplerConfig(seed=7)
    combos = [sample_combo(taxonomy, slot, config) for slot in range(300)]
    assert combos == [sample_combo(taxonomy, slot, config) for slot in range(300)]
    assert combos[5] == sample_combo(taxonomy, 5, config)  # independent of the other slots
    sizes = Counter(len(c.concepts) for c in combos)
    assert set(sizes) == {1, 2, 3}
    assert all(len(set(c.concept_ids)) == len(c.concepts) for c in combos)
    assert combos != [sample_combo(taxonomy, slot, SamplerConfig(seed=8)) for slot in range(300)]


def test_rare_boost_draws_rare_concepts_more_often():
    taxonomy = parse_taxonomy(__import__("yaml").safe_load(VALID))
    one = ((1, 1.0),)

    def share_of_rare(boost: float) -> float:
        config = SamplerConfig(seed=1, rare_boost=boost, combo_sizes=one)
        draws = [sample_combo(taxonomy, slot, config).concept_ids[0] for slot in range(3000)]
        return draws.count("astar") / len(draws)

    assert share_of_rare(0.0) < 0.06  # weight 0.1 of 4.1
    assert 0.25 < share_of_rare(1.0) < 0.42  # uniform: one in three
    with pytest.raises(SynthError):
        SamplerConfig(rare_boost=1.5)
