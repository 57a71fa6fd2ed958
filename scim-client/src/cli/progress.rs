//! Progress of a long command: an indicatif bar with rate and ETA on a terminal, else a
//! plain line every few seconds.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::time::{Duration, Instant};

/// How often a plain progress line is written.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    label: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// A bar on a terminal (`terminal`), plain lines otherwise. `total` is the number of
    /// items when known.
    pub(crate) fn new(terminal: bool, label: &'static str, total: Option<u64>) -> Self {
        let bar = terminal.then(|| {
            let bar = match total {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if total.is_some() {
                "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta}"
            } else {
                "{msg} [{elapsed_precise}] {spinner} {pos} {per_sec}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_message(label);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Self { bar, label, total, done: 0, started: now, last_line: now }
    }

    /// One more item done.
    pub(crate) fn inc(&mut self, err: &mut dyn Write) {
        self.done += 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                let _ = writeln!(err, "{}", self.line());
            }
            None => {}
        }
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done as f64 / secs;
        match self.total {
            Some(total) => {
                let left = total.saturating_sub(self.done) as f64 / rate.max(0.001);
                format!(
                    "{}: {}/{} ({rate:.0}/s, about {left:.0} s left)",
                    self.label, self.done, total
                )
            }
            None => format!("{}: {} ({rate:.0}/s)", self.label, self.done),
        }
    }

    /// Writes a message above the bar (or as a line).
    pub(crate) fn println(&self, err: &mut dyn Write, msg: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                let _ = writeln!(err, "{msg}");
            }),
            None => {
                let _ = writeln!(err, "{msg}");
            }
        }
    }

    /// Removes the bar; returns the elapsed time.
    pub(crate) fn finish(&self) -> Duration {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.started.elapsed()
    }
}
