"""The sandbox's pure parts: bwrap's argv, the paths it hides, where a pids cgroup goes,
and the two configuration keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from leviathan_core.config import ConfigError, parse_config
from leviathan_worker.pids_limit import _pids_cgroup_dirs
from leviathan_worker.sandbox import SandboxSpec, bwrap_argv, existing_hidden

CHECKOUT = Path("/ws/a1/checkout")
SCRATCH = Path("/ws/a1/scratch")
HEAD = [
    "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
    "--clearenv", "--uid", "65534", "--gid", "65534",
    "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
]  # fmt: skip
BINDS = [
    "--bind", str(CHECKOUT), str(CHECKOUT), "--bind", str(SCRATCH), str(SCRATCH),
    "--chdir", str(CHECKOUT),
]  # fmt: skip


def spec(**fields: object) -> SandboxSpec:
    return SandboxSpec(checkout=CHECKOUT, scratch=SCRATCH, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "env", "expected"),
    [
        ({}, {}, [*HEAD, *BINDS, "--", "agent", "--go"]),
        (
            {"hidden": (Path("/ws"), Path("/root"))},
            {"PATH": "/bin", "HOME": str(SCRATCH)},
            [
                *HEAD, "--tmpfs", "/ws", "--tmpfs", "/root", *BINDS[:-2],
                "--remount-ro", "/ws", "--remount-ro", "/root", *BINDS[-2:],
                "--setenv", "PATH", "/bin", "--setenv", "HOME", str(SCRATCH), "--", "agent", "--go",
            ],
        ),
        (
            {"network": True},
            {},
            [HEAD[0], HEAD[1], "--share-net", *HEAD[2:], *BINDS, "--", "agent", "--go"],
        ),
        (
            {"hidden": (Path("/run"),), "readonly": (Path("/run/resolve/resolv.conf"),)},
            {},
            [
                *HEAD, "--tmpfs", "/run",
                "--ro-bind", "/run/resolve/resolv.conf", "/run/resolve/resolv.conf",
                *BINDS[:-2], "--remount-ro", "/run", *BINDS[-2:], "--", "agent", "--go",
            ],
        ),
        (
            {"uid": 1000, "gid": 1001},
            {},
            [*HEAD[:8], "1000", "--gid", "1001", *HEAD[11:], *BINDS, "--", "agent", "--go"],
        ),
    ],
    ids=["minimal", "hide-bind-remount-env", "network", "resolv-conf-reopened", "ids"],
)  # fmt: skip
def test_bwrap_argv(fields: dict[str, object], env: dict[str, str], expected: list[str]) -> None:
    assert bwrap_argv(spec(**fields), ["agent", "--go"], env) == expected


def test_info_fd_is_passed_before_the_mounts() -> None:
    argv = bwrap_argv(spec(), ["true"], {}, bwrap="/usr/bin/bwrap", info_fd=7)
    assert argv[0] == "/usr/bin/bwrap"
    assert argv[11:13] == ["--info-fd", "7"] and argv[13] == "--ro-bind"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hidden": (Path("/"),)}, "hiding / would hide everything"),
        ({"hidden": (CHECKOUT,)}, "inside the checkout or scratch"),
        ({"hidden": (CHECKOUT / "docs",)}, "inside the checkout or scratch"),
        ({"hidden": (SCRATCH,)}, "inside the checkout or scratch"),
        ({"hidden": (Path("relative"),)}, "not absolute"),
        ({"readonly": (Path("etc/x"),)}, "not absolute"),
        ({"checkout": Path("/")}, "cannot make / writable"),
        ({"scratch": Path("tmp")}, "not absolute"),
    ],
)
def test_bwrap_argv_refuses(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bwrap_argv(SandboxSpec(**{"checkout": CHECKOUT, "scratch": SCRATCH, **fields}), [], {})  # type: ignore[arg-type]


def test_hiding_the_workspace_root_above_the_checkout_is_allowed() -> None:
    argv = bwrap_argv(spec(hidden=(Path("/ws"),)), ["true"], {})
    assert argv.index("/ws") < argv.index("--bind") < argv.index("--remount-ro")


def test_existing_hidden_resolves_dedupes_and_drops_missing_and_root(tmp_path: Path) -> None:
    (tmp_path / "ws" / "a1").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "ws")
    hidden = existing_hidden(
        [tmp_path / "link", tmp_path / "ws" / "a1", tmp_path / "missing", Path("/")]
    )
    expected = {tmp_path.resolve() / "ws", *(p for p in [Path("/run")] if p.exists())}
    assert set(hidden) == expected


MOUNTINFO_V1 = (
    "30 25 0:26 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "31 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "32 25 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
)


@pytest.mark.parametrize(
    ("mountinfo", "self_cgroup", "expected"),
    [
        (MOUNTINFO_V1, "8:pids:/\n4:memory:/x\n0::/\n", ["/sys/fs/cgroup/pids"]),
        (MOUNTINFO_V1, "8:pids:/job/7\n0::/\n", ["/sys/fs/cgroup/pids/job/7"]),
        (
            "30 25 0:26 /job /sys/fs/cgroup/pids ro - cgroup cgroup rw,pids\n",
            "8:pids:/job/7\n",
            ["/sys/fs/cgroup/pids/7"],
        ),
        ("31 25 0:27 / /m rw - cgroup cgroup rw,memory\n", "4:memory:/\n", []),
        ("", "8:pids:/\n", []),
    ],
    ids=["v1-root", "v1-nested", "v1-container-root", "no-pids-controller", "no-mount"],
)
def test_pids_cgroup_dirs(mountinfo: str, self_cgroup: str, expected: list[str]) -> None:
    # cgroup v2 dirs only count when they delegate pids; none of these paths exist here.
    assert _pids_cgroup_dirs(mountinfo, self_cgroup) == [Path(p) for p in expected]


def config(**overrides: object):  # type: ignore[no-untyped-def]
    return parse_config({"target_id": "demo", "target_repo_url": "/srv/t.git", **overrides}, "t")


def test_sandbox_keys_default_to_sandboxed_without_network() -> None:
    loaded = config()
    assert loaded.allow_unsandboxed_engine is False
    assert loaded.engine_network == []


@pytest.mark.parametrize(
    "endpoint",
    ["api.openai.com:443", "models:8080", "10.0.0.7:11434", "[::1]:8000", "A-1.b.C:65535"],
)
def test_engine_network_accepts_host_port(endpoint: str) -> None:
    assert config(engine_network=[endpoint]).engine_network == [endpoint]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["api.openai.com"], "is not host:port"),
        (["api.openai.com:0"], "is not host:port"),
        (["api.openai.com:65536"], "is not host:port"),
        (["https://api.openai.com:443"], "is not host:port"),
        (["-bad.example:443"], "is not host:port"),
        (["::1:8000"], "is not host:port"),
        (["[not-v6]:80"], "is not host:port"),
        ([":443"], "is not host:port"),
        (["host:４４３"], "is not host:port"),
        ("api.openai.com:443", "valid list"),
    ],
)
def test_engine_network_refuses_anything_else(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=f"t: key 'engine_network': .*{message}"):
        config(engine_network=value)


@pytest.mark.parametrize("value", ["true", 1, "yes"])
def test_allow_unsandboxed_engine_is_a_strict_bool(value: object) -> None:
    with pytest.raises(ConfigError, match="t: key 'allow_unsandboxed_engine': Input should be"):
        config(allow_unsandboxed_engine=value)
