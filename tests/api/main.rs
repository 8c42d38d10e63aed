//! LivePage's integration tests: one binary, real HTTP between real servers, a real database
//! per test (SQLite always, PostgreSQL when configured).

mod helpers;

mod generate;
mod lifecycle;
mod pages;
mod upstream;
mod validation;
