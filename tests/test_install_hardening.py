"""install / uninstall leave the user's own files alone: one regression test per defect found.

Real files under tmp_path, with IPYTHONDIR (the user scope) and HOME pointed there;
certificates from trustme.  Each test compares the user's content byte for byte,
and modes and symbolic links as they were, after the call.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import stat
from pathlib import Path

import pytest
import trustme

from sly_nb_tls.errors import StorageError
from sly_nb_tls.trust.install import install, scope_dir, uninstall

BEGIN = "# >>> sly_nb_tls: added by `python -m sly_nb_tls install`; `uninstall` removes it >>>"
LOAD = 'c.InteractiveShellApp.extensions.append("sly_nb_tls")'
END = "# <<< sly_nb_tls <<<"
BLOCK = f"{BEGIN}\n{LOAD}\n{END}\n".encode()
MINE = b"# my settings\nc.InteractiveShellApp.extensions.append('autoreload')\n"


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user scope's directory, under tmp_path, created (empty)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    directory = scope_dir("user")
    assert directory == tmp_path / "ipython" / "profile_default"
    directory.mkdir(parents=True)
    return directory


def ca_pem() -> bytes:
    return trustme.CA().cert_pem.bytes()


def store_name(pem: bytes) -> str:
    """The name install gives a certificate's store file, computed here from the DER."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))).hexdigest()[:16] + ".pem"


def snapshot(directory: Path) -> dict[str, tuple[str, bytes | str, int]]:
    """Every entry under `directory`: (kind, bytes or link target, permission bits); nothing followed."""
    out: dict[str, tuple[str, bytes | str, int]] = {}
    for root, dirs, names in os.walk(directory):
        for name in sorted(dirs + names):
            path = Path(root, name)
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[str(path.relative_to(directory))] = ("link", os.readlink(path), 0)
            elif stat.S_ISREG(st.st_mode):
                out[str(path.relative_to(directory))] = ("file", path.read_bytes(), stat.S_IMODE(st.st_mode))
            else:
                out[str(path.relative_to(directory))] = ("other", "", stat.S_IMODE(st.st_mode))
    return out


def one_line(exc: pytest.ExceptionInfo[StorageError]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message, message
    return message


# -- 1a: an edited block ----------------------------------------------------------------------
@pytest.mark.parametrize("edit", ["end-marker-removed", "end-marker-edited"])
def test_uninstall_refuses_an_edited_block_and_deletes_no_line_of_the_user(profile: Path, edit: str) -> None:
    config = profile / "ipython_config.py"
    config.write_bytes(MINE)
    install(ca_pem(), scope="user")
    after_mine = b"c.TerminalIPythonApp.display_banner = False\n# the rest of my own settings\n"
    replacement = b"" if edit == "end-marker-removed" else b"# <<< sly_nb_tls (end) <<<\n"
    edited = config.read_bytes().replace(END.encode() + b"\n", replacement) + after_mine
    config.write_bytes(edited)
    before = snapshot(profile)
    with pytest.raises(StorageError) as exc:
        uninstall(scope="user")
    message = one_line(exc)
    assert "delete lines 3 and 4 " in message and "uninstall changed nothing" in message, message
    assert snapshot(profile) == before
    # Deleting the lines the message names is enough: uninstall then takes the store, keeps the rest.
    lines = edited.splitlines(keepends=True)
    config.write_bytes(b"".join(lines[:2] + lines[4:]))
    uninstall(scope="user")
    assert config.read_bytes() == MINE + replacement + after_mine
    assert sorted(p.name for p in profile.iterdir()) == ["ipython_config.py"]


# -- 1b: the user's own files in the store ----------------------------------------------------
def test_uninstall_removes_only_the_store_files_install_wrote(profile: Path) -> None:
    ours, theirs = ca_pem(), ca_pem()
    install(ours, scope="user")
    store = profile / "sly_nb_tls"
    (store / "mine.pem").write_bytes(theirs)
    (store / "notes.txt").write_bytes(b"why these CAs are here\n")
    (store / "0123456789abcdef.pem").write_bytes(theirs)  # our kind of name, not our certificate
    (store / store_name(theirs)).write_bytes(theirs + ours)  # the right name, but a second certificate added
    (store / "mine.pem").chmod(0o600)
    kept = {k: v for k, v in snapshot(profile).items() if k != f"sly_nb_tls/{store_name(ours)}"}
    result = uninstall(scope="user")
    assert snapshot(profile) == {k: v for k, v in kept.items() if k != "ipython_config.py"}
    assert not (profile / "ipython_config.py").exists()  # install created it: gone with the block
    assert "did not write" in str(result) and "notes.txt" in str(result)


def test_uninstall_through_a_symlinked_store_removes_only_what_install_wrote(profile: Path, tmp_path: Path) -> None:
    """The link and the user's files in its folder stay; install's own files go, or every start would
    still trust them (the store is read through the link)."""
    shared = tmp_path / "team-cas"
    shared.mkdir()
    (shared / "team.pem").write_bytes(ca_pem())
    (profile / "sly_nb_tls").symlink_to(shared)
    (profile / "ipython_config.py").write_bytes(MINE)
    ours = ca_pem()
    install(ours, scope="user")
    before = snapshot(shared)
    assert store_name(ours) in before and "team.pem" in before
    result = uninstall(scope="user")
    assert (profile / "sly_nb_tls").is_symlink() and os.readlink(profile / "sly_nb_tls") == str(shared)
    after = snapshot(shared)
    assert after == {k: v for k, v in before.items() if k != store_name(ours)}  # the user's team.pem stays
    assert store_name(ours) in str(result) and "symbolic link" in str(result)
    assert (profile / "ipython_config.py").read_bytes() == MINE


@pytest.mark.timeout(60)
def test_uninstall_never_reads_a_fifo_or_a_device_in_the_store(profile: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    install(ca_pem(), scope="user")
    store = profile / "sly_nb_tls"
    os.mkfifo(store / "0123456789abcdef.pem")  # a read would wait for a writer for good
    (store / "fedcba9876543210.pem").symlink_to("/dev/zero")  # a read would never end
    with open(store / "00000000000000aa.pem", "wb") as fh:  # 2 MiB of zeros (sparse): past the read limit
        fh.truncate(2 << 20)
    theirs = ["00000000000000aa.pem", "0123456789abcdef.pem", "fedcba9876543210.pem"]
    before = snapshot(store)
    uninstall(scope="user")
    assert snapshot(store) == {name: before[name] for name in theirs}


# -- 2: a symlinked ipython_config.py (dotfiles), and its mode -----------------------------------
@pytest.mark.parametrize("kind", ["symlink", "plain-file"])
def test_install_edits_the_config_where_it_lives_and_keeps_its_mode(profile: Path, tmp_path: Path, kind: str) -> None:
    config = profile / "ipython_config.py"
    if kind == "symlink":
        real = tmp_path / "dotfiles" / "ipython_config.py"
        real.parent.mkdir()
        config.symlink_to("../../dotfiles/ipython_config.py")
    else:
        real = config
    real.write_bytes(MINE)
    real.chmod(0o600)
    install(ca_pem(), scope="user")
    assert real.read_bytes() == MINE + BLOCK
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    if kind == "symlink":
        assert config.is_symlink() and os.readlink(config) == "../../dotfiles/ipython_config.py"
    uninstall(scope="user")
    assert real.read_bytes() == MINE
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    if kind == "symlink":
        assert config.is_symlink() and os.readlink(config) == "../../dotfiles/ipython_config.py"
        assert sorted(p.name for p in real.parent.iterdir()) == ["ipython_config.py"]


# -- 3: the config file's encoding ------------------------------------------------------------
def test_a_latin1_config_with_a_coding_cookie_is_kept_byte_for_byte(profile: Path) -> None:
    config = profile / "ipython_config.py"
    latin1 = b"# -*- coding: latin-1 -*-\n# r\xe9glages d'Andr\xe9\nc.InteractiveShell.colors = 'Linux'\n"
    config.write_bytes(latin1)
    install(ca_pem(), scope="user")
    assert config.read_bytes() == latin1 + BLOCK
    uninstall(scope="user")
    assert config.read_bytes() == latin1


@pytest.mark.parametrize("action", ["install", "uninstall"])
def test_an_undecodable_config_is_refused_in_one_line_and_nothing_changes(profile: Path, action: str) -> None:
    config = profile / "ipython_config.py"
    broken = b"# no coding line, yet latin-1: r\xe9glages\n" + (BLOCK if action == "uninstall" else b"")
    config.write_bytes(broken)
    if action == "uninstall":
        (profile / "sly_nb_tls").mkdir()
        pem = ca_pem()
        (profile / "sly_nb_tls" / store_name(pem)).write_bytes(pem)
    assert_refused_and_unchanged(profile, action, "decode")


def assert_refused_and_unchanged(profile: Path, action: str, expected: str) -> None:
    """`install` (of a CA) or `uninstall` raises a one-line StorageError naming `expected`, and changes nothing."""
    before = snapshot(profile)
    with pytest.raises(StorageError) as exc:
        install(ca_pem(), scope="user") if action == "install" else uninstall(scope="user")
    assert expected in one_line(exc)
    assert snapshot(profile) == before


# -- 4: a file where the store folder goes ------------------------------------------------------
@pytest.mark.parametrize("action", ["install", "uninstall"])
def test_a_file_named_like_the_store_is_refused_in_one_line(profile: Path, action: str) -> None:
    config = profile / "ipython_config.py"
    config.write_bytes(MINE)
    if action == "uninstall":
        install(scope="user")  # the block, no certificates
    (profile / "sly_nb_tls").write_bytes(b"my notes about sly_nb_tls\n")
    assert_refused_and_unchanged(profile, action, "not a folder")


# -- 5: all or nothing ------------------------------------------------------------------------
@pytest.mark.parametrize("before_call", ["nothing-installed", "installed-before"])
def test_install_takes_back_its_store_files_when_the_config_cannot_be_written(
    profile: Path, tmp_path: Path, before_call: str
) -> None:
    first, second = ca_pem(), ca_pem()
    if before_call == "installed-before":
        install(first, scope="user")
        (profile / "ipython_config.py").unlink()
    # The dotfiles repository it links to is not there (not checked out): the config cannot be written.
    (profile / "ipython_config.py").symlink_to(tmp_path / "not-checked-out" / "ipython_config.py")
    before = snapshot(profile)
    with pytest.raises(StorageError) as exc:
        install(first, second, scope="user")
    assert "nothing was installed" in one_line(exc)
    assert snapshot(profile) == before
    assert not (tmp_path / "not-checked-out").exists()
