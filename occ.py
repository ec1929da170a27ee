"""The `occ` command: composes one Typer sub-app per package. The only module that imports them all."""

from __future__ import annotations

import logging
import os

import typer

from inference.cli import app as inference_app
from labeling.authors.cli import app as authors_app
from labeling.cli import app as labeling_app
from labeling.cli import label_app as labeling_label_app
from review.cli import app as review_serve_app
from review.cli import review_app, users_app
from training.cli import app as training_app
from training.cli import label_app as training_label_app

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="occ-insights: listen to clinicians' posts, classify them, and rank evidence gaps.",
)
app.add_typer(labeling_app)
app.add_typer(training_app)
app.add_typer(inference_app)

# `occ label ...`: the labeling loop. Commands that need only labels live in labeling/cli.py, those that need a
# model (select, zero-shot, audit) in training/cli.py; they are one group for the user.
label_app = typer.Typer(no_args_is_help=True, help="The labeling loop: choose what to label, agreement, "
                        "adjudication, label errors, zero-shot, Label Studio exchange.")
label_app.registered_commands.extend(labeling_label_app.registered_commands + training_label_app.registered_commands)
app.add_typer(label_app, name="label")
app.add_typer(authors_app, name="authors")
app.add_typer(review_serve_app)
app.add_typer(users_app, name="users")
app.add_typer(review_app, name="review")


def main() -> None:
    # Nothing may reach a model hub: weights come from installed packages or local folders.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(
        level=os.environ.get("OCC_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    app()


if __name__ == "__main__":
    main()
