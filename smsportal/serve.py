"""`make run`: prepare one instance, then run its web server, Celery worker and Celery beat together.

    PORT=8000 DATA_DIR=./var python -m smsportal.serve

Migrates, creates the cache table, collects static files and seeds the demo account, then starts the
three children, each in its own process group, with their output prefixed `web | `, `worker | `,
`beat | `. Ctrl-C or SIGTERM stops all of them (SIGTERM, then SIGKILL after STOP_TIMEOUT seconds); if
any child exits on its own the others are stopped and this process exits non-zero.

Everything an instance writes lives under DATA_DIR and its cookies are named after PORT, so two
instances with different PORT and DATA_DIR run side by side. With DATABASE_URL / CELERY_BROKER_URL
pointing at PostgreSQL / Redis the same command runs against those.
"""

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 10.0  # seconds a child gets between SIGTERM and SIGKILL
READY_TIMEOUT = 60.0  # seconds to wait for the web server before printing the banner anyway
POLL = 0.2

_print_lock = threading.Lock()


def say(line: str = "") -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        sys.exit(f"serve: {name} must be a whole number, got {raw!r}")
    if value < 1:
        sys.exit(f"serve: {name} must be 1 or more, got {value}")
    return value


@dataclass
class Config:
    port: int
    data_dir: Path
    python: str = sys.executable
    log_level: str = "info"
    env: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return self.env.get("DATABASE_URL", "")

    @property
    def broker_url(self) -> str:
        return self.env.get("CELERY_BROKER_URL", "") or "filesystem://"

    @property
    def on_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "pgsql://", "postgis://"))

    @property
    def on_filesystem_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")


def configure() -> Config:
    # The same .env settings.py reads, so this process and its children agree; the real environment wins.
    if (BASE_DIR / ".env").exists():
        import environ

        environ.Env.read_env(BASE_DIR / ".env")
    port = env_int("PORT", 8000)
    data_dir = Path(os.environ.get("DATA_DIR") or BASE_DIR / "var").expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "PORT": str(port),
            "DATA_DIR": str(data_dir),  # absolute, so the children agree whatever their working directory
            "DJANGO_SETTINGS_MODULE": "smsportal.settings",
            "PYTHONUNBUFFERED": "1",  # line-by-line output through the pipes
        }
    )
    # Cookies are scoped to a host, not a port: without per-port names two instances on 127.0.0.1
    # would overwrite each other's session and CSRF cookies.
    env.setdefault("SESSION_COOKIE_NAME", f"smsportal_session_{port}")
    env.setdefault("CSRF_COOKIE_NAME", f"smsportal_csrftoken_{port}")
    os.environ.update(env)  # the set-up steps below run in this process with the same settings
    return Config(port=port, data_dir=data_dir, log_level=env.get("LOG_LEVEL", "INFO").lower(), env=env)


# --- set-up ---------------------------------------------------------------------------------------


def prepare(cfg: Config) -> str:
    """Migrate, create the cache table, collect static files, seed the demo; returns seed_demo's notice."""
    sys.path.insert(0, str(BASE_DIR))
    os.chdir(BASE_DIR)
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    say(f"serve: preparing {cfg.data_dir}")
    call_command("migrate", interactive=False, verbosity=1)
    call_command("createcachetable", verbosity=1)
    call_command("collectstatic", interactive=False, verbosity=0)
    notice = StringIO()
    call_command("seed_demo", url=cfg.url, stdout=notice)
    # Nothing of this process's connections may outlive the set-up: the children open their own.
    connections.close_all()
    return notice.getvalue().strip("\n")


# --- children -------------------------------------------------------------------------------------


def children_commands(cfg: Config) -> dict[str, list[str]]:
    py = cfg.python
    if cfg.on_postgres:
        # Several web processes only with a shared database; they also need REDIS_URL to share the rate limit.
        web_workers = env_int("WEB_CONCURRENCY", 1)
        worker_concurrency = env_int("WORKER_CONCURRENCY", min(os.cpu_count() or 2, 8))
    else:
        # SQLite prefers few writers, and the embedded rate limiter counts per process: one web process.
        web_workers = 1
        worker_concurrency = env_int("WORKER_CONCURRENCY", 2)
    web = [
        py, "-m", "gunicorn", "smsportal.wsgi",
        "--bind", f"127.0.0.1:{cfg.port}",
        "--workers", str(web_workers),  # explicit: gunicorn would otherwise read WEB_CONCURRENCY itself
        "--worker-class", "gthread",
        "--threads", "8",
        "--graceful-timeout", str(int(STOP_TIMEOUT) - 2),
        "--access-logfile", "-",
        "--error-logfile", "-",
        "--log-level", cfg.log_level,
        "--name", f"smsportal-web-{cfg.port}",
        # Its default control socket is one path per user (~/.gunicorn): instances side by side would clash.
        "--no-control-socket",
    ]
    worker = [
        py, "-m", "celery", "-A", "smsportal", "worker",
        "--hostname", f"worker-{cfg.port}@%h",
        "--concurrency", str(worker_concurrency),
        "--loglevel", cfg.log_level,
    ]
    if cfg.on_filesystem_broker:
        # The filesystem transport has no fanout exchange: no gossip, mingle or worker heartbeats there.
        worker += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    beat = [
        py, "-m", "celery", "-A", "smsportal", "beat",
        "--schedule", str(cfg.data_dir / "celerybeat-schedule"),
        "--pidfile", str(cfg.data_dir / "celerybeat.pid"),
        "--loglevel", cfg.log_level,
    ]
    return {"web": web, "worker": worker, "beat": beat}


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: if this manager is SIGKILLed, the child gets SIGTERM."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


class Child:
    def __init__(self, name: str, argv: list[str], cfg: Config, width: int):
        self.name = name
        self.prefix = f"{name:<{width}} | "
        self.proc = subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            env=cfg.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own session and process group: the terminal's Ctrl-C reaches only this manager, which then
            # stops the children in order instead of racing them.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.reader = threading.Thread(target=self._relay, name=f"relay-{name}", daemon=True)

    def _relay(self) -> None:
        for raw in iter(self.proc.stdout.readline, b""):
            say(self.prefix + raw.decode("utf-8", "replace").rstrip("\r\n"))
        self.proc.stdout.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True


class Manager:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.children: list[Child] = []
        self.stop_requested: str | None = None  # the signal's name, once one arrives
        self.kill_now = False

    def on_signal(self, signum, _frame) -> None:
        if self.stop_requested is None:
            self.stop_requested = signal.Signals(signum).name
        else:
            self.kill_now = True  # a second Ctrl-C: do not wait for a graceful stop

    def start(self) -> None:
        commands = children_commands(self.cfg)
        width = max(map(len, commands))
        # Every child is forked before any relay thread starts (preexec_fn and threads do not mix).
        for name, argv in commands.items():
            self.children.append(Child(name, argv, self.cfg, width))
        for child in self.children:
            child.reader.start()

    def web_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.cfg.port), timeout=0.5):
                return True
        except OSError:
            return False

    def supervise(self, on_ready) -> int:
        """Wait for a signal or a child's exit; returns the exit status for this process."""
        started = time.monotonic()
        ready = False
        while self.stop_requested is None:
            for child in self.children:
                code = child.proc.poll()
                if code is not None:
                    say(f"serve: {child.name} exited unexpectedly with status {code}; stopping the others")
                    return code if code > 0 else 1
            if not ready and (self.web_ready() or time.monotonic() - started > READY_TIMEOUT):
                ready = True
                on_ready()
            time.sleep(POLL)
        say(f"serve: {self.stop_requested} received; stopping web, worker and beat")
        return 0

    def stop(self) -> None:
        # SIGTERM to each leader only: gunicorn and Celery then stop their own workers gracefully.
        for child in self.children:
            if child.running():
                try:
                    child.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_TIMEOUT
        pending = [c for c in self.children if c.running()]
        while pending and time.monotonic() < deadline and not self.kill_now:
            time.sleep(POLL)
            for child in [c for c in pending if not c.running()]:
                pending.remove(child)
                say(f"serve: {child.name} stopped")
        for child in self.children:
            if child.running():
                say(f"serve: {child.name} did not stop within {STOP_TIMEOUT:.0f}s; killing it")
        # Whatever is left in a child's process group (the leader, or a pool process it orphaned) goes now.
        for child in self.children:
            if child.group_alive():
                child.signal_group(signal.SIGKILL)
        for child in self.children:
            child.proc.wait()
            child.reader.join(timeout=2)


def banner(cfg: Config, notice: str) -> None:
    bar = "=" * 72
    database = "PostgreSQL" if cfg.on_postgres else (cfg.database_url.split(":", 1)[0] or "SQLite")
    broker = cfg.broker_url.split("://", 1)[0]
    lines = [
        "",
        bar,
        f" smsportal is running at {cfg.url}/",
        f"   data:      {cfg.data_dir}",
        f"   database:  {database}    broker: {broker}",
        f"   health:    {cfg.url}/healthz    API docs: {cfg.url}/v3/docs/",
        "   Ctrl-C stops web, worker and beat.",
        bar,
    ]
    if notice:
        lines += ["", notice, ""]
    say("\n".join(lines))


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    cfg = configure()
    if port_taken(cfg.port):
        say(f"serve: something is already listening on 127.0.0.1:{cfg.port}; choose another PORT")
        return 1
    try:
        notice = prepare(cfg)
    except KeyboardInterrupt:
        say("serve: interrupted during set-up")
        return 130
    manager = Manager(cfg)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, manager.on_signal)

    shown = False

    def show_banner() -> None:
        nonlocal shown
        shown = True
        banner(cfg, notice)

    status = 1
    try:
        manager.start()
        status = manager.supervise(show_banner)
    finally:
        manager.stop()
        if not shown and notice:
            say(notice)  # first-run credentials are printed once: never swallow them
    say(f"serve: stopped (status {status})")
    return status


if __name__ == "__main__":
    sys.exit(main())
