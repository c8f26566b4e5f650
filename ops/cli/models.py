"""`npcfarm models list|check` and `npcfarm eval`: what is configured, and how good it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from npcfarm.settings import get_settings

if TYPE_CHECKING:
    from models.catalogue import ModelCatalogue

models_app = typer.Typer(help="The GGUF model catalogue.", no_args_is_help=True)
console = Console()


def _catalogue() -> ModelCatalogue | None:
    from models.catalogue import load_model_catalogue  # noqa: PLC0415

    settings = get_settings()
    return load_model_catalogue(settings.model_catalogue) if settings.model_catalogue else None


def _report(*, check: bool, as_json: bool) -> None:
    from models.inventory import inventory, render  # noqa: PLC0415

    report = inventory(get_settings().data_dir, catalogue=_catalogue(), check=check)
    if as_json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        console.print(render(report))


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Configured base models and adapters, what is present, and GPU offload support."""
    _report(check=False, as_json=as_json)


@models_app.command("check")
def models_check(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Like list, but also verify checksums and load each model once."""
    _report(check=True, as_json=as_json)


def evaluate(
    *,
    profile: Annotated[str, typer.Option(help="Game profile: rpg or strategy.")] = "rpg",
    turns: Annotated[int, typer.Option(help="rpg: scripted turns per archetype.")] = 20,
    archetype: Annotated[list[str] | None, typer.Option(help="rpg: only these.")] = None,
    players: Annotated[int, typer.Option(help="strategy: AI players in the season.")] = 40,
    hours: Annotated[float, typer.Option(help="strategy: game hours of the season.")] = 72,
    out: Annotated[Path | None, typer.Option(help="Write the scorecard JSON here.")] = None,
) -> None:
    """Score a profile's brains; exits 1 below the profile's thresholds. rpg: scripted
    scenarios per archetype through the model; strategy: a season of AI players against
    do-nothing and random baselines."""
    if profile == "strategy":
        _evaluate_strategy(players=players, hours=hours, out=out)
        return
    if profile != "rpg":
        raise typer.BadParameter(f"unknown profile {profile!r} (rpg, strategy)")
    from models.catalogue import engine_config  # noqa: PLC0415
    from models.evaluation import run_eval  # noqa: PLC0415
    from models.llm import Engine  # noqa: PLC0415

    settings = get_settings()
    config = engine_config(
        settings.data_dir, settings.engine_base, catalogue=_catalogue(), console=console
    )
    with Engine(**config.engine_kwargs()) as engine:
        card = run_eval(engine, model=config.base, archetypes=archetype, turns=turns)
    console.print(card.table())
    if out is not None:
        out.write_text(json.dumps(card.to_json(), indent=2) + "\n")
        console.print(f"scorecard written to {out}")
    failed = card.below_thresholds()
    if failed:
        console.print(f"[bold red]below the rpg thresholds[/]: {'; '.join(failed)}")
        raise typer.Exit(1)


def _evaluate_strategy(*, players: int, hours: float, out: Path | None) -> None:
    from rich.progress import Progress  # noqa: PLC0415

    from ops.bridge.strategy import scorecard  # noqa: PLC0415

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("seasons", total=3.0)
        done = {"nothing": 0, "random": 1, "rules": 2}

        def progress(brain: str, fraction: float) -> None:
            bar.update(task, completed=done[brain] + fraction, description=f"season: {brain}")

        seasons, checks = scorecard.run(players=players, hours=hours, progress=progress)
    for t in scorecard.table(seasons, checks):
        console.print(t)
    if out is not None:
        out.write_text(json.dumps(scorecard.as_json(seasons, checks), indent=2) + "\n")
        console.print(f"scorecard written to {out}")
    if not all(c.ok for c in checks):
        console.print("[bold red]below the strategy thresholds[/]")
        raise typer.Exit(1)
