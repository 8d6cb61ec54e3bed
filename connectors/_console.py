"""Rich output helpers shared by the CLI commands."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from assistant import Turn
from assistant.answers import money
from retrieval import IngestOutcome, ProductHit
from retrieval.privacy import RedactingFilter

# Everything for people goes to stderr, so stdout carries only the JSON that programs read.
err_console = Console(stderr=True)
out_console = Console()


def configure_logging(level: int = logging.WARNING) -> None:
    """Log to stderr through the PII filter, so no customer email or card number reaches a log."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="cyan")


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich bar driven by the ingest's ``progress(advance, total)`` callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            if done == 0:  # a new ingest starts (the demo loads products, then FAQ): restart the bar
                progress.reset(task, total=total)
            else:
                progress.update(task, advance=done)

        yield advance


def print_outcome(label: str, outcome: IngestOutcome) -> None:
    err_console.print(f"[green]{label}:[/green] {outcome.report.summary()}")
    for error in outcome.errors[:20]:
        err_console.print(f"  [yellow]skipped[/yellow] {escape(str(error))}", soft_wrap=True, highlight=False)
    if len(outcome.errors) > 20:
        err_console.print(f"  … and {len(outcome.errors) - 20} more")


def product_table(hits: list[ProductHit]) -> Table:
    table = Table("#", "id", "title", "brand", "category", "price", "rating", "score")
    for position, hit in enumerate(hits, start=1):
        product = hit.product
        table.add_row(
            str(position),
            product.id,
            product.title[:70],
            product.brand,
            product.category,
            money(product.price, product.currency),
            "" if product.rating is None else f"{product.rating:g}★",
            f"{hit.score:.4f}",
        )
    return table


def print_turn(turn: Turn) -> None:
    if turn.comparison:
        table = Table("", *(f"{card.position}. {card.title[:40]}" for card in turn.products))
        for row in turn.comparison:
            table.add_row(row.label, *row.values)
        out_console.print(table)
        out_console.print(turn.text.splitlines()[-1])
        return
    if not turn.products or turn.intent == "product_question":
        out_console.print(turn.text)
        if turn.faq_sources:
            out_console.print(f"[dim]source: {', '.join(turn.faq_sources)}[/dim]")
        return
    listed = {f"{card.position}. {card.title}" for card in turn.products}
    for line in turn.text.splitlines():
        if not any(line.startswith(prefix) for prefix in listed):
            out_console.print(line)
    table = Table("#", "title", "price", "rating", "why")
    for card in turn.products:
        rating = "" if card.rating is None else f"{card.rating:g}★"
        table.add_row(str(card.position), card.title[:70], money(card.price, card.currency), rating, card.reason)
    out_console.print(table)
