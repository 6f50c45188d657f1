//! SORT and SORT_RO (being built).

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
