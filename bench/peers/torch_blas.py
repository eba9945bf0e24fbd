"""Which BLAS the PyTorch peer really runs on, and with how many threads.

Debian's python3-torch is built with BLAS_INFO=generic: it calls sgemm through libblas.so.3, and the system's
BLAS alternatives decide which library that is (the reference netlib BLAS, OpenBLAS, BLIS, ...). So the
build settings alone do not name the BLAS: blas_info() runs a matmul, then reads the libraries mapped into
this process (/proc/self/maps) and asks OpenBLAS itself for its version and threads.
"""

import ctypes
import os
import re
import subprocess

import torch

_BLAS_FILE = re.compile(r"/lib(open)?blas[^/]*\.so|/libmkl_rt[^/]*\.so|/libblis[^/]*\.so")


def _maps():
    """(start, end, path) of every file mapped into this process."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[-1].startswith("/"):
                start, end = (int(x, 16) for x in parts[0].split("-"))
                out.append((start, end, parts[-1]))
    return out


def _sgemm_library(maps):
    """The file that torch's call to sgemm_ lands in: the symbol looked up from libtorch_cpu's own scope."""
    torch_lib = next((p for _, _, p in maps if "libtorch_cpu" in p), None)
    if torch_lib is None:
        return None
    try:
        addr = ctypes.cast(ctypes.CDLL(torch_lib).sgemm_, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    return next((p for start, end, p in maps if start <= addr < end), None)


def _package(path):
    """The Debian package that installed `path` and its version, or None off Debian."""
    try:
        owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, timeout=10)
        if owner.returncode != 0:
            return None
        name = owner.stdout.split(":")[0].strip() + ":" + owner.stdout.split(":")[1].strip()
        version = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True, text=True, timeout=10
        )
        return f"{name.split(':')[0]} {version.stdout.strip()}" if version.returncode == 0 else name
    except (OSError, subprocess.SubprocessError):
        return None


def _kind(path):
    p = path.lower()
    if "openblas" in p:
        return "OpenBLAS"
    if "mkl" in p:
        return "MKL"
    if "blis" in p:
        return "BLIS"
    if "atlas" in p:
        return "ATLAS"
    # Debian's netlib reference implementation (package libblas3) lives in .../blas/libblas.so.3
    if re.search(r"/blas/libblas\.so", p):
        return "reference"
    return "unknown"


def blas_info():
    """The BLAS this process resolved, as a dict for the peer's JSON line."""
    a = torch.ones(64, 64)
    (a @ a).sum().item()  # make sure the BLAS is loaded and used
    config = torch.__config__.show()
    build = re.search(r"BLAS_INFO=([^,\s]+)", config)
    maps = _maps()
    mapped = sorted({p for _, _, p in maps if _BLAS_FILE.search(p)})
    sgemm = _sgemm_library(maps)
    libs = []
    for p in ([sgemm] if sgemm else []) + mapped:
        real = os.path.realpath(p)
        if any(x["library"] == real for x in libs):
            continue
        lib = {"library": real, "kind": _kind(real)}
        pkg = _package(real)
        if pkg:
            lib["package"] = pkg
        if lib["kind"] == "OpenBLAS":
            try:
                handle = ctypes.CDLL(real)
                handle.openblas_get_config.restype = ctypes.c_char_p
                lib["config"] = handle.openblas_get_config().decode()
                lib["threads"] = int(handle.openblas_get_num_threads())
            except (OSError, AttributeError):
                pass
        libs.append(lib)
    # the library torch's sgemm_ resolved to (first in libs); without it, the first BLAS mapped
    chosen = libs[0] if libs else None
    kind = chosen["kind"] if chosen else ("MKL" if build and "mkl" in build.group(1).lower() else "unknown")
    return {
        "build": f"BLAS_INFO={build.group(1)}" if build else "BLAS_INFO not stated",
        "kind": kind,
        "reference": kind == "reference",
        "library": chosen["library"] if chosen else None,
        "package": chosen.get("package") if chosen else None,
        "openblasConfig": chosen.get("config") if chosen else None,
        "blasThreads": chosen.get("threads") if chosen else None,
        "torchThreads": torch.get_num_threads(),
        "sgemmResolved": sgemm is not None,
        "mapped": [x["library"] for x in libs],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(blas_info(), indent=2))
