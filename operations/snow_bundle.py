"""Run by the pinned Snowflake CLI's own Python (.venv-snow), never imported: bundles a
Streamlit entity of snowflake.yml with the bundler `snow streamlit deploy` uses, so what
runs locally is exactly what would be uploaded. No connection is made.

    python snow_bundle.py PROJECT_ROOT ENTITY OUTPUT_DIR KEY=VALUE...

The KEY=VALUE pairs fill `<% ctx.env.KEY %>`. OUTPUT_DIR must lie inside PROJECT_ROOT.
"""

import sys
from pathlib import Path

from snowflake.cli._plugins.nativeapp.artifacts import build_bundle
from snowflake.cli.api.project.definition_manager import DefinitionManager
from snowflake.cli.api.project.schemas.entities.common import PathMapping


def main() -> None:
    root, entity, output, *pairs = sys.argv[1:]
    env = dict(pair.split("=", 1) for pair in pairs)
    definition = DefinitionManager(Path(root), {"ctx": {"env": env}}).project_definition
    model = definition.entities[entity]
    build_bundle(
        Path(root).resolve(),
        Path(output).resolve(),
        [PathMapping(src=a.src, dest=a.dest) for a in model.artifacts],
    )


if __name__ == "__main__":
    main()
