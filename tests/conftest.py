"""Session-wide fixtures. Each area keeps its fixtures in its own plugin module."""

pytest_plugins = [
    "tests.fixtures_spark",
    "tests.fixtures_synth",
    "tests.fixtures_lake",
    "tests.fixtures_mlflow",
    "tests.fixtures_s3",
    "tests.fixtures_cluster",
]
