//! The HTTP API, driven over real HTTP against the app on port 0, on SQLite and on Postgres.

#[path = "../common/mod.rs"]
mod common;

mod account;
mod auth;
mod community;
mod emoji;
mod errors;
mod files;
mod invites;
mod mentions;
mod messages;
mod moderation;
mod pins;
mod reactions;
mod rooms;
mod search;
mod slowloris;
mod threads;
mod throttle;
mod web;
