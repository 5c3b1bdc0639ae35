"""`freeze-study register` and `predict`: the recommended run in the Model Registry, and images classified by it."""

from __future__ import annotations

import argparse
import sys

from freeze_study.cli.parser import MODEL_NAME_HELP, add_experiment
from freeze_study.config import experiment_name, model_name


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The `register` and `predict` sub-commands."""
    p = sub.add_parser("register", help="register a sweep's recommended run in the Model Registry as the champion")
    add_experiment(p, sweep=True)
    p.add_argument("--model-name", default=None, help=MODEL_NAME_HELP)
    p.add_argument(
        "--promote",
        action="store_true",
        help="move the champion alias to it even when the champion's validation accuracy is as high or higher",
    )
    p.set_defaults(func=_register)

    p = sub.add_parser("predict", help="classify image files and folders with the registered (or a logged) model")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files, or folders searched recursively")
    p.add_argument(
        "--model",
        default=None,
        help="models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/model "
        "(default: models:/<experiment>-resnet18@champion)",
    )
    add_experiment(p)
    p.add_argument("--json", action="store_true", help="print JSON (class probabilities too) instead of a table")
    p.set_defaults(func=_predict)


def _register(args: argparse.Namespace) -> int:
    from freeze_study.sweep import register_choice

    experiment = experiment_name(args.experiment)
    register_choice(experiment, args.sweep, model_name(args.model_name, experiment), args.promote)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from freeze_study.names import CHAMPION_ALIAS
    from freeze_study.serve import predict

    uri = args.model or f"models:/{model_name(None, experiment_name(args.experiment))}@{CHAMPION_ALIAS}"
    files, skipped = predict.image_files(args.inputs)
    if skipped:
        print(f"skipped {len(skipped)} files that are not images by extension (e.g. {skipped[0]})", file=sys.stderr)
    predictions = predict.predict_files(predict.load_classifier(uri), files)
    print(predict.to_json(predictions) if args.json else predict.format_table(predictions))
    for failed in predictions.failed:
        print(f"freeze-study: error: {failed.error}", file=sys.stderr)
    print(predict.summary(predictions, uri), file=sys.stderr)
    return 1 if predictions.failed else 0
