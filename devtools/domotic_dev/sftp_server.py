"""A small real SFTP server (asyncssh) for tests and the demo: password auth, chrooted to one folder.

Run: ``python -m domotic_dev.sftp_server --root DIR --port 2222 --user u --password p --host-key KEYFILE``.
The host key is created on first use (ed25519) and its public half written to ``KEYFILE.pub``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import asyncssh


def _ensure_host_key(path: Path) -> None:
    if path.exists():
        return
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    key.write_public_key(str(path.with_suffix(".pub")))


class _PasswordServer(asyncssh.SSHServer):
    def __init__(self, user: str, password: str) -> None:
        self._user, self._password = user, password

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self._user and password == self._password


async def serve(root: Path, port: int, user: str, password: str, host_key: Path) -> None:
    _ensure_host_key(host_key)
    root.mkdir(parents=True, exist_ok=True)

    def sftp_factory(chan: asyncssh.SSHServerChannel) -> asyncssh.SFTPServer:
        return asyncssh.SFTPServer(chan, chroot=str(root).encode())

    await asyncssh.create_server(
        lambda: _PasswordServer(user, password),
        "127.0.0.1",
        port,
        server_host_keys=[str(host_key)],
        sftp_factory=sftp_factory,
        allow_scp=False,
    )
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--host-key", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.root, args.port, args.user, args.password, args.host_key))


if __name__ == "__main__":
    main()
