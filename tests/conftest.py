"""Session-wide fixtures. Each area keeps its fixtures in its own plugin module."""

pytest_plugins = [
    "tests.fixtures_spark",
    "tests.fixtures_synth",
    "tests.fixtures_lake",
    "tests.fixtures_mlflow",
    "tests.fixtures_s3",
    "tests.fixtures_cluster",
]

# The README's test command runs two xdist workers, each module whole on one (--dist loadfile),
# handed out in collection order. The longest modules (each builds its own region: DfE's
# validators on a faulty region, the ten-LA East Midlands lake) go first, so that neither starts
# last while the other worker sits idle; every other module keeps its place.
LONGEST_FIRST = ("test_dfe_validators.py", "test_regions_lake.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
