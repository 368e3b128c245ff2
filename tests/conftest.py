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
# handed out in collection order. The longest modules go first, so that none starts last while
# the other worker sits idle; every other module keeps its place. Measured in the whole suite
# (worker-seconds, two workers): the Spark cluster parity ~1,150, silver of the largest file land
# admits ~400, DfE's validators on a faulty region ~360, the East Midlands lakes ~330, the
# incremental replays ~290. xdist's own default reorders modules by their number of tests (most
# first), which put the three-test cluster module, the longest, among the last: it started 26
# minutes into a 43-minute run. So that reordering is turned off under --dist loadfile.
LONGEST_FIRST = ("test_engine_parity.py", "test_land_memory.py", "test_dfe_validators.py", "test_regions_lake.py",
                 "test_incremental.py")


def pytest_configure(config):
    if getattr(config.option, "dist", "no") == "loadfile" and hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
