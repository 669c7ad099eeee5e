"""The ``comicdepth`` command line: one sub-command per pipeline tool.

Each sub-command lives in the module that holds its logic; that module exposes
``cli_add_arguments(parser)`` and ``cli_main(args) -> int``. Modules are imported only
when their command runs (``--help`` imports them all), so a typo in one tool never
breaks the others and TensorFlow is not imported for commands that do not need it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("comicdepth_tf.data.synthetic", "generate the embedded comics/natural RGB-D dataset"),
    "run": ("comicdepth_tf.chain.runner", "execute the numbered notebooks with papermill and write the report"),
    "env": ("comicdepth_tf.env", "print versions and devices"),
    "text-mask": ("comicdepth_tf.text_detection", "predict text-area masks for comics pages"),
    "translate": ("comicdepth_tf.translate", "translate images between natural and comics domains (CycleGAN)"),
    "predict": ("comicdepth_tf.inference", "predict depth maps for images, folders or globs"),
    "real-check": ("comicdepth_tf.real_pages", "score depth runs on the real-page depth-ordering check"),
    "diff-metrics": ("comicdepth_tf.chain.metrics_diff", "compare two runs' metrics.json stage by stage, exactly"),
    "compare-reports": ("comicdepth_tf.chain.report_compare",
                        "one configuration across runs on the real-page check, with paired intervals"),
}


def build_parser(commands: dict[str, tuple[str, str]] | None = None) -> argparse.ArgumentParser:
    """Build the argument parser with every registered sub-command."""
    commands = COMMANDS if commands is None else commands
    from comicdepth_tf import __version__

    parser = argparse.ArgumentParser(prog="comicdepth", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"comicdepth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in commands.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.cli_add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``comicdepth`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    # Import only the chosen command's module unless the user asks for help on the top level.
    if argv and argv[0] in COMMANDS:
        parser = build_parser({argv[0]: COMMANDS[argv[0]]})
    elif argv[:1] == ["--version"]:
        parser = build_parser({})
    else:
        parser = build_parser()
    args = parser.parse_args(argv)
    return int(args._module.cli_main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
