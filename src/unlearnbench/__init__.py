"""unlearnbench: reproduce machine-unlearning papers from one Snakemake DAG."""

__version__ = "0.1.0"
