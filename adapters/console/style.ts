/**
 * The console's one stylesheet, served from /console/assets/console.css: in the code, so the package
 * needs no asset step and the CSP can refuse every inline style.
 */
export const CONSOLE_CSS = `
:root { --ink: #1d2733; --muted: #5b6776; --line: #d6dde5; --brand: #0b5394; --bad: #b3261e; --good: #1e7b34; --wait: #8a6100; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--ink); background: #f6f8fa; }
header { background: var(--brand); color: #fff; display: flex; align-items: center; gap: 1rem; padding: .5rem 1rem; flex-wrap: wrap; }
header .brand { font-weight: 700; }
header nav { display: flex; gap: .75rem; flex-wrap: wrap; flex: 1; }
header a { color: #fff; text-decoration: none; padding: .25rem 0; border-bottom: 2px solid transparent; font-size: .92em; }
header a[aria-current="page"] { border-bottom-color: #fff; }
header form { margin: 0; }
header .who { opacity: .85; font-size: .9em; }
main { padding: 1.25rem; max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: 0 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; margin-bottom: 1rem; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef2f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em; }
pre { background: #fff; border: 1px solid var(--line); padding: .75rem; overflow: auto; max-height: 24rem; }
form.filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: flex-end; background: #fff; padding: .75rem; border: 1px solid var(--line); margin-bottom: 1rem; }
form.filters label, form.stack label { display: flex; flex-direction: column; font-size: .85em; color: var(--muted); gap: .2rem; }
form.stack { display: flex; flex-direction: column; gap: .75rem; max-width: 32rem; background: #fff; padding: 1rem; border: 1px solid var(--line); }
form.inline { display: inline-flex; gap: .5rem; align-items: flex-end; margin: 0 .5rem .5rem 0; }
input, select, textarea { font: inherit; padding: .35rem .5rem; border: 1px solid #9aa6b2; border-radius: 3px; color: var(--ink); background: #fff; }
textarea { min-height: 5rem; }
button { font: inherit; padding: .4rem .9rem; border-radius: 3px; border: 1px solid var(--brand); background: var(--brand); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--brand); }
header button { background: transparent; border-color: #fff; }
.status { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .85em; background: #e7ecf1; white-space: nowrap; }
.status-failed, .status-returned { background: #fbe3e1; color: var(--bad); }
.status-issued, .status-processed { background: #e1f3e5; color: var(--good); }
.status-queued, .status-sending, .status-sent { background: #fff2d6; color: var(--wait); }
.notice { background: #e1f3e5; border-left: 4px solid var(--good); padding: .6rem .9rem; margin-bottom: 1rem; }
.problem { background: #fbe3e1; border-left: 4px solid var(--bad); padding: .6rem .9rem; margin-bottom: 1rem; }
.muted { color: var(--muted); }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; margin-bottom: 1rem; }
.card { background: #fff; border: 1px solid var(--line); padding: .75rem 1rem; min-width: 10rem; }
.card strong { display: block; font-size: 1.3rem; }
progress { width: 100%; height: 1.5rem; }
.pager { display: flex; gap: 1rem; }
svg.chart { background: #fff; border: 1px solid var(--line); max-width: 100%; height: auto; }
.legend-waiting { color: var(--brand); }
.legend-overdue { color: var(--bad); }
tr.overdue td { background: #fdf0ef; }
.late { color: var(--bad); }
`;
