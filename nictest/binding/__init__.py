"""Binding layer: move a NIC between its kernel driver and a user-space driver, and back.

Runs inside the host agent (python3 >= 3.9, standard library + pyudev, imported
lazily). Small modules, one concern each:

- drivers:  target driver names (vfio-pci / uio_pci_generic) and their kernel modules
- safety:   pure refusals over a sysfs root, before anything is written
- journal:  one atomic, fsynced JSON entry per device under /var/lib/nictest/journal
- locks:    per-device flock under /run/nictest/locks
- sysfs_write: the one function that writes sysfs (logged, os.open/os.write)
- netstate: the netdev state to save and put back (name, MAC, MTU, addresses, link)
- udev:     pyudev waits with deadlines and a sysfs fallback
- bind / restore: the lifecycle with rollback and verification
"""
from __future__ import annotations
