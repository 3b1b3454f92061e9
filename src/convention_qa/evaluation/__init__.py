"""Question sets, metrics and reports for measuring answer quality."""
