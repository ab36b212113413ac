"""``make team`` / ``python -m workflows.team``: a team deployment on one machine.

It starts a throwaway PostgreSQL (Debian's ``postgresql`` package: ``initdb`` in a new
folder under /tmp, trust on 127.0.0.1 only, a free port), two app replicas on two
loopback ports (``streamlit run Home.py --server.address 127.0.0.1`` with
``DATABASE_URL`` set) and a standalone job worker, prints where they are, and stops them
all — and removes the data folder — on Ctrl-C (or when one of them exits). Run as root,
the server runs as the ``postgres`` user (``runuser``), as ``.ci/run`` does.

This is the real shape in small: the replicas share the database and the job queue, so a
job started on one is finished by whichever worker is free, and killing a replica (try
``kill -9`` on one) hands its job to the others. The README's "Deploy for a team" says
what changes for a real deployment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM if this process dies, so none outlives it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if not found:
        raise SystemExit("PostgreSQL is not installed: `apt-get install postgresql` (Debian's "
                         "package; its server is not started, this command starts its own).")
    return found[-1].parent


@contextmanager
def throwaway_postgres(*, quiet: bool = True) -> Iterator[str]:
    """A PostgreSQL server for as long as the block runs, in a new folder under /tmp on a
    free loopback port; yields the SQLAlchemy URL of its (empty) ``ambient`` database."""
    pg = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="ambient-team-pg."))
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(folder, "postgres")
    out = subprocess.DEVNULL if quiet else None
    data = folder / "data"
    try:
        subprocess.run([*as_postgres, str(pg / "initdb"), "-D", str(data), "-A", "trust",
                        "-U", "postgres"], check=True, stdout=out)
        subprocess.run([*as_postgres, str(pg / "pg_ctl"), "-D", str(data), "-l",
                        str(folder / "server.log"), "-w", "-o",
                        f"-h 127.0.0.1 -p {port} -k {folder} -c max_connections=300",
                        "start"], check=True, stdout=out)
        from sqlalchemy import create_engine, text

        admin = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text('CREATE DATABASE "ambient"'))
        admin.dispose()
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/ambient"
    finally:
        subprocess.run([*as_postgres, str(pg / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        shutil.rmtree(folder, ignore_errors=True)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early (code {process.returncode})")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not become healthy in {timeout:.0f} s")


def stop_all(processes: list[subprocess.Popen[bytes]], timeout: float = 20) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflows.team", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ports", type=int, nargs=2, default=(8501, 8502),
                        metavar=("A", "B"), help="the replicas' ports (default 8501 8502)")
    parser.add_argument("--no-worker", action="store_true",
                        help="no standalone worker (the replicas' own workers only)")
    args = parser.parse_args(argv)
    processes: list[subprocess.Popen[bytes]] = []
    stopping = False

    def interrupt(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    with throwaway_postgres() as url:
        env = os.environ | {"DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
        try:
            from store.db import open_database

            open_database(url).dispose()  # migrate once, before the replicas start
            for port in args.ports:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "streamlit", "run", "Home.py",
                     "--server.port", str(port), "--server.address", "127.0.0.1",
                     "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                    cwd=ROOT, env=env, start_new_session=True, preexec_fn=_die_with_parent))
            if not args.no_worker:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "workflows.worker"], cwd=ROOT, env=env,
                    start_new_session=True, preexec_fn=_die_with_parent))
            for port, process in zip(args.ports, processes, strict=False):
                wait_healthy(f"http://127.0.0.1:{port}", process)
            print("\nAmbient for a team, on this machine:", flush=True)
            print(f"  PostgreSQL  {url}")
            for port in args.ports:
                print(f"  replica     http://127.0.0.1:{port}")
            if not args.no_worker:
                print("  worker      python -m workflows.worker")
            print("Ctrl-C stops them all.\n", flush=True)
            while not stopping:
                if any(p.poll() is not None for p in processes):
                    print("A process of the team exited; stopping the others.",
                          file=sys.stderr)
                    break
                time.sleep(0.5)
        finally:
            print("Stopping the replicas, the worker and PostgreSQL…", flush=True)
            stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
