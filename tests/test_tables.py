"""Column roles and preprocessing of DataFrames (deepstack.tables)."""

import pathlib
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import skops.io

from deepstack.runs._folder import _TRUSTED_TYPES
from deepstack.tables import TablePreprocessor, infer_task


@pytest.fixture
def mixed_frame():
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "height": rng.normal(170, 10, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "member": rng.choice([True, False], n),
            "floor": rng.integers(0, 4, n),
            "city": [f"city{i % 50}" for i in range(n)],
            "comment": [f"a rather long note number {i % 7} here" for i in range(n)],
            "seen": pd.date_range("2020-01-01", periods=n, freq="D"),
            "row_id": np.arange(n),
            "constant": 1.0,
            "empty": np.nan,
        }
    )
    frame.loc[::7, "height"] = np.nan
    frame.loc[::11, "color"] = None
    y = (frame["height"].fillna(170) > 170).astype(int).to_numpy()
    return frame, y


def test_roles_are_inferred_and_dropped_columns_noted(mixed_frame):
    frame, y = mixed_frame
    pre = TablePreprocessor(drop=["seen"]).fit(frame, y)
    assert pre.roles_ == {
        "height": "numeric",
        "color": "categorical",
        "member": "categorical",
        "floor": "categorical",
        "city": "high_cardinality",
        "comment": "text",
        "seen": "dropped",
        "row_id": "dropped",
        "constant": "dropped",
        "empty": "dropped",
    }
    notes = "\n".join(pre.notes_)
    assert "'row_id' dropped: every value is distinct" in notes
    assert "'constant' dropped: it is constant" in notes
    assert "'empty' dropped: every value is missing" in notes
    # A column dropped as asked needs no note.
    assert "seen" not in notes


def test_output_is_finite_with_missing_indicator_and_standardized(mixed_frame):
    frame, y = mixed_frame
    pre = TablePreprocessor(text_components=4).fit(frame, y)
    Z = pre.transform(frame)
    names = list(pre.get_feature_names_out())
    assert Z.dtype == np.float32 and np.isfinite(Z).all()
    assert Z.shape == (120, len(names))
    assert "missingindicator_height" in names
    height = Z[:, names.index("height")]
    assert abs(height.mean()) < 1e-5 and abs(height.std() - 1) < 1e-3
    # The indicator marks exactly the rows that were missing.
    indicator = Z[:, names.index("missingindicator_height")]
    assert np.array_equal(indicator > 0, frame["height"].isna().to_numpy())
    # Missing colors are a category of their own.
    assert any(n.startswith("color_") and "nan" in n.lower() for n in names), names


def test_unknown_categories_and_missing_columns_at_predict(mixed_frame):
    frame, y = mixed_frame
    pre = TablePreprocessor(text_components=4).fit(frame, y)
    names = list(pre.get_feature_names_out())
    new = frame.head(3).copy()
    new["color"] = "purple"
    with pytest.warns(
        UserWarning,
        match=r"'color': 3 value\(s\) not seen at fit \('purple'\) are encoded "
        "as an unknown category",
    ):
        Z = pre.transform(new)
    color = [i for i, n in enumerate(names) if n.startswith("color_")]
    # An unseen category is no category: zeros (then standardized) in every
    # color column, the same as a row from none of them.
    raw = pre.scaler_.inverse_transform(Z)
    assert np.allclose(raw[:, color], 0.0, atol=1e-6)
    assert np.isfinite(Z).all()
    with pytest.raises(ValueError, match=r"\['city'\] were present at fit"):
        pre.transform(frame.drop(columns="city"))


def test_columns_dropped_at_fit_may_be_absent_later(mixed_frame):
    frame, y = mixed_frame
    pre = TablePreprocessor(text_components=4).fit(frame, y)
    dropped = ["row_id", "constant", "empty"]
    assert [pre.roles_[c] for c in dropped] == ["dropped"] * 3
    np.testing.assert_array_equal(
        pre.transform(frame.drop(columns=dropped)), pre.transform(frame)
    )


def test_missing_strings_read_alike_whatever_marks_them(tmp_path):
    # pandas' nullable strings mark missing with pd.NA (a Parquet file that
    # pandas wrote keeps them), object columns may hold None or pd.NA, a CSV
    # gives NaN: one missing value for the encoders in each case.
    n = 60
    words = [None if i % 6 == 0 else f"a few words of text {i % 4}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "color": [None if i % 5 == 0 else "rgb"[i % 3] for i in range(n)],
            "note": words,
            "size": [None if i % 7 == 0 else f"{i / 4:.2f}" for i in range(n)],
            "code": [None if i % 4 == 0 else f"k{i}" for i in range(n)],
        }
    )
    y = np.arange(n) % 2
    nullable = frame.astype("string")
    nullable.to_parquet(tmp_path / "table.parquet")
    nullable = pd.read_parquet(tmp_path / "table.parquet")
    assert nullable["color"].dtype.na_value is pd.NA
    pre = TablePreprocessor(text_components=2)
    Z = pre.fit_transform(nullable, y)
    assert pre.roles_ == {
        "color": "categorical",
        "note": "text",
        "size": "numeric",
        "code": "high_cardinality",
    }
    assert "color_nan" in pre.get_feature_names_out()
    # (fit_transform target-encodes out of fold; transform with every row.)
    read = pre.transform(nullable)
    for same in (
        frame,
        frame.astype(object).where(frame.notna(), pd.NA),
        frame.astype("str"),
    ):
        np.testing.assert_array_equal(pre.transform(same), read)
    np.testing.assert_array_equal(
        TablePreprocessor(text_components=2).fit_transform(frame.astype("str"), y), Z
    )


def test_a_csv_reads_alike_with_every_pandas_backend(tmp_path):
    # pandas reads one CSV as NumPy columns (booleans with blank cells: an
    # object column), pyarrow columns or nullable ones (pd.NA), and new rows
    # without blank cells as a bool column: every way encodes alike.
    rng = np.random.default_rng(0)
    n = 80
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], n).astype(object),
            "count": rng.integers(0, 100, n),
            "day": pd.date_range("2021-01-01", periods=n).strftime("%Y-%m-%d"),
            "flag": rng.choice([True, False], n).astype(object),
        }
    )
    frame.loc[::7, ["size", "color", "flag"]] = None
    frame.to_csv(tmp_path / "blanks.csv", index=False)
    frame.dropna().to_csv(tmp_path / "complete.csv", index=False)
    complete_rows = frame.dropna().index

    def read(name, backend):
        if backend == "numpy":
            return pd.read_csv(tmp_path / name)
        return pd.read_csv(tmp_path / name, dtype_backend=backend)

    backends = ("numpy", "pyarrow", "numpy_nullable")
    assert read("complete.csv", "numpy")["flag"].dtype == bool
    assert read("blanks.csv", "pyarrow")["color"].isna().sum() == 12
    y = np.arange(n) % 2
    fitted = {b: TablePreprocessor().fit(read("blanks.csv", b), y) for b in backends}
    reference = fitted["numpy"]
    expected = reference.transform(read("blanks.csv", "numpy"))
    for pre in fitted.values():
        assert pre.roles_ == reference.roles_ and pre.kinds_ == reference.kinds_
        assert pre.kinds_["flag"] == "bool"
        assert list(pre.get_feature_names_out()) == list(
            reference.get_feature_names_out()
        )
        for backend in backends:
            np.testing.assert_array_equal(
                pre.transform(read("blanks.csv", backend)), expected
            )
            np.testing.assert_array_equal(
                pre.transform(read("complete.csv", backend)), expected[complete_rows]
            )


def test_columns_of_other_pandas_types_are_read():
    n = 60
    frame = pd.DataFrame(
        {
            "mixed": [1, "a", 2.5, None] * 15,  # a DataFrame's object column
            "wait": pd.to_timedelta(np.arange(n) % 7, unit="h"),
            "month": pd.period_range("2020-01", periods=n, freq="M"),
            "rare": pd.arrays.SparseArray(np.where(np.arange(n) % 5 == 0, 1.5, 0.0)),
        }
    )
    pre = TablePreprocessor(min_frequency=1)
    Z = pre.fit_transform(frame, np.arange(n) % 2)
    assert pre.roles_ == {
        "mixed": "categorical",
        "wait": "numeric",
        "month": "datetime",
        "rare": "numeric",
    }
    names = list(pre.get_feature_names_out())
    assert [c for c in names if c.startswith("mixed_")] == [
        "mixed_1",
        "mixed_2.5",
        "mixed_a",
        "mixed_nan",
    ]
    assert "month_year" in names and "month_month" in names
    seconds = (np.arange(n) % 7) * 3600.0
    standardized = (seconds - seconds.mean()) / seconds.std()
    np.testing.assert_allclose(Z[:, names.index("wait")], standardized, atol=1e-6)
    np.testing.assert_array_equal(pre.transform(frame), Z)


def test_a_large_tables_roles_are_those_of_its_whole_columns():
    # Above 2,000 values a sample rejects columns of words before the whole
    # column is read as numbers; the roles are the whole columns' roles.
    rng = np.random.default_rng(0)
    n = 3000
    amount = rng.normal(100, 10, n).round(2).astype(str).astype(object)
    amount[rng.random(n) < 0.05] = "?"
    mostly = amount.copy()
    mostly[rng.random(n) < 0.3] = "word"
    frame = pd.DataFrame(
        {
            "amount": amount,
            "mostly": mostly,  # 70% numbers: not a number column
            "word": rng.choice(["red", "green"], n),
            "note": [f"several words in note {i % 9}" for i in range(n)],
        }
    )
    pre = TablePreprocessor()
    pre.fit(frame, rng.integers(0, 2, n))
    assert pre.roles_ == {
        "amount": "numeric",
        "mostly": "high_cardinality",
        "word": "categorical",
        "note": "text",
    }


def test_infinite_values_are_missing_with_a_note():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "z": rng.normal(size=40)})
    frame.loc[[3, 7], "x"] = [np.inf, -np.inf]
    y = rng.integers(0, 2, 40)
    pre = TablePreprocessor()
    Z = pre.fit_transform(frame, y)
    assert pre.notes_ == [
        "column 'x': 2 value(s) that are not finite numbers ('inf', '-inf') are "
        "treated as missing"
    ]
    # Exactly as missing values: imputed, with the missing-value indicator.
    missing = frame.assign(x=frame["x"].replace([np.inf, -np.inf], np.nan))
    np.testing.assert_array_equal(Z, TablePreprocessor().fit_transform(missing, y))
    with pytest.warns(UserWarning, match="'x': 2 value.* not finite numbers"):
        np.testing.assert_array_equal(pre.transform(frame), Z)


def test_numbers_beyond_float32_and_booleans_where_numbers_were_are_noted():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "z": rng.normal(size=40)})
    y = rng.integers(0, 2, 40)
    pre = TablePreprocessor().fit(frame, y)
    # 1e39 is infinite in float32, the network's inputs: missing, as inf.
    huge = frame.assign(x=frame["x"].where(frame.index != 3, 1e39))
    with pytest.warns(UserWarning, match=r"'x': 1 value.* within float32's range"):
        Z = pre.transform(huge)
    np.testing.assert_array_equal(Z, pre.transform(huge.replace(1e39, np.nan)))
    # Booleans where numbers were: 1 and 0, said.
    flags = frame.assign(x=frame["x"] > 0)
    with pytest.warns(UserWarning, match=r"'x': 40 value.* booleans .* 1 and 0"):
        Z = pre.transform(flags)
    np.testing.assert_array_equal(Z, pre.transform(flags.astype({"x": float})))


def test_dates_where_numbers_or_booleans_were_are_missing_and_noted():
    # A Parquet timestamp or datetime64 column where the column held numbers
    # (a year, an amount) was read as its nanoseconds since 1970, silently;
    # one of few values (a category) stopped skrub's encoder.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=40),
            "year": rng.choice([2007, 2008, 2009], 40),
            "flag": rng.random(40) > 0.5,
        }
    )
    pre = TablePreprocessor().fit(frame, rng.integers(0, 2, 40))
    assert pre.roles_["year"] == "categorical"
    for column, held in [("x", "numbers"), ("year", "numbers"), ("flag", "booleans")]:
        dates = frame.assign(**{column: pd.Timestamp("2020-01-01")})
        dates.loc[3, column] = pd.NaT
        with pytest.warns(UserWarning) as caught:
            Z = pre.transform(dates)
        assert [str(w.message) for w in caught] == [
            f"Column '{column}': 39 value(s) that are dates where the column held "
            f"{held} at fit ('2020-01-01') are treated as missing."
        ]
        blank = frame.assign(**{column: np.nan})
        np.testing.assert_array_equal(Z, pre.transform(blank))


def test_dates_written_as_strings_are_dates():
    # A CSV's dates are strings: one a day is no identifier, and a date
    # after the training rows is no unknown category.
    days = pd.date_range("2021-03-01", periods=60, freq="D")
    frame = pd.DataFrame(
        {
            "day": days.strftime("%Y-%m-%d"),
            "stamp": days.strftime("%d/%m/%Y 13:%M"),
            "label": np.where(np.arange(60) % 2 == 0, "2021-01-01", "x"),
            "code": [f"c{i}" for i in range(60)],
        }
    )
    frame.loc[4, "day"] = None
    pre = TablePreprocessor().fit(frame, np.arange(60) % 2)
    assert pre.roles_ == {
        "day": "datetime",
        "stamp": "datetime",
        "label": "categorical",
        "code": "dropped",
    }
    names = list(pre.get_feature_names_out())
    for feature in ("year", "month", "day", "weekday", "total_seconds"):
        assert f"day_{feature}" in names
    assert "stamp_hour" in names and "missingindicator_day_year" in names
    later = pd.DataFrame(
        {
            "day": ["2024-07-06", "not a date"],
            "stamp": ["06/07/2024 13:00", "07/07/2024 13:00"],
            "label": ["x", "x"],
            "code": ["c1", "c2"],
        }
    )
    with pytest.warns(UserWarning, match=r"'day': 1 value\(s\) that are not dates"):
        Z = pre.transform(later)
    assert np.isfinite(Z).all()
    raw = pre.scaler_.inverse_transform(Z)
    row = dict(zip(names, raw[0].round(3)))
    # 6 July 2024, a Saturday (skrub counts Monday as 1), parsed with the
    # format the training rows showed (day first for "stamp").
    assert (row["day_year"], row["day_month"], row["day_day"]) == (2024, 7, 6)
    assert row["day_weekday"] == 6 and row["stamp_day"] == 6
    assert row["stamp_month"] == 7 and row["stamp_hour"] == 13
    # A value that is no date is missing: imputed and flagged.
    assert raw[1, names.index("missingindicator_day_year")].round(3) == 1
    assert pre.date_formats_ == {"day": "%Y-%m-%d", "stamp": "%d/%m/%Y %H:%M"}


def test_codes_and_times_of_digits_are_no_years():
    # Codes with leading zeros stay strings ("0111": an industry code, "0830":
    # a time of day); "%Y" would read them, and "1311", as years.
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(
        {
            "sic": rng.choice(["0111", "1311", "7372", "0721", "2011"], n),
            "dep_time": rng.choice(["0830", "0500", "1100", "1745", "2130"], n),
            "postcode": rng.choice(["0800", "0200", "2600", "3000"], n),
            # Digits that are year, month and day are dates.
            "day": [f"{d:%Y%m%d}" for d in pd.date_range("2023-12-01", periods=n)],
        }
    )
    frame.loc[0, "day"] = "01012024"  # a leading zero: a string column
    pre = TablePreprocessor().fit(frame, np.arange(n) % 2)
    assert pre.roles_ == {
        "sic": "categorical",
        "dep_time": "categorical",
        "postcode": "categorical",
        "day": "datetime",
    }
    assert pre.date_formats_ == {"day": "%Y%m%d"}
    # Year, month and day of years no table holds ("0830" then "0101") are
    # codes too.
    codes = pd.DataFrame({"code": [f"0{i % 3}{i % 2}10101" for i in range(n)]})
    pre = TablePreprocessor().fit(codes, np.arange(n) % 2)
    assert pre.roles_["code"] != "datetime"


def test_iso_dates_read_in_a_column_of_another_format():
    n = 30
    days = pd.date_range("2020-01-01", periods=n)
    frame = pd.DataFrame({"d": days.strftime("%d/%m/%Y"), "x": np.arange(n) * 1.0})
    pre = TablePreprocessor().fit(frame, np.arange(n) % 2)
    later = pd.DataFrame({"d": ["2020-03-05T10:00:00", "05/03/2020"], "x": [0.0, 1.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing lost: no note
        Z = pre.transform(later)
    names = list(pre.get_feature_names_out())
    raw = pre.scaler_.inverse_transform(Z)
    assert raw[:, names.index("d_day")].round(3).tolist() == [5, 5]
    assert raw[:, names.index("d_month")].round(3).tolist() == [3, 3]


def test_a_guessed_order_of_day_and_month_is_noted():
    # Days never above 12: month first is a guess, noted at fit; a day of 13
    # decides, and a year first (ISO) is no guess.
    n = 24
    rng = np.random.default_rng(0)
    either = [f"{1 + i % 12:02d}/{1 + (i * 5) % 12:02d}/2024" for i in range(n)]
    decided = either[:-1] + ["01/13/2024"]
    iso = [f"2024-{1 + i % 12:02d}-{1 + (i * 5) % 12:02d}" for i in range(n)]
    y = rng.integers(0, 2, n)
    for dates, noted in ((either, True), (decided, False), (iso, False)):
        pre = TablePreprocessor().fit(pd.DataFrame({"d": dates, "x": y * 1.0}), y)
        assert pre.roles_["d"] == "datetime"
        notes = [n for n in pre.notes_ if "either way" in n]
        assert len(notes) == int(noted)
    (note,) = [
        n
        for n in TablePreprocessor()
        .fit(pd.DataFrame({"d": either, "x": y * 1.0}), y)
        .notes_
        if "either way" in n
    ]
    # Rows whose day equals their month read alike either way.
    alike = sum(d[:2] == d[3:5] for d in either)
    assert note.startswith(f"column 'd': {n - alike} value(s)")
    assert "month first ('%m/%d/%Y')" in note
    # Dates at fit (a Parquet column), strings in new rows: their own
    # format's guess is noted, and the values read month first.
    days = pd.date_range("2024-01-01", periods=n, freq="7D")
    pre = TablePreprocessor().fit(pd.DataFrame({"d": days, "x": y * 1.0}), y)
    later = pd.DataFrame({"d": ["03/04/2024", "05/06/2024"], "x": [0.0, 1.0]})
    with pytest.warns(UserWarning, match=r"'d': 2 value\(s\) .* either way"):
        Z = pre.transform(later)
    names = list(pre.get_feature_names_out())
    raw = pre.scaler_.inverse_transform(Z)
    assert raw[0, names.index("d_month")].round(3) == 3
    assert raw[0, names.index("d_day")].round(3) == 4


def test_times_without_a_zone_where_the_column_had_zones_are_noted():
    n = 24
    y = np.arange(n) % 2
    days = pd.date_range("2024-01-01 10:00", periods=n, freq="7D")
    zoned = pd.DataFrame({"d": days.tz_localize("Europe/Paris"), "x": y * 1.0})
    pre = TablePreprocessor().fit(zoned, y)
    assert pre.zoned_dates_ == ["d"]
    match = r"'d': 2 value\(s\) that have no time zone .* are read as UTC"
    for naive in (days[:2], days[:2].strftime("%Y-%m-%d %H:%M")):
        with pytest.warns(UserWarning, match=match):
            Z = pre.transform(pd.DataFrame({"d": naive, "x": [0.0, 1.0]}))
        # Read as UTC: 10:00, where Paris's 10:00 at fit was 09:00 UTC.
        names = list(pre.get_feature_names_out())
        hour = pre.scaler_.inverse_transform(Z)[0, names.index("d_hour")]
        assert hour.round(3) == 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pre.transform(zoned.iloc[:2])
        # No time at all: nothing to say of zones.
        blank = pd.Series([pd.NaT, pd.NaT], dtype="M8[ns]")
        pre.transform(pd.DataFrame({"d": blank, "x": [0.0, 1.0]}))
    offsets = [f"{d:%Y-%m-%d %H:%M}+02:00" for d in days]
    pre = TablePreprocessor().fit(pd.DataFrame({"d": offsets, "x": y * 1.0}), y)
    assert pre.zoned_dates_ == ["d"]
    naive = TablePreprocessor().fit(pd.DataFrame({"d": days, "x": y * 1.0}), y)
    assert naive.zoned_dates_ == []


def test_numbers_written_with_missing_markers_are_numbers():
    # A CSV column of numbers with "?" for missing values is read as strings.
    rng = np.random.default_rng(0)
    weight = rng.normal(70, 10, 100).round(1).astype(str).astype(object)
    weight[::10] = "?"
    frame = pd.DataFrame(
        {
            "weight": weight,
            "zip": [f"0{z}" for z in rng.integers(1000, 1100, 100)],
            "rating": rng.choice(["1", "2", "3", "?"], 100),
            "height": rng.normal(170, 10, 100),
            # As a spreadsheet writes money and shares.
            "price": [f"${v:,.2f}" for v in rng.uniform(-100, 5000, 100)],
            "share": [f"{v}%" for v in rng.integers(0, 100, 100)],
        }
    )
    pre = TablePreprocessor().fit(frame, np.arange(100) % 2)
    assert pre.roles_ == {
        "weight": "numeric",
        # Leading zeros make codes; few integer values make categories.
        "zip": "high_cardinality",
        "rating": "categorical",
        "height": "numeric",
        "price": "numeric",
        "share": "numeric",
    }
    assert pre.notes_ == [
        "column 'weight': 10 value(s) that are not numbers ('?') are treated as missing"
    ]
    names = list(pre.get_feature_names_out())
    with pytest.warns(UserWarning, match=r"'weight': 1 value\(s\) .* \('\?'\)"):
        raw = pre.scaler_.inverse_transform(pre.transform(frame.head(2)))
    assert raw[0, names.index("missingindicator_weight")].round(3) == 1
    assert raw[1, names.index("weight")].round(3) == float(weight[1])
    price = float(frame["price"][1].replace("$", "").replace(",", ""))
    assert raw[1, names.index("price")] == pytest.approx(price, abs=1e-2)
    assert raw[1, names.index("share")].round(3) == int(frame["share"][1][:-1])
    # At predict time a value that is no number is missing, with a warning
    # naming the column, even in a column that was numbers at fit.
    new = frame.head(3).astype({"height": object})
    new.loc[:, "weight"] = "70.5"
    new.loc[1, "height"] = "tall"
    with pytest.warns(UserWarning, match=r"'height': 1 value\(s\) .* \('tall'\)"):
        raw = pre.scaler_.inverse_transform(pre.transform(new))
    median = float(np.median(frame["height"]))
    assert raw[1, names.index("height")] == pytest.approx(median, abs=1e-3)
    assert raw[2, names.index("height")] == pytest.approx(frame["height"][2], abs=1e-3)


def test_new_rows_read_as_other_types_are_read_as_at_fit(mixed_frame):
    # A CSV of new rows makes its own types: a column of blank cells is a
    # float, one value that is no number makes a column of strings.
    frame, y = mixed_frame
    frame = frame.astype({"color": "str", "city": "str", "comment": "str"})
    pre = TablePreprocessor(text_components=4).fit(frame, y)
    new = frame.iloc[1:5]
    expected = pre.transform(new)
    for column in pre.kinds_:
        blank = pre.transform(new.assign(**{column: np.nan}))
        assert np.isfinite(blank).all(), column
    retyped = new.assign(
        height=[str(v) for v in new["height"][:3]] + ["tall"],
        floor=[str(v) for v in new["floor"][:3]] + ["x"],
        member=[str(v) for v in new["member"][:3]] + ["maybe"],
        seen=list(new["seen"].dt.strftime("%Y-%m-%d")[:3]) + ["soon"],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Z = pre.transform(retyped)
    messages = sorted(str(w.message) for w in caught)
    assert messages == [
        f"Column '{name}': 1 value(s) that are not {what} ('{value}') are "
        "treated as missing."
        for name, what, value in sorted(
            [
                ("floor", "numbers", "x"),
                ("height", "numbers", "tall"),
                ("member", "booleans", "maybe"),
                ("seen", "dates", "soon"),
            ]
        )
    ]
    assert np.allclose(Z[:3], expected[:3])
    names = list(pre.get_feature_names_out())
    raw = pre.scaler_.inverse_transform(Z)
    assert raw[3, names.index("missingindicator_height")].round(3) == 1
    # Numbers in a column of strings are the strings a CSV would hold.
    colors = new.assign(color=[np.nan, 1.0, 2.0, np.nan])
    assert pre.kinds_["color"] == "string"
    with pytest.warns(UserWarning, match=r"2 value\(s\) not seen at fit \('1', '2'\)"):
        assert np.isfinite(pre.transform(colors)).all()
    # An integer category read as a float is the same category.
    floors = pre.transform(new.assign(floor=new["floor"].astype(float)))
    assert np.allclose(floors, expected)


def test_bad_frames_are_refused():
    with pytest.raises(TypeError, match="needs a pandas DataFrame"):
        TablePreprocessor().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="no rows"):
        TablePreprocessor().fit(pd.DataFrame({"a": []}))
    with pytest.raises(ValueError, match=r"\['nope'\] named in drop"):
        TablePreprocessor(drop=["nope"]).fit(pd.DataFrame({"a": [1.0, 2.0]}))
    frame = pd.DataFrame({"a": [1.0] * 30, "b": [np.nan] * 30})
    with pytest.raises(ValueError, match="No usable feature column"):
        TablePreprocessor().fit(frame)


def test_distinct_integers_are_an_identifier_by_name_or_as_row_numbers():
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            # Counts that happen to be distinct: numbers.
            "population": rng.choice(10**6, size=n, replace=False) + 10**5,
            # Random identifiers, named as such.
            "PassengerId": rng.choice(10**7, size=n, replace=False),
            "order_no": rng.choice(10**7, size=n, replace=False),
            # Row numbers of the rows a split kept (shuffled, gaps).
            "row": rng.permutation(int(n * 1.25))[:n],
            # A yearly series' years (plotnine's huron): consecutive, a feature.
            "year": 1800 + rng.permutation(n),
            "x": rng.normal(size=n),
        }
    )
    pre = TablePreprocessor().fit(frame, rng.integers(0, 2, n))
    assert pre.roles_ == {
        "population": "numeric",
        "PassengerId": "dropped",
        "order_no": "dropped",
        "row": "dropped",
        "year": "numeric",
        "x": "numeric",
    }


def test_forced_categorical_and_high_cardinality_needs_y():
    frame = pd.DataFrame(
        {"code": np.arange(40) % 20 * 10.5, "name": [f"n{i % 15}" for i in range(40)]}
    )
    pre = TablePreprocessor(categorical=["code"], cardinality_threshold=10)
    pre.fit(frame, np.arange(40) % 2)
    assert pre.roles_ == {"code": "categorical", "name": "high_cardinality"}
    with pytest.raises(ValueError, match="needs y at fit"):
        TablePreprocessor(cardinality_threshold=10).fit(frame)


@pytest.mark.parametrize("as_ints", [False, True])
def test_a_whole_number_regression_target_is_encoded_as_continuous(as_ints):
    """Prices in whole numbers: scikit-learn's "auto" takes them for classes
    and target-encodes a high-cardinality column into a column per distinct
    price; read as the main job reads them (continuous), into one column,
    the cross-fitted mean."""
    rng = np.random.default_rng(0)
    city = rng.choice([f"city{i}" for i in range(50)], size=400)
    level = {f"city{i}": 1000.0 * i for i in range(50)}
    price = np.array([level[c] for c in city]) + rng.integers(0, 50, 400) * 100.0
    price = price.astype(int) if as_ints else price
    frame = pd.DataFrame({"city": city, "rooms": rng.integers(1, 6, 400) * 1.5})
    as_classes = TablePreprocessor(target_type="multiclass").fit(frame, price)
    assert as_classes.roles_["city"] == "high_cardinality"
    assert as_classes.target_type_ == "multiclass"
    assert as_classes.transform(frame).shape[1] > 100
    for pre in (TablePreprocessor(), TablePreprocessor(target_type="continuous")):
        pre.fit(frame, price)
        assert pre.target_type_ == "continuous"
        Z = pre.transform(frame)
        assert Z.shape[1] == 2  # city's encoding and rooms, both standardized
        # The encoding follows the city's mean price (rank correlation ~1).
        encoded = pd.Series(Z[:, 0]).groupby(city).mean()
        means = pd.Series(price).groupby(city).mean()
        assert encoded.corr(means, method="spearman") > 0.99
    # Few whole numbers are classes, as for the main job; no high-cardinality
    # column, no target type.
    grades = np.arange(400) % 3
    assert TablePreprocessor().fit(frame, grades).target_type_ == "multiclass"
    assert TablePreprocessor().fit(frame, grades % 2).target_type_ == "binary"
    assert TablePreprocessor().fit(frame[["rooms"]], price).target_type_ is None


@pytest.mark.parametrize(
    ("target_type", "n_classes"), [("multiclass", 2), ("binary", 3), ("binary", 1)]
)
def test_a_target_type_that_does_not_fit_y_is_refused(target_type, n_classes):
    """TargetEncoder failed with an IndexError on a binary y read as
    multiclass, and encoded the mean of the codes 0, 1, 2 of a three-class y
    read as binary."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"city": [f"c{i % 60}" for i in range(300)]})
    y = np.arange(300) % n_classes
    pre = TablePreprocessor(target_type=target_type)
    with pytest.raises(ValueError, match=rf"holds {n_classes} distinct value"):
        pre.fit(frame, y)
    # y of the right kind is encoded (a column per class beyond binary).
    y = rng.integers(0, 2 if target_type == "binary" else 3, 300)
    assert pre.fit(frame, y).transform(frame).shape[1] == (
        1 if target_type == "binary" else 3
    )


def test_a_regression_run_encodes_its_target_as_continuous(tmp_path):
    rng = np.random.default_rng(1)
    city = rng.choice([f"c{i}" for i in range(45)], size=300)
    frame = pd.DataFrame(
        {
            "city": city,
            "size": rng.normal(size=300),
            "price": [float(int(c[1:]) * 1000 + rng.integers(0, 9) * 10) for c in city],
        }
    )
    from deepstack.runs import fit_table

    run = fit_table(
        frame,
        "price",
        params={"hidden_layer_sizes": (8,), "max_epochs": 2},
        bagging=None,
        baselines=False,
        progress=False,
    )
    assert run.task == "regression"
    # One input a column (not one a distinct price for the city).
    assert run.config["n_network_inputs"] == 2
    assert run.pipeline[0].target_type == "continuous"
    # Asked to read 25 whole numbers as classes (the values alone would make
    # them a regression), the run encodes the city per class.
    frame["grade"] = [int(c[1:]) % 25 for c in city]
    run = fit_table(
        frame.drop(columns="price"),
        "grade",
        task="multiclass",
        params={"hidden_layer_sizes": (8,), "max_epochs": 2},
        bagging=None,
        baselines=False,
        progress=False,
    )
    assert run.task == "multiclass"
    assert run.pipeline[0].target_type_ == "multiclass"
    assert run.config["n_network_inputs"] == 25 + 1


def test_skops_round_trip_transforms_identically(mixed_frame, tmp_path):
    frame, y = mixed_frame
    pre = TablePreprocessor(text_components=4).fit(frame, y)
    path = tmp_path / "pre.skops"
    skops.io.dump(pre, path)
    loaded = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    assert np.array_equal(loaded.transform(frame), pre.transform(frame))


@pytest.mark.parametrize(
    "values, task",
    [
        (["a", "b", "a"], "binary"),
        (["a", "b", "c", "a"], "multiclass"),
        ([True, False, True], "binary"),
        ([0.5, 1.25, 3.0, 2.0], "regression"),
        ([1.0, 2.0, 1.0, 2.0, 1.0, 2.0], "binary"),
        (list(range(100)), "regression"),
        ([0, 1, 2, 3] * 10, "multiclass"),
    ],
)
def test_infer_task(values, task):
    assert infer_task(values) == task


def test_infer_task_refuses_an_empty_target():
    with pytest.raises(ValueError, match="no values"):
        infer_task([np.nan, None])


LEGACY = pathlib.Path(__file__).parent / "data" / "legacy_preprocessor"


def _legacy_frame():
    """The frame of data/legacy_preprocessor (booleans in three forms,
    strings, categories, nullable integers, money, date strings, text)."""
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "flag": pd.array(rng.choice([True, False], n), dtype="boolean"),
            "b": rng.choice([True, False], n),
            "o": pd.Series(rng.choice([True, False], n), dtype=object),
            "s_obj": pd.Series(rng.choice(["a", "b", "c"], n), dtype=object),
            "s_str": rng.choice(["u", "v"], n),
            "cat": pd.Categorical(rng.choice(["p", "q"], n)),
            "nint": pd.array(rng.integers(0, 5, n), dtype="Int64"),
            "money": [f"${v:,.2f}" for v in rng.uniform(0, 5000, n)],
            "day": pd.date_range("2020-01-01", periods=n).strftime("%d/%m/%Y"),
            "note": [f"some words here {i % 5}" for i in range(n)],
            "hc": [f"k{i % 50}" for i in range(n)],
            "ints": rng.integers(0, 4, n),
        }
    )
    frame.loc[3, "flag"] = pd.NA
    frame.loc[4, "o"] = None
    frame.loc[5, "s_obj"] = None
    frame.loc[6, "nint"] = pd.NA
    frame.loc[7, "money"] = "?"
    return frame, np.arange(n) % 2


def test_a_preprocessor_saved_by_an_earlier_version_reads_rows_as_it_did():
    path = LEGACY / "preprocessor.skops"
    untrusted = skops.io.get_untrusted_types(file=path)
    # A run folder holding it loads: load_run names each of its types.
    assert set(untrusted) <= _TRUSTED_TYPES
    pre = skops.io.load(path, trusted=untrusted)
    frame, _ = _legacy_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the "?" in 'money', as at fit
        Z = pre.transform(frame)
    np.testing.assert_array_equal(Z, np.load(LEGACY / "expected.npy"))


def test_numbers_bypass_the_vectorizer_and_read_as_before():
    # The legacy file's matrix was made with every column going through
    # skrub's vectorizer; numbers now go straight to the imputer and the
    # scaler, and the matrix is the same up to float32 rounding (the
    # scaler now standardizes in float64, and a date's seconds are no longer
    # rounded to float32's steps of 128 s first: 2e-5 standard deviations).
    frame, y = _legacy_frame()
    # (Its nullable integers with a missing value were a category then; they
    # are numbers now, as NumPy's reader makes them floats.)
    assert TablePreprocessor().fit(frame, y).roles_["nint"] == "numeric"
    pre = TablePreprocessor(categorical=["nint"]).fit(frame, y)
    assert pre.numeric_columns_ == ["x", "money"]
    assert not {"x", "money"} & set(pre.vectorizer_.feature_names_in_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the "?" in 'money'
        Z = pre.transform(frame)
    np.testing.assert_allclose(Z, np.load(LEGACY / "expected.npy"), rtol=0, atol=3e-5)
    names, sources = pre.get_feature_names_out(), pre.get_feature_sources()
    assert len(names) == len(sources) == Z.shape[1]
    assert [n for n, s in zip(names, sources) if s == "money"] == [
        "money",
        "missingindicator_money",
    ]
    assert [n for n, s in zip(names, sources) if s == "day"][:2] == [
        "day_year",
        "day_month",
    ]


def test_a_wide_table_of_numbers_saves_small_and_reads_back(tmp_path):
    # Through skrub's per-column steps, a saved 200-column table was 84 MB,
    # and one categorical column 3 MB: skops writes an object again wherever
    # it is referenced, and each of skrub's steps refers to those before it.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        rng.normal(size=(40, 300)), columns=[f"g{i}" for i in range(300)]
    )
    frame.iloc[0, 5] = np.nan
    y = rng.integers(0, 2, 40)
    for extra in ({}, {"site": rng.choice(["a", "b"], 40)}):
        table = frame.assign(**extra)
        pre = TablePreprocessor().fit(table, y)
        assert (pre.vectorizer_ is None) == (not extra)
        path = tmp_path / "pre.skops"
        skops.io.dump(pre, path)  # uncompressed
        assert path.stat().st_size < 2_000_000
        loaded = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
        if extra:
            # Saving left the fitted vectorizer whole; loading restored it.
            for vectorizer in (pre.vectorizer_, loaded.vectorizer_):
                assert list(vectorizer._named_encoders) == [
                    "numeric",
                    "datetime",
                    "low_cardinality",
                    "high_cardinality",
                ]
                stages = [
                    *vectorizer._preprocessors,
                    *vectorizer._encoders,
                    *vectorizer._specific_transformers,
                    *vectorizer._postprocessors,
                ]
                steps = [step for _, step in vectorizer._pipeline.steps]
                assert all(a is b for a, b in zip(stages, steps, strict=True))
            _same_views(pre.vectorizer_, loaded.vectorizer_)
        Z = loaded.transform(table)
        np.testing.assert_array_equal(Z, pre.transform(table))
        assert Z.shape == (40, 300 + 2 * bool(extra) + 1)  # + g5's missing flag
        expected = (table["g7"] - table["g7"].mean()) / table["g7"].std(ddof=0)
        np.testing.assert_allclose(Z[:, 7], expected, rtol=1e-4, atol=1e-5)


def _same_views(fitted, loaded):
    """The loaded vectorizer's per-column views (rebuilt, not saved) match
    the fitted one's and point at its own fitted steps."""
    assert loaded.input_to_outputs_ == fitted.input_to_outputs_
    assert list(loaded.transformers_) == list(fitted.transformers_)
    kinds = {
        c: [type(t).__name__ for t in steps]
        for c, steps in fitted.all_processing_steps_.items()
    }
    assert kinds == {
        c: [type(t).__name__ for t in steps]
        for c, steps in loaded.all_processing_steps_.items()
    }
    own = {
        id(t)
        for step in loaded._specific_transformers + loaded._encoders
        for t in step.transformers_.values()
    }
    assert {id(t) for t in loaded.transformers_.values()} <= own


def test_many_categorical_columns_save_each_fitted_step_once(tmp_path):
    # skrub lists each column's fitted encoder by stage and again by column:
    # saved as is, 100 three-valued columns took 10.7 MB.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"c{i}": rng.choice(["a", "b", "c"], 40) for i in range(100)})
    pre = TablePreprocessor(min_frequency=1).fit(frame, rng.integers(0, 2, 40))
    path = tmp_path / "pre.skops"
    skops.io.dump(pre, path)  # uncompressed
    assert path.stat().st_size < 8_000_000
    loaded = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    _same_views(pre.vectorizer_, loaded.vectorizer_)
    assert loaded.vectorizer_.transformers_["c3"].categories_[0].tolist() == [
        "a",
        "b",
        "c",
    ]
    Z = loaded.transform(frame)
    assert Z.shape == (40, 300)
    np.testing.assert_array_equal(Z, pre.transform(frame))


def test_encoded_features_named_as_a_numeric_column_stay_distinct():
    frame = pd.DataFrame({"color": ["red", "blue"] * 20, "color_red": np.arange(40.0)})
    pre = TablePreprocessor().fit(frame, np.arange(40) % 2)
    names = list(pre.get_feature_names_out())
    assert len(set(names)) == len(names)
    assert dict(zip(names, pre.get_feature_sources())) == {
        "color_blue": "color",
        "color_red_encoded": "color",
        "color_red": "color_red",
    }


def test_long_tailed_numbers_are_read_on_a_log_scale():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            # Populations: a long right tail over orders of magnitude.
            "population": np.round(np.exp(rng.normal(8, 1.5, n))),
            # Skewed but bounded (mostly zeros, the largest 4x the median
            # positive value: a digit's pixel), and symmetric: as they are.
            "pixel": np.where(rng.random(n) < 0.9, 0.0, rng.integers(1, 17, n)),
            "height": rng.normal(170, 10, n),
        }
    )
    y = rng.integers(0, 2, n)
    pre = TablePreprocessor().fit(frame, y)
    positive = frame["population"][frame["population"] > 0]
    assert pre.log_scales_ == {"population": pytest.approx(positive.median())}
    Z = pre.transform(frame)
    logged = np.log1p(frame["population"] / positive.median())
    expected = (logged - logged.mean()) / logged.std(ddof=0)
    np.testing.assert_allclose(Z[:, 0], expected, rtol=1e-4, atol=1e-4)
    plain = (frame["pixel"] - frame["pixel"].mean()) / frame["pixel"].std(ddof=0)
    np.testing.assert_allclose(Z[:, 1], plain, rtol=1e-4, atol=1e-4)
    # A value below zero in new rows: the mirror image, still a number.
    new = frame.head(2).assign(population=[-positive.median(), 0.0])
    raw = pre.scaler_.inverse_transform(pre.transform(new))
    np.testing.assert_allclose(raw[:, 0], [-np.log(2.0), 0.0], atol=1e-5)
    off = TablePreprocessor(log_skewed=False).fit(frame, y)
    assert off.log_scales_ == {}
    as_is = frame["population"]
    expected = (as_is - as_is.mean()) / as_is.std(ddof=0)
    np.testing.assert_allclose(
        off.transform(frame)[:, 0], expected, rtol=1e-4, atol=1e-4
    )


def test_standalone_use_refuses_what_it_cannot_encode_and_reads_backends_alike():
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "ident": [f"id{i % 60}" for i in range(n)],  # high cardinality
            "code": rng.integers(0, 4, n).astype(float),
        }
    )
    frame.loc[3, "code"] = np.nan
    y = np.where(rng.normal(size=n) > 0, "a", "b").astype(object)
    # A missing label would be target-encoded as a class of its own.
    missing = y.copy()
    missing[5] = None
    with pytest.raises(ValueError, match=r"y has missing values; .*\['ident'\]"):
        TablePreprocessor().fit(frame, missing)
    # An integer code with a blank: numeric, as NumPy's reader (floats) makes
    # it, with pandas' nullable and pyarrow integers too.
    widths = set()
    for code in (frame["code"], frame["code"].astype("Int64")):
        pre = TablePreprocessor().fit(frame.assign(code=code), y)
        assert pre.roles_["code"] == "numeric"
        widths.add(pre.transform(frame.assign(code=code)).shape[1])
    assert len(widths) == 1
    # Column names that are no strings, and a single name as text.
    with pytest.raises(
        ValueError, match="column names that are strings; got \\[0, 1\\]"
    ):
        TablePreprocessor().fit(frame.set_axis([0, 1], axis=1), y)
    assert TablePreprocessor(drop="code").fit(frame, y).roles_["code"] == "dropped"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"log_skewed": "no"}, "'log_skewed' parameter of TablePreprocessor"),
        ({"cardinality_threshold": None}, "'cardinality_threshold' parameter"),
        ({"text_components": 0}, "'text_components' parameter"),
        ({"target_type": "bogus"}, "'target_type' parameter"),
        ({"drop": ["x", "z"]}, "No usable feature column is left: all 2 columns"),
    ],
)
def test_parameters_out_of_range_are_named(params, message):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=30), "z": rng.normal(size=30)})
    with pytest.raises(ValueError, match=re.escape(message)):
        TablePreprocessor(**params).fit(frame, np.arange(30) % 2)


def test_large_values_varying_little_keep_their_variation():
    # Standardized in float64, cast to float32 after: cast first, 1e9 +
    # [0, 1) was one value (float32 steps of 64), and times ten minutes
    # apart a handful (steps of 128 s).
    rng = np.random.RandomState(0)
    big = 1e9 + rng.uniform(0, 1, 100)
    times = pd.Timestamp("2024-05-01 10:00") + pd.to_timedelta(
        rng.uniform(0, 600, 100), "s"
    )
    frame = pd.DataFrame({"big": big, "t": times, "x": rng.normal(size=100)})
    pre = TablePreprocessor(log_skewed=False)
    out = pre.fit_transform(frame)
    names = list(pre.get_feature_names_out())
    seconds = (times - pd.Timestamp("1970-01-01")).total_seconds().to_numpy()
    for name, values in (("big", big), ("t_total_seconds", seconds)):
        expected = (values - values.mean()) / values.std()
        np.testing.assert_allclose(out[:, names.index(name)], expected, atol=1e-5)
    np.testing.assert_array_equal(pre.transform(frame), out)
