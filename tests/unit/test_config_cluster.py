"""The three cluster parameters of the daemon: declared once, from flag, env or file."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.daemon.config import load
from controller.errors import InvalidArgument


def test_cluster_parameters_from_flag_env_and_file(tmp_path: Path) -> None:
    plain = load({}, {})
    assert (plain.cluster_store, plain.cluster_advertise, plain.cluster_store_opt) == ("", "", [])
    cfg = load(
        {
            "cluster_store": "etcd://10.0.0.5:2379,10.0.0.6:2379",
            "cluster_store_opt": ("discovery.ttl=5",),
        },
        {"HAWSER_CLUSTER_ADVERTISE": "eth0:2376"},
    )
    assert cfg.cluster_store == "etcd://10.0.0.5:2379,10.0.0.6:2379"
    assert (cfg.cluster_advertise, cfg.cluster_store_opt) == ("eth0:2376", ["discovery.ttl=5"])
    assert (cfg.sources["cluster_store"], cfg.sources["cluster_advertise"]) == ("flag", "env")
    file = tmp_path / "hawser.json"
    file.write_text('{"cluster_store": "etcd://h:1", "cluster_store_opt": ["kv.cacertfile=/ca"]}')
    from_file = load({}, {"HAWSER_CLUSTER_STORE_OPT": "kv.certfile=/c,kv.keyfile=/k"}, str(file))
    assert from_file.cluster_store == "etcd://h:1" and from_file.sources["cluster_store"] == "file"
    assert from_file.cluster_store_opt == ["kv.certfile=/c,kv.keyfile=/k"]  # env beats file
    assert load({}, {}, str(file)).cluster_store_opt == ["kv.cacertfile=/ca"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"cluster_store": "consul://h:1"},
            "invalid value 'consul://h:1' for --cluster-store (flag): unsupported cluster store",
        ),
        (
            {"cluster_advertise": "10.0.0.1:0"},
            "invalid value '10.0.0.1:0' for --cluster-advertise (flag): invalid --cluster-advertise",
        ),
        (
            {"cluster_store_opt": ("kv.nope=1",)},
            "for --cluster-store-opt (flag): unknown cluster store option 'kv.nope'",
        ),
    ],
)
def test_bad_cluster_parameters_are_refused_at_start(
    flags: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        load(flags, {})
    assert message in err.value.message and "\n" not in err.value.message
