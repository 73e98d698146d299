"""`python stack/moto_stack ...` (or `python -m moto_stack` with `stack/` on the path)."""

import sys
from pathlib import Path

if not __package__:
    # Run as a directory: import the package by name, so its modules have dotted names.
    # moto's model metaclass files each model class under the second component of its
    # module name, and fails on a top-level module (cfn_models' classes are moto models).
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from moto_stack.cli import main  # noqa: E402

sys.exit(main())
