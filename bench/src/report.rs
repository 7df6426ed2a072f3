//! The results table, printed for the terminal and written as markdown for
//! the README.

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// A figure without a target.
    Info,
}

impl Verdict {
    pub fn from_bool(met: bool) -> Verdict {
        if met {
            Verdict::Met
        } else {
            Verdict::Missed
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "MISSED",
            Verdict::Info => "",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    /// The benchmark item, e.g. `(a)`.
    pub item: String,
    pub metric: String,
    pub value: String,
    pub target: String,
    pub verdict: Verdict,
}

#[derive(Debug, Default)]
pub struct Report {
    /// `name: value` lines describing the machine and the run.
    pub context: Vec<(String, String)>,
    pub rows: Vec<Row>,
    /// Observations and anything that went wrong, one sentence each.
    pub notes: Vec<String>,
}

impl Report {
    pub fn row(
        &mut self,
        item: &str,
        metric: impl Into<String>,
        value: impl Into<String>,
        target: &str,
        verdict: Verdict,
    ) {
        self.rows.push(Row {
            item: item.into(),
            metric: metric.into(),
            value: value.into(),
            target: target.into(),
            verdict,
        });
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    fn cells(&self) -> Vec<[&str; 5]> {
        self.rows
            .iter()
            .map(|r| {
                [
                    r.item.as_str(),
                    r.metric.as_str(),
                    r.value.as_str(),
                    r.target.as_str(),
                    r.verdict.label(),
                ]
            })
            .collect()
    }

    /// Aligned plain-text table for the terminal.
    pub fn to_text(&self) -> String {
        const HEADER: [&str; 5] = ["", "metric", "measured", "target", ""];
        let cells = self.cells();
        let mut widths = HEADER.map(str::len);
        for row in &cells {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |row: &[&str; 5]| {
            let mut out = String::new();
            for (cell, w) in row.iter().zip(widths) {
                let _ = write!(out, "{cell:<w$}  ");
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = String::new();
        for (name, value) in &self.context {
            let _ = writeln!(out, "{name}: {value}");
        }
        out.push('\n');
        out += &line(&HEADER);
        out += &(widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
            + "\n");
        for row in &cells {
            out += &line(row);
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "* {note}");
            }
        }
        out
    }

    /// Markdown for `bench/results/latest.md` and the README.
    pub fn to_markdown(&self) -> String {
        let escape = |cell: &str| cell.replace('|', "\\|");
        let mut out = String::from("# Switchboard benchmark — latest run\n\n");
        for (name, value) in &self.context {
            let _ = writeln!(out, "- **{}**: {}", escape(name), escape(value));
        }
        out.push_str("\n|  | metric | measured | target | |\n|---|---|---:|---|---|\n");
        for row in self.cells() {
            let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if !self.notes.is_empty() {
            out.push_str("\n## Notes\n\n");
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_both_formats() {
        let mut report = Report::default();
        report.context.push(("cpu".into(), "2 cores".into()));
        report.row(
            "(a)",
            "ingest",
            "1,000 req/s",
            "≥ 25% | of trivial",
            Verdict::Met,
        );
        report.note("a note");
        let text = report.to_text();
        assert!(text.contains("ingest") && text.contains("met") && text.contains("* a note"));
        let md = report.to_markdown();
        assert!(md.contains("| (a) | ingest | 1,000 req/s | ≥ 25% \\| of trivial | met |"));
    }
}
