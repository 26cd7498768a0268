//! `confab-bench` run as a binary: small runs of each mode, checked for a complete and
//! consistent report (never for timings).

mod voice;
