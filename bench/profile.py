"""`python -m bench.profile [--launches N] [--top K]`: where a launch spends the tool's time.

The same production settings as `python -m bench`, but the tool runs in this process behind Flask's test
client (no gunicorn, no sockets on the tool side), so cProfile sees every call of the three tool requests.
The platform's /auth is fetched outside the profiler.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.platform_server import PlatformServer
from bench.tool_server import set_up_tool, tool_environment
from tests.platform.browser import forms_in

TOOL = "https://127.0.0.1:8443"  # the test client's origin (https, so the Secure state cookie comes back)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--launches", type=int, default=200)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--dump", default=None, help="write the raw profile here (for pstats/snakeviz)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="mcb-profile-"))
    env = tool_environment(workdir, 8443)
    env["BASE_URL"] = TOOL
    platform_server = PlatformServer(TOOL).start()
    platform = platform_server.platform
    try:
        set_up_tool(env, platform)
        os.environ.update({k: v for k, v in env.items() if k not in os.environ or os.environ[k] != v})
        from lti_tool import create_app

        app = create_app()
        stages = {"login": 0.0, "launch": 0.0, "landing": 0.0, "healthz": 0.0}
        profiler = cProfile.Profile()
        def tool(stage, measured, call, *call_args, **call_kwargs):
            started = time.perf_counter()
            if measured and stage != "healthz":
                profiler.enable()
            response = call(*call_args, base_url=TOOL, **call_kwargs)
            if measured and stage != "healthz":
                profiler.disable()
            if measured:
                stages[stage] += time.perf_counter() - started
            return response

        for i in range(args.launches + 5):
            measured = i >= 5  # the first launches warm the worker (templates, JWKS, connections)
            client = app.test_client()
            login, _ = platform.next_launch()
            tool("healthz", measured, client.get, "/healthz")
            response = tool("login", measured, client.get, "/lti/login", query_string=login)
            assert response.status_code == 302, response.get_data(as_text=True)[:300]
            auth = requests.get(response.headers["Location"], timeout=10)
            fields = forms_in(auth.text)[0]["fields"]
            response = tool("launch", measured, client.post, "/lti/launch", data=fields)
            assert response.status_code == 303, response.get_data(as_text=True)[:300]
            location = urlsplit(response.headers["Location"])
            response = tool("landing", measured, client.get, location.path, query_string=location.query)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
        n = args.launches
        print(f"in-process, {n} launches (profiler on for login/launch/landing; healthz unprofiled):")
        for stage, seconds in stages.items():
            print(f"  {stage:8} {seconds / n * 1000:7.2f} ms per launch")
        if args.dump:
            profiler.dump_stats(args.dump)
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).strip_dirs().sort_stats(args.sort).print_stats(args.top)
        print(stream.getvalue())
        return 0
    finally:
        platform_server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
