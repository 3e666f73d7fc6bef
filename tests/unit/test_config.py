import copy

import pytest
import yaml

from dlrepro.config import Params, ParamsError, deep_merge, load_params, resolve, schema_for


@pytest.fixture
def params_file(tmp_path, root):
    (tmp_path / "workflow" / "schemas").mkdir(parents=True)
    (tmp_path / "workflow" / "schemas" / "params.schema.yaml").write_text(
        (root / "workflow" / "schemas" / "params.schema.yaml").read_text())
    raw = yaml.safe_load((root / "params.yaml").read_text())

    def write(mutate=None):
        data = copy.deepcopy(raw)
        if mutate:
            mutate(data)
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def test_repository_params_are_valid(root):
    params = Params(root / "params.yaml")
    assert params.profile in ("embedded", "full")
    for variant in params.raw["mnist_mlp"]["variants"]:
        values = params.section("mnist_mlp", variant)
        assert len(values["model"]["hidden"]) == 5


def test_unknown_key_is_named(params_file):
    path = params_file(lambda d: d["mnist_mlp"]["train"].update(lerning_rate=0.1))
    with pytest.raises(ParamsError, match=r"mnist_mlp\.train: unknown key 'lerning_rate'"):
        load_params(path)


def test_unknown_top_level_section_is_named(params_file):
    path = params_file(lambda d: d.update(mnist_mpl={}))
    with pytest.raises(ParamsError, match=r"unknown key 'mnist_mpl'"):
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
