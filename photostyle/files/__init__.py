"""The files tier: reading and writing photos, their colour profiles and metadata, and the
checks on every path a command reads or writes. Imports nothing else of photostyle but
:mod:`photostyle.errors`."""
