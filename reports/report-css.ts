/** The stylesheet the report pages share (inline: nothing is fetched). */

export const REPORT_CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d232a;max-width:1200px}
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}.pass{color:#116329;font-weight:600}.fail{color:#b42318;font-weight:600}
.lvl{display:inline-block;padding:0 .4rem;border-radius:3px;margin:0 .2rem .2rem 0;font-size:12px}
.inconsistent{background:#fde2e1}.crash{background:#fff1c2}.filesystem{background:#dbeafe}
.application{background:#d1fadf}.transaction{background:#c7f0e0}
code,pre{font-family:ui-monospace,monospace;font-size:12px}pre{white-space:pre-wrap;margin:0}
.summary{font-size:1.1rem}
`;
