"""Session-wide fixtures. Each area keeps its fixtures in its own plugin module.

The README's test command runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup``).
Much of the suite waits rather than computes (JVMs starting, Spark applications scheduling,
DfE's validators in their own interpreter, PostgreSQL), so two workers on two cores finish
sooner than one. Which tests share a worker is decided here, not left to xdist's default:
- every module that uses one of the session's built lakes runs in one worker (group
  ``shared-lakes``), so each lake is still built once per run;
- every other module is a group of its own (its module-scoped fixtures are built once);
- the Spark-cluster module and the shared lakes are handed out first, the longest units of work,
  so that neither is left to start last.
Without xdist nothing here applies and the order is pytest's own.
"""

import pytest

pytest_plugins = [
    "tests.fixtures_spark",
    "tests.fixtures_synth",
    "tests.fixtures_lake",
    "tests.fixtures_mlflow",
    "tests.fixtures_s3",
    "tests.fixtures_cluster",
]

# The session fixtures that build a lake or a region (tests/fixtures_lake.py, fixtures_linkage.py,
# fixtures_synth.py): a module using any of them joins the one group that builds them.
SHARED_LAKE_FIXTURES = frozenset({"synth_raw", "synth_clean_raw", "built_lake", "gold_built", "models_built",
                                  "linked"})
SHARED_GROUP = "shared-lakes"


def xdist_groups(items) -> dict[str, str]:
    """{module path: its xdist group}: ``SHARED_GROUP`` for a module any of whose tests uses a
    shared lake, else the module's own path."""
    groups: dict[str, str] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        if SHARED_LAKE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            groups[module] = SHARED_GROUP
        else:
            groups.setdefault(module, module)
    return groups


def heaviest_first(items, groups: dict[str, str]) -> list:
    """The items reordered group by group: groups holding a ``cluster`` test first, then the shared
    lakes, then the rest in collection order; within a group the collection order is kept."""
    def rank(group: str) -> int:
        if any(item.get_closest_marker("cluster") for item in by_group[group]):
            return 0
        return 1 if group == SHARED_GROUP else 2

    by_group: dict[str, list] = {}
    for item in items:
        by_group.setdefault(groups[item.nodeid.split("::")[0]], []).append(item)
    order = sorted(by_group, key=rank)  # sorted() is stable: collection order within a rank
    return [item for group in order for item in by_group[group]]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks (it suffixes node ids with the group)
def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput") or config.getoption("dist", "no") != "loadgroup":
        return
    groups = xdist_groups(items)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid.split("::")[0]]))
    items[:] = heaviest_first(items, groups)
