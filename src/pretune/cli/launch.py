"""`--nproc N`: re-run the same command as N processes on this machine (torchrun).

The processes train with DDP, or with FSDP when the config says `train.distributed=fsdp`
(train/session.py decides; the launch is the same). On CPU they talk over gloo; with GPUs,
over NCCL (one GPU each). For several machines, call torchrun yourself (see
docs/distributed.md).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

__all__ = ["free_port", "launch_processes", "with_run_name"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for the rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_run_name(command: str, arguments: list[str]) -> list[str]:
    """All processes must write to one run folder: fix its name before they start."""
    if any(a.startswith("name=") for a in arguments):
        return arguments
    return [*arguments, f"name={command}-{time.strftime('%Y%m%d-%H%M%S')}"]


def launch_processes(nproc: int, pretune_args: list[str]) -> int:
    """Run `python -m pretune <pretune_args>` as `nproc` local processes; returns the exit code
    (the first failing process's, as torchrun reports it)."""
    command = [
        sys.executable, "-m", "torch.distributed.run",
        f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1", f"--master_port={free_port()}",
        "-m", "pretune", *pretune_args,
    ]  # fmt: skip
    env = dict(os.environ)
    # Each process gets an equal share of the cores unless the user chose.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    return subprocess.call(command, env=env)
