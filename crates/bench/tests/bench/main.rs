//! Small runs of `confab-bench` (the real binary, debug build): each mode's report must be
//! complete and consistent (every delivery accounted for, no errors). No timing is asserted.

mod text;
mod voice;

/// The server binary the runs start: the workspace's `confab`, beside `confab-bench` in the shared
/// target directory (`scripts/test.sh` builds every binary of the workspace first).
fn confab_bin() -> String {
    let bench = std::path::Path::new(env!("CARGO_BIN_EXE_confab-bench"));
    let confab = bench.with_file_name("confab");
    assert!(
        confab.exists(),
        "{} is missing: build the server first (cargo build --workspace --bins)",
        confab.display()
    );
    confab.display().to_string()
}
