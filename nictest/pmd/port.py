"""Python face of the C poll-mode driver: `Port` and the loop functions.

Every C call returns 0 or -errno; `_check` turns a negative value into
`PmdError(op, errno, message)` with os.strerror and the C side's own sentence
(pmd_last_error). Python configures and reads results; the C loops do all
per-packet work (cffi releases the GIL during each call).
"""
from __future__ import annotations

import errno

import os
import threading
from typing import Dict, List, Optional

from nictest.errors import PmdError

BACKENDS = {"vfio": 1, "uio": 2}
RESETS = {"none": 0, "vfio": 1, "device": 2}
DESC_FORMATS = {1: "legacy", 2: "advanced"}
MODEL_FLAGS = {1: "msi", 2: "msix", 4: "pcie", 8: "jumbo"}
VFIO_DEVICE_FLAGS_RESET = 1
# The generic register names every driver exports (csrc/pmd.h, struct pmd_named_reg).
REGISTER_NAMES = ("control", "status", "interrupt mask", "rx control", "tx control",
                  "rx ring base", "rx ring length", "rx head", "rx tail",
                  "tx ring base", "tx ring length", "tx head", "tx tail",
                  "mac address", "mac address valid")
VFIO_REGION_NAMES = ("BAR0", "BAR1", "BAR2", "BAR3", "BAR4", "BAR5", "ROM", "CONFIG", "VGA")
VFIO_IRQ_NAMES = ("INTX", "MSI", "MSIX", "ERR", "REQ")


def pmd_error(op: str, rc: int, context: str = "", detail: str = "") -> PmdError:
    """The PmdError for C return code `rc` (-errno) of `op`."""
    err = -rc if rc < 0 else rc
    text = f"pmd {op}"
    if context:
        text += f" ({context})"
    text += f": {os.strerror(err)} [errno {err}]"
    if detail:
        text += f": {detail}"
    return PmdError(op, err, text)


def _module():
    from nictest.pmd.build import load

    return load()


def _check(lib, ffi, op: str, rc: int, context: str = "") -> int:
    if rc < 0:
        detail = ffi.string(lib.pmd_last_error()).decode(errors="replace")
        raise pmd_error(op, rc, context, detail)
    return rc


def _struct_dict(ffi, cdata) -> dict:
    ctype = ffi.typeof(cdata)
    if ctype.kind == "pointer":
        ctype = ctype.item
    return {name: getattr(cdata, name) for name, _ in ctype.fields}


def _mac_str(raw) -> str:
    return ":".join(f"{b:02x}" for b in bytes(raw))


def _mac_bytes(mac: Optional[str]):
    if mac is None:
        return None
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"MAC {mac!r}: want six hex bytes separated by ':'")
    return bytes(int(p, 16) for p in parts)


def _rx_dict(res: dict) -> dict:
    res["timed_out"] = bool(res["timed_out"])
    res["seconds"] = res.pop("ns") / 1e9
    active = res.pop("active_ns") / 1e9
    res["active_seconds"] = active
    res["pps"] = (res["packets"] - 1) / active if active > 0 and res["packets"] > 1 else 0.0
    res["errors"] = res["bad"] + res["desc_errors"]
    return res


def _tx_dict(res: dict) -> dict:
    res["seconds"] = res.pop("ns") / 1e9
    res["pps"] = res["packets"] / res["seconds"] if res["seconds"] > 0 else 0.0
    return res


def _device_dict(ffi, info, backend: str) -> dict:
    """struct pmd_device_info as the dict the agent returns."""
    regions = []
    for r in list(info.regions)[: info.num_regions]:
        name = VFIO_REGION_NAMES[r.index] if r.index < len(VFIO_REGION_NAMES) else f"REGION{r.index}"
        regions.append({"index": r.index, "name": name, "flags": r.flags, "size": r.size, "offset": r.offset})
    irqs = []
    for q in list(info.irqs)[: info.num_irqs]:
        name = VFIO_IRQ_NAMES[q.index] if q.index < len(VFIO_IRQ_NAMES) else f"IRQ{q.index}"
        irqs.append({"index": q.index, "name": name, "flags": q.flags, "count": q.count,
                     "present": bool(q.present)})
    return {
        "address": ffi.string(info.address).decode(),
        "backend": backend,
        "vendor": f"{info.vendor:04x}",
        "device": f"{info.device:04x}",
        "pci_command": info.pci_command,
        "vfio_api_version": info.vfio_api_version,
        "iommu_group": info.iommu_group,
        "device_flags": info.device_flags,
        "vfio_reset": bool(info.device_flags & VFIO_DEVICE_FLAGS_RESET),
        "regions": regions,
        "irqs": irqs,
        "bar": info.bar_index,
        "bar_size": info.bar_size,
    }


def _model_dict(ffi, m) -> dict:
    """struct pmd_model_info: what the ID table says about a model."""
    return {
        "vendor": f"{m.vendor:04x}",
        "device": f"{m.device:04x}",
        "name": ffi.string(m.name).decode(),
        "driver": ffi.string(m.driver).decode(),
        "desc_format": DESC_FORMATS.get(m.desc_format, str(m.desc_format)),
        "rx_desc_size": m.rx_desc_size,
        "tx_desc_size": m.tx_desc_size,
        "reg_bar": m.reg_bar,
        "max_frame": m.max_frame,
        "rx_queues": m.rx_queues,
        "tx_queues": m.tx_queues,
        "msix_vectors": m.msix_vectors,
        "mac_filters": m.mac_filters,
        "features": ffi.string(m.features).decode().split(),
        "resets": [k for k, v in RESETS.items() if m.resets >> v & 1],
        "flags": [name for bit, name in MODEL_FLAGS.items() if m.flags & bit],
    }


def models() -> List[dict]:
    """The PMD's ID table: one dict per vendor:device it drives."""
    mod = _module()
    ffi, lib = mod.ffi, mod.lib
    out, m = [], ffi.new("struct pmd_model_info *")
    while lib.pmd_model_at(len(out), m) == 0:
        out.append(_model_dict(ffi, m))
    return out


def model_for(vendor: str, device: str) -> Optional[dict]:
    """The ID table's entry for vendor:device (hex strings), None if no driver takes it."""
    mod = _module()
    ffi, lib = mod.ffi, mod.lib
    m = ffi.new("struct pmd_model_info *")
    if lib.pmd_model_lookup(int(vendor, 16), int(device, 16), m) < 0:
        return None
    return _model_dict(ffi, m)


def drivers_text(table: List[dict]) -> str:
    """"e1000 (8086:100e 82540EM +16 more), e1000e (8086:10d3 82574L)" from models()."""
    by_driver: Dict[str, List[dict]] = {}
    for m in table:
        by_driver.setdefault(m["driver"], []).append(m)
    parts = []
    for driver, ms in by_driver.items():
        more = f" +{len(ms) - 1} more" if len(ms) > 1 else ""
        parts.append(f"{driver} ({ms[0]['vendor']}:{ms[0]['device']} {ms[0]['name']}{more})")
    return ", ".join(parts) or "none"


class _Handle:
    """A C handle (device or port) freed by `closer`: close it explicitly (or use `with`);
    the garbage collector closes a forgotten one as a last resort."""

    kind = "handle"
    _ctype = _open_fn = _close_fn = _open_op = ""   # set by each subclass

    def __init__(self, address: str, backend: str, *args) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r}: use one of {', '.join(BACKENDS)}")
        mod = _module()
        self.ffi, self.lib = mod.ffi, mod.lib
        self.address = address
        self.backend = backend
        self._lock = threading.Lock()  # C handles are not thread-safe: one call at a time
        self._free_lock = threading.Lock()  # held while the handle is freed (interrupt() runs unlocked)
        out = self.ffi.new(f"{self._ctype} **")
        rc = getattr(self.lib, self._open_fn)(address.encode(), BACKENDS[backend], *args, out)
        _check(self.lib, self.ffi, self._open_op, rc, f"{address} via {backend}")
        self._handle = self.ffi.gc(out[0], getattr(self.lib, self._close_fn))

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Stop what runs, unmap what was mapped, close the fds (idempotent)."""
        with self._lock, self._free_lock:
            handle, self._handle = self._handle, None
            if handle is not None:
                self.ffi.release(handle)  # runs the C close now

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _h(self, op: str):
        if self._handle is None:
            raise PmdError(op, 9, f"pmd {op}: {self.kind} {self.address} is closed")
        return self._handle

    def _call(self, op: str, fn, *args) -> int:
        with self._lock:
            return _check(self.lib, self.ffi, op, fn(self._h(op), *args), self.address)


class Device(_Handle):
    """A PCI function opened through VFIO or UIO with no driver: regions, IRQs,
    config space, its first memory BAR mapped; no DMA memory, no rings."""

    kind = "device"
    _ctype, _open_fn, _close_fn, _open_op = "struct pmd_device", "pmd_device_open", "pmd_device_close", "device_open"

    def __init__(self, address: str, backend: str = "vfio", vf_token: str = "") -> None:
        """vf_token: the PF's VF token (a UUID), needed to open a VF whose PF is on vfio-pci."""
        super().__init__(address, backend, vf_token.encode())

    def set_vf_token(self, token: str) -> None:
        """On a PF opened through VFIO: its VFs then open only with `token` (a UUID)."""
        self._call("device_set_vf_token", self.lib.pmd_device_set_vf_token, token.encode())

    def info(self) -> dict:
        info = self.ffi.new("struct pmd_device_info *")
        self._call("device_info", self.lib.pmd_device_info, info)
        return _device_dict(self.ffi, info, self.backend)

    def request_eventfd(self, eventfd: int) -> None:
        """VFIO: the kernel signals `eventfd` when it wants the device back (removal)."""
        self._call("request_eventfd", self.lib.pmd_device_request_eventfd, eventfd)

    def config(self, offset: int, length: int) -> bytes:
        buf = self.ffi.new("uint8_t[]", length)
        self._call("device_config", self.lib.pmd_device_config, offset, buf, length)
        return bytes(self.ffi.buffer(buf, length))

    def bar_read(self, offset: int) -> int:
        """32 bits of the mapped BAR, read through the mapping."""
        value = self.ffi.new("uint32_t *")
        self._call("device_bar_read", self.lib.pmd_device_bar_read, offset, value)
        return value[0]

    def region_read(self, index: int, offset: int) -> int:
        """32 bits of region `index`, read through the backend's fd (not the mapping)."""
        value = self.ffi.new("uint32_t *")
        self._call("device_region_read", self.lib.pmd_device_region_read, index, offset, value)
        return value[0]


class Port(_Handle):
    """One NIC opened by the C driver (the ID table found its driver): rings, DMA memory."""

    kind = "port"
    _ctype, _open_fn, _close_fn, _open_op = "struct pmd_port", "pmd_port_open", "pmd_port_close", "open"

    def __init__(self, address: str, backend: str = "vfio", rx_ring: int = 512, tx_ring: int = 512,
                 iova_base: int = 0) -> None:
        super().__init__(address, backend, rx_ring, tx_ring, iova_base)

    # --- device information --------------------------------------------------
    def info(self) -> dict:
        info = self.ffi.new("struct pmd_port_info *")
        self._call("info", self.lib.pmd_port_info, info)
        out = _device_dict(self.ffi, info.dev, self.backend)
        model = _model_dict(self.ffi, info.model)
        out.update({
            "driver": model["driver"],
            "model": model,
            "mac": _mac_str(self.ffi.buffer(info.mac, 6)),
            "status": info.status,
            "link_up": bool(info.link_up),
            "rx_ring": info.rx_ring_size,
            "tx_ring": info.tx_ring_size,
            "dma_size": info.dma_size,
            "dma_bus_base": info.dma_bus_base,
            "rx_ring_bus": info.rx_ring_bus,
            "tx_ring_bus": info.tx_ring_bus,
        })
        return out

    def register_dump(self) -> List[dict]:
        """Every register the driver exports: {name (generic), hw (datasheet), offset, value}."""
        n = 48
        regs = self.ffi.new("struct pmd_named_reg[]", n)
        count = self.ffi.new("uint32_t *")
        self._call("regs", self.lib.pmd_port_regs, regs, n, count)
        return [{"name": self.ffi.string(r.name).decode(), "hw": self.ffi.string(r.hw).decode(),
                 "offset": r.offset, "value": r.value} for r in list(regs)[: count[0]]]

    def registers(self) -> Dict[str, int]:
        """Registers by generic name (REGISTER_NAMES and the driver's extras) -> value."""
        return {r["name"]: r["value"] for r in self.register_dump()}

    def reg_write_named(self, name: str, value: int) -> None:
        """Write the register a generic name stands for (its low 32 bits for a pair)."""
        self._call("reg_write", self.lib.pmd_port_reg_write, name.encode(), value)

    def stats(self) -> dict:
        """Hardware counters accumulated since open (the device clears them on read)."""
        s = self.ffi.new("struct pmd_stats *")
        self._call("stats", self.lib.pmd_port_stats, s)
        return _struct_dict(self.ffi, s)

    def stats_read(self) -> dict:
        """The counters read once: what they counted since the previous read (the device
        clears them on read; stats() still includes them)."""
        s = self.ffi.new("struct pmd_stats *")
        self._call("stats_read", self.lib.pmd_port_stats_read, s)
        return _struct_dict(self.ffi, s)

    # --- MAC configuration ---------------------------------------------------
    def set_max_frame(self, max_frame: int) -> int:
        """Take frames up to max_frame bytes with FCS; returns the limit the MAC now enforces."""
        limit = self.ffi.new("uint32_t *")
        self._call("set_max_frame", self.lib.pmd_port_set_max_frame, max_frame, limit)
        return limit[0]

    def set_rx_mode(self, unicast_promisc: bool = False, multicast_promisc: bool = False,
                    broadcast: bool = False) -> None:
        mode = ((self.lib.PMD_RX_UNICAST_PROMISC if unicast_promisc else 0)
                | (self.lib.PMD_RX_MULTICAST_PROMISC if multicast_promisc else 0)
                | (self.lib.PMD_RX_BROADCAST if broadcast else 0))
        self._call("set_rx_mode", self.lib.pmd_port_set_rx_mode, mode)

    def set_mac_filter(self, index: int, mac: Optional[str]) -> None:
        """Unicast filter entry `index` (1..mac_filters-1) accepts `mac`; None clears it."""
        raw = _mac_bytes(mac)
        self._call("set_mac_filter", self.lib.pmd_port_set_mac_filter, index,
                   self.ffi.NULL if raw is None else raw)

    def set_mc_table(self, macs: List[str]) -> None:
        """The multicast table holds exactly these addresses."""
        raw = b"".join(_mac_bytes(m) for m in macs)
        self._call("set_mc_table", self.lib.pmd_port_set_mc_table, raw or self.ffi.NULL, len(macs))

    def link(self, timeout_ms: int = 0) -> dict:
        up, status = self.ffi.new("int *"), self.ffi.new("uint32_t *")
        self._call("link", self.lib.pmd_port_link, timeout_ms, up, status)
        return {"link_up": bool(up[0]), "status": status[0]}

    def reset(self, kind: str = "none") -> None:
        """Reset ("vfio": VFIO_DEVICE_RESET, "device": the driver's software reset, "none"),
        then re-initialise."""
        if kind not in RESETS:
            raise ValueError(f"reset kind {kind!r}: use one of {', '.join(RESETS)}")
        self._call("reset", self.lib.pmd_port_reset, RESETS[kind])

    def request_eventfd(self, eventfd: int) -> None:
        """VFIO: the kernel signals `eventfd` when it wants the device back (removal)."""
        self._call("request_eventfd", self.lib.pmd_port_request_eventfd, eventfd)

    def interrupt(self) -> None:
        """From any thread, without waiting for the call in progress: the loop running on
        this port (and any later one) fails with ECANCELED, so close() can proceed."""
        with self._free_lock:
            if self._handle is not None:
                self.lib.pmd_port_interrupt(self._handle)

    # --- interrupts through VFIO (irq.c) -------------------------------------
    def irq_eventfds(self, index: int, fds: List[int]) -> None:
        """Eventfd i is signalled when vector i of VFIO IRQ index `index` fires (VFIO only)."""
        arr = self.ffi.new("int32_t[]", list(fds))
        self._call("irq_eventfds", self.lib.pmd_port_irq_eventfds, index, arr, len(fds))

    def irq_disable(self, index: int) -> None:
        self._call("irq_disable", self.lib.pmd_port_irq_disable, index)

    def irq_trigger(self, index: int, vector: int) -> None:
        self._call("irq_trigger", self.lib.pmd_port_irq_trigger, index, vector)

    def irq_unmask(self, index: int, vector: int) -> None:
        """Unmask `vector` of `index` at VFIO: an automasked (INTx) line VFIO masked when it fired."""
        self._call("irq_unmask", self.lib.pmd_port_irq_unmask, index, vector)

    def irq_enable(self, rx_vector: int, other_vector: int) -> None:
        self._call("irq_enable", self.lib.pmd_port_irq_enable, rx_vector, other_vector)

    def irq_mask(self, masked: bool) -> None:
        self._call("irq_mask", self.lib.pmd_port_irq_mask, 1 if masked else 0)

    def irq_ack(self) -> int:
        causes = self.ffi.new("uint32_t *")
        self._call("irq_ack", self.lib.pmd_port_irq_ack, causes)
        return causes[0]

    def reg_read(self, offset: int) -> int:
        value = self.ffi.new("uint32_t *")
        self._call("reg_read", self.lib.pmd_reg_read, offset, value)
        return value[0]

    def reg_write(self, offset: int, value: int) -> None:
        self._call("reg_write", self.lib.pmd_reg_write, offset, value)

    # --- DMA control (IOMMU isolation) ----------------------------------------
    def dma_alloc(self, size: int) -> dict:
        """Spare DMA memory, mapped for the device: {bus, offset, size, buffer}."""
        buf = self.ffi.new("struct pmd_buffer *")
        self._call("dma_alloc", self.lib.pmd_dma_alloc, size, buf)
        return {"bus": buf.bus, "offset": buf.offset, "size": buf.size,
                "buffer": self.ffi.buffer(buf.virt, buf.size)}

    def dma_map(self, iova: int, offset: int, size: int) -> None:
        self._call("dma_map", self.lib.pmd_dma_map, iova, offset, size)

    def dma_unmap(self, iova: int, size: int) -> None:
        self._call("dma_unmap", self.lib.pmd_dma_unmap, iova, size)

    def rx_point_next(self, bus: int) -> None:
        self._call("rx_point_next", self.lib.pmd_rx_point_next, bus)

    def tx_from(self, bus: int, size: int, timeout_ms: int = 1000) -> None:
        self._call("tx_from", self.lib.pmd_tx_from, bus, size, timeout_ms)

    # --- packet loops ------------------------------------------------------
    def tx(self, count: int, size: int = 64, seq_start: int = 0, dst: Optional[str] = None,
           rate_pps: int = 0, timeout_ms: int = 2000) -> dict:
        res = self.ffi.new("struct pmd_tx_result *")
        dst_b = _mac_bytes(dst)
        self._call("tx", self.lib.pmd_tx_loop, count, size, seq_start,
                   self.ffi.NULL if dst_b is None else dst_b, rate_pps, timeout_ms, res)
        return _tx_dict(_struct_dict(self.ffi, res))

    def rx(self, count: int, timeout_ms: int = 1000, expect_seq: int = 0) -> dict:
        res = self.ffi.new("struct pmd_rx_result *")
        self._call("rx", self.lib.pmd_rx_loop, count, expect_seq, timeout_ms, res)
        return _rx_dict(_struct_dict(self.ffi, res))

    # --- IPv4 UDP/TCP test frames and the NIC's offloads (packet.c, packet_port.c) ---
    def tx_packets(self, specs: List[dict], vlan_insert: Optional[int] = None, ip_csum: bool = False,
                   l4_csum: bool = False, timeout_ms: int = 2000) -> int:
        """Send one frame per spec (see packet_spec) with the NIC inserting a VLAN tag
        (vlan_insert: the TCI) and/or the IPv4 / TCP-UDP checksums; frames sent."""
        arr = self.ffi.new("struct pmd_pkt_spec[]", max(len(specs), 1))
        for i, spec in enumerate(specs):
            packet_spec(self.ffi, spec, arr[i])
        off = self.ffi.new("struct pmd_tx_offload *")
        off.vlan_insert, off.vlan_tci = vlan_insert is not None, vlan_insert or 0
        off.ip_csum, off.l4_csum = bool(ip_csum), bool(l4_csum)
        return self._call("tx_packets", self.lib.pmd_port_tx_packets, arr, len(specs), off, timeout_ms)

    def rx_packets(self, max_count: int, timeout_ms: int = 1000, stop_seq: Optional[int] = None) -> List[dict]:
        """Up to max_count of our IPv4 test frames, each {length, vlan_stripped, vlan_tci,
        ip_checked, ip_error, l4_checked, l4_error, rss_hash, rss_type, queue, status, errors,
        pkt: {ours, pattern_ok, vlan_tagged, vlan_tci, src_ip, dst_ip, l4, src_port, dst_port,
        seq, ip_csum_ok, l4_csum_ok, length}}; stops after the frame with seq stop_seq."""
        out = self.ffi.new("struct pmd_rx_meta[]", max(max_count, 1))
        stop = (1 << 64) - 1 if stop_seq is None else stop_seq
        n = self._call("rx_packets", self.lib.pmd_port_rx_packets, out, max_count, stop, timeout_ms)
        frames = []
        for i in range(n):
            m = _struct_dict(self.ffi, out[i])
            m["pkt"] = _pkt_dict(_struct_dict(self.ffi, out[i].pkt))
            frames.append(m)
        return frames

    def set_vlan(self, strip: bool = False, filter: bool = False, vids: Optional[List[int]] = None) -> None:
        cfg = self.ffi.new("struct pmd_vlan_config *")
        vids = list(vids or [])
        if len(vids) > len(cfg.vids):
            raise ValueError(f"{len(vids)} VLAN IDs: at most {len(cfg.vids)}")
        cfg.strip, cfg.filter, cfg.count = bool(strip), bool(filter), len(vids)
        for i, v in enumerate(vids):
            cfg.vids[i] = v
        self._call("set_vlan", self.lib.pmd_port_set_vlan, cfg)

    def set_rx_csum(self, ip: bool = False, l4: bool = False) -> None:
        self._call("set_rx_csum", self.lib.pmd_port_set_rx_csum, bool(ip), bool(l4))

    # --- several queues, RSS, queue control (queues.c) -----------------------
    RSS_FIELDS = {"ipv4": 1, "ipv4_tcp": 2, "ipv4_udp": 4}
    HASH_TYPES = {0: None, 1: "ipv4", 2: "ipv4_tcp", 3: "ipv4_udp", 4: "other"}

    def setup_queues(self, rx_queues: int, tx_queues: int) -> None:
        self._call("setup_queues", self.lib.pmd_port_setup_queues, rx_queues, tx_queues)

    def queue_count(self) -> dict:
        rx, tx = self.ffi.new("uint32_t *"), self.ffi.new("uint32_t *")
        self._call("queue_count", self.lib.pmd_port_queue_count, rx, tx)
        return {"rx": rx[0], "tx": tx[0]}

    def set_rss(self, fields: List[str], key: bytes = b"", reta: List[int] = ()) -> None:
        """RSS over fields (names of RSS_FIELDS; [] off) with the 40-byte key and 128-entry table."""
        bits = 0
        for f in fields:
            if f not in self.RSS_FIELDS:
                raise ValueError(f"RSS field {f!r}: one of {sorted(self.RSS_FIELDS)}")
            bits |= self.RSS_FIELDS[f]
        if bits and (len(key) != 40 or len(reta) != 128):
            raise ValueError(f"RSS: a 40-byte key and a 128-entry table, got {len(key)} and {len(reta)}")
        k = self.ffi.new("uint8_t[]", bytes(key) or bytes(40))
        t = self.ffi.new("uint8_t[]", bytes(reta) or bytes(128))
        self._call("set_rss", self.lib.pmd_port_set_rss, bits, k, t)

    def rx_queue_enable(self, queue: int, on: bool) -> None:
        self._call("rx_queue_enable", self.lib.pmd_port_rx_queue_enable, queue, bool(on))

    def stop(self) -> None:
        self._call("stop", self.lib.pmd_port_stop)

    def start(self) -> None:
        self._call("start", self.lib.pmd_port_start)

    def rx_frames(self, count: int, timeout_ms: int = 1000, idle_ms: int = 0) -> List[dict]:
        """Frames from every RX queue: {queue, len, hash, hash_type, errors, data (first bytes)}."""
        out = self.ffi.new("struct pmd_rx_frame[]", max(count, 1))
        got = self.ffi.new("uint32_t *")
        self._call("rx_frames", self.lib.pmd_rx_frames, count, timeout_ms, idle_ms, out, got)
        frames = []
        for i in range(got[0]):
            f = out[i]
            n = min(f.len, len(f.data))
            frames.append({"queue": f.queue, "len": f.len, "hash": f.hash,
                           "hash_type": self.HASH_TYPES.get(f.hash_type, "other"), "errors": f.errors,
                           "data": bytes(self.ffi.buffer(f.data, n))})
        return frames

    def tx_frames(self, frames: List[bytes], queue: int = 0, timeout_ms: int = 2000) -> None:
        """Send these frames (bytes without FCS) on TX queue `queue`."""
        lens = self.ffi.new("uint32_t[]", [len(f) for f in frames] or [0])
        data = b"".join(frames)
        self._call("tx_frames", self.lib.pmd_tx_frames, queue, data or self.ffi.NULL, lens, len(frames),
                   timeout_ms)


CSUM_MODES = {"good": 0, "bad_ip": 1, "bad_l4": 2, "nic": 3}
L4_PROTOS = {"tcp": 6, "udp": 17}


def _ip_int(ip: str) -> int:
    parts = [int(p) for p in ip.split(".")]
    if len(parts) != 4 or not all(0 <= p < 256 for p in parts):
        raise ValueError(f"IPv4 address {ip!r}: want a.b.c.d")
    return parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]


def _ip_str(v: int) -> str:
    return ".".join(str(v >> s & 0xFF) for s in (24, 16, 8, 0))


def packet_spec(ffi, spec: dict, out) -> None:
    """A spec dict into struct pmd_pkt_spec: dst (MAC), src (MAC, None: the port's), vlan
    (TCI, None: untagged), src_ip, dst_ip, l4 ("udp"/"tcp"), src_port, dst_port, size, seq,
    csum ("good", "bad_ip", "bad_l4", "nic": left for the NIC)."""
    known = {"dst", "src", "vlan", "src_ip", "dst_ip", "l4", "src_port", "dst_port", "size", "seq", "csum"}
    if set(spec) - known:
        raise ValueError(f"packet spec keys {sorted(set(spec) - known)}: known are {sorted(known)}")
    ffi.memmove(out.dst, _mac_bytes(spec["dst"]), 6)
    if spec.get("src"):
        ffi.memmove(out.src, _mac_bytes(spec["src"]), 6)
    vlan = spec.get("vlan")
    out.vlan_tagged, out.vlan_tci = vlan is not None, vlan or 0
    out.src_ip, out.dst_ip = _ip_int(spec.get("src_ip", "10.0.0.1")), _ip_int(spec.get("dst_ip", "10.0.0.2"))
    l4 = spec.get("l4", "udp")
    if l4 not in L4_PROTOS:
        raise ValueError(f"l4 {l4!r}: one of {sorted(L4_PROTOS)}")
    csum = spec.get("csum", "good")
    if csum not in CSUM_MODES:
        raise ValueError(f"csum {csum!r}: one of {sorted(CSUM_MODES)}")
    out.l4, out.csum = L4_PROTOS[l4], CSUM_MODES[csum]
    out.src_port, out.dst_port = spec.get("src_port", 1024), spec.get("dst_port", 2048)
    out.size, out.seq = spec.get("size", 128), spec.get("seq", 0)


def _pkt_dict(p: dict) -> dict:
    p = dict(p)
    p["src_ip"], p["dst_ip"] = _ip_str(p["src_ip"]), _ip_str(p["dst_ip"])
    p["l4"] = {v: k for k, v in L4_PROTOS.items()}.get(p["l4"], p["l4"])
    for k in ("ours", "pattern_ok", "vlan_tagged", "ip_csum_ok", "l4_csum_ok"):
        p[k] = bool(p[k])
    return p


def build_packet(spec: dict) -> bytes:
    """The frame pmd_packet_build makes of a spec (src required here: no port)."""
    mod = _module()
    ffi, lib = mod.ffi, mod.lib
    s = ffi.new("struct pmd_pkt_spec *")
    packet_spec(ffi, spec, s)
    buf = ffi.new("uint8_t[]", 2048)
    n = _check(lib, ffi, "build_packet", lib.pmd_packet_build(s, buf, 2048))
    return bytes(ffi.buffer(buf, n))


def parse_packet(frame: bytes) -> dict:
    """pmd_packet_parse of a frame: ours, checksums recomputed, VLAN tag, ports, seq."""
    mod = _module()
    ffi, lib = mod.ffi, mod.lib
    info = ffi.new("struct pmd_pkt_info *")
    lib.pmd_packet_parse(frame, len(frame), info)
    return _pkt_dict(_struct_dict(ffi, info))


CHECKS = ("payload", "sequence")  # enum pmd_check: every payload byte, or (rate mode) the sequence only


def txrx(tx_port: Port, rx_port: Port, count: int, size: int = 64, seq_start: int = 0,
         timeout_ms: int = 2000, check: str = "payload", threads: int = 1) -> dict:
    """PMD -> PMD: {tx: {...}, rx: {...}, check, threads}. check "sequence" is the rate mode: no
    payload pattern written or compared, loss and order counted as in "payload". threads 2: TX on
    a C thread of its own, RX on the calling one (one core per port, as a DPDK application);
    then also cpus {tx, rx}, the CPU each side ran on last."""
    if check not in CHECKS:
        raise PmdError("txrx", errno.EINVAL, f"check {check!r}: one of {', '.join(CHECKS)}")
    if threads not in (1, 2):
        raise PmdError("txrx", errno.EINVAL, f"threads {threads!r}: 1 (one loop for both ports) or 2 (one per port)")
    ffi, lib = tx_port.ffi, tx_port.lib
    tr, rr = ffi.new("struct pmd_tx_result *"), ffi.new("struct pmd_rx_result *")
    mode = lib.PMD_CHECK_PAYLOAD if check == "payload" else lib.PMD_CHECK_SEQUENCE
    with tx_port._lock, rx_port._lock:
        if threads == 2:
            cpus = ffi.new("struct pmd_txrx_cpus *")
            rc = lib.pmd_txrx_loop_threads(tx_port._h("txrx"), rx_port._h("txrx"), count, size, seq_start,
                                           timeout_ms, mode, tr, rr, cpus)
        else:
            rc = lib.pmd_txrx_loop_checked(tx_port._h("txrx"), rx_port._h("txrx"), count, size, seq_start,
                                           timeout_ms, mode, tr, rr)
        _check(lib, ffi, "txrx", rc, f"{tx_port.address} -> {rx_port.address}")
    out = {"tx": _tx_dict(_struct_dict(ffi, tr)), "rx": _rx_dict(_struct_dict(ffi, rr)), "check": check,
           "threads": threads}
    if threads == 2:
        out["cpus"] = {"tx": cpus.tx, "rx": cpus.rx}
    return out


def pingpong(a: Port, b: Port, count: int, size: int = 64, timeout_ms: int = 1000) -> dict:
    ffi, lib = a.ffi, a.lib
    res = ffi.new("struct pmd_pingpong_result *")
    with a._lock, b._lock:
        _check(lib, ffi, "pingpong", lib.pmd_pingpong(a._h("pingpong"), b._h("pingpong"), count, size,
                                                      timeout_ms, res), f"{a.address} <-> {b.address}")
    out = _struct_dict(ffi, res)
    out["avg_ns"] = out["total_ns"] // out["answered"] if out["answered"] else 0
    return out


def kernel_tx(ifname: str, count: int, size: int = 64, seq_start: int = 0, dst: Optional[str] = None,
              timeout_ms: int = 2000) -> dict:
    """The same frames through the kernel: AF_PACKET send on `ifname`."""
    mod = _module()
    ffi, lib = mod.ffi, mod.lib
    res = ffi.new("struct pmd_tx_result *")
    dst_b = _mac_bytes(dst)
    rc = lib.pmd_kernel_tx_loop(ifname.encode(), count, size, seq_start, ffi.NULL if dst_b is None else dst_b,
                                timeout_ms, res)
    _check(lib, ffi, "kernel_tx", rc, ifname)
    return _tx_dict(_struct_dict(ffi, res))


def kernel_rx(ifname: str, count: int, timeout_ms: int = 1000, expect_seq: int = 0) -> dict:
    mod = _module()
    ffi, lib = mod.ffi, mod.lib
    res = ffi.new("struct pmd_rx_result *")
    _check(lib, ffi, "kernel_rx", lib.pmd_kernel_rx_loop(ifname.encode(), count, expect_seq, timeout_ms, res), ifname)
    return _rx_dict(_struct_dict(ffi, res))


def hugepages() -> dict:
    mod = _module()
    ffi, lib = mod.ffi, mod.lib
    free, total = ffi.new("long *"), ffi.new("long *")
    _check(lib, ffi, "hugepages", lib.pmd_hugepages(free, total))
    return {"free": free[0], "total": total[0], "size": 2 << 20}


__all__: List[str] = ["Device", "Port", "build_packet", "drivers_text", "hugepages", "kernel_rx", "kernel_tx", "model_for", "models",
                      "packet_spec", "parse_packet", "pingpong", "pmd_error", "txrx"]
