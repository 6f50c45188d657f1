//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (being built).

use super::CommandSpec;

pub static COMMANDS: &[CommandSpec] = &[];
