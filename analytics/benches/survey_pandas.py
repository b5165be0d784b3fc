"""The benchmark's baseline: the analytics pipeline written with pandas.

Same input (a survey Parquet file of text columns), same rules file, same outputs as the Polars
pipeline of passerelle-analytics: rows checked (trimmed, case-folded, bad rows counted by
field), duplicates of (respondent, day) dropped, scores per task and area, overall score,
autonomy level, modules needed and pathway per respondent (written as Parquet), then the
dashboard tables (indicators and progress by antenna, age band and quarter, small cells blanked)
written as CSV and Parquet.

usage: python survey_pandas.py SURVEY.parquet RULES.toml OUT_DIR
Prints one JSON line: rows, good rows, rejected rows, seconds, peak resident memory (VmHWM).
"""

import json
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

TASKS = ["email", "online_procedure", "tax_online", "health_account", "job_search",
         "video_call", "online_banking", "spot_scam"]
EQUIPMENT = ["has_smartphone", "has_computer", "has_internet_home"]
ANTENNAS = ["nord", "sud", "est", "ouest", "centre"]
AGE_BANDS = ["16-24", "25-39", "40-59", "60-74", "75+"]
ANSWERS = {"cannot": 0, "with_help": 1, "alone": 2}
YES = {"yes", "oui", "true", "1", "y", "o"}
NO = {"no", "non", "false", "0", "n"}
ALONE, CANNOT = 2, 0


def peak_rss_bytes():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def check(raw):
    """Typed good rows, and the count of bad rows by field."""
    out = pd.DataFrame({"line": np.arange(1, len(raw) + 1, dtype=np.uint64)})
    ok = pd.Series(True, index=raw.index)
    by_field = {}

    def keep(field, values, valid):
        nonlocal ok
        out[field] = values
        bad = int((~valid).sum())
        if bad:
            by_field[field] = bad
        ok &= valid

    rid = raw["respondent_id"].astype("str").str.strip()
    keep("respondent_id", rid, rid.str.fullmatch(r"[A-Za-z0-9._-]{1,64}").fillna(False))
    text = {c: raw[c].astype("str").str.strip().str.lower() for c in raw.columns
            if c != "respondent_id"}
    day = pd.to_datetime(text["surveyed_on"], format="%Y-%m-%d", errors="coerce")
    keep("surveyed_on", day, day.notna())
    keep("antenna", text["antenna"], text["antenna"].isin(ANTENNAS))
    band = text["age_band"].str.replace(" ", "", regex=False)
    keep("age_band", band, band.isin(AGE_BANDS))
    for e in EQUIPMENT:
        values = text[e]
        yes, no = values.isin(YES), values.isin(NO)
        keep(e, yes, yes | no)
    for t in TASKS:
        values = text[t].str.replace(" ", "_", regex=False).str.replace("-", "_", regex=False)
        codes = values.map(ANSWERS)
        keep(t, codes, codes.notna())
    good = out[ok].copy()
    for t in TASKS:
        good[t] = good[t].astype(np.uint8)
    bad_rows = int((~ok).sum())
    first = good.groupby(["respondent_id", "surveyed_on"])["line"].transform("min")
    repeated = good["line"] != first
    if repeated.any():
        by_field["respondent_id"] = by_field.get("respondent_id", 0) + int(repeated.sum())
        bad_rows += int(repeated.sum())
    return good[~repeated], bad_rows, by_field


def scored(rows, rules):
    points = rules["points"]
    scale = 100.0 / rules["max_points"]
    score_of = np.array([points["cannot"], points["with_help"], points["alone"]]) * scale
    for t in TASKS:
        rows[f"score_{t}"] = score_of[rows[t].to_numpy()]
    for area in rules["areas"]:
        rows[f"area_{area['id']}"] = sum(rows[f"score_{t}"] for t in area["tasks"]) / len(area["tasks"])
    rows["score"] = sum(rows[f"score_{t}"] for t in TASKS) / len(TASKS)
    level = np.zeros(len(rows), dtype=np.uint8)
    for lv in rules["levels"]:
        level[rows["score"].to_numpy() >= lv["min_score"]] = lv["level"]
    rows["level"] = level
    no_device = ~rows["has_smartphone"] & ~rows["has_computer"]
    pathway = pd.Series("", index=rows.index, dtype="object")
    first = pd.Series(None, index=rows.index, dtype="object")
    for m in rules["modules"]:
        need = pd.Series(False, index=rows.index)
        for t in m.get("tasks", []):
            need |= rows[t] < ALONE
        if "up_to_level" in m:
            need |= rows["level"] <= m["up_to_level"]
        if m.get("no_device"):
            need |= no_device
        rows[f"needs_{m['id']}"] = need
        pathway = pathway.where(~need, np.where(pathway == "", m["id"], pathway + "|" + m["id"]))
        first = first.where(~(need & first.isna()), m["id"])
    rows["pathway"] = pathway
    rows["first_module"] = first
    return rows


def suppress(table, dims, values, count, min_cell):
    primary = table[count] < min_cell
    table["__primary"] = primary
    secondary = pd.Series(False, index=table.index)
    for d in dims:
        group = ["breakdown"] + [o for o in dims if o != d]
        blanks = table.groupby(group)["__primary"].transform("sum")
        open_counts = table[count].where(~table["__primary"])
        smallest = open_counts.groupby([table[g] for g in group]).transform("min")
        secondary |= (table[d] != "all") & ~table["__primary"] & (blanks == 1) & (table[count] == smallest)
    suppressed = table["__primary"] | secondary
    table["suppressed"] = suppressed
    table[count] = table[count].astype("Float64").mask(suppressed)
    for v in values:
        table[v] = table[v].mask(suppressed)
    return table.drop(columns="__primary")


def breakdowns(rows, dims, sets, aggregate, count, min_cell):
    parts = []
    for s in sets:
        part = aggregate(rows) if not s else aggregate(rows, list(s))
        part.insert(0, "breakdown", "×".join(s) if s else "all")
        for d in dims:
            if d not in s:
                part[d] = "all"
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    values = [c for c in table.columns if c not in ["breakdown", count] + dims]
    table = table[["breakdown"] + dims + [count] + values]
    table = suppress(table, dims, values, count, min_cell)
    return table.sort_values(["breakdown"] + dims, kind="stable").reset_index(drop=True)


def indicators(rows, rules):
    flags = pd.DataFrame(index=rows.index)
    flags["cannot_file_taxes_online"] = rows["tax_online"] != ALONE
    flags["no_online_formality"] = rows["online_procedure"] == CANNOT
    for t in TASKS:
        flags[f"unable_{t}"] = rows[t] != ALONE
    for t in TASKS:
        flags[f"cannot_{t}"] = rows[t] == CANNOT
    for lv in rules["levels"]:
        flags[f"level_{lv['level']}"] = rows["level"] == lv["level"]
    for m in rules["modules"]:
        flags[f"needs_{m['id']}"] = rows[f"needs_{m['id']}"]
    shares = flags.astype(np.float64) * 100.0
    shares["mean_score"] = rows["score"]
    shares[["antenna", "age_band", "period"]] = rows[["antenna", "age_band", "period"]]
    order = ["respondents", "cannot_file_taxes_online", "no_online_formality"] + \
        [f"unable_{t}" for t in TASKS] + [f"cannot_{t}" for t in TASKS] + ["mean_score"] + \
        [f"level_{lv['level']}" for lv in rules["levels"]] + [f"needs_{m['id']}" for m in rules["modules"]]

    def aggregate(frame, by=None):
        data = shares.loc[frame.index] if frame is not rows else shares
        if by:
            g = data.groupby(by, sort=False)
            out = g.mean(numeric_only=True).round(1)
            out["respondents"] = g.size()
            return out.reset_index()[by + order]
        out = data.mean(numeric_only=True).round(1).to_frame().T
        out["respondents"] = len(data)
        return out[order]

    return breakdowns(rows, ["antenna", "age_band", "period"],
                      [(), ("antenna",), ("age_band",), ("period",), ("antenna", "period"),
                       ("age_band", "period")], aggregate, "respondents", rules["min_cell_size"])


def progress(rows, rules):
    ordered = rows.sort_values("surveyed_on", kind="stable")
    g = ordered.groupby("respondent_id", sort=False)
    people = pd.DataFrame({
        "surveys": g.size(),
        "level_first": g["level"].first(), "level_last": g["level"].last(),
        "score_first": g["score"].first(), "score_last": g["score"].last(),
        "antenna": g["antenna"].last(), "period": g["period"].last(),
    })
    people = people[people["surveys"] >= 2]
    gain = people["level_last"].astype(float) - people["level_first"].astype(float)
    values = pd.DataFrame({
        "mean_level_gain": gain,
        "mean_score_gain": people["score_last"] - people["score_first"],
        "improved": (gain > 0) * 100.0,
        "nearly_autonomous_before": (people["level_first"] >= 3) * 100.0,
        "nearly_autonomous_after": (people["level_last"] >= 3) * 100.0,
        "antenna": people["antenna"], "period": people["period"],
    })

    decimals = {"mean_level_gain": 2, "mean_score_gain": 1, "improved": 1,
                "nearly_autonomous_before": 1, "nearly_autonomous_after": 1}

    def aggregate(frame, by=None):
        if by:
            g = values.groupby(by, sort=False)
            out = g.mean(numeric_only=True).round(decimals)
            out["resurveyed"] = g.size()
            return out.reset_index()
        out = values.mean(numeric_only=True).to_frame().T.round(decimals)
        out["resurveyed"] = len(values)
        return out

    return breakdowns(people, ["antenna", "period"],
                      [(), ("antenna",), ("period",), ("antenna", "period")],
                      aggregate, "resurveyed", rules["min_cell_size"])


def main():
    survey, rules_path, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    rules = tomllib.loads(Path(rules_path).read_text())
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    raw = pd.read_parquet(survey)
    rows, rejected, by_field = check(raw)
    del raw
    rows = scored(rows, rules)
    rows["period"] = rows["surveyed_on"].dt.year.astype(str) + "-Q" + rows["surveyed_on"].dt.quarter.astype(str)
    rows[["respondent_id", "surveyed_on", "antenna", "age_band", "score", "level",
          "pathway", "first_module"]].to_parquet(out / "pathways.parquet", index=False)
    tables = {"indicators": indicators(rows, rules), "progress": progress(rows, rules)}
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
        table.to_parquet(out / f"{name}.parquet", index=False)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "rows": int(len(rows) + rejected), "good": int(len(rows)), "rejected": rejected,
        "by_field": by_field, "seconds": seconds, "peak_rss_bytes": peak_rss_bytes(),
        "headline": tables["indicators"].loc[tables["indicators"]["breakdown"] == "all",
                                             ["cannot_file_taxes_online", "no_online_formality"]].iloc[0].tolist(),
    }))


if __name__ == "__main__":
    main()
