"""Each setting is declared once: the `synth` flags, a fleet job spec and rounds.yaml's
`generate:` take their defaults from the same models, so none can drift from another;
`max_rounds`, the knob's former name, is still read."""

from __future__ import annotations

import pytest
import typer.main

from synth.cli import app
from synth.engines.registry import EngineSettings
from synth.flags import option_name
from synth.fleet.jobs import ExplainJob, GenerateJob, TranslateJob, job_spec
from synth.pipelines.settings import (
    PACING,
    ExplainSettings,
    RunSettings,
    TranslateSettings,
    data_settings,
)
from synth.rounds import RoundGenerate


def command_defaults(name: str) -> dict[str, object]:
    """{flag: default} of a `synth` command, as the command line sees them."""
    command = typer.main.get_command(app).commands[name]
    return {
        option: getattr(param.default, "value", param.default)
        for param in command.params
        for option in param.opts
    }


def model_defaults(model) -> dict[str, object]:
    return {
        option_name(name): value
        for name, value in model.model_dump(mode="json").items()
        if not isinstance(value, dict | list | type(None))
    }


@pytest.mark.parametrize(
    ("command", "settings"),
    [
        ("generate", RunSettings()),
        ("translate", TranslateSettings.model_construct(languages=())),
        ("explain", ExplainSettings()),
    ],
)
def test_every_flag_s_default_is_its_setting_s_default(command, settings):
    flags = command_defaults(command)
    expected = model_defaults(settings)
    shared = {flag: flags[flag] for flag in expected if flag in flags}
    assert shared == {flag: expected[flag] for flag in shared}
    assert len(shared) >= 4  # the settings really are flags here
    assert flags["--timeout-s"] == settings.limits.timeout_s
    assert flags["--memory-mb"] == settings.limits.memory_mb
    for name in ("model", "base_url", "max_model_len"):
        if option_name(name) in flags:
            assert flags[option_name(name)] == getattr(EngineSettings(), name)


def test_every_generate_setting_that_is_a_flag_is_one():
    flags = command_defaults("generate")
    scalars = [n for n, v in RunSettings().model_dump().items() if not isinstance(v, dict)]
    missing = [
        n for n in scalars if option_name(n) not in flags and n not in ("judge", "system_prompts")
    ]
    assert missing == []


def test_a_job_spec_and_rounds_yaml_compose_the_same_models():
    generate = job_spec({"output": "runs/x", "problems": 2})
    assert isinstance(generate, GenerateJob)
    assert generate.run_settings() == RunSettings(problems=2)
    assert set(RunSettings.model_fields) <= set(GenerateJob.model_fields)
    assert set(EngineSettings.model_fields) <= set(GenerateJob.model_fields)
    assert set(TranslateSettings.model_fields) <= set(TranslateJob.model_fields)
    assert set(ExplainSettings.model_fields) <= set(ExplainJob.model_fields)
    rounds, run = RoundGenerate().model_dump(), RunSettings().model_dump()
    assert {name: value for name, value in rounds.items() if name in run} == {
        name: run[name] for name in rounds if name in run
    }


def test_the_former_name_max_rounds_is_read_everywhere():
    assert RunSettings(max_rounds=2).max_attempts == 2
    assert job_spec({"output": "runs/x", "problems": 2, "max_rounds": 5}).max_attempts == 5
    assert (
        RoundGenerate.model_validate({"max_rounds": 1}).flags(0)[
            RoundGenerate.model_validate({"max_rounds": 1}).flags(0).index("--max-attempts") + 1
        ]
        == "1"
    )
    assert command_defaults("generate")["--max-rounds"] == 3


def test_a_resume_compares_every_setting_but_the_pacing_ones():
    compared = set(data_settings(RunSettings()))
    assert compared.isdisjoint(PACING)
    assert compared == set(RunSettings.model_fields) - PACING
