"""Drive Debian's ``wrk`` (C, epoll) with a Lua script; install it when missing.

wrk is preferred over the Python generator because on a 2-core machine a Python
client would spend as much CPU as the server it measures. One wrk thread is enough
at these rates and leaves the other core to the server.

The Lua script cycles through a file of request paths (one per fresh device for
claims) and prints its figures as one JSON line from ``done``. wrk's request count
cannot be bounded exactly, so a run that cycles past the end of its path list is
reported as exhausted (its repeated claims come back 409 and count as errors).
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.load import LoadResult, LoadSpec

WRK_THREADS = 1
_MARK = "BENCH-RESULT "
_SCRIPT = """
local paths = {}
for line in io.lines(%(paths_file)s) do paths[#paths + 1] = line end
local count = #paths
local index = 0
local method = %(method)s
local body = %(body)s
%(headers)s
request = function()
  index = index + 1
  return wrk.format(method, paths[((index - 1) %% count) + 1], nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "errors": %%d, ' ..
    '"status_errors": %%d, "p50_us": %%d, "p99_us": %%d, "paths": %%d}\\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), count))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal


def find_wrk(*, install: bool) -> str | None:
    """Return the wrk binary, installing Debian's package first when allowed."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
    ):
        subprocess.run(argv, env=env, capture_output=True, check=False)
        if (found := shutil.which("wrk")) is not None:
            return found
    return None


def wrk_version(binary: str) -> str:
    """wrk's version line (it prints usage with the version on stdout)."""
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False
    )
    first = (result.stdout or result.stderr).splitlines()[:1]
    return first[0].split(" Copyright")[0] if first else "wrk"


def run_wrk(binary: str, spec: LoadSpec) -> LoadResult:
    """Run ``spec`` with wrk and parse the figures the Lua ``done`` hook prints."""
    with tempfile.TemporaryDirectory(prefix="sevenfold-wrk-") as workdir:
        paths_file = Path(workdir) / "paths.txt"
        paths_file.write_text("".join(f"{path}\n" for path in spec.paths))
        headers = "\n".join(
            f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}"
            for name, value in spec.headers.items()
        )
        script = Path(workdir) / "load.lua"
        script.write_text(
            _SCRIPT
            % {
                "paths_file": _lua_string(str(paths_file)),
                "method": _lua_string(spec.method),
                "body": _lua_string(spec.body.decode()) if spec.body else "nil",
                "headers": headers,
                "mark": _MARK,
            }
        )
        duration = max(1, round(spec.duration_s))
        result = subprocess.run(
            [
                binary,
                f"-t{WRK_THREADS}",
                f"-c{spec.concurrency}",
                f"-d{duration}s",
                "--timeout",
                "30s",
                "-s",
                str(script),
                spec.base_url + spec.paths[0],
            ],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        )
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith(_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{result.stdout}{result.stderr}")
    figures = json.loads(line.removeprefix(_MARK))
    budget = spec.max_requests
    return LoadResult(
        generator="wrk",
        requests=figures["requests"],
        errors=figures["errors"],
        duration_s=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        exhausted=budget is not None and figures["requests"] > budget,
    )
