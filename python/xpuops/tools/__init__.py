"""Tools: the command line, benchmark reports, the pytest plugin. May
import every layer below."""
