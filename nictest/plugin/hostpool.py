"""One connection per host per pytest process, and the labs this session booted."""
from __future__ import annotations

import json
import threading
from pathlib import Path

from .. import hosts, inventory, lab
from ..binding.lifecycle import Registry
from ..errors import NictestError


class HostPool:
    def __init__(self, specs: dict):
        self.specs = specs                   # name -> HostSpec, in --host order
        self._hosts = {}                     # name -> connected Host
        self._broken = {}                    # name -> first error (later tests fail fast with it)
        self.hello = {}                      # name -> the agent's hello
        self.replayed = {}                   # name -> stale journal entries restored at connect
        self.booted_labs = []
        self.smoke_failed = {}               # name -> why its smoke stage failed
        self.lifecycles = Registry()         # (name, NIC) -> its driver state in this process
        self._lock = threading.Lock()

    def labs(self) -> list:
        return [spec.lab for spec in self.specs.values() if spec.kind == "qemu"]

    def boot_labs(self) -> None:
        """Boot every lab asked for that is not running, in parallel (master process only)."""
        errors = {}

        def boot(name):
            try:
                _vm, booted = lab.ensure_up(name)
                if booted:
                    with self._lock:
                        self.booted_labs.append(name)
            except NictestError as err:
                errors[name] = err

        threads = [threading.Thread(target=boot, args=(name,)) for name in self.labs()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for spec in self.specs.values():
            if spec.kind == "qemu" and spec.lab in errors:
                self._broken[spec.name] = errors[spec.lab]

    def get(self, name: str):
        """The connected Host, connecting on first use; raises the latched error if broken."""
        with self._lock:
            if name in self._broken:
                raise self._broken[name]
            if name not in self._hosts:
                spec = self.specs[name]
                try:
                    if spec.kind == "qemu":
                        lab.ensure_up(spec.lab)   # no-op when the master booted it
                    host = hosts.connect(spec)
                    self.hello[name] = host.info
                    # A run killed earlier may have left NICs bound: put them back first.
                    if "restore_all" in host.info.get("ops", ()):
                        replayed = host.call("restore_all", stale_only=True)
                        if replayed:
                            self.replayed[name] = replayed
                except NictestError as err:
                    self._broken[name] = err
                    raise
                self._hosts[name] = host
            return self._hosts[name]

    def close(self) -> None:
        for host in self._hosts.values():
            try:
                host.close()
            except Exception:  # closing must not hide the run's result
                pass
        self._hosts.clear()

    def stop_booted_labs(self) -> list:
        stopped = [name for name in self.booted_labs if lab.LabVM(name).down()]
        self.booted_labs.clear()
        return stopped


def resolve_specs(host_args: list, inventory_path) -> dict:
    inv = inventory.load(inventory_path)
    specs = {}
    for text in host_args:
        spec = inventory.parse_host_arg(text, inv)
        specs[spec.name] = spec
    return specs


def write_host_facts(results_dir: str, hello: dict) -> None:
    """One hosts-<name>.json per host this process connected to (under xdist each worker
    has its own hosts; the controller merges them into the environment at the end)."""
    path = Path(results_dir)
    path.mkdir(parents=True, exist_ok=True)
    for name, info in hello.items():
        (path / f"hosts-{name}.json").write_text(json.dumps(info, indent=2))


def write_allure_environment(results_dir: str, nictest_version: str) -> None:
    """allure's environment.properties: one entry per host (kernel, IOMMU, agent's Python),
    from every hosts-*.json of this run, and the nictest version that ran."""
    path = Path(results_dir)
    path.mkdir(parents=True, exist_ok=True)
    lines = [f"nictest={nictest_version}"]
    for facts in sorted(path.glob("hosts-*.json")):
        name = facts.stem[len("hosts-"):]
        try:
            info = json.loads(facts.read_text())
        except (OSError, ValueError):
            continue
        lines.append(f"{name}=kernel {info.get('kernel')}, IOMMU {'on' if info.get('iommu') else 'off'}, "
                     f"python {info.get('python', '?')}")
    (path / "environment.properties").write_text("\n".join(lines) + "\n")
