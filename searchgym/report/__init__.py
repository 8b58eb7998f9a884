"""``searchgym report runs/*.json --html out/ [--markdown out.md]``: results people look at.

:func:`collect_runs` reads ``searchgym eval`` results files (and their trajectories, when the
run saved them) into one model: a leaderboard row per (run, agent) with 95% intervals, the EM
breakdowns by task type and by measured depth, and the episodes. :func:`write_html` renders it
as one self-contained page (data, styles, script and SVG plots inline: it opens from disk, with
no network, and can be mailed or attached to a paper's artefacts); :func:`leaderboard_markdown`
renders the leaderboard as a Markdown table.
"""

from searchgym.report.html import write_html
from searchgym.report.markdown import leaderboard_markdown
from searchgym.report.model import collect_runs

__all__ = ["collect_runs", "leaderboard_markdown", "write_html"]
