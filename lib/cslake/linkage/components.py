"""Connected components by label propagation over a member–key graph, in DataFrame joins.

Spark Connect has no GraphX, so components are found the way hash-to-min does it:
every member starts labelled with its own id; each round, every key takes the
smallest label of its members and every member the smallest label of its keys.
Links are member–key edges (a record and the UPN it carries), not member–member
pairs, so a key shared by n records costs n edges rather than n².

Each round is staged (Parquet) so the plan does not grow with the number of
rounds; the loop stops when no label changed, and fails loudly after
``max_iterations`` rounds rather than returning labels that are not components.
"""

from __future__ import annotations

from pyspark.sql import functions as F

from cslake import storage
from cslake.lake import scratch_copy


class NotConverged(RuntimeError):
    pass


def propagate_once(edges, labels):
    """One round (pure): labels (member, label) → (member, label, changed)."""
    key_min = (edges.join(labels, "member").groupBy("key").agg(F.min("label").alias("key_label")))
    best = edges.join(key_min, "key").groupBy("member").agg(F.min("key_label").alias("best"))
    return (labels.join(best, "member", "left")
            .select("member",
                    F.least(F.col("label"), F.coalesce(F.col("best"), F.col("label"))).alias("label"),
                    (F.coalesce(F.col("best"), F.col("label")) < F.col("label")).alias("changed")))


class Stage:
    """Parquet scratch space for one run; removed on close."""

    def __init__(self, spark, root: str):
        self.spark = spark
        self.root = root.rstrip("/")
        self._n = 0

    def put(self, df, name: str):
        self._n += 1
        path = f"{self.root}/{self._n:03d}_{name}"
        return scratch_copy(self.spark, df, path)

    def close(self) -> None:
        storage.remove_tree(self.root)  # a local folder or an s3a:// prefix


def connected_components(edges, stage: Stage, max_iterations: int = 40):
    """edges (member, key) → (member, label, rounds): label = smallest member id in the component.

    Members that appear in no edge are not returned (they are their own component).
    """
    edges = stage.put(edges.select("member", "key").dropDuplicates(), "edges")
    labels = stage.put(edges.select("member").distinct().withColumn("label", F.col("member")), "labels")
    for i in range(1, max_iterations + 1):
        nxt = stage.put(propagate_once(edges, labels), "labels")
        changed = nxt.filter(F.col("changed")).count()
        labels = nxt.select("member", "label")
        if changed == 0:
            return labels, i
    raise NotConverged(f"label propagation did not converge in {max_iterations} rounds "
                       f"(raise max_iterations in conf/linkage.yaml if the data really chains that far)")
