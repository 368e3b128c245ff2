"""conf/ is parsed with libyaml's safe loader when PyYAML has it: the same objects as PyYAML's
pure-Python safe loader, file by file, for every YAML file cslake ships."""

from __future__ import annotations

import pytest
import yaml

from cslake.config import conf_dir, load_yaml


def test_every_conf_file_parses_the_same_with_both_safe_loaders():
    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("this PyYAML was built without libyaml: load_yaml uses the pure-Python loader")
    root = conf_dir()
    files = sorted(root.rglob("*.yaml"))
    assert len(files) > 20
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.load(text, Loader=yaml.SafeLoader), f
        assert load_yaml(str(f.relative_to(root))) == yaml.safe_load(text), f


def test_the_c_loader_stays_safe():
    """No Python object construction from conf (CSafeLoader, not CLoader)."""
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load("!!python/object/apply:os.system ['true']", Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
