"""The whole Value Maturity computation gives identical results on DuckDB and on PySpark (local[2]).

The canonical tables of a small organisation with planted stages go to both engines as Parquet (the
interchange format for Spark); every derived table is computed by the same Ibis code and compared row
for row after sorting, with timestamps normalised to one unit.
"""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import maturity_fixtures as mf
from covalue import models, schema
from covalue.metrics.maturity import compute

pytestmark = pytest.mark.spark
ibis = pytest.importorskip("ibis")
pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - the machine has Java 17
    pytest.skip("PySpark needs Java", allow_module_level=True)

TABLES = ("items", "actions", "identities", "members")


@pytest.fixture(scope="module")
def parquet_dir():
    d = Path(tempfile.mkdtemp(prefix="covalue-parquet-"))
    rows = mf.rows()
    for name in TABLES:
        pq.write_table(pa.Table.from_pylist(rows[name], schema=schema.TABLES[name][0]), d / f"{name}.parquet")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _run(con, parquet_dir: Path, prefix: str) -> dict[str, pd.DataFrame]:
    tables = {
        n: con.read_parquet(str(parquet_dir / f"{n}.parquet"), table_name=f"{prefix}_{n}") for n in TABLES
    }

    def keep(name: str, expr):
        con.create_table(f"{prefix}_d_{name}", expr, overwrite=True)
        return con.table(f"{prefix}_d_{name}")

    out = compute(tables, models.load("maturity"), models.load("roles"), materialize=keep)
    return {k: v.to_pandas() for k, v in out.items()}


def _normal(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = df[c].astype("datetime64[ns]")
        elif pd.api.types.is_float_dtype(df[c]) or (
            df[c].dtype == object and df[c].map(lambda v: isinstance(v, float | Decimal)).any()
        ):
            # sums of weights may differ in the last bit between engines (addition order)
            df[c] = df[c].astype("float64").round(9)
        elif pd.api.types.is_bool_dtype(df[c]) or df[c].dtype == object:
            df[c] = df[c].astype(object).where(df[c].notna(), None)
        elif pd.api.types.is_integer_dtype(df[c]):
            df[c] = df[c].astype("int64")
    df = df.sort_values(list(df.columns), na_position="first", key=lambda s: s.astype(str)).reset_index(
        drop=True
    )
    return df


def test_duckdb_and_spark_agree(spark, parquet_dir):
    duck = _run(ibis.duckdb.connect(), parquet_dir, "t")
    sprk = _run(ibis.pyspark.connect(spark), parquet_dir, "t")
    assert set(duck) == set(sprk)
    for name in duck:
        a, b = _normal(duck[name]), _normal(sprk[name][duck[name].columns])
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=name)
    # and the results are the planted ones, on both engines
    ms = _normal(sprk["member_stages"])
    march = ms[ms.period == "2025-03"].set_index("member_id").stage.to_dict()
    assert march == {mf.mid(k): v for k, v in mf.PLANTED_MARCH.items()}
