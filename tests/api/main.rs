//! LivePage's integration tests: one binary, real HTTP between real servers, a real database
//! per test (SQLite always, PostgreSQL when configured).

mod helpers;

mod binary;
mod cli;
mod cluster;
mod continuation;
mod generate;
mod lifecycle;
mod load;
mod ops;
mod ownership;
mod pages;
mod refine;
mod security;
mod storage;
mod upstream;
mod validation;
