"""``python -m artifactstore.cli ...``: the same as the ``artifactstore`` command."""

from .main import main

if __name__ == "__main__":
    main()
