//! The `livepage` command line: with no command, the server's settings (so `livepage --addr …`
//! and `cargo run` serve as they always did); `serve`, the same explicitly; and the client
//! commands `generate` and `follow`, and `pages`, `publish`, `unpublish`, `delete`, `refine` and
//! `versions` for the pages made with this user's owner key.
//!
//! The server's settings also come from environment variables, and a client run must not fail on
//! a server variable it never uses (a `LIVEPAGE_ADDR` meant for the server next door, say). So
//! when the first argument names a client command, the top-level settings are parsed without
//! their environment variables; they are then unused anyway.

use std::ffi::OsString;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use url::Url;
use uuid::Uuid;

use super::render::Output;
use crate::config::Config;
use crate::domain::{Email, GenerateBody, PageType, Prompt, RefineBody, Theme};

/// Where the client looks for the server unless told otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080/";

/// The exit codes of the client commands, for their `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0    the page was published (or --detach left the generation running on Ctrl-C)
  1    the generation failed, or the server would not run it now (rate limit, full queue)
  2    usage error: bad arguments, or the server refused the request as invalid
  3    the server could not be reached, or the connection was lost for good
  130  the generation was cancelled (Ctrl-C, or someone cancelled it)";

#[derive(Debug, Parser)]
#[command(
    name = "livepage",
    version,
    about = "Streams AI-written web pages live, then publishes them.",
    long_about = "Streams AI-written web pages live, then publishes them.\n\n\
        With no command, runs the server, configured by the options below or their \
        environment variables. `livepage generate` and `livepage follow` are its command-line \
        client.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: Config,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the same as giving no command).
    Serve(Box<Config>),
    #[command(flatten)]
    Client(ClientCommand),
}

/// A client command.
#[derive(Debug, Clone, Subcommand)]
pub enum ClientCommand {
    /// Start a generation and follow it until its page is published.
    #[command(after_help = EXIT_CODES)]
    Generate(GenerateArgs),
    /// Follow an existing generation, e.g. one left running with --detach.
    #[command(after_help = EXIT_CODES)]
    Follow(FollowArgs),
    /// List your pages (made with this computer's owner key), published or not, newest first.
    #[command(after_help = PAGE_EXIT_CODES)]
    Pages(PagesArgs),
    /// Unpublish one of your pages: its link answers "not found" until you publish it again.
    #[command(after_help = PAGE_EXIT_CODES)]
    Unpublish(PageArgs),
    /// Publish one of your pages again.
    #[command(after_help = PAGE_EXIT_CODES)]
    Publish(PageArgs),
    /// Delete one of your pages for good: its link answers "gone".
    #[command(after_help = PAGE_EXIT_CODES)]
    Delete(PageArgs),
    /// Change one of your pages with a follow-up prompt, watching it happen; the result is
    /// the page's next version.
    #[command(after_help = EXIT_CODES)]
    Refine(RefineArgs),
    /// List a page's versions, newest first.
    #[command(after_help = PAGE_EXIT_CODES)]
    Versions(VersionsArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RefineArgs {
    /// The page: its id, or its live URL (`…/p/<id>`).
    #[arg(value_name = "PAGE", value_parser = parse_page)]
    pub page_id: Uuid,
    /// The change, e.g. "make the hero darker".
    #[arg(value_parser = parse_prompt)]
    pub prompt: Prompt,
    /// A model from the server's allow-list [default: the server's default model].
    #[arg(long)]
    pub model: Option<String>,
    #[command(flatten)]
    pub follow: FollowOptions,
}

impl RefineArgs {
    /// The body of `POST /api/pages/{id}/refine`.
    pub fn body(&self) -> RefineBody {
        RefineBody {
            prompt: Some(self.prompt.as_str().to_owned()),
            model: self.model.clone(),
            preview: false,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct VersionsArgs {
    /// The page: its id, or its live URL (`…/p/<id>`).
    #[arg(value_name = "PAGE", value_parser = parse_page)]
    pub page_id: Uuid,
    /// The LivePage server.
    #[arg(long, env = "LIVEPAGE_SERVER", value_name = "URL", default_value = DEFAULT_SERVER, value_parser = parse_server)]
    pub server: Url,
    /// Write every version to stdout as one line of JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// The exit codes of the page commands, for their `--help`.
const PAGE_EXIT_CODES: &str = "\
Your owner key is kept in $LIVEPAGE_CONFIG_DIR/owner-key (default: ~/.config/livepage), made by
the first `livepage generate`; pages made with it are yours.

Exit codes:
  0    done
  1    the server failed, or the owner key could not be read
  2    usage error, or the server refused (not your page, no such page, taken down)
  3    the server could not be reached";

#[derive(Debug, Clone, Args)]
pub struct PagesArgs {
    /// The LivePage server.
    #[arg(long, env = "LIVEPAGE_SERVER", value_name = "URL", default_value = DEFAULT_SERVER, value_parser = parse_server)]
    pub server: Url,
    /// Write every page to stdout as one line of JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PageArgs {
    /// The page: its id, or its live URL (`…/p/<id>`).
    #[arg(value_name = "PAGE", value_parser = parse_page)]
    pub page_id: Uuid,
    /// The LivePage server.
    #[arg(long, env = "LIVEPAGE_SERVER", value_name = "URL", default_value = DEFAULT_SERVER, value_parser = parse_server)]
    pub server: Url,
}

#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// What the page should be, e.g. "a landing page for a bakery in Lisbon".
    #[arg(value_parser = parse_prompt)]
    pub prompt: Prompt,
    /// Your email: the page is listed in its history.
    #[arg(long, env = "LIVEPAGE_EMAIL", value_parser = parse_email)]
    pub email: Email,
    /// The kind of page [default: the server's, landing].
    #[arg(long = "type", value_name = "TYPE", value_parser = choice(PageType::ALL, PageType::as_str))]
    pub page_type: Option<PageType>,
    /// The visual direction [default: the server's, modern].
    #[arg(long, value_parser = choice(Theme::ALL, Theme::as_str))]
    pub theme: Option<Theme>,
    /// A model from the server's allow-list [default: the server's default model].
    #[arg(long)]
    pub model: Option<String>,
    #[command(flatten)]
    pub follow: FollowOptions,
}

impl GenerateArgs {
    /// The body of `POST /api/generate`.
    pub fn body(&self) -> GenerateBody {
        GenerateBody {
            email: Some(self.email.as_str().to_owned()),
            prompt: Some(self.prompt.as_str().to_owned()),
            page_type: self.page_type.map(|t| t.as_str().to_owned()),
            theme: self.theme.map(|t| t.as_str().to_owned()),
            model: self.model.clone(),
            preview: false,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    /// The generation's id (from its `started` event, or printed by --detach).
    pub generation_id: Uuid,
    /// Resume after this event id, as printed by --detach [default: from the start].
    #[arg(long, value_name = "EVENT_ID")]
    pub from: Option<u64>,
    #[command(flatten)]
    pub follow: FollowOptions,
}

/// How to follow a generation and show it; shared by `generate` and `follow`.
#[derive(Debug, Clone, Args)]
pub struct FollowOptions {
    /// The LivePage server.
    #[arg(long, env = "LIVEPAGE_SERVER", value_name = "URL", default_value = DEFAULT_SERVER, value_parser = parse_server)]
    pub server: Url,
    /// Write the page's text to stdout as it is written (exactly the model's output).
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
    /// Write every event to stdout as one line of JSON, for scripts.
    #[arg(long)]
    pub json: bool,
    /// Open the published page in the default browser.
    #[arg(long)]
    pub open: bool,
    /// On Ctrl-C, leave the generation running and print how to follow it, instead of
    /// cancelling it.
    #[arg(long)]
    pub detach: bool,
}

impl FollowOptions {
    pub fn output(&self) -> Output {
        match (self.raw, self.json) {
            (true, _) => Output::Raw,
            (_, true) => Output::Json,
            _ => Output::Progress,
        }
    }

    /// The command that carries on following `generation` after event `last_id`, in the same
    /// output mode and against the same server.
    pub fn resume_command(&self, generation: Uuid, last_id: u64) -> String {
        let mut command = format!("livepage follow {generation}");
        if last_id > 0 {
            command.push_str(&format!(" --from {last_id}"));
        }
        if self.server.as_str() != DEFAULT_SERVER {
            command.push_str(&format!(" --server {}", self.server));
        }
        match self.output() {
            Output::Raw => command.push_str(" --raw"),
            Output::Json => command.push_str(" --json"),
            Output::Progress => {}
        }
        command
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    /// Run the server.
    Serve(Box<Config>),
    /// Run a client command.
    Client(ClientCommand),
}

impl Invocation {
    /// Parses the process's command line and environment.
    pub fn from_args() -> Result<Self, clap::Error> {
        Self::parse_from(std::env::args_os())
    }

    /// Parses `args` (the program name first) and the environment.
    pub fn parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let mut command = Cli::command();
        // Top-level options conflict with commands, so a command can only be the first argument.
        let is_client = args
            .get(1)
            .and_then(|first| first.to_str())
            .is_some_and(ClientCommand::has_subcommand);
        if is_client {
            command = command.mut_args(|arg| arg.env(None::<&'static str>));
        }
        let matches = command.try_get_matches_from(args)?;
        let cli = Cli::from_arg_matches(&matches).map_err(|err| err.format(&mut Cli::command()))?;
        Ok(match cli.command {
            Some(Command::Client(client)) => Self::Client(client),
            Some(Command::Serve(config)) => Self::Serve(Box::new(config.normalized())),
            None => Self::Serve(Box::new(cli.server.normalized())),
        })
    }
}

/// A value parser for one of a closed list of named options, listing them in `--help`.
fn choice<T>(all: &'static [T], name: fn(T) -> &'static str) -> impl TypedValueParser<Value = T>
where
    T: Copy + Send + Sync + 'static,
{
    PossibleValuesParser::new(all.iter().map(|&option| name(option))).try_map(move |picked| {
        all.iter()
            .copied()
            .find(|&option| name(option) == picked)
            .ok_or("not one of the options")
    })
}

fn parse_prompt(raw: &str) -> Result<Prompt, String> {
    Prompt::parse(raw).map_err(|invalid| invalid.message)
}

fn parse_email(raw: &str) -> Result<Email, String> {
    Email::parse(raw).map_err(|invalid| invalid.message)
}

/// A page id, or a live URL ending in one.
fn parse_page(raw: &str) -> Result<Uuid, String> {
    let raw = raw.trim();
    let last = raw.trim_end_matches('/').rsplit('/').next().unwrap_or(raw);
    Uuid::try_parse(last).map_err(|_| format!("{raw:?} is not a page id nor a page's live URL"))
}

/// An http(s) base URL ending in `/`; a bare `host:port` means http.
fn parse_server(raw: &str) -> Result<Url, String> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    crate::config::parse_base_url(&with_scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, clap::Error> {
        Invocation::parse_from(std::iter::once("livepage").chain(args.iter().copied()))
    }

    fn client(args: &[&str]) -> ClientCommand {
        match parse(args).unwrap() {
            Invocation::Client(command) => command,
            Invocation::Serve(_) => panic!("{args:?} should be a client command"),
        }
    }

    #[test]
    fn no_command_or_serve_runs_the_server_with_its_flags() {
        let Invocation::Serve(config) = parse(&["--addr", "127.0.0.1:9999"]).unwrap() else {
            panic!("no command serves");
        };
        assert_eq!(config.server.addr.port(), 9999);
        let Invocation::Serve(config) = parse(&["serve", "--addr", "127.0.0.1:9998"]).unwrap()
        else {
            panic!("serve serves");
        };
        assert_eq!(config.server.addr.port(), 9998);
        assert!(parse(&["--addr", "nowhere"]).is_err());
    }

    #[test]
    fn refine_takes_a_page_id_or_live_url_and_the_change() {
        let id = Uuid::now_v7();
        let ClientCommand::Refine(args) = client(&[
            "refine",
            &format!("http://lp.test/p/{id}"),
            "make it red",
            "--json",
        ]) else {
            panic!("refine");
        };
        assert_eq!(args.page_id, id);
        assert_eq!(args.body().prompt.as_deref(), Some("make it red"));
        assert_eq!(args.follow.output(), Output::Json);
        let ClientCommand::Versions(args) = client(&["versions", &id.to_string()]) else {
            panic!("versions");
        };
        assert_eq!(args.page_id, id);
        assert!(parse(&["refine", "not-a-page", "x"]).is_err());
    }

    #[test]
    fn generate_builds_the_request_body() {
        let ClientCommand::Generate(args) = client(&[
            "generate",
            "  a bakery  ",
            "--email",
            "Ann@Example.com",
            "--type",
            "portfolio",
            "--theme",
            "dark",
            "--model",
            "a/b",
        ]) else {
            panic!("generate");
        };
        let body = args.body();
        assert_eq!(body.prompt.as_deref(), Some("a bakery"));
        assert_eq!(body.email.as_deref(), Some("ann@example.com"));
        assert_eq!(body.page_type.as_deref(), Some("portfolio"));
        assert_eq!(body.theme.as_deref(), Some("dark"));
        assert_eq!(body.model.as_deref(), Some("a/b"));
        assert_eq!(args.follow.output(), Output::Progress);
        assert_eq!(args.follow.server.as_str(), DEFAULT_SERVER);
    }

    #[test]
    fn bad_client_arguments_are_usage_errors() {
        let usage = |args: &[&str]| {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
            err.to_string()
        };
        usage(&["generate", "a bakery"]); // no email
        assert!(usage(&["generate", "x", "--email", "nope"]).contains("email"));
        assert!(
            usage(&["generate", "x", "--email", "a@b.co", "--type", "zine"]).contains("landing")
        );
        usage(&["generate", "x", "--email", "a@b.co", "--raw", "--json"]);
        usage(&["follow", "not-a-uuid"]);
        usage(&["follow", &Uuid::nil().to_string(), "--server", "ftp://x"]);
        usage(&[
            "--addr",
            "127.0.0.1:1",
            "generate",
            "x",
            "--email",
            "a@b.co",
        ]);
    }

    #[test]
    fn page_commands_take_an_id_or_a_live_url() {
        let id = Uuid::now_v7();
        for given in [id.to_string(), format!("http://lp.example.com/p/{id}")] {
            let ClientCommand::Unpublish(args) = client(&["unpublish", &given]) else {
                panic!("unpublish");
            };
            assert_eq!(args.page_id, id);
        }
        assert!(matches!(
            client(&["pages", "--json"]),
            ClientCommand::Pages(PagesArgs { json: true, .. })
        ));
        assert!(matches!(
            client(&["delete", &id.to_string()]),
            ClientCommand::Delete(_)
        ));
        assert!(matches!(
            client(&["publish", &id.to_string()]),
            ClientCommand::Publish(_)
        ));
        assert_eq!(parse(&["delete", "yesterday"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn the_server_url_gets_a_scheme_and_a_trailing_slash() {
        assert_eq!(
            parse_server("localhost:3000").unwrap().as_str(),
            "http://localhost:3000/"
        );
        assert_eq!(
            parse_server("https://lp.example.com/base")
                .unwrap()
                .as_str(),
            "https://lp.example.com/base/"
        );
    }

    #[test]
    fn the_resume_command_keeps_the_mode_and_a_non_default_server() {
        let id = Uuid::nil();
        let ClientCommand::Follow(args) = client(&["follow", &id.to_string(), "--raw"]) else {
            panic!("follow");
        };
        assert_eq!(
            args.follow.resume_command(id, 12),
            format!("livepage follow {id} --from 12 --raw")
        );
        let ClientCommand::Follow(args) = client(&[
            "follow",
            &id.to_string(),
            "--server",
            "http://lp.example.com:80",
        ]) else {
            panic!("follow");
        };
        assert_eq!(
            args.follow.resume_command(id, 0),
            format!("livepage follow {id} --server http://lp.example.com/")
        );
    }
}
