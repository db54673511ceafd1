"""``python -m schedules``: see :mod:`schedules.cli`.

``trace`` takes a short way in: the traced command's start is not held up by importing every
capability (torch, plotly ...) in the process that only launches it and merges its trace.
"""

import sys


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["trace"]:
        from .trace.cli import main_trace

        return main_trace(argv[1:])
    from .cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
