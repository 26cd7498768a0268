//! The HTTP API, driven over real HTTP against the app on port 0, on SQLite and on Postgres.

#[path = "../common/mod.rs"]
mod common;

mod account;
mod auth;
mod community;
mod errors;
mod files;
mod invites;
mod messages;
mod moderation;
mod rooms;
mod slowloris;
mod throttle;
