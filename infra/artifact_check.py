#!/usr/bin/env python3
"""Run the exact bootstrap.zips a deploy uploads before they reach AWS (stdlib only).

For each function, DIR/<function>/bootstrap.zip must hold a `bootstrap` of ARCH (ELF e_machine,
as infra/deploy_helper.py check-artifact); the bootstrap then runs behind a Lambda Runtime API
emulator on 127.0.0.1 (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html: GET
/runtime/invocation/next, POST /runtime/invocation/<id>/response|error, /runtime/init/error)
and must answer every sample event that events/expected.json marks "offline" (no Mindful
needed) with its documented answer. An arm64 bootstrap on an x86_64 host runs under
`qemu-aarch64 -L /usr/aarch64-linux-gnu` (Debian: qemu-user, libc6-arm64-cross).

Usage: infra/artifact_check.py DIR [--architecture arm64|x86_64]
"""
import http.server
import json
import os
import pathlib
import platform
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "infra"))
from deploy_helper import elf_architecture, lambda_functions  # noqa: E402

FUNCTIONS = lambda_functions()  # CargoLambda.toml [build] bin
PREFIX = "/2018-06-01/runtime"
# Configuration that lets each function start; nothing here is reached by the offline events.
ENV = {
    "ocw-phrase": {},
    "datastore-proxy": {"DATASTORE_URL": "http://127.0.0.1:9", "DATASTORE_TOKEN": "artifact-check",
                        "MINDFUL_ALLOW_HTTP": "1"},
    "agent-answer": {"MINDFUL_TOKEN_URL": "http://127.0.0.1:9/oauth2/token", "MINDFUL_API_URL": "http://127.0.0.1:9",
                     "MINDFUL_CLIENT_ID": "artifact-check", "MINDFUL_CLIENT_SECRET": "artifact-check",
                     "MINDFUL_ALLOW_HTTP": "1"},
}
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())


class RuntimeApi(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, events):
        super().__init__(("127.0.0.1", 0), Handler)
        self.pending = queue.Queue()
        for e in events:
            self.pending.put(e)
        self.results = queue.Queue()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != f"{PREFIX}/invocation/next":
            return self.reply(404)
        name, event = self.server.pending.get()  # blocks until the check ends the process
        request_id = str(uuid.uuid4())
        self.server.inflight = getattr(self.server, "inflight", {})
        self.server.inflight[request_id] = name
        self.reply(200, json.dumps(event).encode(), [
            ("Lambda-Runtime-Aws-Request-Id", request_id),
            ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 5000)),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:artifact-check:live"),
            ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
            ("Content-Type", "application/json"),
        ])

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        parts = self.path[len(PREFIX):].strip("/").split("/")
        if parts == ["init", "error"]:
            self.server.results.put(("<init>", "error", body.decode(errors="replace")))
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            name = getattr(self.server, "inflight", {}).get(parts[1], "?")
            self.server.results.put((name, parts[2], body.decode(errors="replace")))
        else:
            return self.reply(404)
        self.reply(202, b'{"status":"OK"}')


def check_function(function: str, zip_path: pathlib.Path, arch: str, events: list, work: pathlib.Path) -> list:
    problems = []
    with zipfile.ZipFile(zip_path) as z:
        data = z.read("bootstrap")
    got = elf_architecture(data, f"{zip_path}:bootstrap")
    if got != arch:
        return [f"{zip_path}: bootstrap is {got}, expected {arch}"]
    exe = work / function / "bootstrap"
    exe.parent.mkdir(parents=True)
    exe.write_bytes(data)
    exe.chmod(0o755)
    command = [str(exe)]
    if arch != HOST_ARCH:
        if arch != "arm64" or not shutil.which("qemu-aarch64"):
            return [f"{function}: cannot run a {arch} bootstrap on this {HOST_ARCH} host "
                    "(install qemu-user and libc6-arm64-cross)"]
        command = ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", str(exe)]
    server = RuntimeApi(events)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"PATH": "/usr/bin:/bin", "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
           "AWS_LAMBDA_FUNCTION_NAME": function, "AWS_LAMBDA_FUNCTION_VERSION": "1",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_REGION": "us-east-1", "RUST_LOG": "warn",
           **ENV[function]}
    started = time.monotonic()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in events:
            try:
                name, kind, body = server.results.get(timeout=60)
            except queue.Empty:
                problems.append(f"{function}: no answer within 60 s (exit code {proc.poll()})")
                break
            want = next((e for n, e in events if n == name), None) if name != "<init>" else None
            if kind != "response" or want is None:
                problems.append(f"{function}: {name}: {kind}: {body[:300]}")
                continue
            answer = json.loads(body)
            expected = EXPECTED[name]["answer"]
            wrong = {k: (answer.get(k), v) for k, v in expected.items() if answer.get(k) != v}
            if wrong:
                problems.append(f"{function}: {name}: got/expected {wrong}")
            else:
                print(f"  {function}: {name}: {answer.get('status')} as documented")
    finally:
        proc.kill()
        output = proc.communicate()[0].decode(errors="replace")
        server.shutdown()
    if problems:
        problems.append(f"{function} output:\n{output[-2000:]}")
    print(f"{function}: {len(events)} events in {time.monotonic() - started:.1f} s ({' '.join(command[:-1]) or 'native'})")
    return problems


EXPECTED = json.loads((ROOT / "events" / "expected.json").read_text(encoding="utf-8"))["events"]


def main(argv: list) -> int:
    if not argv or argv[0].startswith("-"):
        sys.exit(__doc__)
    directory, arch = pathlib.Path(argv[0]), "arm64"
    if argv[1:3] and argv[1] == "--architecture":
        arch = argv[2]
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for function in FUNCTIONS:
            zip_path = directory / function / "bootstrap.zip"
            if not zip_path.is_file():
                problems.append(f"{zip_path} is missing")
                continue
            events = [(name, json.loads((ROOT / "events" / name).read_text(encoding="utf-8")))
                      for name, e in sorted(EXPECTED.items()) if e["function"] == function and e["offline"]]
            if not events:
                problems.append(f"{function}: no offline sample event in events/expected.json")
                continue
            problems += check_function(function, zip_path, arch, events, pathlib.Path(tmp))
    for p in problems:
        print(f"artifact-check: FAIL {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"artifact-check: the {arch} bootstraps in {directory} answered every offline sample event as documented")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
