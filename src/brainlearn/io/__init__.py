"""Reading and writing neurophysiology data files (NWB: :mod:`brainlearn.io.nwb`, needs the ``nwb`` extra)."""
