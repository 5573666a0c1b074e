"""Front-ends over the public API: the command spec, the magic, the CLI, the panel."""
