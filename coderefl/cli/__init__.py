"""Command-line interface. One module per command group; errors become
one-line messages here and nowhere else."""
