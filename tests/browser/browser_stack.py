"""Browser-test support: Debian's headless chromium through selenium, and a `Stack` that writes
helper files and runs the real `queuectl` (sync, run, serve) as subprocesses on the test Redis.
(A module of its own, not conftest.py: test modules never import a conftest by name.)

Nothing here downloads a browser or a driver: chromium and chromedriver are the system's own
(`/usr/bin`), and the driver's path is given to selenium, so Selenium Manager never runs.
Without them the tests skip with the reason, unless QUEUECTL_REQUIRE_BROWSER=1 (CI), then fail.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from redis_server import free_port
from support import (
    QueuectlProcess,
    helper_class,
    helper_class_name,
    helper_module,
    queuectl_env,
    run_queuectl,
    write_file,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

#: The API token every `serve` of these tests is started with.
TOKEN = "browser-test-token-5d1c"


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not missing:
        return None
    return f"{' and '.join(missing)} not found (apt-get install chromium chromium-driver)"


def start_chromium(width: int = 1280, height: int = 900) -> Any:
    """A headless chromium under selenium, with the system's driver and binary, its page
    (viewport) `width` x `height` CSS pixels."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    arguments = [
        "--headless=new",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-component-update",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
        "--lang=en-US",
    ]
    if os.geteuid() == 0:
        arguments.append("--no-sandbox")  # chromium refuses to start its sandbox as root
    for argument in arguments:
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    # --window-size is the outer size: grow the window until the page itself has width x height
    inner_width, inner_height = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if (inner_width, inner_height) != (width, height):
        size = driver.get_window_size()
        driver.set_window_size(size["width"] + width - inner_width, size["height"] + height - inner_height)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    return driver


class Proc(QueuectlProcess):
    """One background `queuectl ARGS`, stdout and stderr together in one file."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.log_path = log_path
        super().__init__(args, env, cwd, log_path)

    def describe(self) -> str:
        try:
            return f"{self.headline()}\n{self.log_path.read_text(errors='replace')[-3000:]}"
        except OSError:
            return self.headline()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class Stack:
    """A helpers directory and the `queuectl` processes of one test, all on one Redis."""

    def __init__(self, root: Path, redis_url: str) -> None:
        self.root = root
        self.redis_url = redis_url
        self.helpers_dir = root / "helpers"
        self.cwd = root / "cwd"
        self.helpers_dir.mkdir(exist_ok=True)
        self.cwd.mkdir(exist_ok=True)
        self.procs: list[Proc] = []

    def env(self) -> dict[str, str]:
        env = queuectl_env(self.redis_url, self.helpers_dir, self.root)
        env["QUEUECTL_API_TOKEN"] = TOKEN
        return env

    def helper(self, name: str, schedule: dict[str, Any], body: str = "return None") -> Path:
        """A helper file whose run() is `body` (one line of Python)."""
        text = helper_module(helper_class(helper_class_name(name), name, schedule, " " * 8 + body))
        return write_file(self.helpers_dir, f"{name}.py", text, atomic=True)

    def qctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = run_queuectl(*args, env=self.env(), timeout=30, cwd=self.cwd, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
        return result

    def start(self, *args: str) -> Proc:
        proc = Proc(list(args), self.env(), self.cwd, self.root / f"proc{len(self.procs)}.out")
        self.procs.append(proc)
        return proc

    def run_dispatcher(self) -> Proc:
        proc = self.start("run")
        if not proc.wait_for_text(proc.output, "dispatcher ready", 20):
            raise AssertionError("the dispatcher did not get ready\n" + proc.describe())
        return proc

    def serve(self, port: int | None = None) -> tuple[str, Proc]:
        """`queuectl serve` on a free loopback port; its base URL once it answers HTTP."""
        port = port or free_port()
        proc = self.start("serve", "--host", "127.0.0.1", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError("queuectl serve ended\n" + proc.describe())
            if answers(url + "/helpers/status/system"):
                return url, proc
            time.sleep(0.1)
        raise AssertionError("queuectl serve did not answer within 30 s\n" + proc.describe())

    def close(self) -> None:
        for proc in self.procs:
            proc.close()


def answers(url: str) -> bool:
    """Something answers HTTP at `url` (any status: a 503 is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
