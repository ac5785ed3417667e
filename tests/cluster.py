"""A multi-node Ray cluster on one machine for the cluster tests: a head and worker nodes started with
``ray start`` (each node its own process group and temp dir, so no node shares a local path with
another), nodes that can be killed outright and replaced, and ``ray job submit`` against the head."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from raymvae.serve.launch import free_port

RAY = str(Path(sys.executable).parent / "ray")
# A node killed outright is declared dead after three missed one-second health checks (Ray's default:
# five missed three-second ones).
FAST_FAILURE_DETECTION = {"health_check_period_ms": 1000, "health_check_timeout_ms": 1000,
                          "health_check_failure_threshold": 3}


@dataclass
class Node:
    """One ``ray start --block`` process (its raylet, agents and workers in one process group)."""

    name: str
    proc: subprocess.Popen
    temp_dir: Path

    @property
    def resource(self) -> str:
        """The custom resource only this node has (pins placement; finds the node's id)."""
        return f"node_{self.name}"


class LocalCluster:
    """Head plus named worker nodes on 127.0.0.1; ``env`` (S3 endpoint, ...) is every node's environment."""

    def __init__(self, env: dict[str, str], object_store_bytes: int = 200 << 20):
        self.root = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: socket paths must fit in 107 bytes
        self.env = {**env, "RAY_AUTH_MODE": "token"}
        self.env.pop("RAY_ADDRESS", None)
        self.object_store_bytes = object_store_bytes
        self.nodes: dict[str, Node] = {}
        self.gcs_port = free_port()
        self.dashboard_port = free_port()

    @property
    def address(self) -> str:
        """The GCS address nodes and drivers join."""
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        """The job server (``ray job submit --address``)."""
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, name: str, num_cpus: float, head: bool) -> Node:
        temp = self.root / name
        temp.mkdir(parents=True, exist_ok=True)
        args = [RAY, "start", "--block", f"--num-cpus={num_cpus}", f"--temp-dir={temp}",
                f"--resources={json.dumps({f'node_{name}': 1})}", f"--object-store-memory={self.object_store_bytes}",
                "--disable-usage-stats", "--node-ip-address=127.0.0.1",
                # every node on this one host needs its own agent and metrics ports
                f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}"]
        if head:
            args += ["--head", f"--port={self.gcs_port}", "--dashboard-host=127.0.0.1",
                     f"--dashboard-port={self.dashboard_port}", "--include-dashboard=true",
                     f"--ray-client-server-port={free_port()}",
                     f"--system-config={json.dumps(FAST_FAILURE_DETECTION)}"]
        else:
            args += [f"--address={self.address}"]
        log = open(temp.parent / f"{name}.log", "ab")
        # RAY_ADDRESS: Ray's own actors that look the cluster up (Train's placement-group cleaner) would
        # otherwise find this machine's other Ray instances too and give up
        env = {**os.environ, **self.env, "RAY_ADDRESS": self.address}
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=temp)
        node = Node(name, proc, temp)
        self.nodes[name] = node
        return node

    def start_head(self, num_cpus: float, timeout: float = 180) -> Node:
        """The head node; returns once its job server answers."""
        node = self._start("head", num_cpus, head=True)
        deadline = time.time() + timeout
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.dashboard_port)) == 0:
                    return node
            if time.time() > deadline or node.proc.poll() is not None:
                raise RuntimeError(f"the head did not start: {self.log('head')[-3000:]}")
            time.sleep(0.5)

    def add_node(self, name: str, num_cpus: float, timeout: float = 180) -> Node:
        """A worker node joining the head (as an autoscaler would add one); returns once it is alive."""
        node = self._start(name, num_cpus, head=False)
        deadline = time.time() + timeout
        while self.node_id(name) is None:
            if time.time() > deadline or node.proc.poll() is not None:
                raise RuntimeError(f"node {name} did not join: {self.log(name)[-3000:]}")
            time.sleep(0.5)
        return node

    def kill_node(self, name: str) -> None:
        """Kill a node outright (SIGKILL to its raylet, agents and workers), as when a machine dies."""
        node = self.nodes.pop(name)
        try:
            os.killpg(node.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        node.proc.wait(timeout=30)

    def _listed(self, kind: str, *args: str) -> list[dict]:
        """``ray list KIND`` on the head as JSON rows (Ray's state CLI; it prints a sentence when empty)."""
        out = subprocess.run([RAY, "list", kind, "--address", self.dashboard, "--format", "json", "--detail", *args],
                             env={**os.environ, **self.env}, capture_output=True, text=True, timeout=120)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        return json.loads(out.stdout) if out.stdout.lstrip().startswith("[") else []  # "No resource in the cluster"

    def alive_nodes(self) -> dict[str, str]:
        """Node name -> Ray node id, for every node the head sees alive."""
        found = {}
        for n in self._listed("nodes", "--filter", "state=ALIVE"):
            for res in n.get("resources_total") or {}:
                if res.startswith("node_"):
                    found[res[len("node_"):]] = n["node_id"]
        return found

    def actors(self, class_part: str) -> list[dict]:
        """Every actor (alive or dead) whose class name contains ``class_part``, with its node id."""
        return [a for a in self._listed("actors", "--limit", "10000") if class_part in (a.get("class_name") or "")]

    def node_id(self, name: str) -> str | None:
        """The Ray node id of a named node, None until the head sees it alive."""
        try:
            return self.alive_nodes().get(name)
        except Exception:  # noqa: BLE001 - the state API is not up yet
            return None

    def log(self, name: str) -> str:
        """A node's ``ray start`` output."""
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def submit(self, entrypoint: list[str], working_dir: Path, *, submission_id: str | None = None,
               wait: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        """``ray job submit`` to the head (retried while its job agent is not ready yet)."""
        cmd = [RAY, "job", "submit", "--address", self.dashboard, "--working-dir", str(working_dir)]
        if submission_id:
            cmd += ["--submission-id", submission_id]
        if not wait:
            cmd.append("--no-wait")
        cmd += ["--", *entrypoint]
        deadline = time.time() + 300
        while True:
            job = subprocess.run(cmd, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=timeout)
            if "No available agent" not in job.stdout + job.stderr or time.time() > deadline:
                return job
            time.sleep(2)

    def job(self, *args: str) -> subprocess.CompletedProcess:
        """``ray job <args>`` against the head (status, logs, stop)."""
        return subprocess.run([RAY, "job", *args, "--address", self.dashboard], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=120)

    def shutdown(self) -> None:
        """Kill every node outright (a test cluster has nothing to save) and delete their temp dirs."""
        for name in list(self.nodes)[::-1]:
            self.kill_node(name)
        shutil.rmtree(self.root, ignore_errors=True)
