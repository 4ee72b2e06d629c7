"""A channel to a Unix socket on the SSH server: OpenSSH's direct-streamlocal@openssh.com.

It is `ssh -L local:/remote.sock` without the local end: the server's sshd connects to
the socket as the login user and relays the channel to it, so nothing is started on the
host. paramiko opens only the channel kinds it knows (its issue #544 asks for this one),
so the open request is built here, the way Transport.open_channel builds its own:
the message layout is OpenSSH's PROTOCOL, section 2.4 (socket path, reserved string,
reserved uint32). The rest (window, data, close) is paramiko's Channel, unchanged.
"""
from __future__ import annotations

import logging
import threading
import time

import paramiko
from paramiko.common import cMSG_CHANNEL_OPEN
from paramiko.message import Message

KIND = "direct-streamlocal@openssh.com"


def open_streamlocal(transport: paramiko.Transport, path: str, timeout: float) -> paramiko.Channel:
    """A channel connected to the Unix socket `path` on the server.

    Raises paramiko.ChannelException when sshd refuses it (no such socket, permission
    denied, AllowStreamLocalForwarding no) and paramiko.SSHException when the transport
    is gone or no answer comes within `timeout`.
    """
    if not transport.active:
        raise paramiko.SSHException("SSH session not active")
    # A refusal is the caller's to report (it is often expected: no agent listens yet), so
    # paramiko's own ERROR line about it is kept off the user's terminal.
    quiet = _DropOpenFailure()
    logger = logging.getLogger(transport.get_log_channel())
    logger.addFilter(quiet)
    try:
        return _open(transport, path, timeout, quiet)
    finally:
        logger.removeFilter(quiet)


class _DropOpenFailure(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.prefix = None  # set once the channel id is known

    def filter(self, record: logging.LogRecord) -> bool:
        return self.prefix is None or not record.getMessage().startswith(self.prefix)


def _open(transport: paramiko.Transport, path: str, timeout: float, quiet: _DropOpenFailure) -> paramiko.Channel:
    with transport.lock:
        window = transport._sanitize_window_size(None)
        packet = transport._sanitize_packet_size(None)
        chanid = transport._next_channel()
        quiet.prefix = f"Secsh channel {chanid} open FAILED"
        message = Message()
        message.add_byte(cMSG_CHANNEL_OPEN)
        message.add_string(KIND)
        message.add_int(chanid)
        message.add_int(window)
        message.add_int(packet)
        message.add_string(path)
        message.add_string("")  # reserved
        message.add_int(0)      # reserved
        channel = paramiko.Channel(chanid)
        transport._channels.put(chanid, channel)
        event = transport.channel_events[chanid] = threading.Event()
        transport.channels_seen[chanid] = True
        channel._set_transport(transport)
        channel._set_window(window, packet)
    transport._send_user_message(message)
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if not transport.active:
            raise transport.get_exception() or paramiko.SSHException("SSH session ended while opening the channel")
        if time.monotonic() >= deadline:
            raise paramiko.SSHException(f"no answer to opening {path} within {timeout:g}s")
    opened = transport._channels.get(chanid)
    if opened is None:  # refused: paramiko saved the server's reason as a ChannelException
        raise transport.get_exception() or paramiko.ChannelException(0, f"{path}: refused")
    return opened
