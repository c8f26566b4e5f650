"""Game profiles: one TOML file per game in this folder (`rpg`, `strategy`), read once.

See schema.py for what a profile declares and values.py for how the farm checks
what a bridge or a brain sends against it. A world names its profile (`rpg` unless
set); an NPC's profile is its world's.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

from pydantic import ValidationError

from models.profiles.schema import Profile
from npcfarm.errors import ConfigError, InvalidInput

FOLDER = Path(__file__).resolve().parent
DEFAULT_PROFILE = "rpg"


def profile_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in FOLDER.glob("*.toml")))


def load_file(path: Path) -> Profile:
    """Parse and check one profile file; ConfigError says where it is wrong."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc
    if profile.name != path.stem:
        raise ConfigError(f"{path}: name {profile.name!r} must match the file name")
    return profile


@functools.cache
def get_profile(name: str) -> Profile:
    """A shipped profile by name; InvalidInput when there is none."""
    path = FOLDER / f"{name}.toml"
    if name not in profile_names():
        known = ", ".join(profile_names())
        raise InvalidInput(f"unknown game profile {name!r} (known: {known})")
    return load_file(path)
