"""The class report's styles: fits a 1366-pixel-wide screen without sideways scrolling, and prints.

Colour is never the only sign: every cell also says ✔, ✘ or "not graded",
and every bar stands beside its figure. Print keeps the backgrounds and bars
(``print-color-adjust``), opens the hint lists, and starts each concept on a
new page.
"""

STYLE = """
:root { --ok: #dff1dc; --no: #fbe1de; --infra: #e8e8e8; --bar: #3b6ea8; --line: #c9c9c9; }
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; font-size: 15px; line-height: 1.4; color: #1b1b1b; margin: 0; }
main { max-width: 1280px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { margin: 0.2em 0; } h2 { margin-top: 2rem; border-bottom: 2px solid #ddd; padding-bottom: 0.2em; }
nav ul { display: flex; flex-wrap: wrap; gap: 0.3em 1.2em; list-style: none; padding: 0; }
a { color: #1d4f91; }
.warning { color: #8b0000; border: 2px solid #8b0000; padding: 0.5em 0.8em; background: #fff3f3; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; color: #444; font-size: 90%; padding: 0.3em 0; caption-side: top; }
th, td { border: 1px solid var(--line); padding: 3px 6px; vertical-align: top; }
thead th { background: #f2f2f2; font-size: 85%; text-align: center; overflow-wrap: anywhere; }
tbody th, tfoot th { text-align: left; font-weight: 600; overflow-wrap: anywhere; }
tfoot td, tfoot th { background: #f7f7f7; }
td.num { text-align: right; }
.nowrap { white-space: nowrap; }
td.ok { background: var(--ok); text-align: center; }
td.no { background: var(--no); font-size: 88%; overflow-wrap: anywhere; }
td.infra { background: var(--infra); font-size: 88%; }
td.none { text-align: center; color: #555; }
td.no a, td.infra a { color: #1b1b1b; }
.part { float: right; color: #333; }
.lack { display: block; color: #555; font-size: 80%; }
.bar { display: block; height: 6px; background: #e6e6e6; margin-top: 2px; }
.bar > span { display: block; height: 100%; background: var(--bar); }
table.scores { table-layout: fixed; }
table.scores thead th:first-child, table.scores tbody th, table.scores tfoot th { width: 12em; }
table.chart { width: auto; max-width: 100%; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem 1.5rem; align-items: flex-start; }
table.rates { width: 390px; font-size: 92%; }
table.rates caption { font-weight: 600; color: #1b1b1b; font-size: 100%; }
table.rates th { overflow-wrap: normal; white-space: nowrap; }
table.rates td.barcell { width: 30%; }
table.chart td.barcell { width: 320px; vertical-align: middle; }
table.chart td.barcell .bar { height: 12px; margin: 0; }
table.chart .pct { color: #555; }
table.chart td.seen { font-size: 88%; }
table.grid { table-layout: fixed; }
table.grid thead th:first-child, table.grid tbody th { width: 11em; }
table.grid thead th:last-child { width: 8.5em; }
.hints { font-size: 90%; } .hints li { margin: 0.25em 0; }
.hints li:target { background: #fff6c8; }
details { margin: 0.6em 0; } summary { cursor: pointer; color: #1d4f91; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { font-size: 10pt; } main { max-width: none; padding: 0; }
  nav, summary { display: none; }
  details > ol { display: block; }
  details::details-content { display: block; content-visibility: visible; }  /* apart: unknown elsewhere */
  section.concept { break-before: page; }
  tr, li { break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
}
"""
