//! The page's HTML sections around the charts and the topology.

use crate::chart::trim_number;
use crate::escape::escape;
use crate::style::CSS;
use crate::{Check, FaultInterval, IndexRow, Run, Verdict};

pub(crate) fn page_start(out: &mut String, title: &str) {
    let title = if title.is_empty() { "untitled" } else { title };
    w!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · ninesdb lab</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(title)
    );
}

pub(crate) fn page_end(out: &mut String) {
    out.push_str(
        "<footer>ninesdb lab report · a self-contained page: no scripts, no external resources</footer>\n\
         </main>\n</body>\n</html>\n",
    );
}

pub(crate) fn header(out: &mut String, run: &Run) {
    let name = if run.scenario.is_empty() {
        "(unnamed scenario)"
    } else {
        run.scenario.as_str()
    };
    let (class, word) = match run.verdict {
        Verdict::Pass => ("pass", "PASS"),
        Verdict::Fail { .. } => ("fail", "FAIL"),
    };
    w!(
        out,
        "<header class=\"run\">\n<div class=\"title-row\"><h1>{}</h1><span class=\"verdict {class}\">{word}</span></div>\n\
         <p class=\"meta\">lab scenario · seed <code>{}</code></p>\n",
        escape(name),
        run.seed
    );
    for paragraph in run
        .description
        .split("\n\n")
        .filter(|text| !text.trim().is_empty())
    {
        w!(
            out,
            "<p class=\"description\">{}</p>\n",
            escape(paragraph.trim())
        );
    }
    if let Verdict::Fail { failed_checks } = &run.verdict {
        out.push_str("<div class=\"failed-checks\"><strong>Failed checks</strong>\n<ul>\n");
        if failed_checks.is_empty() {
            out.push_str("<li>(none named)</li>\n");
        }
        for check in failed_checks {
            w!(out, "<li>{}</li>\n", escape(check));
        }
        out.push_str("</ul></div>\n");
    }
    out.push_str("</header>\n");
}

pub(crate) fn summary(out: &mut String, figures: &[(String, String)]) {
    if figures.is_empty() {
        return;
    }
    out.push_str("<section>\n<h2>Summary</h2>\n<div class=\"summary\">\n");
    for (name, value) in figures {
        w!(
            out,
            "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div></div>\n",
            escape(name),
            escape(value)
        );
    }
    out.push_str("</div>\n</section>\n");
}

fn seconds(time: f64) -> String {
    if time.is_finite() {
        format!("{} s", trim_number((time * 1000.0).round() / 1000.0))
    } else {
        "?".to_string()
    }
}

pub(crate) fn faults(out: &mut String, faults: &[FaultInterval]) {
    out.push_str("<section>\n<h2>Faults</h2>\n");
    if faults.is_empty() {
        out.push_str("<p class=\"empty\">No faults injected.</p>\n</section>\n");
        return;
    }
    out.push_str("<table>\n<tr><th>from</th><th>to</th><th>lasted</th><th>fault</th></tr>\n");
    for fault in faults {
        let (to, lasted) = match fault.end {
            Some(end) => (seconds(end), seconds(end - fault.start)),
            None => ("end of run".to_string(), "until the end".to_string()),
        };
        w!(
            out,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{to}</td><td class=\"num\">{lasted}</td><td>{}</td></tr>\n",
            seconds(fault.start),
            escape(&fault.label)
        );
    }
    out.push_str("</table>\n</section>\n");
}

pub(crate) fn checks(out: &mut String, checks: &[Check]) {
    out.push_str("<section>\n<h2>Expected outcome</h2>\n");
    if checks.is_empty() {
        out.push_str("<p class=\"empty\">No expected-outcome checks recorded.</p>\n</section>\n");
        return;
    }
    let passed = checks.iter().filter(|check| check.passed).count();
    w!(
        out,
        "<p class=\"meta\">{passed} of {} checks passed.</p>\n",
        checks.len()
    );
    out.push_str("<table>\n<tr><th>result</th><th>check</th><th>detail</th></tr>\n");
    for check in checks {
        let result = if check.passed {
            "<span class=\"ok\">✓ pass</span>"
        } else {
            "<span class=\"bad\">✗ fail</span>"
        };
        w!(
            out,
            "<tr><td>{result}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&check.name),
            escape(&check.detail)
        );
    }
    out.push_str("</table>\n</section>\n");
}

pub(crate) fn notes(out: &mut String, notes: &[String]) {
    if notes.is_empty() {
        return;
    }
    out.push_str("<section class=\"notes\">\n<h2>Notes</h2>\n<ul>\n");
    for note in notes {
        w!(out, "<li>{}</li>\n", escape(note));
    }
    out.push_str("</ul>\n</section>\n");
}

/// A link target that cannot run script: `javascript:` and `data:` URLs become `#`.
fn safe_href(href: &str) -> String {
    let lowered = href.trim().to_ascii_lowercase();
    if lowered.starts_with("javascript:")
        || lowered.starts_with("data:")
        || lowered.starts_with("vbscript:")
    {
        return "#".to_string();
    }
    escape(href)
}

pub(crate) fn index_table(out: &mut String, title: &str, rows: &[IndexRow]) {
    let passed = rows.iter().filter(|row| row.passed).count();
    w!(
        out,
        "<header class=\"run\"><h1>{}</h1>\n<p class=\"meta\">{passed} of {} scenarios passed.</p></header>\n<section>\n",
        escape(if title.is_empty() { "Lab reports" } else { title }),
        rows.len()
    );
    if rows.is_empty() {
        out.push_str("<p class=\"empty\">No reports.</p>\n</section>\n");
        return;
    }
    let mut headers: Vec<&str> = Vec::new();
    for (header, _) in rows.iter().flat_map(|row| &row.cells) {
        if !headers.contains(&header.as_str()) {
            headers.push(header);
        }
    }
    out.push_str("<table>\n<tr><th>scenario</th><th>verdict</th>");
    for header in &headers {
        w!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr>\n");
    for row in rows {
        let verdict = if row.passed {
            "<span class=\"ok\">✓ pass</span>"
        } else {
            "<span class=\"bad\">✗ fail</span>"
        };
        w!(
            out,
            "<tr><td><a href=\"{}\">{}</a></td><td>{verdict}</td>",
            safe_href(&row.href),
            escape(&row.scenario)
        );
        for header in &headers {
            let value = row
                .cells
                .iter()
                .find(|(name, _)| name == header)
                .map_or("—", |(_, value)| value.as_str());
            w!(out, "<td class=\"num\">{}</td>", escape(value));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n</section>\n");
}
