"""CLI commands of the model layer: `glassboard models` and `glassboard chat`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from glassboard.cli.console import ConfigOption, clean_errors, load_registry, stdout
from glassboard.cli.output import Column, FormatOption, Listing, OutputFormat, emit, short_hash

if TYPE_CHECKING:
    from glassboard.models.registry import Registry


def register(app: typer.Typer) -> None:
    app.command("models")(models_command)
    app.command("chat")(chat_command)


def models_command(config: ConfigOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """List the registry's variants: name, id, backend, provider, public, weights identity, retired."""
    from glassboard.models.registry import as_mapping

    with clean_errors():
        registry = load_registry(config)
        columns = (Column("name", key_column=True), Column("id", show=short_hash), Column("backend"),
                   Column("provider"), Column("public"), Column("weights", show=short_hash), Column("retired"))
        rows = [tuple(as_mapping(variant)[column.key] for column in columns) for variant in registry.variants]
        emit(Listing(f"Model variants ({registry.source})", columns, rows), fmt)


def chat_command(
    model: Annotated[str, typer.Argument(help="Variant name or alias (see `glassboard models`).")],
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    config: ConfigOption = None,
    temperature: Annotated[float | None, typer.Option(help="Override the variant's temperature.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Override the variant's max_tokens.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
) -> None:
    """Stream one answer from MODEL, then print time to first token and tokens/s."""
    with clean_errors():
        registry = load_registry(config)
        variant = registry.get(model)
        asyncio.run(_chat(registry, variant.name, prompt, temperature, max_tokens, seed))


async def _chat(registry: Registry, name: str, prompt: str, temperature: float | None, max_tokens: int | None,
                seed: int | None) -> None:
    from glassboard.models.hub import ModelHub
    from glassboard.models.types import Completion, SamplingParams

    if not prompt.strip():
        from glassboard.models.types import ConfigError

        raise ConfigError("the prompt is empty")
    console = stdout()
    async with ModelHub(registry) as hub:
        model = hub.get(name)
        SamplingParams.from_mapping(
            {k: v for k, v in {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}.items()
             if v is not None}, where="command-line options")
        async for event in model.stream(prompt, temperature=temperature, max_tokens=max_tokens, seed=seed):
            if isinstance(event, Completion):
                console.print()
                speed = f"{event.tokens_per_s:.1f} tokens/s" if event.tokens_per_s else "tokens/s n/a"
                ttft = f"{event.ttft_s * 1000:.0f} ms" if event.ttft_s is not None else "n/a"
                console.print(
                    f"[dim]{model.name} ({model.variant.id}) · time to first token {ttft} · {speed} · "
                    f"{event.completion_tokens} tokens · finish: {event.finish_reason}[/]"
                )
            else:
                console.print(event, end="", markup=False, highlight=False, soft_wrap=True)
