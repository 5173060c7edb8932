//! A progress bar on stderr for large object transfers, drawn only when stdout is a terminal
//! (someone is watching) and never more often than every 100 ms.

use std::io::{self, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use crate::util::human_bytes;

/// Objects smaller than this get no bar: they are done before it would be seen.
const LARGE: u64 = 1 << 20;
const WIDTH: usize = 30;
const EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    drawn: Option<Instant>,
    on: bool,
}

impl Progress {
    /// A bar for `total` bytes, shown when stdout is a terminal and the object is large.
    pub fn new(label: impl Into<String>, total: u64) -> Progress {
        Progress {
            label: label.into(),
            total,
            done: 0,
            drawn: None,
            on: total >= LARGE && io::stdout().is_terminal(),
        }
    }

    pub fn advance(&mut self, n: usize) {
        self.done += n as u64;
        if self.on && self.drawn.map_or(true, |t| t.elapsed() >= EVERY) {
            self.draw();
        }
    }

    /// Draws the final state and ends the line.
    pub fn finish(&mut self) {
        if self.on && self.drawn.is_some() {
            self.draw();
            eprintln!();
        }
    }

    fn draw(&mut self) {
        self.drawn = Some(Instant::now());
        let frac = (self.done as f64 / self.total.max(1) as f64).min(1.0);
        let filled = (frac * WIDTH as f64) as usize;
        let mut err = io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{}{}] {:>3.0}% {} / {}",
            self.label,
            "#".repeat(filled),
            ".".repeat(WIDTH - filled),
            frac * 100.0,
            human_bytes(self.done),
            human_bytes(self.total)
        );
        let _ = err.flush();
    }
}

/// A reader that moves a bar as it is read.
pub struct ProgressReader<R> {
    pub inner: R,
    pub bar: Progress,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.advance(n);
        Ok(n)
    }
}
