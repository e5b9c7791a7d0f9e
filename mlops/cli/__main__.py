"""`python -m mlops.cli ARGS`: the same as the `mlops` console script."""

import sys

from mlops.cli.main import app

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
