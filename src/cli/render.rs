//! What the client shows while it follows a generation, in one of three [`Output`] modes.
//!
//! stdout carries only the product of the mode, so it can be piped: the live URL (the default),
//! the page's text (`--raw`), or one JSON line per event (`--json`). Everything meant for the
//! person at the terminal — the progress bar, notes, errors — goes to stderr; the progress bar
//! hides itself when stderr is not a terminal.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::event::{Completed, Payload, Progress, Received};

/// What stdout carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A progress bar on stderr, the live URL on stdout at the end.
    Progress,
    /// The `delta` texts, as they arrive: exactly the model's output.
    Raw,
    /// Every event as one line of JSON (NDJSON).
    Json,
}

/// Shows events and endings on stdout and stderr.
pub struct Renderer<W: Write> {
    output: Output,
    stdout: W,
    /// Drawn only in [`Output::Progress`] and when stderr is a terminal; hidden otherwise.
    bar: ProgressBar,
}

impl<W: Write> Renderer<W> {
    pub fn new(output: Output, stdout: W) -> Self {
        let bar = match output {
            Output::Progress => progress_bar(),
            Output::Raw | Output::Json => ProgressBar::hidden(),
        };
        Self {
            output,
            stdout,
            bar,
        }
    }

    /// Shows one event as it arrives.
    pub fn event(&mut self, event: &Received) -> io::Result<()> {
        match (self.output, &event.payload) {
            (Output::Json, _) => {
                writeln!(self.stdout, "{}", event.json_line())?;
                self.stdout.flush()
            }
            (Output::Raw, Payload::Delta { text }) => {
                self.stdout.write_all(text.as_bytes())?;
                self.stdout.flush()
            }
            (Output::Progress, Payload::Progress(progress)) => {
                self.bar.set_position(progress.percent.min(100).into());
                self.bar.set_message(stage_message(progress));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The page is published.
    pub fn completed(&mut self, completed: &Completed) -> io::Result<()> {
        if completed.fallback {
            self.note("note: the model was unavailable, so this is the fallback page");
        }
        // A refine's new version says which it is (version 1 is the page itself).
        if let (Some(n @ 2..), Some(url)) = (completed.version, &completed.version_url) {
            self.note(&format!("version {n}: {url}"));
        }
        match self.output {
            Output::Progress => {
                self.bar.set_position(100);
                let published = match completed.version {
                    Some(n) => format!("published version {n}: {}", completed.title),
                    None => format!("published: {}", completed.title),
                };
                self.bar.finish_with_message(published);
                writeln!(self.stdout, "{}", completed.live_url)?;
                self.stdout.flush()
            }
            Output::Raw | Output::Json => {
                // The page's text rarely ends with a newline; start ours on a line of its own
                // when both streams share the terminal.
                let newline = if self.output == Output::Raw && io::stdout().is_terminal() {
                    "\n"
                } else {
                    ""
                };
                self.note(&format!("{newline}live: {}", completed.live_url));
                Ok(())
            }
        }
    }

    /// A line for the person at the terminal, on stderr, without tearing the progress bar.
    pub fn note(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Following ended without a page: clears the bar and says why.
    pub fn stopped(&self, line: &str) {
        self.clear();
        eprintln!("{line}");
    }

    /// Takes the progress bar off the screen.
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }

    /// Writes a line to stdout, which in [`Output::Progress`] mode carries the one result of the
    /// run; in the other modes stdout keeps its format and the line goes to stderr.
    pub fn result_line(&mut self, line: &str) -> io::Result<()> {
        self.bar.finish_and_clear();
        match self.output {
            Output::Progress => {
                writeln!(self.stdout, "{line}")?;
                self.stdout.flush()
            }
            Output::Raw | Output::Json => {
                eprintln!("{line}");
                Ok(())
            }
        }
    }
}

fn progress_bar() -> ProgressBar {
    // Hidden by indicatif itself when stderr is not a terminal, so a redirected run gets no
    // escape codes.
    let bar = ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {msg:<28} [{bar:30}] {pos:>3}%")
        .expect("the template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message("starting");
    if !bar.is_hidden() {
        bar.enable_steady_tick(Duration::from_millis(120));
    }
    bar
}

/// The stage, with what is known about it.
fn stage_message(progress: &Progress) -> String {
    match (
        progress.stage.as_str(),
        progress.queue_position,
        progress.attempt,
    ) {
        ("queued", Some(ahead), _) => format!("queued, {ahead} ahead"),
        ("connecting", _, Some(attempt)) if attempt > 1 => {
            format!("connecting (attempt {attempt})")
        }
        ("continuing", _, attempt) => match (progress.segment, attempt) {
            (Some(part), Some(attempt)) if attempt > 1 => {
                format!("continuing, part {part} (attempt {attempt})")
            }
            (Some(part), _) => format!("continuing, part {part}"),
            (None, _) => "continuing".to_owned(),
        },
        ("generating", _, _) => format!("generating, {} tokens", progress.tokens),
        (stage, _, _) => stage.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, name: &str, data: &str) -> Received {
        Received::parse(&id.to_string(), name, data).unwrap()
    }

    fn events() -> Vec<Received> {
        vec![
            event(
                1,
                "started",
                r#"{"generation_id":"0193a1c2-0000-7000-8000-000000000000"}"#,
            ),
            event(2, "progress", r#"{"stage":"generating","percent":10}"#),
            event(3, "delta", r#"{"text":"<p>a"}"#),
            event(4, "delta", r#"{"text":"b</p>\n"}"#),
        ]
    }

    fn render(output: Output) -> String {
        let mut renderer = Renderer::new(output, Vec::new());
        for event in events() {
            renderer.event(&event).unwrap();
        }
        String::from_utf8(renderer.stdout).unwrap()
    }

    #[test]
    fn raw_output_is_exactly_the_deltas() {
        assert_eq!(render(Output::Raw), "<p>ab</p>\n");
    }

    #[test]
    fn json_output_is_one_line_per_event() {
        let out = render(Output::Json);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[2].starts_with(r#"{"id":3,"event":"delta""#));
    }

    #[test]
    fn the_progress_mode_prints_only_the_live_url() {
        let mut renderer = Renderer::new(Output::Progress, Vec::new());
        for event in events() {
            renderer.event(&event).unwrap();
        }
        renderer
            .completed(&Completed {
                live_url: "http://x/p/1".into(),
                title: "T".into(),
                fallback: false,
                version: Some(2),
                version_url: Some("http://x/p/1/v/2".into()),
            })
            .unwrap();
        assert_eq!(
            String::from_utf8(renderer.stdout).unwrap(),
            "http://x/p/1\n"
        );
    }

    #[test]
    fn stage_messages_say_what_is_known() {
        let progress = |stage: &str| Progress {
            stage: stage.into(),
            percent: 0,
            queue_position: None,
            tokens: 42,
            attempt: None,
            segment: None,
        };
        assert_eq!(
            stage_message(&Progress {
                queue_position: Some(3),
                ..progress("queued")
            }),
            "queued, 3 ahead"
        );
        assert_eq!(
            stage_message(&Progress {
                attempt: Some(2),
                ..progress("connecting")
            }),
            "connecting (attempt 2)"
        );
        assert_eq!(
            stage_message(&progress("generating")),
            "generating, 42 tokens"
        );
        assert_eq!(
            stage_message(&Progress {
                segment: Some(2),
                attempt: Some(1),
                ..progress("continuing")
            }),
            "continuing, part 2"
        );
        assert_eq!(
            stage_message(&Progress {
                segment: Some(3),
                attempt: Some(2),
                ..progress("continuing")
            }),
            "continuing, part 3 (attempt 2)"
        );
        assert_eq!(stage_message(&progress("saving")), "saving");
    }
}
