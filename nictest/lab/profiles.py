"""Lab topologies as data: what each QEMU guest holds, read from TOML.

The bundled labs live in labs.toml beside this file; a user describes a lab of
their own in a file with the same keys (one lab, no table name around it) and
points hosts.toml at it (`lab = "mylab.toml"`). Everything QEMU is told, and
where each NIC appears in the guest, is derived from that data.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabError
from .build import VARIANTS as IMAGE_VARIANTS  # "bench" = main + DPDK (testpmd, dpdk-devbind)

BUNDLED = Path(__file__).with_name("labs.toml")

# QEMU -device name of each NIC model a lab may hold (model names as the kernel
# drivers call them; the PMD driver registry and model profiles use the same).
QEMU_DEVICES = {
    "e1000": "e1000",            # 82540EM, conventional PCI
    "e1000e": "e1000e",          # 82574L, PCIe
    "igb": "igb",                # 82576, PCIe, SR-IOV (QEMU >= 8.0)
    "rtl8139": "rtl8139",        # no nictest PMD driver: the "unknown model" case
    "vmxnet3": "vmxnet3",
    "virtio-net": "virtio-net-pci",
}
PLACES = ("root", "root-port", "pci-bridge")
_LAB_KEYS = {"name", "like", "iommu", "ssh_port", "memory_mb", "cpus", "nic", "image"}
_NIC_KEYS = {"model", "mac", "place", "slot", "cable"}
# Root ports sit at bus 0 slot 0x10 and up (one per "root-port" NIC, then one for
# the PCIe-to-PCI bridge), so they never collide with 02.0 (management) or the
# root-bus NICs at 03.0 and up.
_FIRST_ROOT_PORT_SLOT = 0x10


@dataclass(frozen=True)
class LabNic:
    model: str
    mac: str
    place: str            # root | root-port | pci-bridge
    slot: int             # root: bus-0 slot; pci-bridge: slot behind the bridge; root-port: 0
    cable: str | None     # NICs with the same cable name are cabled (one QEMU hub)
    guest_address: str    # where the guest kernel finds it, e.g. 0000:01:00.0
    root_port: str | None = None  # root-port: the QEMU id of its pcie-root-port

    @property
    def qemu_device(self) -> str:
        return QEMU_DEVICES[self.model]

    @property
    def qemu_id(self) -> str | None:
        """The QEMU id of a NIC on its own root port (hot-pluggable: `device_del`/`device_add`
        name it); NICs on the root bus or behind the bridge cannot be unplugged and have none."""
        return f"nic-{self.guest_address[5:7]}" if self.place == "root-port" else None

    def device_arg(self, netdev: str) -> str:
        """The -device value (also what `device_add` needs to put the NIC back)."""
        where = {"root": f"addr={self.slot:02x}.0",
                 "root-port": f"bus={self.root_port}",
                 "pci-bridge": f"bus=br0,addr={self.slot:02x}.0"}[self.place]
        arg = f"{self.qemu_device},netdev={netdev},mac={self.mac},{where}"
        return arg + (f",id={self.qemu_id}" if self.qemu_id else "")


@dataclass(frozen=True)
class LabProfile:
    name: str
    iommu: bool          # emulated Intel IOMMU (VFIO) or none (UIO only)
    ssh_port: int        # 127.0.0.1:ssh_port forwards to the guest's sshd
    nics: tuple = ()     # LabNic, in file order
    memory_mb: int = 1024
    cpus: int = 2
    source: str = ""     # the file it came from (for messages)
    root_ports: tuple = field(default=(), repr=False)  # (slot, chassis, id) on bus 0
    # A TCG guest's kernel AF_PACKET receiver keeps up with ~57k frames/s (measured on the
    # 2-core development machine); kernel-path sends to a lab guest are paced at this.
    kernel_rx_pps: int = 20_000
    image: str = "main"  # the guest image variant (build.VARIANTS): "bench" adds DPDK for the peers

    @property
    def nic_macs(self) -> tuple:
        return tuple(n.mac for n in self.nics)

    @property
    def nic_addresses(self) -> tuple:
        return tuple(n.guest_address for n in self.nics)

    @property
    def links(self) -> tuple:
        """Cabled pairs of guest addresses (a cable of 3+ NICs gives every pair)."""
        pairs = []
        for i, a in enumerate(self.nics):
            for b in self.nics[i + 1:]:
                if a.cable is not None and a.cable == b.cable:
                    pairs.append((a.guest_address, b.guest_address))
        return tuple(pairs)

    @property
    def models(self) -> tuple:
        return tuple(sorted({n.model for n in self.nics}))

    def describe(self) -> str:
        counts = {}
        for n in self.nics:
            counts[n.model] = counts.get(n.model, 0) + 1
        nics = ", ".join(f"{c} x {m}" for m, c in counts.items()) or "no NICs under test"
        return f"q35 {'+ intel-iommu ' if self.iommu else ''}with {nics}"

    def qemu_args(self) -> list:
        """-device/-netdev arguments for the NICs under test and their slots."""
        args = []
        for slot, chassis, port_id in self.root_ports:
            args += ["-device", f"pcie-root-port,id={port_id},bus=pcie.0,addr={slot:02x}.0,chassis={chassis}"]
        if any(n.place == "pci-bridge" for n in self.nics):
            args += ["-device", "pcie-pci-bridge,id=br0,bus=rpbr"]
        hubs = {}
        for i, nic in enumerate(self.nics):
            netdev = f"p{i}"
            if nic.cable is None:
                hub = 100 + i   # a hub of its own: the NIC has a link partner nobody listens on
            else:
                hub = hubs.setdefault(nic.cable, len(hubs))
            args += ["-netdev", f"hubport,id={netdev},hubid={hub}"]
            args += ["-device", nic.device_arg(netdev)]
        return args

    def netdev_of(self, nic: LabNic) -> str:
        """The -netdev id a NIC is plugged into (its cable's hub port)."""
        return f"p{self.nics.index(nic)}"


def _fail(source: str, where: str, what: str) -> LabError:
    return LabError(f"{source}: {where}: {what}")


def _parse_nics(source: str, name: str, raw: list) -> tuple:
    """LabNic per entry, with the guest address derived from the placement."""
    if not isinstance(raw, list) or not raw:
        raise _fail(source, name, "needs at least one [[nic]] (model, mac, place, cable)")
    entries = []
    for i, item in enumerate(raw):
        where = f"{name}.nic[{i}]"
        if not isinstance(item, dict):
            raise _fail(source, where, "must be a table")
        _refuse_unknown(source, where, item, _NIC_KEYS)
        model = item.get("model")
        if model not in QEMU_DEVICES:
            raise _fail(source, where, f"model {model!r}: one of {', '.join(QEMU_DEVICES)}")
        place = item.get("place", "root")
        if place not in PLACES:
            raise _fail(source, where, f"place {place!r}: one of {', '.join(PLACES)}")
        mac = item.get("mac")
        if not isinstance(mac, str) or len(mac.split(":")) != 6:
            raise _fail(source, where, f"mac {mac!r}: six hex bytes, e.g. 52:54:00:00:01:10")
        cable = item.get("cable")
        if cable is not None and not isinstance(cable, str):
            raise _fail(source, where, "cable: a name shared by the NICs cabled together")
        slot = item.get("slot")
        if slot is not None and (not isinstance(slot, int) or not 1 <= slot <= 0x1f):
            raise _fail(source, where, "slot: a PCI slot number 1..31")
        entries.append((model, mac.lower(), place, slot, cable))

    # Bus numbers as the firmware hands them out: bus-0 bridges in slot order,
    # depth first. Root ports for "root-port" NICs come first, then one root port
    # holding the PCIe-to-PCI bridge (its secondary bus is one further down).
    root_ports, nics = [], []
    n_ports = sum(1 for e in entries if e[2] == "root-port")
    used_root_slots, next_root_slot, next_bridge_slot, bus = set(), 3, 1, 0
    for i, (model, mac, place, slot, cable) in enumerate(entries):
        if place == "root":
            if slot is None:
                while next_root_slot in used_root_slots or next_root_slot == 2:
                    next_root_slot += 1
                slot = next_root_slot
            if slot == 2 or slot in used_root_slots or slot >= _FIRST_ROOT_PORT_SLOT:
                raise _fail(source, f"{name}.nic[{i}]", f"slot {slot} is taken (02 is the management "
                                                        f"NIC, 0x10 and up hold root ports)")
            used_root_slots.add(slot)
            address = f"0000:00:{slot:02x}.0"
        elif place == "root-port":
            bus += 1
            port_slot = _FIRST_ROOT_PORT_SLOT + len(root_ports)
            root_ports.append((port_slot, len(root_ports) + 1, f"rp{i}"))
            slot, address = 0, f"0000:{bus:02x}:00.0"
        else:
            slot = slot if slot is not None else next_bridge_slot
            next_bridge_slot = slot + 1
            # bus numbers: n_ports root-port buses, then the bridge's root port, then the bridge
            address = f"0000:{n_ports + 2:02x}:{slot:02x}.0"
        nics.append(LabNic(model, mac, place, slot, cable, address, f"rp{i}" if place == "root-port" else None))
    if any(n.place == "pci-bridge" for n in nics):
        root_ports.append((_FIRST_ROOT_PORT_SLOT + len(root_ports), len(root_ports) + 1, "rpbr"))
    seen = set()
    for nic in nics:
        if nic.guest_address in seen:
            raise _fail(source, name, f"two NICs at {nic.guest_address}: give them different slots")
        seen.add(nic.guest_address)
    return tuple(nics), tuple(root_ports)


def _refuse_unknown(source: str, where: str, table: dict, known: set) -> None:
    unknown = set(table) - known
    if unknown:
        raise _fail(source, where, f"unknown key(s) {', '.join(sorted(unknown))}; "
                                   f"known: {', '.join(sorted(known))}")


def _with_like(source: str, name: str, raw: dict, earlier: dict) -> dict:
    """The lab's keys, checked, over those of the lab its `like` names (from `earlier`)."""
    if not isinstance(raw, dict):
        raise _fail(source, name, "must be a table")
    _refuse_unknown(source, name, raw, _LAB_KEYS)
    if "like" not in raw:
        return raw
    base = earlier.get(raw["like"])
    if base is None:
        raise _fail(source, name, f"like = {raw['like']!r}: no such lab above it")
    return {**base, **{k: v for k, v in raw.items() if k != "like"}}


def _build(source: str, name: str, raw: dict) -> LabProfile:
    """A LabProfile from one lab's keys (`like` already applied)."""
    for key, kind in (("iommu", bool), ("ssh_port", int)):
        if not isinstance(raw.get(key), kind):
            raise _fail(source, f"{name}.{key}", f"required ({kind.__name__})")
    if not 1024 <= raw["ssh_port"] <= 65535:
        raise _fail(source, f"{name}.ssh_port", "a port from 1024 to 65535 on 127.0.0.1")
    nics, root_ports = _parse_nics(source, name, raw.get("nic"))
    memory, cpus = raw.get("memory_mb", 1024), raw.get("cpus", 2)
    if not isinstance(memory, int) or memory < 512 or not isinstance(cpus, int) or not 1 <= cpus <= 8:
        raise _fail(source, name, "memory_mb >= 512 and cpus 1..8")
    image = raw.get("image", "main")
    if image not in IMAGE_VARIANTS:
        raise _fail(source, f"{name}.image", f"one of {', '.join(IMAGE_VARIANTS)}")
    return LabProfile(name=name, iommu=raw["iommu"], ssh_port=raw["ssh_port"], nics=nics,
                      memory_mb=memory, cpus=cpus, source=source, root_ports=root_ports, image=image)


def _load_bundled() -> dict:
    raw_all = tomllib.loads(BUNDLED.read_text())
    profiles, raws = {}, {}
    for name, raw in raw_all.items():
        raws[name] = _with_like(BUNDLED.name, name, raw, raws)
        profiles[name] = _build(BUNDLED.name, name, raws[name])
    ports = {}
    for p in profiles.values():
        if p.ssh_port in ports:
            raise LabError(f"{BUNDLED.name}: {p.name} and {ports[p.ssh_port]} share ssh_port {p.ssh_port}")
        ports[p.ssh_port] = p.name
    return profiles


PROFILES = _load_bundled()


def load_file(path: str | Path) -> LabProfile:
    """A user's lab file: the keys of one lab at the top level (`name` optional)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise LabError(f"lab file {path}: {exc.strerror}; check the `lab` path in hosts.toml") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LabError(f"lab file {path} is not valid TOML: {exc}") from None
    name = raw.pop("name", path.stem)
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise _fail(str(path), "name", "letters, digits, - and _ (it names the run directory)")
    return _build(str(path), name, _with_like(str(path), name, raw, {}))


def profile(name: str) -> LabProfile:
    """A bundled lab by name, or a user's lab file by path (ends in .toml)."""
    if name.endswith(".toml"):
        return load_file(name)
    try:
        return PROFILES[name]
    except KeyError:
        raise LabError(f"no lab called {name!r}; the bundled labs are "
                       f"{', '.join(sorted(PROFILES))} (or give the path of a lab .toml file)") from None
