"""The ``vokit`` command: one thin module per subcommand, imported lazily."""
