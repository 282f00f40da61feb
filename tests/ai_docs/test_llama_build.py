"""The llama.cpp that the tests' model server runs is built for a portable CPU baseline.

Built with native flags on a machine that advertises AVX-512 or AMX, it dies with
SIGILL on the next machine of our kind (FIELD-NOTES); the Makefile builds it for
x86-64-v3 instead. This reads the machine code itself: no ``zmm`` register (AVX-512)
and no tile instruction (AMX) may appear in it.
"""

from __future__ import annotations

import importlib.util
import platform
import re
import subprocess
from pathlib import Path

import pytest

# AVX-512 uses zmm registers or opmask registers k1-k7; AMX its tile instructions.
NOT_PORTABLE = re.compile(rb"%zmm\d|%k[1-7]\b|\b(ldtilecfg|tileloadd|tdpb[su]{2}d|tdpbf16ps)\b")


def _ggml_libraries() -> list[Path]:
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.submodule_search_locations, "llama-cpp-python is missing"
    libs = sorted(
        lib
        for folder in spec.submodule_search_locations
        for lib in Path(folder).rglob("lib*.so*")
        if "ggml" in lib.name or "llama" in lib.name
    )
    assert libs, "llama-cpp-python ships no shared library"
    return libs


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the baseline is x86-64's")
def test_llama_cpp_holds_no_avx512_or_amx_code() -> None:
    """No library of the installed llama.cpp uses AVX-512 or AMX instructions."""
    for lib in _ggml_libraries():
        disassembly = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(lib)],
            capture_output=True,
            check=True,
        ).stdout
        found = NOT_PORTABLE.search(disassembly)
        assert found is None, (
            f"{lib.name} uses {found.group().decode()}: it was built for this CPU, not portably; "
            "rebuild with 'rm -rf .venv ~/.cache/liveclass/wheels && make install'"
        )
