"""Scalp hair-density progress tracker.

The library holds everything a user can do, without any UI: decoding photos
(:mod:`tracker.photo`), the pure image functions (:mod:`tracker.imaging`), the
versioned analysis pipeline (:mod:`tracker.analysis`), synthetic photos with
exact ground truth (:mod:`tracker.synth`) and the command line
(:mod:`tracker.cli`).
"""

__version__ = "0.1.0"
