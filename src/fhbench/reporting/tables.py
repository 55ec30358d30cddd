"""Result tables: mean ± std over seeds of the protocol figure, grouped by modality.

Every table starts from the tidy per-run metrics. :func:`accuracy_table` turns them into a tidy
table (one row per column cell × method) that is written as CSV; the renderers turn that tidy
table into Markdown, LaTeX (booktabs) and a self-contained HTML page for the Snakemake report.
A "column" is a dataset, or a (dataset, partition) pair when an experiment spans several
partitions (the heterogeneity sweep); columns are grouped by the dataset's modality, and a
modality with several columns gets an average column.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from fhbench.io import write_texts
from fhbench.metrics import RUN_KEYS
from fhbench.reporting.selection import DEFAULT, SelectionRule, run_scores

AVERAGE = "average"  # the dataset name of average cells in the tidy table
#: Per-run spreads across clients (fhbench.reporting.selection.run_scores) a table cell averages over seeds.
WORST_OFF = ("worst", "bottom10")
TABLE_COLUMNS = [
    "modality",
    "dataset",
    "partition",
    "column",
    "algorithm",
    "variant",
    "method",
    "metric",
    "mean",
    "std",
    "worst",
    "bottom10",
    "n_seeds",
    "n_diverged",
    "best",
    "reference",
    "rank",
    "eval_point",
    "selection",
]


def load_metrics(paths: Iterable[str | Path]) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in paths]
    if not frames:
        raise ValueError("no metrics files given")
    return pd.concat(frames, ignore_index=True)


def method_label(algorithm: str, variant: str) -> str:
    return algorithm if variant == "default" else f"{algorithm} ({variant})"


def dataset_modalities(datasets: Iterable[str]) -> dict[str, str]:
    """Modality of each dataset from the dataset registry (``other`` for unregistered keys)."""
    from fhbench.data import DATASETS

    return {d: getattr(DATASETS.get(d), "modality", "other") for d in datasets}


def _order(values: Iterable[str], preferred: Sequence[str] | None) -> list[str]:
    """Values in the preferred (config) order, any others after them alphabetically."""
    values = list(dict.fromkeys(values))
    preferred = [v for v in (preferred or []) if v in values]
    return preferred + sorted(v for v in values if v not in preferred)


def seed_scores(metrics: pd.DataFrame, metric: str = "accuracy", eval_point: str = "local", rule: SelectionRule = DEFAULT) -> pd.DataFrame:
    """One row per run (dataset, partition, algorithm, variant, seed): its ``score`` under the
    selection ``rule`` (:mod:`fhbench.reporting.selection`) at ``eval_point``, its worst client and
    worst-10% mean (``worst``, ``bottom10``), and whether the run diverged (its score then covers
    only the rounds before)."""
    return run_scores(metrics, metric, eval_point, rule)[RUN_KEYS + ["score", *WORST_OFF, "diverged"]]


def column_average_per_seed(scores: pd.DataFrame, columns: Sequence[str] = ("dataset", "partition")) -> pd.DataFrame:
    """Per (algorithm, variant, seed): the ``score`` averaged over the table columns, kept only for
    seeds that have every column (an average over some columns would not compare across methods)."""
    n_columns = scores.groupby(list(columns)).ngroups
    per_seed = scores.groupby(["algorithm", "variant", "seed"])["score"].agg(["mean", "count"]).reset_index()
    return per_seed[per_seed["count"] == n_columns]


def accuracy_table(
    metrics: pd.DataFrame,
    metric: str = "accuracy",
    modality: dict[str, str] | None = None,
    averages: bool = True,
    datasets: Sequence[str] | None = None,
    partitions: Sequence[str] | None = None,
    algorithms: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    references: Sequence[str] = (),
    eval_point: str = "local",
    rule: SelectionRule = DEFAULT,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Tidy table of mean ± std over seeds per (column, method), with per-modality averages.

    Parameters
    ----------
    metrics
        Tidy per-run metrics (``fhbench.metrics.METRIC_COLUMNS``).
    modality
        Dataset → modality; missing datasets fall back to the dataset registry.
    averages
        Add, per modality with several columns, the average over its columns (averaged per seed,
        then mean ± std over seeds); and an ``all`` average when there are several modalities.
    datasets, partitions, algorithms, variants
        Preferred orders (the experiment's config lists).
    references
        Algorithms listed as reference rows (local, centralized): after the methods, labelled
        ``(reference)``, never marked best and not ranked.
    eval_point
        Which evaluation point is scored (``fhbench.metrics.EVAL_POINTS``; ``local`` as published).
    rule
        Which round each client is scored at and how clients combine
        (:mod:`fhbench.reporting.selection`); its sentence goes into the caption.
    scores
        :func:`seed_scores` of ``metrics`` for ``metric``, ``eval_point`` and ``rule`` when the
        caller has them already (the report scores each rule once for several tables).

    Returns
    -------
    DataFrame with :data:`TABLE_COLUMNS`; rows are ordered as the rendered table reads.
    """
    scores = seed_scores(metrics, metric, eval_point, rule) if scores is None else scores.copy()
    modality = dict(modality or {})
    missing = [d for d in scores["dataset"].unique() if d not in modality]
    modality.update(dataset_modalities(missing))
    scores["modality"] = scores["dataset"].map(modality)
    ds_order = _order(scores["dataset"], datasets)
    part_order = _order(scores["partition"], partitions)
    mod_order = list(dict.fromkeys(modality[d] for d in ds_order))
    multi_partition = scores.groupby("dataset")["partition"].nunique().max() > 1
    scores["column"] = [f"{d} ({p})" if multi_partition else d for d, p in zip(scores["dataset"], scores["partition"])]

    cell_keys = ["modality", "dataset", "partition", "column", "algorithm", "variant"]
    # Diverged seeds leave the mean and are counted; a cell whose every seed diverged keeps its
    # row with a NaN mean, so the table says so instead of dropping it.
    table = scores[cell_keys].drop_duplicates().reset_index(drop=True)
    cells = scores[~scores["diverged"]].groupby(cell_keys, sort=False)
    table = table.merge(cells["score"].agg(mean="mean", std="std", n_seeds="count").reset_index(), on=cell_keys, how="left")
    table = table.merge(cells[list(WORST_OFF)].mean().reset_index(), on=cell_keys, how="left")
    table = table.merge(scores.groupby(cell_keys)["diverged"].sum().rename("n_diverged").reset_index(), on=cell_keys, how="left")
    table["n_seeds"] = table["n_seeds"].fillna(0)
    scores = scores[~scores["diverged"]]
    if averages:
        extra = []
        columns_per_modality = scores.groupby("modality")["column"].nunique()
        groups = [(m, scores[scores.modality == m]) for m in mod_order if columns_per_modality.get(m, 0) > 1]
        if len(mod_order) > 1:
            groups.append(("all", scores))
        for mod, part in groups:
            per_seed = column_average_per_seed(part, ["column"])
            agg = per_seed.groupby(["algorithm", "variant"])["mean"].agg(mean="mean", std="std", n_seeds="count").reset_index()
            for spread in WORST_OFF:  # averaged over the columns per seed, as the score
                per_seed = column_average_per_seed(part.assign(score=part[spread]), ["column"])
                agg = agg.merge(per_seed.groupby(["algorithm", "variant"])["mean"].mean().rename(spread).reset_index(), how="left")
            agg.insert(0, "modality", mod)
            agg.insert(1, "dataset", AVERAGE)
            agg.insert(2, "partition", "")
            agg.insert(3, "column", f"{mod} avg" if mod != "all" else "avg")
            extra.append(agg)
        table = pd.concat([table, *extra], ignore_index=True)
    table["std"] = table["std"].fillna(0.0)
    table["metric"] = metric
    table["reference"] = table["algorithm"].isin(list(references))
    table["method"] = [
        method_label(a, v) + (" (reference)" if r else "") for a, v, r in zip(table["algorithm"], table["variant"], table["reference"])
    ]
    table["eval_point"] = eval_point
    table["selection"] = rule.describe()

    # Reading order: modality blocks (their columns, then their average), the overall average last.
    alg_order = [a for a in _order(table["algorithm"], algorithms) if a not in set(references)]
    alg_order += [a for a in references if a in set(table["algorithm"])]
    var_order = _order(table["variant"], variants)
    column_rank = {}
    for mod in mod_order + ["all"]:
        block = table[table.modality == mod]
        for d in ds_order:
            for p in part_order:
                for col in block[(block.dataset == d) & (block.partition == p)]["column"]:
                    column_rank.setdefault(col, len(column_rank))
        for col in block[block.dataset == AVERAGE]["column"]:
            column_rank.setdefault(col, len(column_rank))
    table["_c"] = table["column"].map(column_rank)
    table["_a"] = table["algorithm"].map({a: i for i, a in enumerate(alg_order)})
    table["_v"] = table["variant"].map({v: i for i, v in enumerate(var_order)})
    table = table.sort_values(["_c", "_a", "_v"]).drop(columns=["_c", "_a", "_v"]).reset_index(drop=True)
    table["n_seeds"] = table["n_seeds"].astype(int)
    table["n_diverged"] = table["n_diverged"].fillna(0).astype(int)
    from fhbench.reporting.stats import column_ranks

    table["rank"] = column_ranks(table)
    # Bold = rank 1 or tied for it at the printed precision: the same ties the ranks and the
    # findings' "best on k of n" count (fhbench.reporting.stats.column_winners).
    top = table.groupby("column")["rank"].transform("min")
    table["best"] = table["rank"].notna() & (table["rank"] == top)
    return table[TABLE_COLUMNS]


def _layout(table: pd.DataFrame) -> tuple[list[tuple[str, str]], list[str], dict[tuple[str, str], tuple[float, float | None, bool, int]]]:
    """Columns as (modality, label) in table order, methods in order, and the cell values.

    A cell from a single seed has no std (``None``): printing ``± 0.00`` would claim a precision
    nobody measured.
    """
    columns = list(dict.fromkeys(zip(table["modality"], table["column"])))
    methods = list(dict.fromkeys(table["method"]))
    cells = {
        (m, c): (mu, sd if n > 1 else None, b, k)
        for m, c, mu, sd, n, k, b in zip(
            table["method"], table["column"], table["mean"], table["std"], table["n_seeds"], table["n_diverged"], table["best"]
        )
    }
    return columns, methods, cells


def _fmt(mean: float, std: float | None, pm: str = "±", n_diverged: int = 0, dagger: str = "†") -> str:
    """``mean ± std`` in percent; ``diverged`` when no seed finished; a dagger counts diverged seeds."""
    if pd.isna(mean):
        return "diverged"
    text = f"{100 * mean:.2f}" if std is None else f"{100 * mean:.2f} {pm} {100 * std:.2f}"
    return f"{text} {dagger}{n_diverged}" if n_diverged else text


def _caption(table: pd.DataFrame) -> str:
    seeds = int((table["n_seeds"] + table["n_diverged"]).max()) if len(table) else 0
    metric = table["metric"].iloc[0] if len(table) else "accuracy"
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"
    note = ""
    if len(table) and table["n_diverged"].any():
        note = " †k: k seeds diverged (non-finite loss) and are left out of the mean; 'diverged': every seed did."
    point = table["eval_point"].iloc[0] if len(table) and "eval_point" in table else "local"
    where = "after local training, before aggregation" if point == "local" else "on the model received from the server"
    rule = table["selection"].iloc[0] if len(table) and "selection" in table else DEFAULT.describe()
    return f"Test {metric.replace('_', ' ')} (%) {rule} ({where}); {spread}; best per column (and ties at the printed precision) in bold.{note}"


def _modality_header(modality: str) -> str:
    return "all" if modality == "all" else modality.replace("_", " ")


def to_markdown(table: pd.DataFrame, title: str) -> str:
    """Methods as rows; columns headed ``modality · dataset``; best per column in bold."""
    columns, methods, cells = _layout(table)
    header = ["method"] + [col if mod == "all" else f"{_modality_header(mod)} · {col}" for mod, col in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + [":---:"] * len(columns)) + "|"]
    for method in methods:
        row = [method]
        for _, col in columns:
            if (method, col) in cells:
                mu, sd, best, k = cells[(method, col)]
                row.append(f"**{_fmt(mu, sd, n_diverged=k)}**" if best else _fmt(mu, sd, n_diverged=k))
            else:
                row.append("–")
        lines.append("| " + " | ".join(row) + " |")
    from fhbench.reporting.worst_off import worst_off_markdown

    return f"# {title}\n\n{_caption(table)}\n\n" + "\n".join(lines) + "\n" + rank_markdown(table) + worst_off_markdown(table)


def rank_markdown(table: pd.DataFrame) -> str:
    """The ranks below a table: each method's rank per column and its average over dataset columns."""
    from fhbench.reporting.stats import average_ranks

    ranked = table[table["rank"].notna()]
    if ranked["method"].nunique() < 2:
        return ""
    columns = list(dict.fromkeys(ranked["column"]))
    averages = average_ranks(table).set_index("method")
    rank = {(m, c): r for m, c, r in zip(ranked["method"], ranked["column"], ranked["rank"])}
    lines = ["| method | " + " | ".join(columns) + " | avg rank |", "|" + "|".join([":---"] + [":---:"] * (len(columns) + 1)) + "|"]
    for method in averages.index:
        cells = [f"{rank[(method, c)]:g}" if (method, c) in rank else "–" for c in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {averages.loc[method, 'avg_rank']:.2f} |")
    note = (
        "Ranks per column (1 = best; methods equal at the printed precision share the average rank; "
        "reference rows are not ranked); avg rank over the dataset columns."
    )
    from fhbench.reporting.stats import rank_test

    return "\n" + note + "\n\n" + "\n".join(lines) + "\n\n" + rank_test(table).text() + "\n"


def latex_escape(text: str) -> str:
    for char, repl in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("_", r"\_"), ("$", r"\$")):
        text = text.replace(char, repl)
    return text


def _modality_groups(columns: list[tuple[str, str]]) -> list[tuple[str, int]]:
    """Consecutive columns of one modality as (modality, width): the spanning header cells."""
    groups: list[tuple[str, int]] = []
    for mod, _ in columns:
        if groups and groups[-1][0] == mod:
            groups[-1] = (mod, groups[-1][1] + 1)
        else:
            groups.append((mod, 1))
    return groups


def to_latex(table: pd.DataFrame, title: str, label: str) -> str:
    """A booktabs ``table`` environment: a modality header row over the dataset columns."""
    columns, methods, cells = _layout(table)
    groups = _modality_groups(columns)
    caption = latex_escape(f"{title}. {_caption(table)}").replace("±", r"$\pm$")
    top, rules, start = ["Modality"], [], 2
    for mod, width in groups:
        top.append(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(_modality_header(mod))}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
        start += width
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{caption}}}",
        rf"\label{{tab:{label}}}",
        r"\begin{tabular}{l" + "c" * len(columns) + "}",
        r"\toprule",
        " & ".join(top) + r" \\",
        " ".join(rules),
        " & ".join(["Method"] + [latex_escape(col) for _, col in columns]) + r" \\",
        r"\midrule",
    ]
    for method in methods:
        row = [latex_escape(method)]
        for _, col in columns:
            if (method, col) in cells:
                mu, sd, best, k = cells[(method, col)]
                text = _fmt(mu, sd, pm="$\\pm$", n_diverged=k, dagger="$\\dagger$")
                row.append(rf"\textbf{{{text}}}" if best else text)
            else:
                row.append("--")
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_html(table: pd.DataFrame, title: str) -> str:
    """A self-contained HTML page of the table (the Snakemake report shows HTML, not CSV)."""
    columns, methods, cells = _layout(table)
    esc = html.escape
    groups = _modality_groups(columns)
    head1 = "<th></th>" + "".join(f'<th colspan="{w}" class="modality">{esc(_modality_header(m))}</th>' for m, w in groups)
    head2 = "<th>method</th>" + "".join(f"<th>{esc(col)}</th>" for _, col in columns)
    body = []
    for method in methods:
        row = [f"<th>{esc(method)}</th>"]
        for _, col in columns:
            if (method, col) in cells:
                mu, sd, best, k = cells[(method, col)]
                text = esc(_fmt(mu, sd, n_diverged=k))
                row.append(f'<td class="best"><b>{text}</b></td>' if best else f"<td>{text}</td>")
            else:
                row.append("<td>–</td>")
        body.append("<tr>" + "".join(row) + "</tr>")
    style = (
        "body{font-family:sans-serif;margin:1.5em;background:#fff;color:#111}"
        "table{border-collapse:collapse}th,td{padding:.3em .8em;text-align:center}"
        "thead tr:first-child th{border-top:2px solid #111}thead tr:last-child th{border-bottom:1px solid #111}"
        "tbody tr:last-child th,tbody tr:last-child td{border-bottom:2px solid #111}"
        "th.modality{border-bottom:1px solid #777}tbody th{text-align:left}"
    )
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{esc(title)}</title><style>{style}</style></head>\n'
        f"<body><h1>{esc(title)}</h1><p>{esc(_caption(table))}</p>\n"
        f'<table id="results-table"><thead><tr>{head1}</tr><tr>{head2}</tr></thead>\n<tbody>{"".join(body)}</tbody></table>\n'
        "</body></html>\n"
    )


def write_tables(
    table: pd.DataFrame,
    title: str,
    label: str,
    csv_out: str | Path,
    md_out: str | Path | None = None,
    tex_out: str | Path | None = None,
    html_out: str | Path | None = None,
) -> None:
    """Write the tidy table and its renderings, each atomically."""
    renderers = {
        csv_out: lambda: table.to_csv(index=False),
        md_out: lambda: to_markdown(table, title),
        tex_out: lambda: to_latex(table, title, label),
        html_out: lambda: to_html(table, title),
    }
    write_texts({path: render() for path, render in renderers.items() if path is not None})


def spec_table(
    metrics: pd.DataFrame,
    spec: dict,
    metric: str = "accuracy",
    averages: bool = True,
    rule: SelectionRule = DEFAULT,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`accuracy_table` with the orders, references and evaluation point of an experiment
    spec (``fhbench.grid.experiment_spec``); ``scores``: its :func:`seed_scores`, when computed already."""
    return accuracy_table(
        metrics,
        metric=metric,
        averages=averages,
        datasets=spec.get("datasets"),
        partitions=spec.get("partitions"),
        algorithms=spec.get("algorithms"),
        variants=spec.get("variants"),
        references=spec.get("references", ()),
        eval_point=spec.get("eval_point", "local"),
        rule=rule,
        scores=scores,
    )


def write_accuracy_table(
    metrics_paths: Iterable[str | Path],
    csv_out: str | Path,
    md_out: str | Path,
    tex_out: str | Path | None = None,
    html_out: str | Path | None = None,
    title: str = "Main results",
    metric: str = "accuracy",
    spec: dict | None = None,
    averages: bool = True,
    priors: str | Path | None = None,
) -> pd.DataFrame:
    """Read the runs' metrics, build the table for ``metric`` and write every format.

    ``spec`` (``fhbench.grid.experiment_spec``) gives the orders, the reference algorithms and
    the evaluation point; ``priors`` (the ``label_priors`` rule's CSV, :mod:`fhbench.reporting.priors`)
    adds the ``local prior`` and ``global prior`` reference rows."""
    from fhbench.reporting.priors import read_priors, with_priors

    spec = spec or {}
    metrics, references = with_priors(load_metrics(metrics_paths), read_priors(priors), spec)
    table = spec_table(metrics, {**spec, "references": references}, metric, averages)
    label = f"{spec.get('name', 'main')}_{metric}"
    write_tables(table, title, label, csv_out, md_out, tex_out, html_out)
    return table
