"""The ``unlearnbench`` command: the verbs the Snakemake rules call, each with explicit paths.

Every verb reads its config (``--config``): a profile YAML, validated here, or a *job
config* (:mod:`unlearnbench.jobconfig`), the slice of a validated profile that one job
depends on, which the workflow writes as an input file of that job. It writes only the
outputs it is given, atomically. Nothing here knows about Snakemake. Expected failures
(bad config, damaged file, unknown method) end with one line naming the cause, exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unlearnbench.config import ConfigError, default_config, load_config

#: Filled by :func:`main` when ``--config`` is a job config: the file's scope and expected inputs.
_JOB: dict[str, Any] = {}


def _context(config: dict[str, Any], experiment: str):
    from unlearnbench.experiments.base import RunContext
    from unlearnbench.training import resolve_device

    try:
        settings = config["experiments"][experiment]
    except KeyError:
        raise SystemExit(f"experiment {experiment!r} is not in the config; known: {', '.join(config.get('experiments', {}))}") from None
    return RunContext(
        experiment=experiment,
        settings=settings,
        config=config,
        results_dir=Path(config.get("results_root", "results")) / config["profile"],
        data_root=Path(config.get("data_root", "data")),
        device=resolve_device(config.get("device", "auto")),
        threads=int(config.get("threads", 1)),
    )


def _kind(config: dict[str, Any], experiment: str):
    from unlearnbench.experiments import get_kind

    return get_kind(config["experiments"][experiment]["kind"])


def _set_threads(config: dict[str, Any]) -> None:
    import torch

    torch.set_num_threads(int(config.get("threads", 1)))


def cmd_validate(args: argparse.Namespace, config: dict[str, Any]) -> None:
    print(f"{args.config}: valid ({config['profile']} profile, {len(config.get('experiments', {}))} experiments)")


def _check_scope(args: argparse.Namespace, scope: str) -> None:
    """A job config must belong to the job that reads it (a profile YAML belongs to every job)."""
    from unlearnbench.jobconfig import check_scope

    if _JOB:
        check_scope(_JOB, scope, args.config)


def _check_method(config: dict[str, Any], experiment: str, method: str) -> None:
    """An unknown method is a one-line error listing the experiment's runs, not a KeyError traceback."""
    from unlearnbench.artifacts import all_artifacts

    if _JOB:  # the scope check already tied the method to a run of the DAG
        return
    known = sorted({s.method for a in all_artifacts() for s in a.runs(config) if s.experiment == experiment})
    if method not in known:
        raise SystemExit(f"method {method!r} is not configured for experiment {experiment!r}; "
                         f"configured: {', '.join(known) or 'none'}")


def _verify_inputs(ctx, kind, method: str, seed: int) -> None:
    """Each checkpoint a run reads must come from the pretraining settings this run expects.

    The job config lists, per model role, the settings hash of the pretraining job that the
    DAG scheduled; a checkpoint recording another hash (copied from another results folder,
    or left from an older config) stops the run before it produces a number for the wrong
    model. Loading also verifies the checkpoint's content checksum.
    """
    from unlearnbench.storage import CorruptCheckpointError, load_checkpoint

    expects = _JOB.get("expects") or {}
    for ref in kind.pretrained(ctx.settings, method, seed):
        expected = expects.get(ref.role)
        path = ctx.model_path(ref)
        body = load_checkpoint(path)
        recorded = ((body.get("meta") or {}).get("provenance") or {}).get("config_hash")
        if expected and recorded and recorded != expected:
            raise CorruptCheckpointError(
                f"checkpoint {path} was trained with settings {recorded[:12]}, but this run expects "
                f"{expected[:12]} (its pretraining settings changed since). Delete {path} and rerun the workflow."
            )


def cmd_prepare(args: argparse.Namespace, config: dict[str, Any]) -> None:
    from unlearnbench.data import prepare_dataset

    _check_scope(args, f"data/{args.dataset}")
    manifest = prepare_dataset(args.dataset, config.get("datasets"), config.get("data_root", "data"))
    print(f"prepared {args.dataset}: {manifest}")


def cmd_pretrain(args: argparse.Namespace, config: dict[str, Any]) -> None:
    from unlearnbench.experiments.base import ModelRef
    from unlearnbench.provenance import config_hash
    from unlearnbench.training import job_settings

    _check_scope(args, f"pretrain/{args.experiment}/{args.role}")
    _set_threads(config)
    ctx = _context(config, args.experiment)
    with job_settings(config_hash(config)):  # a resume file of other settings is never continued
        _kind(config, args.experiment).pretrain(ctx, ModelRef(args.role, args.seed), Path(args.output))
    print(f"wrote {args.output}")


def cmd_run(args: argparse.Namespace, config: dict[str, Any]) -> None:
    _check_scope(args, f"run/{args.experiment}/{args.method}")
    ctx = _context(config, args.experiment)
    _check_method(config, args.experiment, args.method)
    _set_threads(config)
    kind = _kind(config, args.experiment)
    _verify_inputs(ctx, kind, args.method, args.seed)
    payload = kind.run(ctx, args.method, args.seed, Path(args.output))
    summary = {k: round(v, 4) if isinstance(v, float) else v for k, v in payload.get("metrics", {}).items() if not isinstance(v, (list, dict))}
    print(f"wrote {args.output}: {summary}")


def cmd_aggregate(args: argparse.Namespace, config: dict[str, Any]) -> None:
    from unlearnbench.artifacts import get_artifact
    from unlearnbench.artifacts.summaries import STAND_IN_NOTE, any_stand_in
    from unlearnbench.storage import write_text

    _check_scope(args, f"table/{args.artifact}")
    artifact = get_artifact(args.artifact)
    table = artifact.aggregate([Path(p) for p in args.runs], config)
    write_text(args.csv, table.to_csv(index=False))
    body = artifact.markdown(table) if hasattr(artifact, "markdown") else table.to_markdown(index=False)
    # Experiments may set their own seeds, so the number per row is the table's n_seeds column.
    header = [f"# {artifact.name}: {artifact.title}", "", f"Profile: `{config['profile']}`; aggregated from {len(args.runs)} run files.", ""]
    if any_stand_in(table):
        header += [f"**{STAND_IN_NOTE}**", ""]
    write_text(args.md, "\n".join(header) + body + "\n")
    print(f"wrote {args.csv} and {args.md}")


def cmd_draw(args: argparse.Namespace, config: dict[str, Any]) -> None:
    import pandas as pd

    from unlearnbench.artifacts import get_artifact

    _check_scope(args, f"table/{args.artifact}")
    table = pd.read_csv(args.table)
    get_artifact(args.artifact).draw(table, [Path(p) for p in args.outputs], config)
    print(f"wrote {', '.join(args.outputs)}")


def cmd_compare(args: argparse.Namespace, config: dict[str, Any]) -> None:
    import pandas as pd

    from unlearnbench.comparison import compare, counts_line, load_published, to_markdown
    from unlearnbench.storage import write_text

    _check_scope(args, "compare")
    if bool(args.claims) != bool(args.claims_csv):
        raise SystemExit("compare: --claims and --claims-csv go together")
    tables = {Path(p).stem: pd.read_csv(p) for p in args.tables}
    published = load_published(args.published)
    frame = compare(published, tables)
    claims = None
    if args.claims:
        from unlearnbench.claims.evaluate import evaluate_claims, load_claims, published_tables

        claims = evaluate_claims(load_claims(args.claims), tables, published_tables(published))
        write_text(args.claims_csv, claims.to_csv(index=False))
    write_text(args.csv, frame.to_csv(index=False))
    write_text(args.md, to_markdown(frame, config["profile"], claims))
    print(f"wrote {args.csv} and {args.md}" + (f" and {args.claims_csv}" if claims is not None else ""))
    print(counts_line(frame, claims))


def cmd_verdicts(args: argparse.Namespace, config: dict[str, Any]) -> None:
    from unlearnbench.comparison import counts_from_files

    print(counts_from_files(args.comparison, args.claims))


def artifact_outputs(name: str, profile: str) -> list[str]:
    """The output contract of an artifact (other tools rely on these exact paths)."""
    return [
        f"results/{profile}/tables/{name}.csv",
        f"results/{profile}/tables/{name}.md",
        f"figures/{profile}/{name}.pdf",
        f"figures/{profile}/{name}.png",
    ]


def cmd_artifacts(args: argparse.Namespace, config: dict[str, Any]) -> None:
    from unlearnbench.artifacts import all_artifacts

    profile = config["profile"]
    for artifact in all_artifacts():
        runs = artifact.runs(config)
        outputs = artifact_outputs(artifact.name, profile)
        built = "built" if all(Path(p).exists() for p in outputs) else "not built yet" if runs else "not in this profile"
        print(f"{artifact.name}  [{artifact.paper}]  {artifact.title}")
        print(f"    profile {profile} ({built}): {artifact.status(config)}; {len(runs)} runs")
        for path in outputs:
            print(f"    {path}")


def cmd_write_job_config(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """Write a job config read from stdin, refusing settings that no longer hash to ``--digest``.

    A shell verb rather than a Snakemake ``run:`` block: Snakemake runs ``run:`` jobs in a new
    Snakemake process that parses the whole workflow again (about 10 s per job config, a third
    of the quick profile's job time); this verb starts in well under a second.
    """
    import json

    from unlearnbench.jobconfig import JobConfigError, file_hash, file_text
    from unlearnbench.storage import write_text

    try:
        document = json.loads(sys.stdin.read())
    except ValueError as exc:
        raise JobConfigError(f"the job config for {args.output} on stdin is not JSON: {exc}") from None
    if file_hash(document) != args.digest:
        raise JobConfigError(
            f"the settings of {args.output} changed since it was scheduled (hash {file_hash(document)}, "
            f"name says {args.digest}); rerun the workflow"
        )
    write_text(args.output, file_text(document))
    print(f"wrote {args.output}")


def cmd_methods(args: argparse.Namespace, config: dict[str, Any]) -> None:
    from unlearnbench.unlearning import available_methods

    print("\n".join(available_methods()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unlearnbench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        help="profile config (YAML or the resolved JSON); default: config/config.yaml of the checkout "
        "(an installed package has none: then --config is required)",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    verb("validate-config", cmd_validate, "check the config against the schemas shipped in unlearnbench/schemas")
    p = verb("prepare-data", cmd_prepare, "download (checksummed) or generate a dataset and write data/<name>/manifest.json")
    p.add_argument("--dataset", required=True)
    p = verb("pretrain", cmd_pretrain, "train one model of an experiment (original, classifier, ...) and save its checkpoint")
    p.add_argument("--experiment", required=True)
    p.add_argument("--role", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--output", required=True)
    p = verb("run", cmd_run, "run one unlearning method on one seed and write the run JSON (metrics + provenance)")
    p.add_argument("--experiment", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--output", required=True)
    p = verb("aggregate", cmd_aggregate, "combine run JSONs into an artifact's table (.csv and .md)")
    p.add_argument("--artifact", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("runs", nargs="+")
    p = verb("draw", cmd_draw, "draw an artifact's figure from its table")
    p.add_argument("--artifact", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("outputs", nargs="+")
    p = verb("compare", cmd_compare, "put every published number beside the reproduced one")
    p.add_argument("--published", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("--claims", help="config/claims.yaml: also judge every claim (needs --claims-csv)")
    p.add_argument("--claims-csv", help="where to write the claims' verdicts")
    p.add_argument("tables", nargs="*")
    p = verb("verdicts", cmd_verdicts, "print the counts of a profile's verdicts, read from its comparison.csv and claims.csv")
    p.add_argument("--comparison", required=True)
    p.add_argument("--claims")
    verb("artifacts", cmd_artifacts, "list every artifact with its paper, profile status and output paths")
    verb("methods", cmd_methods, "list the registered unlearning methods")
    p = verb("write-job-config", cmd_write_job_config, "write the job config given on stdin (JSON) to --output")
    p.add_argument("--digest", required=True, help="the content hash the file name carries")
    p.add_argument("--output", required=True)
    p.set_defaults(needs_config=False)
    return parser


def read_config(path: str) -> dict[str, Any]:
    """A job config (JSON written by the workflow) as is, or a profile YAML, validated."""
    from unlearnbench.jobconfig import is_job_config
    from unlearnbench.storage import read_json

    _JOB.clear()
    if path.endswith(".json"):
        try:
            document = read_json(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if is_job_config(document):
            _JOB.update(document)
            return dict(document["config"])
    return load_config(path)


def _expected_errors() -> tuple[type[BaseException], ...]:
    from unlearnbench.data import DatasetNotPreparedError, DatasetUnavailableError
    from unlearnbench.data.subsets import UnknownClassError
    from unlearnbench.jobconfig import JobConfigError
    from unlearnbench.request import InvalidForgetSetError
    from unlearnbench.storage import CorruptCheckpointError, CorruptResultError

    return (JobConfigError, CorruptCheckpointError, CorruptResultError, DatasetNotPreparedError,
            DatasetUnavailableError, InvalidForgetSetError, UnknownClassError)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "needs_config", True):
            args.config = args.config or str(default_config())
            config = read_config(args.config)
        else:
            config = {}
    except ConfigError as exc:
        print(f"{args.config or 'unlearnbench'}: {exc}", file=sys.stderr)
        return 2
    try:
        args.func(args, config)
    except _expected_errors() as exc:
        print(f"unlearnbench {args.verb}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
