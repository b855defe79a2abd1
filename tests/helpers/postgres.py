"""A PostgreSQL cluster of the tests' own: found, started on 127.0.0.1 as a non-root user, queried, stopped.

Needs PostgreSQL's server binaries (Debian: ``apt-get install -y postgresql``) and the driver that SQLAlchemy
picks for ``postgresql://`` URLs (psycopg 3 since SQLAlchemy 2.1: ``psycopg[binary]``); conftest's ``postgres``
fixture skips, saying which is missing, when they are not there.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy

from helpers.project import free_port

PG_BINARIES = ("initdb", "pg_ctl", "postgres")
PG_OS_USER = "postgres"  # created by Debian's postgresql package; PostgreSQL refuses to run as root
PG_SUPERUSER = "mlflow"


def find_postgres_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: from PATH, else Debian's versioned folders.

    Debian puts the server binaries only in /usr/lib/postgresql/<major>/bin, not on PATH.
    """
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in candidates:
        if all((folder / name).is_file() for name in PG_BINARIES):
            return folder
    return None


def run_as_command() -> list[str]:
    """The prefix that runs PostgreSQL's tools as a non-root user (empty when the tests are not root)."""
    return ["runuser", "-u", PG_OS_USER, "--"] if os.geteuid() == 0 else []


def postgres_skip_reason() -> str | None:
    """Why this machine cannot run a PostgreSQL cluster for the test, or None when it can."""
    if find_postgres_bin_dir() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; install them with: apt-get install -y postgresql"
        )
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root and runuser (util-linux) is missing, so PostgreSQL cannot drop root"
        try:
            import pwd

            pwd.getpwnam(PG_OS_USER)
        except KeyError:
            return f"running as root and there is no OS user '{PG_OS_USER}' to run PostgreSQL as"
    return None


def postgres_driver_skip_reason() -> str | None:
    """Why SQLAlchemy (and so MLflow) cannot open ``postgresql://`` URLs here, or None when it can."""
    dialect = sqlalchemy.engine.make_url("postgresql://").get_dialect()
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return (
            f"SQLAlchemy {sqlalchemy.__version__} opens postgresql:// with the {dialect.driver} driver, "
            f"which is missing ({exc}); pip install 'psycopg[binary]'"
        )
    return None


def os_user_ids() -> tuple[int, int] | None:
    """uid and gid of the PostgreSQL OS user, or None when the tests do not run as root."""
    if os.geteuid() != 0:
        return None
    import pwd

    user = pwd.getpwnam(PG_OS_USER)
    return user.pw_uid, user.pw_gid


def give_to_os_user(*paths: Path) -> None:
    ids = os_user_ids()
    for path in paths if ids else ():
        os.chown(path, *ids)


def open_for_traversal(folder: Path) -> list[Path]:
    """Add the search bit (not read) for others on the parents of ``folder`` that lack it; return them.

    pytest makes its temp folders 0700 for root, so the non-root PostgreSQL tools could not reach the
    cluster otherwise. A pytest session started meanwhile (by anyone) tightens /tmp/pytest-of-<user>
    again, so this runs before every PostgreSQL tool, not once; the running server needs no path to
    its data folder (it works from inside it).
    """
    if os.geteuid() != 0:
        return []
    opened = []
    for parent in folder.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
            opened.append(parent)
    return opened


def close_for_traversal(folders: set[Path]) -> None:
    """Take back only the search bit that ``open_for_traversal`` added."""
    for folder in folders:
        if folder.exists():
            folder.chmod(stat.S_IMODE(folder.stat().st_mode) & ~stat.S_IXOTH)


def run_pg_tool(args: list[str], cwd: Path, opened: set[Path], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a PostgreSQL tool as its OS user in ``cwd`` (made reachable first); fail with its output."""
    opened.update(open_for_traversal(cwd))
    result = subprocess.run([*run_as_command(), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class Postgres:
    bin_dir: Path
    data_dir: Path
    port: int
    password: str
    opened: set[Path]  # parents given a search bit for the OS user, taken back at teardown

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for ``database`` over TCP with password authentication (as a team would use)."""
        return f"postgresql://{PG_SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def query(self, database: str, sql: str) -> list[tuple]:
        """Rows of ``sql``, read with the same driver and URL that MLflow uses."""
        engine = sqlalchemy.create_engine(self.url(database))
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(sqlalchemy.text(sql))]
        finally:
            engine.dispose()

    def create_database(self, name: str) -> None:
        engine = sqlalchemy.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")  # not in a txn
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """``pg_ctl stop -m fast``; if that fails, the same SIGINT sent from here, then SIGQUIT (immediate)."""
        try:
            run_pg_tool(
                [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"],
                cwd=self.data_dir.parent,
                opened=self.opened,
            )
            return
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            warnings.warn(f"pg_ctl stop failed, signalling the postmaster directly: {exc}", stacklevel=2)
        for sig in (signal.SIGINT, signal.SIGQUIT):
            pid = self.postmaster_pid()
            if pid is None:
                return
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.postmaster_pid() is not None:
                time.sleep(0.2)


def start_postgres(root: Path, bin_dir: Path, opened: set[Path]) -> Postgres:
    """initdb a cluster in ``root`` and start it on 127.0.0.1 (socket in ``root`` too); passwords over TCP."""
    password = os.urandom(12).hex()
    data_dir, socket_dir, pwfile = root / "data", root / "sock", root / "pwfile"
    socket_dir.mkdir()
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    give_to_os_user(root, socket_dir, pwfile)
    try:
        run_pg_tool(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                PG_SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            cwd=root,
            opened=opened,
        )
    finally:
        pwfile.unlink()
    port = free_port()
    server_options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={socket_dir} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
    )
    cluster = Postgres(bin_dir, data_dir, port, password, opened)
    try:
        run_pg_tool(
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(data_dir),
                "-l",
                str(root / "postgres.log"),
                "-w",
                "-t",
                "60",
                "-o",
                server_options,
            ],
            cwd=root,
            opened=opened,
        )
    except BaseException:
        cluster.stop()  # pg_ctl may give up waiting while the server is still starting
        raise
    return cluster
