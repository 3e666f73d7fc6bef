import copy

import pytest

from dlrepro import registry
from dlrepro.config import Params, ParamsError, deep_merge, load_params, read_params, resolve, schema_for
from tests.conftest import write_params


@pytest.fixture
def params_file(tmp_path, root):
    """write(mutate): the repository's params, mutated, as params.yaml and params/ in tmp_path."""
    (tmp_path / "workflow" / "schemas").mkdir(parents=True)
    (tmp_path / "workflow" / "schemas" / "params.schema.yaml").write_text(
        (root / "workflow" / "schemas" / "params.schema.yaml").read_text())
    raw, _ = read_params(root / "params.yaml")

    def write(mutate=None):
        data = copy.deepcopy(raw)
        if mutate:
            mutate(data)
        write_params(tmp_path, data)
        return tmp_path / "params.yaml"

    return write


def test_repository_params_are_valid(root):
    params = Params(root / "params.yaml")
    assert params.profile in ("embedded", "full")
    for variant in params.raw["mnist_mlp"]["variants"]:
        values = params.section("mnist_mlp", variant)
        assert len(values["model"]["hidden"]) == 5


def test_unknown_key_is_named_with_its_file_first(params_file):
    path = params_file(lambda d: d["mnist_mlp"]["train"].update(lerning_rate=0.1))
    with pytest.raises(ParamsError, match=r"^\S*params/mnist_mlp\.yaml: mnist_mlp\.train: unknown key 'lerning_rate'"):
        load_params(path)


def test_every_section_lives_in_its_own_file(root):
    _, files = read_params(root / "params.yaml")
    assert set(files) == set(registry.SECTIONS)
    assert all(files[s].endswith(registry.params_file(s)) for s in files)


def test_a_missing_section_file_is_named(params_file):
    path = params_file()
    (path.parent / "params" / "siamese.yaml").unlink()
    with pytest.raises(ParamsError, match=r"params file of section 'siamese' not found: .*params/siamese\.yaml"):
        load_params(path)


def test_a_section_in_the_wrong_file_is_named(params_file):
    path = params_file()
    (path.parent / "params" / "siamese.yaml").write_text("siamese: {}\ndenoise: {}\n")
    with pytest.raises(ParamsError, match=r"params/siamese\.yaml: must hold exactly the section 'siamese'"):
        load_params(path)


def test_the_schema_requires_every_registry_section(root):
    assert schema_for(root / "params.yaml")["required"] == list(registry.SECTIONS)


def test_unknown_section_in_params_yaml_is_named(params_file):
    path = params_file()
    path.write_text(path.read_text() + "runtme: {}\n")
    with pytest.raises(ParamsError, match=r"params\.yaml: \(top level\): unknown key 'runtme'"):
        load_params(path)


def test_bad_value_is_named(params_file):
    path = params_file(lambda d: d["mnist_mlp"]["train"].update(batch_size=0))
    with pytest.raises(ParamsError, match=r"mnist_mlp\.train\.batch_size"):
        load_params(path)


def test_unknown_profile_in_overrides_is_named(params_file):
    path = params_file(lambda d: d["mnist"]["profiles"].update(laptop={"source": "embedded"}))
    with pytest.raises(ParamsError, match=r"mnist\.profiles"):
        load_params(path)


def test_unknown_profile_is_refused(params_file):
    with pytest.raises(ParamsError, match="unknown profile 'gpu'"):
        Params(params_file(), profile="gpu")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_profile_then_variant_overrides(params_file):
    params = load_params(params_file())
    schema = schema_for(params_file())
    base = resolve(params, "mnist_mlp", "full", "default", schema)
    embedded = resolve(params, "mnist_mlp", "embedded", "default", schema)
    original = resolve(params, "mnist_mlp", "embedded", "original", schema)
    assert base["train"]["epochs"] == params["mnist_mlp"]["train"]["epochs"]
    assert embedded["train"]["epochs"] == params["mnist_mlp"]["profiles"]["embedded"]["train"]["epochs"]
    assert original["train"]["lr_schedule"] == "constant"
    assert original["train"]["epochs"] == params["mnist_mlp"]["profiles"]["embedded"]["variants"]["original"]["train"]["epochs"]
    assert original["train"]["lr"] == base["train"]["lr"]


def test_profile_may_not_add_a_variant(params_file):
    path = params_file(lambda d: d["mnist_mlp"]["profiles"]["embedded"].update(variants={"extra": {}}))
    with pytest.raises(ParamsError, match="unknown variant.*extra"):
        load_params(path)


def test_unknown_variant_is_named(params_file):
    params = load_params(params_file())
    with pytest.raises(ParamsError, match="unknown variant 'nope'"):
        resolve(params, "mnist_mlp", "embedded", "nope")


def test_incomplete_values_are_named(params_file):
    path = params_file(lambda d: d["mnist_mlp"]["train"].pop("lr"))
    params = load_params(path)
    with pytest.raises(ParamsError, match=r"mnist_mlp\.train\.lr: missing"):
        resolve(params, "mnist_mlp", "embedded", "default", schema_for(path))


def test_deep_merge_does_not_mutate():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = deep_merge(base, {"a": {"b": 2}, "e": 3})
    assert merged == {"a": {"b": 2, "c": [1, 2]}, "d": 1, "e": 3}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


@pytest.mark.parametrize("e", registry.EXPERIMENTS, ids=lambda e: e.section)
def test_every_key_of_an_experiment_section_reaches_a_stage(root, e):
    """A key no stage is given would be silently ignored (and a stage reading it would fail)."""
    read = {*e.keys, *e.summary_keys, *e.pretrain_keys, "variants", "profiles"}
    unread = set(Params(root / "params.yaml").raw[e.section]) - read
    assert not unread, f"{e.section}: keys {sorted(unread)} are not in registry.py's keys of any of its stages"
