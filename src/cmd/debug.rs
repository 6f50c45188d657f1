//! DEBUG (gated by enable-debug-command).

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
