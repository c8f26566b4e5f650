"""Rewriting the generated blocks of the docs pages, and checking they are current."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ops.docs import protocol, settings_table

BEGIN = "<!-- BEGIN generated:{name} (npcfarm docs; do not edit) -->"
END = "<!-- END generated:{name} -->"
_BLOCK = re.compile(
    r"<!-- BEGIN generated:(?P<name>[\w.]+) \(npcfarm docs; do not edit\) -->\n"
    r"(?:.*?\n)?<!-- END generated:(?P=name) -->",
    re.DOTALL,
)
DEFAULT_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding docs/


class StaleDocs(Exception):
    """A page's generated block is missing, unknown or out of date."""


@dataclass(frozen=True, slots=True)
class Page:
    path: str  # relative to the project root
    blocks: Callable[[], dict[str, str]]


PAGES = (
    Page("docs/BRIDGE.md", protocol.blocks),
    Page("docs/OPERATIONS.md", settings_table.blocks),
    Page("docs/GATEWAY.md", protocol.gateway_blocks),
)


def render(text: str, blocks: dict[str, str], *, page: str) -> str:
    """Replace every generated block; a block the page lacks or does not know is an error."""
    seen: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in blocks:
            raise StaleDocs(f"{page}: unknown generated block {name!r}")
        seen.add(name)
        return f"{BEGIN.format(name=name)}\n{blocks[name]}\n{END.format(name=name)}"

    out = _BLOCK.sub(fill, text)
    missing = sorted(set(blocks) - seen)
    if missing:
        raise StaleDocs(f"{page}: no place for generated block(s) {', '.join(missing)}")
    return out


def expected(root: Path = DEFAULT_ROOT) -> dict[Path, str]:
    """Every generated file and page as `npcfarm docs` would write it."""
    out: dict[Path, str] = {}
    for name in protocol.DOCUMENTS:
        schema = protocol.schema_of(name)
        text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
        out[root / "docs" / "schemas" / f"{name}.schema.json"] = text
    for page in PAGES:
        path = root / page.path
        out[path] = render(path.read_text(encoding="utf-8"), page.blocks(), page=page.path)
    return out


def stale(root: Path = DEFAULT_ROOT) -> list[Path]:
    """The files whose committed text differs from what would be written."""
    files = expected(root)
    orphans = sorted(set((root / "docs" / "schemas").glob("*.schema.json")) - set(files))
    changed = [
        path
        for path, text in files.items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    return changed + orphans


def write(root: Path = DEFAULT_ROOT) -> list[Path]:
    """Write what changed; returns the files written."""
    changed = stale(root)
    files = expected(root)
    for path in changed:
        if path not in files:  # a schema whose document is gone
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path], encoding="utf-8")
    return changed
