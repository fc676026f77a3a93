"""The route of a segmentation, in four steps: resolve the inputs, plan, run the tiles, write the results.

:func:`halo.tl.segment` composes them; each takes and returns typed objects, so each can be read (and tested) alone.
"""

from ._options import SegmentOptions, option_docs, parameters_section
from ._plan import Plan, plan_run
from ._resolve import Inputs, resolve_inputs
from ._run import Outcome, run_plan, scratch_folder
from ._sanity import check_inputs, check_results
from ._write import write_results

__all__ = [
    "Inputs",
    "Outcome",
    "Plan",
    "SegmentOptions",
    "check_inputs",
    "check_results",
    "option_docs",
    "parameters_section",
    "plan_run",
    "resolve_inputs",
    "run_plan",
    "scratch_folder",
    "write_results",
]
