"""Entry point of the frozen app (both ``scalpel`` and ``scalpel-gui``)."""

import sys

if sys.platform == "win32":
    # llama.cpp's DLLs must be loaded before Qt's on Windows (access violations otherwise).
    import llama_cpp  # noqa: F401

from desktop_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
