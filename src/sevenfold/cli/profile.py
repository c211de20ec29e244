"""The login profile: which service to talk to and with which API token.

``sevenfold login`` writes it; every other command reads it. It holds a secret, so it
is created mode 0600 and written atomically (temp file, fsync, ``os.replace``, fsync
of the directory) so a crash never leaves half a profile. The file is versioned so a
later CLI can migrate it.

Where it lives: ``--profile-file``, else ``$SEVENFOLD_PROFILE``, else
``$XDG_CONFIG_HOME/sevenfold/profile.json`` (``~/.config`` when unset); the
environment is read when a command runs, never at import time.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sevenfold.cli.errors import AuthError, InvalidInputError
from sevenfold.cli.files import fsync_directory, write_atomically

PROFILE_VERSION = 1
PROFILE_FILE_MODE = 0o600
MAX_PROFILE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A saved server URL and token. The token never appears in ``repr``."""

    server_url: str
    token: str = field(repr=False)


def default_profile_path(environ: Mapping[str, str]) -> Path:
    """Where the profile lives when no option names it."""
    if environ.get("SEVENFOLD_PROFILE"):
        return Path(environ["SEVENFOLD_PROFILE"])
    config_home = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "sevenfold" / "profile.json"


def load_profile(path: Path) -> Profile:
    """Read a profile.

    Raises:
        AuthError: there is none (the user has not logged in).
        InvalidInputError: the file is not a profile this CLI understands.
    """
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_PROFILE_BYTES + 1)
    except FileNotFoundError as err:
        raise AuthError(
            f"not logged in (no profile at {path}); run 'sevenfold login --server URL'"
        ) from err
    if len(raw) > MAX_PROFILE_BYTES:
        raise InvalidInputError(f"{path} is too large to be a profile")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidInputError(f"{path} is not valid JSON; log in again") from err
    if not isinstance(data, dict) or data.get("version") != PROFILE_VERSION:
        raise InvalidInputError(f"{path} is not a version-1 profile; log in again")
    server_url, token = data.get("server_url"), data.get("token")
    if not isinstance(server_url, str) or not isinstance(token, str):
        raise InvalidInputError(f"{path} lacks server_url or token; log in again")
    return Profile(server_url=server_url, token=token)


def save_profile(path: Path, profile: Profile) -> None:
    """Write a profile atomically, readable only by its owner."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = json.dumps(
        {
            "version": PROFILE_VERSION,
            "server_url": profile.server_url,
            "token": profile.token,
        },
        indent=2,
    ).encode()
    write_atomically(path, body, mode=PROFILE_FILE_MODE)


def delete_profile(path: Path) -> bool:
    """Remove a profile; return whether there was one."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_directory(path.parent)
    return True
