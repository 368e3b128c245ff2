"""Spark fixtures (owned by the engine/lake area).

- ``spark``: the embedded Sail session, started once per test session.
- ``classic_spark``: classic local Spark (JVM, ~10 s to start), only for tests
  marked ``@pytest.mark.classic``; never started otherwise.
- ``lake``: an empty ``Lake`` on the test's tmp_path, on the Sail session.
- ``assert_same_on_engines(transform, input_rows, schema)``: run a pure
  DataFrame → DataFrame function on Sail and on classic Spark and require the
  same result (use it from ``classic``-marked tests).

pyspark picks Connect or classic column builders from one process-wide switch
(see ``cslake.engine.using``). Tests run with it set for Sail; a ``classic``
test that does not also ask for ``spark`` runs with it set for classic.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import pytest

from cslake import engine


@pytest.fixture(scope="session")
def spark():
    session = engine.get_spark(engine="sail")
    yield session
    engine.stop_spark("sail")


@pytest.fixture(scope="session")
def _classic_session(delta_jars):
    # Classic local Spark is Apache Spark + Delta: its jars are fetched (once) first.
    session = engine.get_spark(engine="classic")
    _restore_default_mode()
    yield session
    engine.stop_spark("classic")


@pytest.fixture
def classic_spark(request):
    # Checked before the session fixture is requested, so an unmarked test
    # fails fast instead of paying for a JVM first.
    if request.node.get_closest_marker("classic") is None:
        pytest.fail("classic_spark starts a JVM (~10 s): mark the test @pytest.mark.classic")
    return request.getfixturevalue("_classic_session")


@pytest.fixture(autouse=True)
def _engine_mode(request):
    """Point pyspark's column builders at the engine the test uses."""
    if request.node.get_closest_marker("classic") is not None:
        request.getfixturevalue("delta_jars")  # classic Spark starts with Delta: fetch its jars once, first
    classic_only = request.node.get_closest_marker("classic") is not None and "spark" not in request.fixturenames
    if classic_only and "classic_spark" in request.fixturenames:
        with engine.using(request.getfixturevalue("classic_spark")):
            yield
    else:
        yield
    _restore_default_mode()


def _restore_default_mode() -> None:
    sail = engine._sessions.get("sail")
    if sail is not None:
        engine._set_connect_mode(True)


@pytest.fixture
def lake(tmp_path, spark):
    from cslake.lake import Lake

    return Lake(tmp_path / "lake", spark=spark)


def assert_same_on_engines(
    transform: Callable[[Any], Any],
    input_rows: Sequence[Any],
    schema: Any,
    *,
    ignore_row_order: bool = True,
    ignore_nullable: bool = True,
    **chispa_kwargs: Any,
) -> None:
    """Run ``transform`` on Sail and on classic Spark over the same input; require equal results.

    ``schema`` is required (a DDL string or StructType): inferring it would let
    the two engines disagree before the transform even runs. Nullability is
    ignored by default because engines legitimately differ in what they can
    prove non-null. Raises AssertionError (with chispa's side-by-side diff) on difference.
    """
    from chispa import assert_df_equality
    from chispa.dataframe_comparer import DataFramesNotEqualError
    from chispa.schema_comparer import SchemasNotEqualError

    sail = engine.get_spark(engine="sail")
    classic = engine.get_spark(engine="classic")
    try:
        with engine.using(classic):
            out = transform(classic.createDataFrame(list(input_rows), schema))
            classic_schema, classic_rows = out.schema, out.collect()
        with engine.using(sail):
            sail_out = transform(sail.createDataFrame(list(input_rows), schema))
            # Compare inside one session: chispa sorts with the DataFrame API.
            expected = sail.createDataFrame(classic_rows, classic_schema)
            try:
                assert_df_equality(
                    sail_out,
                    expected,
                    ignore_row_order=ignore_row_order,
                    ignore_nullable=ignore_nullable,
                    **chispa_kwargs,
                )
            except (DataFramesNotEqualError, SchemasNotEqualError) as exc:
                name = getattr(transform, "__name__", repr(transform))
                raise AssertionError(f"{name} differs between Sail (left) and classic Spark (right):{exc}") from None
    finally:
        _restore_default_mode()
