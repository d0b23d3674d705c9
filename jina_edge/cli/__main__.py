"""`python -m jina_edge.cli`: the `jina-edge` command without its console script."""

from jina_edge.cli.main import main

main()
