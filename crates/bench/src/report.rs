//! What a run found, and how it is shown: a table for people, JSON for machines, an SVG plot of
//! latency against load.
//!
//! A run is a list of steps (one per offered load). Each step holds the project's figures and,
//! measured in the same invocation with the same load shape, the baseline's; the table prints
//! both and their ratio, so a figure reads against the machine's own limit.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde_json::{Map, Value};

/// One measured quantity.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    /// Machine name (`deliveries_per_sec`).
    pub key: &'static str,
    /// Unit, for the table.
    pub unit: &'static str,
    /// The value (NaN when it could not be measured, for example a remote server's CPU).
    pub value: f64,
}

/// The figures of one system (Confab or the baseline) at one load, in display order.
#[derive(Debug, Clone, Default)]
pub struct Figures(pub Vec<Metric>);

impl Figures {
    /// Adds a figure.
    pub fn push(&mut self, key: &'static str, unit: &'static str, value: f64) {
        self.0.push(Metric { key, unit, value });
    }

    /// A figure by key.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.iter().find(|m| m.key == key).map(|m| m.value)
    }

    fn to_json(&self) -> Value {
        let map: Map<String, Value> = self
            .0
            .iter()
            .map(|m| (m.key.to_owned(), number(m.value)))
            .collect();
        Value::Object(map)
    }
}

/// One load step: the offered load and what each system did with it.
#[derive(Debug, Clone)]
pub struct Step {
    /// The offered load (messages or packets per second).
    pub offered: f64,
    /// Confab's figures, if it ran.
    pub confab: Option<Figures>,
    /// The baseline's figures, if it ran.
    pub baseline: Option<Figures>,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// `text` or `voice`.
    pub mode: &'static str,
    /// What the baseline is, in a few words.
    pub baseline_name: &'static str,
    /// The load shape and setup, as given and as measured once (connect rate, memory).
    pub setup: Vec<(String, Value)>,
    /// The steps, in the order run.
    pub steps: Vec<Step>,
    /// Which figure is the load on the plot's x axis.
    pub plot_x: &'static str,
    /// Which figures are latencies on the plot's y axis (milliseconds).
    pub plot_y: &'static [&'static str],
    /// Consistency problems found (missing deliveries, errors); empty when the run is clean.
    pub problems: Vec<String>,
}

impl Report {
    /// One step per offered load, nothing measured yet.
    pub fn steps(offered: impl IntoIterator<Item = f64>) -> Vec<Step> {
        offered
            .into_iter()
            .map(|offered| Step {
                offered,
                confab: None,
                baseline: None,
            })
            .collect()
    }

    /// Puts one system's figures into the steps, in order, and its problems under its name.
    pub fn record(&mut self, baseline: bool, figures: Vec<Figures>, problems: Vec<String>) {
        for (step, f) in self.steps.iter_mut().zip(figures) {
            if baseline {
                step.baseline = Some(f);
            } else {
                step.confab = Some(f);
            }
        }
        let who = if baseline { "baseline" } else { "confab" };
        self.problems
            .extend(problems.into_iter().map(|p| format!("{who}: {p}")));
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "confab-bench {}", self.mode);
        for (k, v) in &self.setup {
            let shown = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() != 0.0) => {
                    format!("{:.2}", n.as_f64().unwrap_or_default())
                }
                other => other.to_string(),
            };
            let _ = writeln!(out, "  {k:<28} {shown}");
        }
        for step in &self.steps {
            let _ = writeln!(out, "\noffered load: {} /s", fmt(step.offered));
            let _ = writeln!(
                out,
                "  {:<28} {:>12} {:>12} {:>8}  unit",
                "figure", "confab", "baseline", "ratio"
            );
            let Some(rows) = step.confab.as_ref().or(step.baseline.as_ref()) else {
                continue;
            };
            for m in &rows.0 {
                let ours = step.confab.as_ref().and_then(|c| c.get(m.key));
                let base = step.baseline.as_ref().and_then(|b| b.get(m.key));
                let ratio = match (ours, base) {
                    (Some(o), Some(b)) if b != 0.0 && b.is_finite() && o.is_finite() => {
                        format!("{:.2}", o / b)
                    }
                    _ => "-".into(),
                };
                let shown = |v: Option<f64>| v.map(fmt).unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "  {:<28} {:>12} {:>12} {:>8}  {}",
                    m.key,
                    shown(ours),
                    shown(base),
                    ratio,
                    m.unit
                );
            }
        }
        let _ = writeln!(out, "\nbaseline: {}", self.baseline_name);
        if self.problems.is_empty() {
            let _ = writeln!(out, "consistency: ok");
        } else {
            for p in &self.problems {
                let _ = writeln!(out, "PROBLEM: {p}");
            }
        }
        out
    }

    /// The machine-readable report.
    pub fn json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let ratio: Map<String, Value> = s
                    .confab
                    .iter()
                    .flat_map(|c| c.0.iter())
                    .filter_map(|m| {
                        let b = s.baseline.as_ref()?.get(m.key)?;
                        (b != 0.0).then(|| (m.key.to_owned(), number(m.value / b)))
                    })
                    .collect();
                serde_json::json!({
                    "offered_per_sec": number(s.offered),
                    "confab": s.confab.as_ref().map(Figures::to_json),
                    "baseline": s.baseline.as_ref().map(Figures::to_json),
                    "ratio": ratio,
                })
            })
            .collect();
        serde_json::json!({
            "mode": self.mode,
            "baseline": self.baseline_name,
            "setup": Value::Object(self.setup.iter().cloned().collect()),
            "steps": steps,
            "problems": self.problems,
        })
    }

    /// Draws latency (y) against achieved load (x) for both systems into an SVG file.
    pub fn plot(&self, path: &Path) -> anyhow::Result<()> {
        use plotters::prelude::*;

        let series = |pick: &dyn Fn(&Step) -> Option<&Figures>, y: &str| -> Vec<(f64, f64)> {
            self.steps
                .iter()
                .filter_map(|s| {
                    let f = pick(s)?;
                    let (x, y) = (f.get(self.plot_x)?, f.get(y)?);
                    (x.is_finite() && y.is_finite()).then_some((x, y))
                })
                .collect()
        };
        let mut lines = Vec::new();
        for (i, y) in self.plot_y.iter().enumerate() {
            lines.push((
                format!("confab {y}"),
                series(&|s| s.confab.as_ref(), y),
                i,
                true,
            ));
            lines.push((
                format!("baseline {y}"),
                series(&|s| s.baseline.as_ref(), y),
                i,
                false,
            ));
        }
        let all = lines.iter().flat_map(|l| l.1.iter());
        let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max) * 1.1;
        let y_max = all.map(|p| p.1).fold(1.0, f64::max) * 1.1;

        let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
        root.fill(&WHITE).context("drawing the plot")?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("confab-bench {}: latency against load", self.mode),
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .context("drawing the plot")?;
        chart
            .configure_mesh()
            .x_desc(self.plot_x)
            .y_desc("latency (ms)")
            .draw()
            .context("drawing the plot")?;
        for (name, points, i, ours) in lines {
            if points.is_empty() {
                continue;
            }
            let color = Palette99::pick(i * 2 + usize::from(!ours)).to_rgba();
            let style = ShapeStyle {
                color,
                filled: true,
                stroke_width: if ours { 3 } else { 1 },
            };
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .context("drawing the plot")?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, style)))
                .context("drawing the plot")?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .context("drawing the plot")?;
        root.present().context("writing the plot")?;
        Ok(())
    }
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// A figure for the table: integers as such, small values with enough digits to read.
pub fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if (v.fract() == 0.0 && v.abs() < 1e15) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
