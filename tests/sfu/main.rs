//! The SFU driven directly through its API with real WebRTC clients over loopback UDP:
//! forwarding (also from a socket bound to every address), mute, renegotiation, speaker detection, errors, failure and teardown.

mod support;

mod addresses;
mod contract;
mod deafen;
mod errors;
mod failure;
mod forwarding;
mod mute;
mod renegotiation;
mod screen;
mod speaking;
mod teardown;
