//! The zset command family (being built).

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
