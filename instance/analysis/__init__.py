"""G-code analysis: slicer metadata, and a model of the moves with a planner-based time estimate.

``analyse_file(path, limits)`` is the entry point; see docs/analysis.md.
"""

from instance.analysis.analyse import AnalysisError, analyse_file
from instance.analysis.limits import MachineLimits
from instance.analysis.result import GcodeAnalysis
from instance.analysis.thumbnails import Thumbnail

__all__ = ["AnalysisError", "GcodeAnalysis", "MachineLimits", "Thumbnail", "analyse_file"]
