"""The agent's files as shipped to a host, and their content hash.

Apart from ssh.py so that naming a host's keeper (mux.socket_path, on every CLI
call) reads and hashes the files without importing paramiko: a CLI call that finds
its keeper never needs it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import nictest

# Packages and modules only the controller imports: never uploaded to a host.
CONTROLLER_ONLY = frozenset({"hosts", "lab", "plugin", "cli", "bench", "report", "inventory.py"})


def agent_files(package_dir: Path | None = None) -> list[tuple[str, Path]]:
    """(path relative to the upload root, local file) of everything the agent side imports."""
    package_dir = package_dir or Path(nictest.__file__).resolve().parent
    files = []
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if rel.parts[0] in CONTROLLER_ONLY or "__pycache__" in rel.parts or not path.is_file():
            continue
        # C sources of the poll-mode driver are built on the host; generated .c/.so files are not shipped.
        # Model profiles (nictest/models/*.json) go too, so the models package works on the host.
        if (path.suffix == ".py" or (path.suffix in (".c", ".h") and "csrc" in rel.parts)
                or (path.suffix == ".json" and rel.parts[0] == "models")):
            files.append((f"{package_dir.name}/{rel.as_posix()}", path))
    return files


@dataclass(frozen=True)
class AgentBundle:
    """The agent's files read once, so the uploaded bytes are exactly the hashed bytes."""

    files: tuple[tuple[str, bytes], ...]
    digest: str  # 16 hex chars of sha256: the name of the remote cache directory

    @classmethod
    def read(cls, package_dir: Path | None = None) -> AgentBundle:
        files = tuple((rel, path.read_bytes()) for rel, path in agent_files(package_dir))
        return cls(files, content_hash(files))


def content_hash(files) -> str:
    """16 hex chars of sha256 over names and contents ((rel, bytes) or (rel, Path) pairs)."""
    digest = hashlib.sha256()
    for rel, content in sorted(files, key=lambda item: item[0]):
        data = content if isinstance(content, bytes) else content.read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:16]
