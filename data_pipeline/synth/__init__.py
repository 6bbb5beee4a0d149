"""Offline synthetic training data: sung-like vocals with exact word times over generated music.

``text`` picks lyrics, ``melody`` the notes, ``singing`` turns espeak-ng speech into singing with
the WORLD vocoder, ``accompaniment`` renders drums, bass and chords, ``generate`` puts songs
together in parallel and writes audio, manifests and an optional JamendoLyrics-layout folder.
"""
