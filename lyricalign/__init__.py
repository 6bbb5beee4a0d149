"""lyricalign: align song lyrics to audio, returning when every word and line is sung."""

__version__ = "0.1.0"
