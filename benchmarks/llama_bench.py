"""llama.cpp's own ``llama-bench``, built from the sources llama-cpp-python vendors.

The reference for Scalpel's speed is llama.cpp itself at the very version the
app runs: the ``llama-cpp-python`` sdist pinned below carries it under
``vendor/llama.cpp``. It is built once (about 10-15 minutes on 2 cores) into
``~/.cache/scalpel-build/llama-bench/`` and reused from there.

    python benchmarks/llama_bench.py --build        # build it (once)
    python benchmarks/llama_bench.py [--threads 2] [--depth 0]  # pp256 + tg128, starter model
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

LLAMA_CPP_PYTHON = "0.3.36"  # keep equal to the llama-cpp-python the app is built with
BUILD_ROOT = Path(os.environ.get("SCALPEL_BUILD_CACHE",
                                 Path.home() / ".cache" / "scalpel-build")) / "llama-bench"
BINARY = BUILD_ROOT / "build" / "bin" / "llama-bench"
CMAKE_OPTIONS = ["-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DCMAKE_BUILD_TYPE=Release",
                 "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF"]


@dataclass(frozen=True)
class BenchFigures:
    """One llama-bench run: tokens per second for prompt processing and generation."""
    pp_tokens: int
    pp_tps: float
    tg_tokens: int
    tg_tps: float
    build_commit: str = ""
    cpu_info: str = ""
    tg_depth: int = 0          # tokens already in the context when tg starts (-d)
    flash_attn: str = ""       # as llama-bench ran: "auto" (on for CPU), "on" or "off"
    n_threads: int = 0
    tg_tps_default: float | None = None  # tg with llama-bench's default flash attention

    @property
    def pp_seconds(self) -> float:
        """Time llama.cpp takes to read a ``pp_tokens`` prompt."""
        return self.pp_tokens / self.pp_tps


def binary_path() -> Path | None:
    """The built llama-bench, or None when it has not been built yet."""
    return BINARY if BINARY.is_file() and os.access(BINARY, os.X_OK) else None


def _run(command: list[str], log: Path, cwd: Path | None = None) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=True)


def _sdist(log: Path) -> Path:
    """The llama-cpp-python source archive, downloaded from PyPI once."""
    folder = BUILD_ROOT / "sdist"
    found = sorted(folder.glob(f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz"))
    if not found:
        _run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
              f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "-d", str(folder)], log)
        found = sorted(folder.glob(f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz"))
    if not found:
        raise RuntimeError(f"pip download left no llama-cpp-python sdist in {folder}")
    return found[0]


def _llama_cpp_sources(log: Path) -> Path:
    """``vendor/llama.cpp`` of the unpacked sdist."""
    unpacked = BUILD_ROOT / "src" / f"llama_cpp_python-{LLAMA_CPP_PYTHON}"
    if not (unpacked / "vendor" / "llama.cpp" / "CMakeLists.txt").is_file():
        with tarfile.open(_sdist(log)) as archive:
            archive.extractall(BUILD_ROOT / "src", filter="data")
    return unpacked / "vendor" / "llama.cpp"


def build(jobs: int = 2) -> Path:
    """Configure and build only the ``llama-bench`` target; return the binary."""
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    log = BUILD_ROOT / "build-log.txt"
    print(f"building llama-bench into {BUILD_ROOT} (log: {log}); about 10-15 minutes on "
          "2 cores, once", file=sys.stderr)
    sources = _llama_cpp_sources(log)
    build_dir = BUILD_ROOT / "build"
    _run(["cmake", "-S", str(sources), "-B", str(build_dir), *CMAKE_OPTIONS], log)
    _run(["cmake", "--build", str(build_dir), "--target", "llama-bench", f"-j{jobs}"], log)
    found = binary_path()
    if found is None:
        raise RuntimeError(f"the build finished but {BINARY} is missing; see {log}")
    return found


FLASH_ATTN = {-1: "auto", 0: "off", 1: "on"}


def parse(json_text: str, flash_attn: str | None = None) -> BenchFigures:
    """The pp and tg lines of ``llama-bench -o json`` (one prompt and one gen size; the
    text may join the output of two runs: pp from one, tg at a depth from another).
    ``flash_attn`` picks the tg line run with that setting when there are several; a tg
    line with llama-bench's default ("auto") besides it goes in ``tg_tps_default``."""
    records = [record for chunk in _json_chunks(json_text) for record in chunk]
    pp = next(r for r in records if r["n_prompt"] > 0 and r["n_gen"] == 0)
    gens = [r for r in records if r["n_gen"] > 0 and r["n_prompt"] == 0]
    setting = lambda r: FLASH_ATTN.get(r.get("flash_attn"), str(r.get("flash_attn")))  # noqa: E731
    tg = next((r for r in gens if setting(r) == flash_attn), gens[0])
    default = next((r for r in gens if r is not tg and setting(r) == "auto"), None)
    return BenchFigures(pp_tokens=pp["n_prompt"], pp_tps=float(pp["avg_ts"]),
                        tg_tokens=tg["n_gen"], tg_tps=float(tg["avg_ts"]),
                        build_commit=str(pp.get("build_commit", "")),
                        cpu_info=str(pp.get("cpu_info", "")),
                        tg_depth=int(tg.get("n_depth", 0)), flash_attn=setting(tg),
                        n_threads=int(tg.get("n_threads", 0)),
                        tg_tps_default=float(default["avg_ts"]) if default else None)


def _json_chunks(text: str) -> list[list[dict]]:
    decoder, chunks, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        chunk, at = decoder.raw_decode(text, at)
        chunks.append(chunk)
    return chunks


def run(binary: Path, model: str | Path, threads: int, *, prompt: int = 256, gen: int = 128,
        repetitions: int = 3, depth: int = 0, flash_attn: str | None = None,
        with_default: bool = False, ubatch: int | None = None,
        timeout: float = 600.0) -> BenchFigures:
    """``llama-bench``'s pp``prompt`` and tg``gen``, ``repetitions`` each, its defaults
    otherwise (ubatch 512, ...).

    ``depth``: tg starts after that many tokens in the context (``-d``), as a reply
    starts after its prompt; pp still starts from an empty one (a second invocation).
    ``flash_attn`` ("on"/"off"; None: llama-bench's default "auto", on for CPU) is
    passed to both; ``with_default`` also runs tg with "auto" (``tg_tps_default``).
    ``ubatch``: tokens per compute step (``-ub``; None: llama-bench's 512).
    """
    base = _base_command(binary, model, threads, repetitions, ubatch)
    fa = ["-fa", flash_attn] if flash_attn else []
    tg_fa = ["-fa", f"{flash_attn},auto"] if flash_attn and with_default else fa
    if depth or tg_fa != fa:
        commands = [base + ["-p", str(prompt), "-n", "0"] + fa,
                    base + ["-p", "0", "-n", str(gen), "-d", str(depth)] + tg_fa]
    else:
        commands = [base + ["-p", str(prompt), "-n", str(gen)] + fa]
    outputs = [_output(command, timeout) for command in commands]
    return parse("\n".join(outputs), flash_attn)


def tg_tps(binary: Path, model: str | Path, threads: int, *, gen: int = 128, depth: int = 0,
           flash_attn: str | None = None, repetitions: int = 3,
           timeout: float = 600.0) -> float:
    """llama-bench's tg``gen`` alone (no pp run), after ``depth`` tokens, in tokens per second."""
    command = _base_command(binary, model, threads, repetitions, None) + [
        "-p", "0", "-n", str(gen), "-d", str(depth)] + (["-fa", flash_attn] if flash_attn else [])
    return float(json.loads(_output(command, timeout))[0]["avg_ts"])


def _base_command(binary: Path, model: str | Path, threads: int, repetitions: int,
                  ubatch: int | None) -> list[str]:
    return [str(binary), "-m", str(model), "-t", str(threads), "-r", str(repetitions),
            "-o", "json"] + (["-ub", str(ubatch)] if ubatch else [])


def _output(command: list[str], timeout: float) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"llama-bench failed ({done.returncode}): {done.stderr[-500:]}")
    return done.stdout


def median_figures(runs: list[BenchFigures]) -> BenchFigures:
    """Medians over several invocations (each already averaged over its repetitions)."""
    first = runs[0]
    defaults = [r.tg_tps_default for r in runs if r.tg_tps_default is not None]
    return dataclasses.replace(first, pp_tps=statistics.median(r.pp_tps for r in runs),
                               tg_tps=statistics.median(r.tg_tps for r in runs),
                               tg_tps_default=statistics.median(defaults) if defaults else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true", help="build llama-bench if missing")
    parser.add_argument("--model", help="GGUF path (default: the starter SmolLM2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--depth", type=int, default=0, help="tokens in the context before tg")
    parser.add_argument("--flash-attn", choices=["on", "off"],
                        help="flash attention (default: llama-bench's own, auto)")
    args = parser.parse_args()
    binary = binary_path() or (build() if args.build else None)
    if binary is None:
        print(f"llama-bench is not built ({BINARY}); run with --build", file=sys.stderr)
        return 1
    model = args.model
    if model is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from desktop_app.core.models import find_starter_model
        model = str(find_starter_model().path)
    figures = run(binary, model, args.threads, depth=args.depth, flash_attn=args.flash_attn)
    print(f"llama-bench {figures.build_commit} on {Path(model).name}, {args.threads} threads, "
          f"flash attention {figures.flash_attn}: pp{figures.pp_tokens} {figures.pp_tps:.1f} "
          f"tok/s ({figures.pp_seconds * 1000:.0f} ms), tg{figures.tg_tokens} @ "
          f"d{figures.tg_depth} {figures.tg_tps:.1f} tok/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
