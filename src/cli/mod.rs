//! The `livepage` command-line client: starts a generation (`generate`) or picks up an existing
//! one (`follow`), shows it while it is written, and ends with the page's live URL; and lists,
//! publishes, unpublishes or deletes the pages made with this user's owner key.
//!
//! - [`args`]: the command line, server settings or a client command.
//! - [`follow`]: the event stream of one generation, resumed across dropped connections.
//! - [`event`]: events as the client reads them.
//! - [`render`]: the progress bar, the raw text or NDJSON.
//! - [`owner`]: the owner key, made on first use and kept in the configuration folder.
//! - [`pages`]: `pages`, `publish`, `unpublish`, `delete`.
//!
//! Ctrl-C cancels the generation on the server (it would otherwise go on, and be paid for,
//! with nobody watching); with `--detach` it is left running instead, and the command that
//! follows it is printed.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the page was published; or `--detach` left the generation running on Ctrl-C |
//! | 1 | the generation failed (an `error` event), or the server would not run it now (429, 503) |
//! | 2 | usage error: bad arguments, or the server refused the request as invalid (4xx) |
//! | 3 | the server could not be reached, or the connection was lost for good |
//! | 130 | the generation was cancelled: by Ctrl-C, or by someone else |

pub mod args;
pub mod event;
pub mod follow;
pub mod owner;
pub mod pages;
pub mod render;

use std::io::{self, Stdout};
use std::process::ExitCode;
use std::time::Duration;

use uuid::Uuid;

use args::FollowOptions;
pub use args::{ClientCommand, Invocation};
use event::{Completed, Failed, Payload, Received};
use follow::{Cancel, FollowError, Follower};
use render::Renderer;

/// After an early Ctrl-C, how long to wait for the server to name the generation it started,
/// so that it can still be cancelled.
const ID_WAIT: Duration = Duration::from_secs(5);

/// How a client run ended; each has its exit code (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Detached,
    Failed,
    Refused,
    Unreachable,
    Cancelled,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Self::Completed | Self::Detached => 0,
            Self::Failed => 1,
            Self::Refused => 2,
            Self::Unreachable => 3,
            Self::Cancelled => 130,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        ExitCode::from(outcome.code())
    }
}

impl From<&FollowError> for Outcome {
    fn from(err: &FollowError) -> Self {
        match err {
            FollowError::Unreachable { .. }
            | FollowError::Lost { .. }
            | FollowError::Protocol(_) => Self::Unreachable,
            FollowError::Rejected(rejected)
                if rejected.status.is_client_error() && !rejected.is_transient() =>
            {
                Self::Refused
            }
            FollowError::Rejected(_) => Self::Failed,
            FollowError::Ended { .. } => Self::Refused,
        }
    }
}

/// Runs a client command to its end.
pub async fn run(command: ClientCommand) -> Outcome {
    let started = match command {
        ClientCommand::Generate(args) => {
            Follower::generate(args.follow.server.clone(), args.body(), owner_key())
                .map(|follower| (follower, args.follow))
        }
        ClientCommand::Refine(args) => {
            let key = match owner::key_path().and_then(|path| owner::load_or_create(&path)) {
                Ok(key) => key,
                Err(err) => {
                    eprintln!("error: {err}");
                    return Outcome::Failed;
                }
            };
            Follower::refine(args.follow.server.clone(), args.page_id, args.body(), key)
                .map(|follower| (follower, args.follow))
        }
        ClientCommand::Follow(args) => Follower::resume(
            args.follow.server.clone(),
            args.generation_id,
            args.from.unwrap_or(0),
        )
        .map(|follower| (follower, args.follow)),
        page_command => return pages::run(page_command).await,
    };
    let mut interrupts = match Interrupts::listen() {
        Ok(interrupts) => interrupts,
        Err(err) => {
            eprintln!("error: cannot listen for Ctrl-C: {err}");
            return Outcome::Failed;
        }
    };
    let (follower, options) = match started {
        Ok(started) => started,
        Err(err) => {
            eprintln!("error: cannot set up an HTTP client: {err}");
            return Outcome::Failed;
        }
    };
    let session = Session {
        follower,
        renderer: Renderer::new(options.output(), io::stdout()),
        options,
    };
    session.run(&mut interrupts).await
}

/// This user's owner key, so that the page is theirs; without one (no configuration folder
/// that can be written) the page is made anyway, with no owner, and a warning says so.
fn owner_key() -> Option<crate::domain::OwnerKey> {
    match owner::key_path().and_then(|path| owner::load_or_create(&path)) {
        Ok(key) => Some(key),
        Err(err) => {
            eprintln!(
                "warning: {err}; the page will have no owner, so you cannot unpublish or delete it"
            );
            None
        }
    }
}

/// One generation being followed and shown.
struct Session {
    follower: Follower,
    renderer: Renderer<Stdout>,
    options: FollowOptions,
}

impl Session {
    async fn run(mut self, interrupts: &mut Interrupts) -> Outcome {
        loop {
            let ended = tokio::select! {
                next = self.follower.next() => self.handle(next),
                () = interrupts.recv() => self.interrupted(interrupts).await,
            };
            if let Some(outcome) = ended {
                return outcome;
            }
        }
    }

    /// Shows what the follower got; `Some` once the run has ended.
    fn handle(&mut self, next: Result<Option<Received>, FollowError>) -> Option<Outcome> {
        match next {
            Ok(Some(event)) => self.show(&event),
            // The follower ends after the terminal event, which has already ended the run.
            Ok(None) => Some(Outcome::Completed),
            Err(err) => Some(self.lost(&err)),
        }
    }

    fn show(&mut self, event: &Received) -> Option<Outcome> {
        if let Err(err) = self.renderer.event(event) {
            return Some(self.output_failed(&err));
        }
        match &event.payload {
            Payload::Completed(completed) => Some(self.completed(completed)),
            Payload::Failed(failed) => Some(self.failed(failed)),
            _ => None,
        }
    }

    fn completed(&mut self, completed: &Completed) -> Outcome {
        if let Err(err) = self.renderer.completed(completed) {
            return self.output_failed(&err);
        }
        if self.options.open
            && let Err(err) = webbrowser::open(&completed.live_url)
        {
            self.renderer
                .note(&format!("warning: could not open a browser: {err}"));
        }
        Outcome::Completed
    }

    fn failed(&mut self, failed: &Failed) -> Outcome {
        if failed.code == Failed::CANCELLED {
            self.renderer
                .stopped(&format!("cancelled: {}", failed.message));
            return Outcome::Cancelled;
        }
        self.renderer
            .stopped(&format!("error: {} ({})", failed.message, failed.code));
        Outcome::Failed
    }

    /// Following stopped early; the generation may well go on, so say how to pick it up again.
    fn lost(&mut self, err: &FollowError) -> Outcome {
        self.renderer.stopped(&format!("error: {err}"));
        if matches!(err, FollowError::Lost { .. })
            && let Some(id) = self.follower.generation_id()
        {
            self.renderer
                .note(&format!("to resume: {}", self.resume_command(id)));
        }
        Outcome::from(err)
    }

    /// stdout failed, or went away (say, `| head`). The generation is left running: nobody
    /// asked to cancel it.
    fn output_failed(&mut self, err: &io::Error) -> Outcome {
        if err.kind() == io::ErrorKind::BrokenPipe {
            // The reader has all it wanted: nothing to report.
            self.renderer.clear();
        } else {
            self.renderer
                .stopped(&format!("error: cannot write the output: {err}"));
        }
        Outcome::Failed
    }

    /// Ctrl-C: hand the generation over (`--detach`) or cancel it. `None` when it turned out to
    /// have finished already, so that following goes on to its real ending.
    async fn interrupted(&mut self, interrupts: &mut Interrupts) -> Option<Outcome> {
        let id = match self.wait_for_id(interrupts).await {
            Ok(id) => id,
            Err(outcome) => return Some(outcome),
        };
        if self.options.detach {
            return Some(self.detach(id));
        }
        let answer = tokio::select! {
            answer = self.follower.cancel(id) => answer,
            () = interrupts.recv() => {
                self.renderer.stopped(&format!(
                    "interrupted again; the generation may still be running: {}",
                    self.resume_command(id)
                ));
                return Some(Outcome::Cancelled);
            }
        };
        match answer {
            Ok(Cancel::Cancelled) => {
                self.renderer.stopped(&format!("cancelled generation {id}"));
                Some(Outcome::Cancelled)
            }
            Ok(Cancel::AlreadyFinished) => None,
            Err(err) => {
                self.renderer.stopped(&format!(
                    "error: could not cancel the generation: {err}\n\
                     it may still be running; to follow it: {}",
                    self.resume_command(id)
                ));
                Some(Outcome::Cancelled)
            }
        }
    }

    /// The generation's id. After a very early Ctrl-C it may not be known yet; it comes with the
    /// first event, right after the server accepts the request, so it is worth a short wait: the
    /// generation can then still be cancelled or handed over. `Err` when the run ends first.
    async fn wait_for_id(&mut self, interrupts: &mut Interrupts) -> Result<Uuid, Outcome> {
        let until_known = async {
            loop {
                if let Some(id) = self.follower.generation_id() {
                    return Ok(id);
                }
                let next = self.follower.next().await;
                if let Some(outcome) = self.handle(next) {
                    return Err(outcome);
                }
            }
        };
        let waited = tokio::select! {
            waited = tokio::time::timeout(ID_WAIT, until_known) => waited.ok(),
            () = interrupts.recv() => None,
        };
        waited.unwrap_or_else(|| {
            self.renderer.stopped(
                "interrupted before the server named the generation; it was not cancelled",
            );
            Err(Outcome::Cancelled)
        })
    }

    fn detach(&mut self, id: Uuid) -> Outcome {
        self.renderer
            .note("detached: the generation goes on without us; to follow it:");
        let command = self.resume_command(id);
        if let Err(err) = self.renderer.result_line(&command) {
            return self.output_failed(&err);
        }
        Outcome::Detached
    }

    fn resume_command(&self, id: Uuid) -> String {
        self.options.resume_command(id, self.follower.last_id())
    }
}

/// Ctrl-C, listened for from the moment this is created: tokio's `ctrl_c()` only starts
/// listening when first polled, and a Ctrl-C before that would end the process at once and
/// leave the generation running.
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
    #[cfg(windows)]
    signal: tokio::signal::windows::CtrlC,
}

impl Interrupts {
    fn listen() -> io::Result<Self> {
        #[cfg(unix)]
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        #[cfg(windows)]
        let signal = tokio::signal::windows::ctrl_c()?;
        Ok(Self { signal })
    }

    /// The next Ctrl-C.
    async fn recv(&mut self) {
        if self.signal.recv().await.is_none() {
            // No more signals can arrive: wait forever rather than report a Ctrl-C.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::*;
    use crate::cli::follow::Rejected;

    fn rejected(status: u16) -> FollowError {
        FollowError::Rejected(Rejected {
            status: StatusCode::from_u16(status).unwrap(),
            code: "x".into(),
            message: "m".into(),
            field: None,
            retry_after: None,
        })
    }

    #[test]
    fn exit_codes_follow_the_documented_table() {
        assert_eq!(Outcome::Completed.code(), 0);
        assert_eq!(Outcome::Detached.code(), 0);
        assert_eq!(Outcome::Failed.code(), 1);
        assert_eq!(Outcome::Refused.code(), 2);
        assert_eq!(Outcome::Unreachable.code(), 3);
        assert_eq!(Outcome::Cancelled.code(), 130);
    }

    #[test]
    fn server_answers_map_to_exit_codes() {
        assert_eq!(Outcome::from(&rejected(422)), Outcome::Refused);
        assert_eq!(Outcome::from(&rejected(404)), Outcome::Refused);
        assert_eq!(Outcome::from(&rejected(429)), Outcome::Failed);
        assert_eq!(Outcome::from(&rejected(503)), Outcome::Failed);
        let lost = FollowError::Lost {
            attempts: 6,
            reason: "r".into(),
        };
        assert_eq!(Outcome::from(&lost), Outcome::Unreachable);
        let protocol = FollowError::Protocol("p".into());
        assert_eq!(Outcome::from(&protocol), Outcome::Unreachable);
    }
}
