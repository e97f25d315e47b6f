"""Entry point of the frozen app (both ``scalpel`` and ``scalpel-gui``)."""

import sys

if sys.platform == "win32":
    # llama.cpp's DLLs must be loaded before Qt's on Windows (access violations otherwise).
    import llama_cpp  # noqa: F401

if __name__ == "__main__":
    from desktop_app.core.engine.child import CHILD_FLAG

    if sys.argv[1:] == [CHILD_FLAG]:  # the engine process (desktop_app.core.engine.process)
        from desktop_app.core.engine.child import main
    else:
        from desktop_app.cli import main
    sys.exit(main())
