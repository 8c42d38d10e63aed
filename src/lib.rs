//! LivePage: a prompt in, a live-streamed, sanitized, published web page out.
//!
//! # Layout
//! - [`config`]: settings from environment variables and flags, checked at start-up.
//! - [`app`]: wires the parts together; builds on a bound listener, runs until shutdown.
//! - [`http`]: the route table, handlers, the API's error shape and SSE framing.
//! - [`generation`]: the registry of generations, each a task producing a numbered event log;
//!   refines of a page (edit blocks applied as they stream); following one from any instance.
//! - [`cluster`]: several instances as one service through Redis: events, leases, notices.
//! - [`upstream`]: the OpenRouter / OpenAI-compatible streaming client.
//! - [`mock`]: the OpenAI-compatible mock upstream (demo mode, tests, benchmarks).
//! - [`demo`]: the page the demo "model" writes for a prompt (and the fallback page's body).
//! - [`sanitize`]: raw model output → [`sanitize::SanitizedHtml`], the only thing pages are made of.
//! - [`store`]: pages, their versions and generations in SQLite or PostgreSQL, behind one
//!   [`store::Store`].
//! - [`views`]: batched page view counting.
//! - [`metrics`]: operational metrics (Prometheus), one registry per application.
//! - [`descriptors`]: the open-file limit, and the budget that keeps a reserve of descriptors so
//!   that every accepted generation can save.
//! - [`domain`]: values from outside, parsed once (`Email`, `Prompt`, `PageType`, …).
//! - [`cli`]: the command-line client (`generate`, `follow`, and `pages`, `publish`, `unpublish`,
//!   `delete`, `refine`, `versions` with the user's owner key), and the command line itself.

pub mod app;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod descriptors;
pub mod domain;
pub mod generation;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod mock;
pub mod sanitize;
pub mod store;
pub mod upstream;
pub mod views;
