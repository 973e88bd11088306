"""`synth train --method dpo`: preference rows, the wrong kind of export, and DPO on the tiny model.

The pairs hold a fixed right answer as `chosen` and a wrong one as `rejected`; after a few
steps the saved checkpoint must prefer the right answer more than the base model did.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.errors import SynthError
from synth.train import load_dialogs, load_preferences, parse_train_config, train

PAIRS = [
    {
        "prompt": [{"role": "user", "content": f"What is {a} plus 2?"}],
        "chosen": [{"role": "assistant", "content": f"{a} + 2 = {a + 2}"}],
        "rejected": [{"role": "assistant", "content": f"{a} + 2 = {a + 7}"}],
        "problem_id": f"p{a}",  # metadata columns, as the export writes them
        "rejected_stage": "answer",
        "rejected_reason": "wrong final answer",
    }
    for a in range(4)
]
DIALOG = [
    {"role": "user", "content": "What is 2 plus 3?"},
    {"role": "assistant", "content": "$2 + 3 = 5$. $\\boxed{5}$"},
]


def write_export(path, rows, split="train"):
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def dpo_config(**settings):
    return parse_train_config(
        {"method": "dpo", "batch_size": 4, "logging_steps": 1, "save_steps": 2, **settings}
    )


def preference_margin(model_dir, pairs) -> float:
    """Mean over pairs of log p(chosen | prompt) - log p(rejected | prompt), in nats."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def tokens(messages, **options) -> list[int]:
        return tokenizer.apply_chat_template(messages, return_dict=True, **options)["input_ids"]

    def answer_logp(prompt, answer) -> float:
        ids = tokens(prompt + answer)
        prompt_ids = tokens(prompt, add_generation_prompt=True)
        # the answer starts where the two diverge: a token may merge across the boundary
        start = next(
            (i for i, (a, b) in enumerate(zip(ids, prompt_ids, strict=False)) if a != b),
            len(prompt_ids),
        )
        with torch.no_grad():
            logps = model(torch.tensor([ids])).logits[0, :-1].log_softmax(-1)
        targets = torch.tensor(ids[start:])[:, None]
        return logps[start - 1 :].gather(1, targets).sum().item()

    margins = [
        answer_logp(p["prompt"], p["chosen"]) - answer_logp(p["prompt"], p["rejected"])
        for p in pairs
    ]
    return sum(margins) / len(margins)


def logged(out, key):
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [row[key] for row in rows if key in row]


def test_preference_rows_keep_prompt_chosen_and_rejected_only(tmp_path):
    export = write_export(tmp_path / "e", PAIRS)
    pairs = load_preferences(export, "train")
    assert len(pairs) == 4 and set(pairs[0]) == {"prompt", "chosen", "rejected"}
    assert pairs[0]["chosen"] == [{"role": "assistant", "content": "0 + 2 = 2"}]
    assert load_preferences(export, "validation") == []


def test_an_export_of_the_other_kind_is_refused_by_column(tmp_path, tiny_model):
    out = tmp_path / "ckpt"
    sft_export = write_export(tmp_path / "sft", [{"messages": DIALOG}])
    with pytest.raises(SynthError) as refused:
        train(sft_export, str(tiny_model), out, dpo_config())
    message = str(refused.value)
    assert str(sft_export) in message and "train split" in message
    assert "has no `prompt` column" in message and "--method sft" in message

    dpo_export = write_export(tmp_path / "dpo", PAIRS)
    with pytest.raises(SynthError, match="train split: has no `messages` column.*--method dpo"):
        load_dialogs(dpo_export, "train")
    write_export(dpo_export, [{"messages": DIALOG}], split="validation")
    with pytest.raises(SynthError, match="validation split: has no `prompt` column"):
        train(dpo_export, str(tiny_model), out, dpo_config())

    bad = dict(PAIRS[0], rejected=[{"role": "user", "content": "7"}])
    with pytest.raises(SynthError, match="row 1: `rejected` does not end with an assistant"):
        load_preferences(write_export(tmp_path / "bad", [PAIRS[0], bad]), "train")
    empty = write_export(tmp_path / "empty", [])
    with pytest.raises(SynthError, match="train split is empty"):
        train(empty, str(tiny_model), out, dpo_config())
    assert not out.exists()


def test_dpo_settings_are_checked():
    config = parse_train_config({"method": "dpo", "dpo": {"beta": 0.2, "loss_type": ["sigmoid"]}})
    assert config.dpo.beta == 0.2 and parse_train_config({}).method == "sft"
    with pytest.raises(SynthError, match="method"):
        parse_train_config({"method": "ppo"})
    with pytest.raises(SynthError, match="dpo.loss_type"):
        parse_train_config({"dpo": {"loss_type": ["sigmoid", "nll"]}})
    with pytest.raises(SynthError, match="loss_weights has 1 entries for 2"):
        parse_train_config({"dpo": {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0]}})
    with pytest.raises(SynthError, match="packing is for method sft only"):
        parse_train_config({"method": "dpo", "packing": True})


def test_cli_documents_the_method_and_refuses_an_sft_export(tmp_path, tiny_model):
    runner = CliRunner()
    assert "--method" in runner.invoke(app, ["train", "--help"]).output
    sft_export = write_export(tmp_path / "sft", [{"messages": DIALOG}])
    result = runner.invoke(
        app,
        ["train", "--data", str(sft_export), "--model", str(tiny_model)]
        + ["--out", str(tmp_path / "ckpt"), "--method", "dpo"],
    )
    assert isinstance(result.exception, SynthError)
    assert "has no `prompt` column" in str(result.exception)


def test_a_max_length_that_leaves_no_answer_is_refused(tmp_path, tiny_model):
    data = write_export(tmp_path / "data", PAIRS)
    with pytest.raises(SynthError, match="max_length 16: every train pair's prompt"):
        train(data, str(tiny_model), tmp_path / "ckpt", dpo_config(max_length=16))


@pytest.mark.slow
def test_full_dpo_prefers_the_right_answer(tmp_path, tiny_model):
    """Without LoRA, TRL loads a frozen copy of the base model as the reference."""
    data = write_export(tmp_path / "data", PAIRS)
    out = tmp_path / "ckpt"
    summary = train(data, str(tiny_model), out, dpo_config(max_steps=3, learning_rate=1e-4))
    assert summary["method"] == "dpo" and summary["steps"] == 3 and not summary["lora"]
    margins = logged(out, "rewards/margins")
    assert len(margins) == 3 and margins[0] == 0  # step 1 scores the policy before any update
    assert margins[-1] > 0
    assert preference_margin(out, PAIRS) > preference_margin(tiny_model, PAIRS) + 0.1


@pytest.mark.slow
def test_lora_dpo_merges_and_a_second_run_does_not_retrain(tmp_path, tiny_model):
    import torch
    from safetensors.torch import load_file

    data = write_export(tmp_path / "data", PAIRS)
    write_export(data, PAIRS[:2], split="validation")
    out = tmp_path / "ckpt"
    config = dpo_config(max_steps=4, learning_rate=1e-3, lora={"r": 4, "alpha": 8})
    summary = train(data, str(tiny_model), out, config)
    assert summary["steps"] == 4 and summary["lora"] and not summary["resumed"]
    assert summary["train_examples"] == 4 and summary["validation_examples"] == 2
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    margins = logged(out, "rewards/margins")
    assert len(margins) == 4 and margins[0] == 0 and margins[-1] > margins[1] > 0
    assert logged(out, "eval_rewards/margins")  # the validation split is scored too
    assert preference_margin(out, PAIRS) > preference_margin(tiny_model, PAIRS) + 0.1

    weights = load_file(out / "model.safetensors")
    again = train(data, str(tiny_model), out, config)
    assert again["resumed"] and again["steps"] == 4
    assert len(logged(out, "rewards/margins")) == 4  # no step ran again
    for name, tensor in load_file(out / "model.safetensors").items():
        assert torch.equal(tensor, weights[name]), name
