//! Small runs of `confab-bench` (the real binary, debug build): each mode's report must be
//! complete and consistent (every delivery accounted for, no errors). No timing is asserted.

mod text;
mod voice;
