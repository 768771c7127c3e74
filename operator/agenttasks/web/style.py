"""The dashboard's stylesheet, served as /dashboard/assets/dashboard.css."""

STYLE = """
:root { --fg: #1d2430; --muted: #667085; --line: #d9dee7; --bg: #f7f8fa; --accent: #2f6feb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .6rem 1rem;
  background: #fff; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.1rem; margin: 0; }
header h1 a { color: inherit; text-decoration: none; }
nav a { margin-right: .8rem; color: var(--accent); text-decoration: none; }
nav a[aria-current] { font-weight: 600; text-decoration: underline; }
#auth { margin-left: auto; display: flex; gap: .5rem; align-items: center; }
#auth input { width: 18rem; }
main { padding: 1rem; }
.view-title { margin: 0 0 .6rem; font-size: 1.2rem; }
.filters { display: flex; gap: 1rem; margin-bottom: .5rem; }
#message { margin: .6rem 1rem 0; padding: .5rem .8rem; border-radius: 4px; }
#message.error { background: #fde8e8; border: 1px solid #f5a3a3; color: #8a1111; }
#message.ok { background: #e7f6ec; border: 1px solid #9fd8b0; color: #14532d; }
.muted, #live { color: var(--muted); }
table { border-collapse: collapse; width: 100%; background: #fff; margin-bottom: 1rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
progress { width: 7rem; vertical-align: middle; }
.phase { display: inline-block; padding: 0 .45rem; border-radius: 9px; font-size: .85em;
  background: #e4e7ec; }
.phase-Pending { background: #eef1f5; }
.phase-InProgress { background: #dbe8ff; color: #123c8c; }
.phase-Paused { background: #fff1c2; color: #6b4e00; }
.phase-Completed { background: #d6f3df; color: #14532d; }
.phase-Failed { background: #fde0e0; color: #8a1111; }
.phase-Cancelled { background: #e4e4e7; color: #3f3f46; }
.actions { display: inline-flex; gap: .3rem; flex-wrap: wrap; }
button { font: inherit; padding: .15rem .6rem; border: 1px solid var(--line); border-radius: 4px;
  background: #fff; cursor: pointer; }
button:hover { border-color: var(--accent); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem;
  background: #fff; padding: .6rem; border: 1px solid var(--line); }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
pre.result { background: #fff; border: 1px solid var(--line); padding: .6rem; overflow: auto; }
ul.runs { margin: 0; padding-left: 1rem; }
.graph { overflow: auto; background: #fff; border: 1px solid var(--line); }
svg.dag text { font: 12px system-ui, sans-serif; fill: var(--fg); }
svg.dag text.sub { fill: var(--muted); }
svg.dag .node rect { fill: #eef1f5; stroke: #98a2b3; }
svg.dag .node.current rect { stroke: var(--accent); stroke-width: 2.5; }
svg.dag .node.phase-InProgress rect { fill: #dbe8ff; }
svg.dag .node.phase-Paused rect { fill: #fff1c2; }
svg.dag .node.phase-Completed rect { fill: #d6f3df; }
svg.dag .node.phase-Failed rect { fill: #fde0e0; }
svg.dag .node.phase-Cancelled rect { fill: #e4e4e7; }
svg.dag .node.phase-Missing rect { fill: #fff; stroke-dasharray: 4 3; }
svg.dag path.edge { fill: none; stroke: #667085; stroke-width: 1.4; }
svg.dag path.edge.cycle { stroke: #c0392b; stroke-dasharray: 5 3; }
svg.dag marker path { fill: #667085; }
"""
