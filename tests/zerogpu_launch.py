"""Serve the whole app.py under the real `spaces` package, as a ZeroGPU Space runs it: `tests/test_zerogpu_runtime.py`.

    SPACES_ZERO_GPU=true SPACES_ZERO_DEVICE_API_URL=http://127.0.0.1:PORT python -m tests.zerogpu_launch 7861

With `SPACES_ZERO_GPU=true`, `import spaces` patches torch, and every call of the app's GPU function
(`ui/gpu.py`) asks the device API at `SPACES_ZERO_DEVICE_API_URL` (the tests' stand-in,
`tests/zerogpu_device_api.py`) for a GPU, runs in a worker forked from this server (kept and reused after a
clean end), and pickles its arguments and every yielded value: all of that is `spaces`' own code, unchanged.
Without the variable, the app is served plainly (`spaces.GPU` returns the function as is): the runs to
compare with. `ZEROGPU_LOADS_FILE`, if set, gets a line "process-id model" for every model loaded, so
that tests can count loads per process.

Where torch is a CPU-only build (torch.version.cuda is None), a minimal shim stands in for what only a
CUDA build and a GPU have; everything else is real. Before `import spaces`:
1. `torch.version.cuda` reads "12.4" during the import only: `spaces/zero/torch/static.py` calls
   `torch.version.cuda.startswith(...)` at import (None on a CPU build).
2. `torch._C._cuda_init` exists and raises: `spaces/zero/torch/patching.py` keeps a reference to it to
   replace it (the CPU build has no such function).
3. `torch.cuda._is_in_bad_fork` is a module-level function returning False: spaces runs it in a forked
   process pool, so it must pickle (the CPU build's is a lambda).
After it, in the worker only (what `spaces.zero.torch` calls when a worker starts, `spaces/zero/wrappers.py`):
4. `init` does nothing: it would set CUDA_VISIBLE_DEVICES and create a CUDA tensor.
5. `move` points the tensors `spaces` emulated on CUDA at their CPU originals, and reads those it packed to
   disk at launch back into CPU memory, where the real one pins them and copies them to the GPU.
"""

from __future__ import annotations

import os
import sys

import torch

ZERO_GPU = os.environ.get("SPACES_ZERO_GPU") == "true"
CPU_BUILD = torch.version.cuda is None


def _cuda_init_unavailable() -> None:
    raise RuntimeError("torch._C._cuda_init: this torch is a CPU-only build")


def _not_in_bad_fork() -> bool:
    return False


def _init_on_cpu(nvidia_uuid: str) -> None:
    """Shim 4: the worker has no CUDA to initialise."""


def _move_to_cpu(callback: object = None) -> None:
    """Shim 5: the emulated tensors get their CPU data; disk packs are read back in order (`packing.py`'s layout:
    each batch's tensors, then the big ones, each padded to its aligned size)."""
    from spaces.zero.torch import patching

    for fake, original in patching.cuda_aliases.items():
        if original is not None:
            fake.data = original
    for pack in patching.tensor_packs:
        with open(pack.path(), "rb") as file:
            for meta, _, aligned_size in [item for batch in pack.batches for item in batch] + pack.big_tensors:
                raw = torch.empty(aligned_size, dtype=torch.uint8)  # aligned as torch aligns its own memory
                file.readinto(raw.numpy())
                tensor = torch.empty(0, dtype=meta.dtype).set_(raw.untyped_storage(), 0, meta.shape, meta.stride())
                for fake in pack.fakes[meta]:
                    fake.data = tensor


def import_spaces() -> None:
    """`import spaces`, with shims 1-3 around it and 4-5 after it on a CPU-only torch in ZeroGPU mode."""
    shimmed = ZERO_GPU and CPU_BUILD
    if shimmed:
        torch.version.cuda = "12.4"
        if not hasattr(torch._C, "_cuda_init"):
            torch._C._cuda_init = _cuda_init_unavailable
        torch.cuda._is_in_bad_fork = _not_in_bad_fork
    try:
        import spaces  # noqa: F401  (patches torch in ZeroGPU mode)
    finally:
        if shimmed:
            torch.version.cuda = None
    if shimmed:
        import spaces.zero.torch

        spaces.zero.torch.init, spaces.zero.torch.move = _init_on_cpu, _move_to_cpu


def count_loads(path: str) -> None:
    """Append "process-id model" to `path` at every model load (`loading._from_pretrained`), in any process."""
    from pipelines.engine import loading

    load = loading._from_pretrained

    def counted(entry: loading.Entry, *arguments: object) -> object:
        with open(path, "a") as file:
            file.write(f"{os.getpid()} {entry.name}\n")
        return load(entry, *arguments)

    loading._from_pretrained = counted


def main(port: int) -> None:
    import_spaces()
    if os.environ.get("ZEROGPU_LOADS_FILE"):
        count_loads(os.environ["ZEROGPU_LOADS_FILE"])
    import app

    app.launch(server_name="127.0.0.1", server_port=port, quiet=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
